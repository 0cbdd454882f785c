"""Errors and retries: throttling raises RateLimited at once, network and gateway errors are
retried a bounded number of times with backoff, other errcodes raise WeChatError, and no
error or log line carries the access token or a secret."""

from __future__ import annotations

import logging

import pytest

from platform_world import reconfigure
from scrm.errors import RetryLater
from scrm.sandbox import state
from scrm.wechat.errors import RateLimited, WeChatError, WeChatUnavailable
from scrm.wechat.mp import MPClient
from scrm.wechat.work import WorkClient


def _calls(runtime, channel: str, api: str) -> list[dict]:  # noqa: ANN001
    return state.list_calls(runtime.redis, channel=channel, api=api)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def mp(runtime, sleeps):  # noqa: ANN001, ANN201
    client = MPClient.from_runtime(runtime, sleep=sleeps.append)
    client.list_tags()  # the token is cached; the tests count only what follows
    return client


@pytest.mark.parametrize("errcode", [45009, 45011])
def test_throttling_raises_rate_limited_without_retrying(runtime, mp, sleeps, errcode) -> None:  # noqa: ANN001
    state.add_fault(runtime.redis, channel="mp", api="message/custom/send", errcode=errcode, times=5)

    with pytest.raises(RateLimited) as raised:
        mp.send_custom_message("o-follower", "text", {"content": "hi"})

    assert isinstance(raised.value, RetryLater)
    assert raised.value.retry_after > 0
    assert raised.value.errcode == errcode
    assert len(_calls(runtime, "mp", "message/custom/send")) == 1
    assert sleeps == []


def test_throttling_pauses_the_api_for_every_worker(runtime, mp) -> None:  # noqa: ANN001
    state.add_fault(runtime.redis, channel="mp", api="message/custom/send", errcode=45009, times=1)
    with pytest.raises(RateLimited):
        mp.send_custom_message("o-follower", "text", {"content": "hi"})

    other_worker = MPClient.from_runtime(runtime)
    with pytest.raises(RateLimited) as raised:
        other_worker.send_custom_message("o-follower", "text", {"content": "hi"})

    assert raised.value.retry_after > 0
    assert len(_calls(runtime, "mp", "message/custom/send")) == 1  # WeChat was not asked again
    assert isinstance(other_worker.list_tags(), list)  # other APIs carry on


def test_a_gateway_error_is_retried_with_backoff_then_raised(runtime, mp, sleeps) -> None:  # noqa: ANN001
    state.add_fault(runtime.redis, channel="mp", api="tags/get", http_status=502, times=10)

    with pytest.raises(WeChatUnavailable) as raised:
        mp.list_tags()

    assert raised.value.errcode is None
    assert raised.value.api == "tags/get"
    assert [c["http_status"] for c in _calls(runtime, "mp", "tags/get")] == [200, 502, 502, 502]
    assert len(sleeps) == 2
    assert 0 < sleeps[0] < sleeps[1]


def test_a_passing_gateway_error_is_retried_and_the_call_succeeds(runtime, mp, sleeps) -> None:  # noqa: ANN001
    state.add_fault(runtime.redis, channel="mp", api="tags/get", http_status=503, times=1)

    assert isinstance(mp.list_tags(), list)

    assert [c["http_status"] for c in _calls(runtime, "mp", "tags/get")] == [200, 503, 200]
    assert len(sleeps) == 1


def test_system_busy_is_retried_like_a_network_error(runtime, mp, sleeps) -> None:  # noqa: ANN001
    state.add_fault(runtime.redis, channel="mp", api="tags/get", errcode=-1, times=10)

    with pytest.raises(WeChatError) as raised:
        mp.list_tags()

    assert raised.value.errcode == -1
    assert len(_calls(runtime, "mp", "tags/get")) == 1 + 3
    assert len(sleeps) == 2


def test_a_failing_token_endpoint_is_retried_then_raised(runtime, sleeps) -> None:  # noqa: ANN001
    state.add_fault(runtime.redis, channel="work", api="gettoken", http_status=500, times=10)
    work = WorkClient.from_runtime(runtime, sleep=sleeps.append)

    with pytest.raises(WeChatUnavailable) as raised:
        work.get_user("zhangsan")

    assert raised.value.api == "gettoken"
    assert len(_calls(runtime, "work", "gettoken")) == 3
    assert _calls(runtime, "work", "user/get") == []


def test_other_errcodes_raise_wechat_error_at_once(runtime, mp, sleeps) -> None:  # noqa: ANN001
    state.add_fault(runtime.redis, channel="mp", api="message/custom/send", errcode=45015, times=1)

    with pytest.raises(WeChatError) as raised:
        mp.send_custom_message("o-follower", "text", {"content": "hi"})

    assert (raised.value.errcode, raised.value.api) == (45015, "message/custom/send")
    assert "45015" in str(raised.value)
    assert len(_calls(runtime, "mp", "message/custom/send")) == 1
    assert sleeps == []


def test_errors_and_logs_never_carry_the_token_or_the_secret(runtime, caplog) -> None:  # noqa: ANN001
    caplog.set_level(logging.DEBUG, logger="scrm.wechat")
    mp = MPClient.from_runtime(runtime, sleep=lambda s: None)
    mp.list_tags()
    token = mp.transport.tokens.get()
    state.add_fault(runtime.redis, channel="mp", api="tags/get", http_status=502, times=3)
    state.add_fault(runtime.redis, channel="mp", api="user/info", errcode=40003, times=1)

    failures = []
    for call in (mp.list_tags, lambda: mp.user_info("nobody")):
        with pytest.raises(WeChatError) as raised:
            call()
        failures.append(raised.value)

    secret = runtime.config.wechat.mp.app_secret
    for exc in failures:
        text = f"{exc} {exc!r} {exc.__cause__!r} {exc.__context__!r}"
        assert token not in text and secret not in text
        assert exc.__context__ is None  # no requests exception (whose message holds the URL)
    # Ours only: the test server's own access log (werkzeug) prints request URLs.
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("scrm.wechat"))
    assert "wechat mp tags/get" in ours and "errcode=40003" in ours
    assert token not in ours and secret not in ours


def _follower(runtime) -> str:  # noqa: ANN001
    from datetime import UTC, datetime

    state.add_follower(runtime.redis, "oAnswerLost", last_message_at=datetime.now(UTC))  # inside the 48 h window
    return "oAnswerLost"


def test_a_message_whose_answer_is_lost_is_not_sent_again(runtime, sleeps, stack) -> None:  # noqa: ANN001
    from scrm.wechat.errors import AnswerLost

    openid = _follower(runtime)
    reconfigure(runtime, {"wechat.timeout_seconds": 0.3})  # well inside the fault's delay
    client = MPClient.from_runtime(runtime, sleep=sleeps.append)
    client.list_tags()  # the token first
    state.add_fault(runtime.redis, channel="mp", api="message/custom/send", delay_ms=1200, times=3)

    with pytest.raises(AnswerLost) as raised:
        client.send_custom_message(openid, "text", {"content": "双11 满300减50"})

    assert isinstance(raised.value, WeChatUnavailable) and raised.value.api == "message/custom/send"
    assert len(_calls(runtime, "mp", "message/custom/send")) == 1 and sleeps == []  # one try, no second
    stack.wait_until_answered()  # the sandbox, like WeChat, finishes the call the client gave up on
    assert [m["content"] for m in state.list_messages(runtime.redis, openid)] == [{"content": "双11 满300减50"}]


def test_a_read_timeout_elsewhere_is_retried_as_before(runtime, sleeps) -> None:  # noqa: ANN001
    reconfigure(runtime, {"wechat.timeout_seconds": 0.3})
    client = MPClient.from_runtime(runtime, sleep=sleeps.append)
    client.list_tags()
    state.add_fault(runtime.redis, channel="mp", api="tags/get", delay_ms=800, times=3)

    with pytest.raises(WeChatUnavailable) as raised:
        client.list_tags()

    assert "after 3 attempts" in str(raised.value) and len(sleeps) == 2


def test_a_message_whose_connection_never_opened_is_retried(runtime, mp, sleeps) -> None:  # noqa: ANN001
    import socket

    from scrm.wechat.errors import AnswerLost

    with socket.socket() as closed:  # a port nothing listens on: the connection is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    config = runtime.config
    client = MPClient(redis_client=runtime.redis, app_id=config.wechat.mp.app_id,
                      app_secret=config.wechat.mp.app_secret, base_url=f"http://127.0.0.1:{port}/cgi-bin/",
                      timeout=1.0, sleep=sleeps.append)  # the token cached by ``mp`` is shared

    with pytest.raises(WeChatUnavailable) as raised:
        client.send_custom_message(_follower(runtime), "text", {"content": "hi"})

    assert not isinstance(raised.value, AnswerLost) and "connection failed after 3 attempts" in str(raised.value)
    assert len(sleeps) == 2
