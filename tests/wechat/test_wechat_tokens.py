"""Access tokens: one refresh across workers, compare-and-delete invalidation, one retry on a
refused token and never a loop. WeChat is the sandbox, reached over HTTP."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from scrm.sandbox import state
from scrm.wechat.errors import WeChatError
from scrm.wechat.mp import MPClient
from scrm.wechat.tokens import TokenCache
from scrm.wechat.work import WorkClient

THREADS = 32


def _all_at_once(count: int, call):  # noqa: ANN001, ANN202
    """Run ``call(i)`` in ``count`` threads released together; returns results or exceptions."""
    barrier = threading.Barrier(count)

    def run(i: int):  # noqa: ANN202
        barrier.wait()
        try:
            return call(i)
        except Exception as exc:  # noqa: BLE001 - returned for the test to inspect
            return exc

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def _count(runtime, channel: str, api: str) -> int:  # noqa: ANN001
    return len(state.list_calls(runtime.redis, channel=channel, api=api))


def test_mp_token_is_fetched_once_when_many_workers_start_cold(runtime) -> None:  # noqa: ANN001
    clients = [MPClient.from_runtime(runtime) for _ in range(THREADS)]

    results = _all_at_once(THREADS, lambda i: clients[i].list_tags())

    assert [r for r in results if isinstance(r, Exception)] == []
    assert _count(runtime, "mp", "token") == 1
    assert _count(runtime, "mp", "tags/get") == THREADS


def test_work_token_is_fetched_once_when_many_workers_start_cold(runtime) -> None:  # noqa: ANN001
    clients = [WorkClient.from_runtime(runtime) for _ in range(THREADS)]

    results = _all_at_once(THREADS, lambda i: clients[i].get_user("zhangsan"))

    assert [r for r in results if isinstance(r, Exception)] == []
    assert {r.name for r in results} == {"张三"}
    assert _count(runtime, "work", "gettoken") == 1
    assert _count(runtime, "work", "user/get") == THREADS


def test_a_refused_token_is_refreshed_once_and_the_call_retried(runtime) -> None:  # noqa: ANN001
    mp = MPClient.from_runtime(runtime)
    mp.list_tags()  # warm the token
    state.add_fault(runtime.redis, channel="mp", api="tags/get", errcode=40001, times=1)

    tags = mp.list_tags()

    assert isinstance(tags, list)
    assert _count(runtime, "mp", "token") == 2
    calls = state.list_calls(runtime.redis, channel="mp", api="tags/get")
    assert [c["errcode"] for c in calls] == [0, 40001, 0]


def test_a_token_refused_again_after_the_refresh_raises_instead_of_looping(runtime) -> None:  # noqa: ANN001
    mp = MPClient.from_runtime(runtime)
    mp.list_tags()
    state.add_fault(runtime.redis, channel="mp", api="tags/get", errcode=40001, times=10)

    with pytest.raises(WeChatError) as raised:
        mp.list_tags()

    assert raised.value.errcode == 40001
    assert raised.value.api == "tags/get"
    assert _count(runtime, "mp", "token") == 2  # the cold fetch, then exactly one refresh
    assert _count(runtime, "mp", "tags/get") == 1 + 2  # the warm-up, then two attempts


def test_work_token_errors_are_handled_like_mp_ones(runtime) -> None:  # noqa: ANN001
    work = WorkClient.from_runtime(runtime)
    work.get_user("lisi")
    state.add_fault(runtime.redis, channel="work", api="user/get", errcode=42001, times=1)

    assert work.get_user("lisi").userid == "lisi"
    state.add_fault(runtime.redis, channel="work", api="user/get", errcode=40014, times=5)
    with pytest.raises(WeChatError) as raised:
        work.get_user("lisi")

    assert raised.value.errcode == 40014
    assert _count(runtime, "work", "gettoken") == 3
    assert _count(runtime, "work", "user/get") == 1 + 2 + 2


def test_workers_refused_with_the_same_token_cause_one_refresh(runtime) -> None:  # noqa: ANN001
    workers = 20
    clients = [MPClient.from_runtime(runtime) for _ in range(workers)]
    clients[0].list_tags()  # every worker now holds the same cached token
    # Each worker's first call is refused; the delay holds the answers until all have asked.
    state.add_fault(runtime.redis, channel="mp", api="tags/get", errcode=40001, times=workers, delay_ms=300)

    results = _all_at_once(workers, lambda i: clients[i].list_tags())

    assert [r for r in results if isinstance(r, Exception)] == []
    assert _count(runtime, "mp", "token") == 2
    errcodes = [c["errcode"] for c in state.list_calls(runtime.redis, channel="mp", api="tags/get")[1:]]
    assert sorted(errcodes) == [0] * workers + [40001] * workers


def test_invalidate_only_drops_the_token_that_failed(runtime) -> None:  # noqa: ANN001
    issued = itertools.count(1)
    tokens = TokenCache(runtime.redis, key="test:token", api="token", fetch=lambda: (f"t{next(issued)}", 7200))

    first = tokens.get()
    assert tokens.invalidate(first) is True
    second = tokens.get()

    assert (first, second) == ("t1", "t2")
    assert tokens.invalidate(first) is False  # a late worker still holding t1 changes nothing
    assert tokens.get() == "t2"


def test_the_token_expiry_margin_lives_in_redis(runtime) -> None:  # noqa: ANN001
    tokens = TokenCache(runtime.redis, key="test:token", api="token", fetch=lambda: ("t", 7200), margin_seconds=300)

    tokens.get()

    assert 6800 < runtime.redis.ttl("test:token") <= 6900
    assert runtime.redis.get("test:token") == b"t"


def test_waiters_report_a_failed_refresh_instead_of_repeating_it(runtime) -> None:  # noqa: ANN001
    state.add_fault(runtime.redis, channel="mp", api="token", errcode=40125, times=1, delay_ms=300)
    clients = [MPClient.from_runtime(runtime) for _ in range(8)]

    results = _all_at_once(8, lambda i: clients[i].list_tags())

    assert all(isinstance(r, WeChatError) and r.errcode == 40125 for r in results), results
    assert _count(runtime, "mp", "token") == 1
    assert clients[0].list_tags() == []  # the next caller tries again
    assert _count(runtime, "mp", "token") == 2
