"""The one road every outbound WeChat call takes: quota → token → HTTP → bounded retry.

``Transport.call(method, api, params=, body=)`` posts to ``{base_url}{api}`` and returns
WeChat's JSON, or raises:

- errcode 40001/40014/42001 (token refused): the token is invalidated (compare-and-delete),
  refreshed once under the lock, and the call retried once. A second refusal raises
  :class:`WeChatError`; it never loops.
- a network error, a timeout, an HTTP 5xx or a body that is not JSON, or errcode -1 (system
  busy): retried with exponential backoff, ``attempts`` tries in all, then
  :class:`WeChatUnavailable` (or the -1 :class:`WeChatError`). Except for the APIs that
  deliver a message (:data:`MESSAGE_APIS`): one whose request went out and whose answer was
  lost (a read timeout, a connection dropped mid-answer) is not sent again but raises
  :class:`AnswerLost` at once; a connection that never opened is retried as before.
- 45009/45011/45033: :class:`RateLimited` at once, and the API is paused for every worker for
  ``retry_after`` seconds so they back off too.
- any other errcode: :class:`WeChatError`.

The token call itself (``token``/``gettoken``) takes the same road minus the quota and the
token. Every call is logged with its API, errcode and duration; never the URL (which holds
the token or the secret), nor the body. Exceptions are raised outside ``except`` blocks so
no requests exception, whose message holds the URL, rides along as ``__context__``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis
import requests

from scrm.wechat.errors import (
    BUSY_ERRCODES,
    RATE_LIMIT_ERRCODES,
    TOKEN_ERRCODES,
    AnswerLost,
    RateLimited,
    WeChatError,
    WeChatUnavailable,
    redact,
)
from scrm.wechat.ratelimit import RateLimiter
from scrm.wechat.tokens import TokenCache

log = logging.getLogger("scrm.wechat")

CONNECT_TIMEOUT = 3.05
# APIs that deliver a message and take no idempotency key: a request that may have reached
# WeChat is never repeated (mass sends carry clientmsgid, which WeChat dedupes: not listed).
MESSAGE_APIS = frozenset({"message/custom/send", "message/template/send", "externalcontact/add_msg_template",
                          "externalcontact/send_welcome_msg", "message/send"})


@dataclass(frozen=True)
class _Failure:
    """A try that got no WeChat answer; ``reason`` is safe to log (no URL)."""

    reason: str
    transient: bool = True
    maybe_delivered: bool = False  # the request went out; its answer did not come back


class Transport:
    def __init__(
        self,
        *,
        channel: str,
        app: str,
        base_url: str,
        redis_client: redis.Redis,
        token_api: str,
        token_params: Mapping[str, str],
        secrets: tuple[str, ...],
        timeout: float = 5.0,
        rate_limits: Mapping[str, int] | None = None,
        attempts: int = 3,
        backoff_seconds: float = 0.5,
        sleep: Callable[[float], None] | None = None,
        http: requests.Session | None = None,
    ) -> None:
        self.channel = channel
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._token_api = token_api
        self._token_params = dict(token_params)
        self._secrets = secrets
        self._timeout = (min(CONNECT_TIMEOUT, timeout), timeout)
        self._attempts = max(1, attempts)
        self._backoff = backoff_seconds
        self._sleep = sleep or time.sleep
        self._http = http or _session(self.base_url)
        self.limiter = RateLimiter(redis_client, channel=channel, app=app, overrides=rate_limits, sleep=self._sleep)
        refresh_seconds = self._attempts * (CONNECT_TIMEOUT + timeout) + 4 * backoff_seconds * self._attempts + 5
        self.tokens = TokenCache(
            redis_client,
            key=f"scrm:wechat:token:{channel}:{app}",
            api=token_api,
            fetch=self._fetch_token,
            lock_seconds=refresh_seconds,
            wait_seconds=refresh_seconds + 5,
        )

    def call(self, method: str, api: str, *, params: Mapping[str, Any] | None = None, body: Any = None,
             files: Mapping[str, tuple[str, bytes, str]] | None = None) -> dict:
        """WeChat's answer to ``api`` (a path under the base URL), errcode 0 or absent.
        ``files``: a multipart upload instead of a JSON body (material), field → (name, bytes, type)."""
        api = api.strip("/")
        token = self.tokens.get()
        payload = self._send(method, api, params, body, token=token, files=files)
        if _errcode(payload) in TOKEN_ERRCODES:
            self.tokens.invalidate(token)
            token = self.tokens.get()
            payload = self._send(method, api, params, body, token=token, files=files)
        return self._checked(api, payload, token)

    def call_without_token(self, method: str, api: str, *, params: Mapping[str, Any] | None = None) -> dict:
        """An api signed by the app's secret instead of a token (MP's ``sns/oauth2/access_token``):
        the same retries, logging and errors as :meth:`call`, without the token or a quota."""
        api = api.strip("/")
        return self._checked(api, self._send(method, api, params, None, token=None), None)

    def _fetch_token(self) -> tuple[str, int]:
        payload = self._send("GET", self._token_api, self._token_params, None, token=None)
        payload = self._checked(self._token_api, payload, None)
        if not payload.get("access_token"):
            raise WeChatUnavailable("the token answer holds no access_token", self._token_api)
        return str(payload["access_token"]), int(payload.get("expires_in") or 7200)

    def _checked(self, api: str, payload: dict, token: str | None) -> dict:
        errcode = _errcode(payload)
        if not errcode:
            return payload
        errmsg = redact(str(payload.get("errmsg", "")), token, *self._secrets)
        if errcode in RATE_LIMIT_ERRCODES:
            retry_after = RATE_LIMIT_ERRCODES[errcode]
            self.limiter.pause(api, retry_after)
            raise RateLimited(api, retry_after=retry_after, errcode=errcode)
        data = {k: v for k, v in payload.items() if k not in ("errcode", "errmsg")}
        raise WeChatError(errcode, errmsg, api, data=data)

    def _send(self, method: str, api: str, params: Mapping[str, Any] | None, body: Any, *, token: str | None,
              files: Mapping[str, tuple[str, bytes, str]] | None = None) -> dict:
        """One logical request: up to ``attempts`` tries while the failure is transient."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body, ensure_ascii=False).encode("utf-8")
        outcome: dict | _Failure = _Failure("not sent")
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(self._backoff * 2 ** (attempt - 1) * (1 + random.random() / 2))
            if token is not None:
                self.limiter.acquire(api)
            outcome = self._try_once(method, api, params, body, token, files)
            if isinstance(outcome, dict) or not outcome.transient:
                break
            if outcome.maybe_delivered and api in MESSAGE_APIS:
                raise AnswerLost(f"{outcome.reason}: WeChat may have delivered it; not sent again", api)
        if isinstance(outcome, dict):
            return outcome
        if outcome is BUSY:
            return {"errcode": -1, "errmsg": "system busy"}
        reason = outcome.reason + (f" after {self._attempts} attempts" if outcome.transient else "")
        raise WeChatUnavailable(reason, api)

    def _try_once(
        self, method: str, api: str, params: Mapping[str, Any] | None, body: bytes | None, token: str | None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> dict | _Failure:
        query = {k: v for k, v in (params or {}).items() if k != "access_token"}
        if token is not None:
            query["access_token"] = token
        headers = {"Content-Type": "application/json; charset=utf-8"} if body is not None else {}
        started = time.monotonic()
        status = None
        try:
            response = self._http.request(
                method.upper(), self.base_url + api, params=query, data=body, headers=headers, timeout=self._timeout,
                files=dict(files) if files else None,
            )
        except requests.ConnectTimeout:
            outcome: dict | _Failure = _Failure("connect timed out")
        except requests.Timeout:
            outcome = _Failure("timed out", maybe_delivered=True)
        except requests.ConnectionError as exc:
            opened = not _never_connected(exc)
            outcome = _Failure("connection dropped" if opened else "connection failed", maybe_delivered=opened)
        except requests.RequestException as exc:
            outcome = _Failure(f"request not sent ({type(exc).__name__})", transient=False)
        else:
            status = response.status_code
            outcome = _classify(response)
        self._log(api, outcome, status, started)
        return outcome

    def _log(self, api: str, outcome: dict | _Failure, status: int | None, started: float) -> None:
        millis = (time.monotonic() - started) * 1000
        if isinstance(outcome, _Failure):
            log.info(
                "wechat %s %s failed: %s (HTTP %s) in %.0f ms", self.channel, api, outcome.reason, status, millis
            )
            return
        errcode = _errcode(outcome)
        level = logging.INFO if errcode else logging.DEBUG
        log.log(level, "wechat %s %s errcode=%s in %.0f ms", self.channel, api, errcode, millis)


BUSY = _Failure("system busy (errcode -1)")


def _never_connected(exc: requests.ConnectionError) -> bool:
    """The connection was refused or never opened (so nothing was sent), as urllib3 says it."""
    from urllib3.exceptions import NewConnectionError

    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError) or isinstance(exc, requests.ConnectTimeout)


def _session(base_url: str) -> requests.Session:
    """A session that reads the environment's proxy (``HTTPS_PROXY``, ``NO_PROXY``…) and CA
    bundle (``REQUESTS_CA_BUNDLE``) for ``base_url`` once, here: with ``trust_env`` requests
    reads them on every call, a third of a millisecond of CPU each (bench/outreach.py).
    ``.netrc`` is not read: WeChat is signed in by the token, never by HTTP auth."""
    session = requests.Session()
    settings = session.merge_environment_settings(base_url, {}, None, None, None)
    session.proxies.update(settings["proxies"])
    session.verify = settings["verify"]
    session.trust_env = False
    return session


def _classify(response: requests.Response) -> dict | _Failure:
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict) and ("errcode" in payload or response.status_code < 400):
        return BUSY if _errcode(payload) in BUSY_ERRCODES else payload
    if response.status_code >= 500 or response.status_code < 400 or response.status_code == 429:
        return _Failure(f"HTTP {response.status_code} without a WeChat answer")
    return _Failure(f"HTTP {response.status_code} without a WeChat answer", transient=False)


def _errcode(payload: dict) -> int:
    try:
        return int(payload.get("errcode") or 0)
    except (TypeError, ValueError):
        return -1


def secret_fingerprint(secret: str) -> str:
    """A short, one-way name for a secret, for Redis keys (two WeCom secrets, two tokens)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]
