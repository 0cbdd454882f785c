"""The weekly cap (频控) and quiet hours (免打扰), across all campaigns (SPEC §1 ``outreach.*``).

**Cap.** A customer gets at most ``outreach.weekly_cap`` proactive messages in any 7 days. Each
planned send reserves a slot in Redis: a sorted set per customer, scored by the moment the
message is due. A send at ``t`` may be reserved while fewer than ``cap`` reservations lie within
7 days either side of it (then no 7-day window holding ``t`` can pass the cap, whatever was
planned earlier or later). Check and reservation are one Lua script, so two campaigns racing
for a customer's last slot cannot both win. A refused send learns the first moment that could
work (the nearest blocking reservation's time + 7 days); the planner defers it there or skips
it, as the campaign says. A delivery that ends without a message (skipped, failed) gives its
slot back.

**Quiet hours.** ``outreach.quiet_hours = "22-8"``: nothing is sent from 22:00 to 08:00 local
time (``brand.timezone``); a send due inside is moved to the end of the quiet hours, or
skipped. ``""`` turns them off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    import redis

    from scrm.config import Config

WEEK_MS = 7 * 86400 * 1000
MAX_TRIES = 8  # a deferral that has not found a slot after this many moves is skipped
SCRIPT_CHUNK = 500  # customers per script call: Redis runs one call at a time, ~5 ms at most

# KEYS: the customers' reservations, one key each. ARGV: window (ms), cap, now (ms), the due (ms)
# they share or "", then for each key its member, preceded by its own due when none is shared.
# Returns one string, an answer per key separated by commas: empty when reserved at its due, else
# the first moment (ms) it could work: refused. One script for many customers: a round trip and a script
# call per chunk instead of per customer (on a Redis Cluster a chunk's keys would need one slot).
_RESERVE = """
local window = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local floor = '(' .. (now - window)
local shared = tonumber(ARGV[4])
local out = {}
local at = 5
for _, key in ipairs(KEYS) do
  local due = shared
  if not shared then
    due = tonumber(ARGV[at])
    at = at + 1
  end
  local member = ARGV[at]
  at = at + 1
  redis.call('ZREMRANGEBYSCORE', key, '-inf', floor)
  if redis.call('ZSCORE', key, member) then
    out[#out + 1] = ''
  else
    local near = redis.call('ZRANGEBYSCORE', key, '(' .. (due - window), '(' .. (due + window), 'WITHSCORES')
    if #near / 2 < cap then
      redis.call('ZADD', key, due, member)
      local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
      -- relative to our clock (frozen in tests), kept until the last reservation leaves the window
      redis.call('PEXPIRE', key, math.max(tonumber(last[2]) + window - now, window))
      out[#out + 1] = ''
    else
      out[#out + 1] = string.format('%d', tonumber(near[2]) + window)
    end
  end
end
return table.concat(out, ',')
"""


@dataclass(frozen=True)
class Slot:
    """A send's place in time: reserved at ``due_at``, or refused with the ``reason``."""

    due_at: datetime | None
    reason: str | None = None  # capped, quiet_hours


def key(customer_id: int) -> str:
    return f"scrm:outreach:cap:{customer_id}"


class FrequencyCap:
    def __init__(self, redis_client: redis.Redis, config: Config) -> None:
        self.redis = redis_client
        self.cap = config.outreach.weekly_cap
        self.quiet = QuietHours.parse(config.outreach.quiet_hours, config.brand.timezone)
        self._script = redis_client.register_script(_RESERVE)

    def reserve_many(self, wanted: Sequence[tuple[int, str]], due: datetime, now: datetime, *,
                     defer: bool) -> list[Slot]:
        """For each ``(customer_id, member)``, a slot at ``due`` or (``defer``) the first later
        one that is outside quiet hours and under the cap: a script call per chunk and move."""
        results: list[Slot | None] = [None] * len(wanted)
        start = self.quiet.next_open(due)
        if start != due and not defer:
            return [Slot(None, "quiet_hours")] * len(wanted)
        pending = {i: start for i in range(len(wanted))}
        window, now_ms = WEEK_MS, _ms(now)
        moments: dict[int, datetime] = {}  # most answers are the same few moments, both ways
        millis: dict[datetime, int] = {}
        for _ in range(MAX_TRIES):
            if not pending or self.cap <= 0:
                break
            order = list(pending)
            answers: list[bytes] = []
            for low in range(0, len(order), SCRIPT_CHUNK):
                chunk = order[low:low + SCRIPT_CHUNK]
                dues = {pending[i] for i in chunk}
                if len(dues) == 1:
                    args: list[int | str] = [window, self.cap, now_ms, _ms(dues.pop())]
                    args += [wanted[i][1] for i in chunk]
                else:
                    args = [window, self.cap, now_ms, ""]
                    for i in chunk:
                        args += (_ms(pending[i]), wanted[i][1])
                answers += self._script(keys=[key(wanted[i][0]) for i in chunk], args=args).split(b",")
            for i, answer in zip(order, answers, strict=True):
                reserved = not answer
                due_ms = millis.get(pending[i]) or millis.setdefault(pending[i], _ms(pending[i]))
                at_ms = due_ms if reserved else int(answer)
                at = moments.get(at_ms) or moments.setdefault(at_ms, _from_ms(at_ms))
                if reserved:
                    results[i] = Slot(at)
                    del pending[i]
                elif not defer:
                    results[i] = Slot(None, "capped")
                    del pending[i]
                else:
                    pending[i] = self.quiet.next_open(at)
        return [slot or Slot(None, "capped") for slot in results]

    def release(self, customer_id: int, member: str) -> None:
        """Give back a slot whose send did not happen."""
        self.redis.zrem(key(customer_id), member)


@dataclass(frozen=True)
class QuietHours:
    start: int | None  # local hour quiet hours begin; None: none
    end: int
    zone: ZoneInfo

    @classmethod
    def parse(cls, text: str, zone: str) -> QuietHours:
        if not text:
            return cls(None, 0, ZoneInfo(zone))
        start, end = (int(part) for part in text.split("-"))
        return cls(start, end, ZoneInfo(zone))

    def is_quiet(self, at: datetime) -> bool:
        if self.start is None or self.start == self.end:
            return False
        hour = at.astimezone(self.zone).hour
        if self.start < self.end:
            return self.start <= hour < self.end
        return hour >= self.start or hour < self.end

    def next_open(self, at: datetime) -> datetime:
        """``at`` itself when it is not quiet, else the end of the quiet hours it falls in."""
        if not self.is_quiet(at):
            return at
        local = at.astimezone(self.zone)
        opening = local.replace(hour=self.end, minute=0, second=0, microsecond=0)
        if opening <= local:
            opening += timedelta(days=1)
        return opening.astimezone(UTC)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
