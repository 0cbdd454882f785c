"""Access tokens shared through Redis, refreshed by one worker at a time.

- The token lives in Redis with a TTL of ``expires_in`` minus a margin, so every process
  sees the same expiry and none keeps its own notion of it.
- A cache miss takes a Redis lock (redis-py ``Lock``), looks again (another worker may have
  refreshed while we waited), and only then asks WeChat. Waiters read the new token.
- If a refresh finished while they waited and left no token, it failed: waiters raise its
  failure instead of each calling WeChat in turn; a caller that comes later tries again.
- ``invalidate(token)`` deletes the cached token only if it is still the one that was refused
  (compare-and-delete in Lua): twenty workers refused with the same token cause one refresh.
- A process keeps the token it read for ``memo_seconds`` (1 s) before it reads Redis again,
  which saves a round trip per call to a sender making hundreds a second (bench/outreach.py).
  ``invalidate`` forgets it at once, so the retry after a refusal reads the refreshed token;
  another process's refresh is seen within the second, while the previous token still works
  (WeChat keeps an MP token valid for 5 minutes after the next is issued; WeCom hands back the
  same token until it expires).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import redis
from redis.exceptions import LockError

from scrm.wechat.errors import RateLimited, WeChatError, WeChatUnavailable

log = logging.getLogger(__name__)

_COMPARE_AND_DELETE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

Fetch = Callable[[], tuple[str, int]]  # → (access_token, expires_in seconds)


class TokenCache:
    def __init__(
        self,
        redis_client: redis.Redis,
        *,
        key: str,
        api: str,
        fetch: Fetch,
        margin_seconds: int = 300,
        lock_seconds: float = 30.0,
        wait_seconds: float = 35.0,
        memo_seconds: float = 1.0,
    ) -> None:
        self._redis = redis_client
        self._key = key
        self._api = api
        self._fetch = fetch
        self._margin = margin_seconds
        self._lock_seconds = lock_seconds
        self._wait_seconds = wait_seconds
        self._memo_seconds = memo_seconds
        self._memo: tuple[str, float] | None = None  # (token, until: time.monotonic())
        self._compare_and_delete = redis_client.register_script(_COMPARE_AND_DELETE)

    def get(self) -> str:
        """The cached token, refreshed first if there is none."""
        memo = self._memo
        if memo is not None and time.monotonic() < memo[1]:
            return memo[0]
        cached = self._redis.get(self._key)
        if cached:
            token = cached.decode()
            self._memo = (token, time.monotonic() + self._memo_seconds)
            return token
        return self._refresh()

    def invalidate(self, token: str) -> bool:
        """Forget ``token`` if it is still the cached one; True if this call removed it."""
        self._memo = None
        return bool(self._compare_and_delete(keys=[self._key], args=[token.encode()]))

    def _refresh(self) -> str:
        generation = self._redis.get(self._generation_key)
        lock = self._redis.lock(
            f"{self._key}:lock", timeout=self._lock_seconds, blocking_timeout=self._wait_seconds
        )
        if not lock.acquire():
            raise WeChatUnavailable("timed out waiting for another worker to refresh the access token", self._api)
        try:
            cached = self._redis.get(self._key)
            if cached:
                return cached.decode()
            if self._redis.get(self._generation_key) != generation:
                failure = self._redis.get(self._failure_key)
                if failure:
                    raise _failure_from(failure, self._api)
            try:
                token, expires_in = self._fetch()
            except (WeChatError, RateLimited) as exc:
                self._finish_refresh(failure=_failure_record(exc))
                raise
            self._redis.set(self._key, token.encode(), ex=self._ttl(expires_in))
            self._finish_refresh(failure=None)
            log.info("wechat %s: access token refreshed, expires in %ss", self._api, expires_in)
            return token
        finally:
            try:
                lock.release()
            except LockError:
                log.warning("wechat %s: the token refresh outlived its lock", self._api)

    def _finish_refresh(self, *, failure: bytes | None) -> None:
        """Count a finished refresh; those that waited through it compare the count."""
        pipe = self._redis.pipeline()
        if failure is None:
            pipe.delete(self._failure_key)
        else:
            pipe.set(self._failure_key, failure, ex=60)
        pipe.incr(self._generation_key)
        pipe.execute()

    def _ttl(self, expires_in: int) -> int:
        if expires_in > 2 * self._margin:
            return expires_in - self._margin
        return max(1, expires_in // 2)

    @property
    def _generation_key(self) -> str:
        return f"{self._key}:refreshed"

    @property
    def _failure_key(self) -> str:
        return f"{self._key}:failure"


def _failure_record(exc: WeChatError | RateLimited) -> bytes:
    if isinstance(exc, RateLimited):
        record = {"errcode": exc.errcode, "errmsg": str(exc), "retry_after": exc.retry_after}
    else:
        record = {"errcode": exc.errcode, "errmsg": exc.errmsg}
    return json.dumps(record).encode()


def _failure_from(raw: bytes, api: str) -> Exception:
    record = json.loads(raw)
    if "retry_after" in record:
        return RateLimited(api, retry_after=record["retry_after"], errcode=record["errcode"])
    message = f"the access token refresh failed in another worker: {record['errmsg']}"
    if record["errcode"] is None:
        return WeChatUnavailable(message, api)
    return WeChatError(record["errcode"], message, api)
