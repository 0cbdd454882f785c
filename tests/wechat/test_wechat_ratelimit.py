"""The client-side limiter: a token bucket per channel, app and API in Redis (fakeredis and
the real one), quotas from scrm/wechat/quotas.py merged with ``wechat.rate_limits``."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from scrm.errors import RetryLater
from scrm.sandbox import state
from scrm.wechat.errors import RateLimited
from scrm.wechat.mp import MPClient
from scrm.wechat.quotas import DEFAULTS, Quota, quota_for
from scrm.wechat.ratelimit import RateLimiter


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"wechat.rate_limits": {"tags/get": 3, "work:user/get": 7}}


def _limiter(runtime, per_minute: int, **kwargs: Any) -> RateLimiter:  # noqa: ANN001
    return RateLimiter(runtime.redis, channel="mp", app="wxtest", overrides={"test/api": per_minute}, **kwargs)


def test_a_bucket_of_n_a_minute_admits_n_then_refuses_with_a_retry_after(runtime) -> None:  # noqa: ANN001
    limiter = _limiter(runtime, 5)

    for _ in range(5):
        limiter.acquire("test/api")
    with pytest.raises(RateLimited) as raised:
        limiter.acquire("test/api")

    assert isinstance(raised.value, RetryLater)
    assert 1 < raised.value.retry_after <= 12  # one call comes back every 60/5 seconds
    limiter.acquire("other/api")  # each API has its own bucket


def test_buckets_are_per_app(runtime) -> None:  # noqa: ANN001
    first = RateLimiter(runtime.redis, channel="mp", app="wxone", overrides={"test/api": 1})
    second = RateLimiter(runtime.redis, channel="mp", app="wxtwo", overrides={"test/api": 1})

    first.acquire("test/api")
    second.acquire("test/api")
    with pytest.raises(RateLimited):
        first.acquire("test/api")


def test_concurrent_acquirers_never_exceed_the_quota(runtime) -> None:  # noqa: ANN001
    quota, workers = 10, 40
    barrier = threading.Barrier(workers)

    def acquire(_: int) -> bool:
        limiter = _limiter(runtime, quota, max_wait=0)
        barrier.wait()
        try:
            limiter.acquire("test/api")
            return True
        except RateLimited:
            return False

    with ThreadPoolExecutor(workers) as pool:
        admitted = sum(pool.map(acquire, range(workers)))

    assert admitted == quota


def test_a_short_wait_is_slept_and_a_long_one_refused(runtime) -> None:  # noqa: ANN001
    sleeps: list[float] = []
    limiter = _limiter(runtime, 120, max_wait=1.0, sleep=sleeps.append)  # a call every 0.5 s

    for _ in range(120):
        limiter.acquire("test/api")
    assert sleeps == []
    with pytest.raises(RateLimited):
        for _ in range(5):
            limiter.acquire("test/api")

    assert 1 <= len(sleeps) <= 3
    assert all(0 < s <= 1.0 for s in sleeps)


def test_the_client_stops_at_the_configured_quota(runtime) -> None:  # noqa: ANN001
    mp = MPClient.from_runtime(runtime)

    for _ in range(3):
        mp.list_tags()
    with pytest.raises(RateLimited) as raised:
        mp.list_tags()

    assert raised.value.retry_after > 1
    assert len(state.list_calls(runtime.redis, channel="mp", api="tags/get")) == 3


def test_quotas_merge_config_over_the_built_in_ones() -> None:
    overrides = {"tags/get": 3, "work:user/get": 7, "mp:*": 100}

    assert quota_for("mp", "tags/get", overrides) == Quota(per_minute=3)
    assert quota_for("work", "user/get", overrides) == Quota(per_minute=7)
    assert quota_for("mp", "user/get", overrides) == Quota(per_minute=100)
    assert quota_for("mp", "message/mass/sendall", overrides).capacity == 30
    assert quota_for("work", "externalcontact/mark_tag", overrides) == DEFAULTS["work"]
    # WeCom: 10,000 a minute and 150,000 an hour per API.
    work = DEFAULTS["work"]
    assert work.capacity + work.per_minute <= 10_000 and work.per_minute * 60 <= 150_000
