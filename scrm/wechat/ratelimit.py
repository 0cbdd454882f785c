"""A client-side rate limiter per WeChat API: a token bucket in Redis, shared by every
process that calls WeChat with the same app.

One Lua script reads, refills and takes from the bucket atomically, on Redis's own clock
(``TIME``), so processes on machines with different clocks agree. Amounts are whole numbers:
one call is 60,000 units and a quota of N a minute refills N units a millisecond, which keeps
the arithmetic exact in Lua's doubles.

When the bucket is empty a caller that would wait at most ``max_wait`` seconds reserves its
slot (the bucket goes below zero) and sleeps; a longer wait raises :class:`RateLimited` so the
job queue backs off instead of holding a worker. ``pause`` stops an API for everyone, used
when WeChat itself answers 45009/45011.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import redis

from scrm.wechat.errors import RateLimited
from scrm.wechat.quotas import Quota, quota_for

UNITS_PER_CALL = 60_000  # milliseconds in a minute

# KEYS: bucket, pause. ARGV: refill units per ms (= calls per minute), capacity in units,
# longest wait (ms) a caller accepts. Returns {admitted 0/1, wait in ms}.
_TAKE = """
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then return {0, paused} end
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local unit = 60000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
if now > ts then
  tokens = math.min(capacity, tokens + (now - ts) * rate)
  ts = now
end
local admitted, wait = 1, 0
if tokens < unit then
  wait = math.ceil((unit - tokens) / rate)
  if wait > max_wait then admitted = 0 end
end
if admitted == 1 then tokens = tokens - unit end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', ts)
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate) + 1000)
return {admitted, wait}
"""


class RateLimiter:
    """Token buckets for one channel ("mp"/"work") and app, one per API."""

    def __init__(
        self,
        redis_client: redis.Redis,
        *,
        channel: str,
        app: str,
        overrides: Mapping[str, int] | None = None,
        max_wait: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._redis = redis_client
        self._channel = channel
        self._app = app
        self._overrides = dict(overrides or {})
        self._max_wait_ms = int(max_wait * 1000)
        self._sleep = sleep
        self._take = redis_client.register_script(_TAKE)

    def quota(self, api: str) -> Quota:
        return quota_for(self._channel, api, self._overrides)

    def acquire(self, api: str) -> None:
        """Take one call of ``api``: return at once, after a short wait, or raise
        :class:`RateLimited` with the seconds until a call is free."""
        quota = self.quota(api)
        admitted, wait_ms = self._take(
            keys=self._keys(api),
            args=[quota.per_minute, quota.capacity * UNITS_PER_CALL, self._max_wait_ms],
        )
        if not admitted:
            raise RateLimited(api, retry_after=max(int(wait_ms), 1) / 1000)
        if wait_ms:
            self._sleep(int(wait_ms) / 1000)

    def pause(self, api: str, seconds: float) -> None:
        """Refuse ``api`` to every caller for ``seconds`` (WeChat said we call it too often)."""
        self._redis.set(self._keys(api)[1], b"1", px=max(int(seconds * 1000), 1))

    def _keys(self, api: str) -> list[str]:
        # One hash tag so both keys live in the same slot on a Redis Cluster.
        tag = f"{{{self._channel}:{self._app}:{api}}}"
        return [f"scrm:wechat:rate:{tag}", f"scrm:wechat:pause:{tag}"]
