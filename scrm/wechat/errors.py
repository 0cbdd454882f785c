"""What a WeChat call raises. Messages name the API and WeChat's code, never a URL, the
access token or a secret (the URL carries both)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scrm.errors import RetryLater

# The access token was refused: invalid credential, invalid token, expired token.
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
# WeChat throttled us: 45009 API frequency/daily quota, 45011 per-minute quota,
# 45033 WeCom's concurrent-call limit. Seconds to back off for each.
RATE_LIMIT_ERRCODES = {45009: 60.0, 45011: 60.0, 45033: 5.0}
# "System busy, try again shortly" (系统繁忙): retried like a network error.
BUSY_ERRCODES = frozenset({-1})


class WeChatError(Exception):
    """WeChat answered with an error code (``errcode``), or could not be reached
    (``errcode`` is None, see :class:`WeChatUnavailable`)."""

    def __init__(self, errcode: int | None, errmsg: str, api: str, *, data: Mapping[str, Any] | None = None) -> None:
        self.errcode = errcode
        self.errmsg = errmsg
        self.api = api
        # The rest of WeChat's answer (e.g. the earlier ``msg_id`` with a 45065).
        self.data: Mapping[str, Any] = dict(data or {})
        super().__init__(f"WeChat {api} failed: errcode {errcode} {errmsg}".rstrip())


class WeChatUnavailable(WeChatError):
    """Network errors, timeouts or gateway errors, still failing after our bounded retries."""

    def __init__(self, errmsg: str, api: str) -> None:
        super().__init__(None, errmsg, api)
        self.args = (f"WeChat {api} unreachable: {errmsg}",)


class AnswerLost(WeChatUnavailable):
    """A message send went out and its answer did not come back (the read timed out, or the
    connection dropped after the request was written): WeChat may have delivered it. Raised
    at once, never retried by the transport: WeChat's message APIs take no idempotency key,
    and a customer messaged twice is worse than one message we cannot confirm."""


class RateLimited(RetryLater):
    """Too many calls of ``api``: by our own bucket or WeChat's 45009/45011. The job queue
    backs off by ``retry_after`` seconds without spending one of the job's retries."""

    def __init__(self, api: str, *, retry_after: float, errcode: int | None = None) -> None:
        source = f"WeChat errcode {errcode}" if errcode is not None else "client-side quota"
        message = f"WeChat {api} rate limited ({source}); retry after {retry_after:.1f}s"
        super().__init__(message, retry_after=retry_after)
        self.api = api
        self.errcode = errcode


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every non-empty ``secret`` replaced, for errmsg echoed back by a server."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
