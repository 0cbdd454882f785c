"""The sandbox's state in Redis, under ``sandbox:``, so every app process shares one fake WeChat.

Plain functions for tests and tools (no HTTP needed): the call log (``record_call``,
``list_calls``, ``clear_calls``), faults (``add_fault``, ``take_fault``, ``list_faults``,
``clear_faults``) and access tokens: what is ephemeral, in Redis. The world the sandbox plays —
followers, members, customers, group chats, codes, what customers received — is kept in the
database and seeded with the functions of :mod:`scrm.sandbox.world`, re-exported here.

Keys: ``sandbox:calls`` (list of ids, oldest first) + ``sandbox:calls:data`` (id → JSON);
``sandbox:faults`` (list of ids, oldest first) + ``sandbox:faults:{match,left,spec}``
(id → ``"channel api"``, calls left, JSON); ``sandbox:<channel>:tokens`` (token → expiry ms)
with ``…:token:current`` and ``…:token:previous``.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis as redis_lib

from scrm.sandbox.world import (  # noqa: F401 - re-exported: the sandbox's one import for tests
    SEEDED,
    add_external_contact,
    add_follower,
    add_followers,
    add_group_chat,
    add_group_chat_members,
    add_member,
    ensure_seeded,
    find_contact_way,
    find_qrcode,
    get_msg_task,
    issue_welcome_code,
    list_messages,
    remove_group_chat_members,
    send_msg_task,
    touch_follower,
    unfollow,
)

CALLS = "sandbox:calls"
CALLS_DATA = "sandbox:calls:data"
CALLS_SEQ = "sandbox:calls:seq"
MAX_CALLS = 5000  # the oldest are dropped beyond this, so a long demo does not fill Redis
MASKED = ("access_token", "secret", "corpsecret", "appsecret")

FAULTS = "sandbox:faults"
FAULTS_MATCH = "sandbox:faults:match"
FAULTS_LEFT = "sandbox:faults:left"
FAULTS_SPEC = "sandbox:faults:spec"
FAULTS_SEQ = "sandbox:faults:seq"

TOKEN_SECONDS = 7200
TOKEN_GRACE_SECONDS = 300  # a superseded MP token stays valid this long, as on WeChat


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


# ---- the call log ------------------------------------------------------------------------


def _mask(values: Any) -> Any:
    if not isinstance(values, dict):
        return values
    return {k: ("***" if k in MASKED and v not in (None, "") else v) for k, v in values.items()}


# KEYS: seq, ids, data. ARGV: the call as a JSON object without its id, the most kept. The id
# goes in first, as in the dict ``record_call`` returns; the oldest beyond the most are dropped.
_RECORD_CALL = """
local id = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[3], id, '{"id": ' .. id .. ', ' .. string.sub(ARGV[1], 2))
local over = redis.call('RPUSH', KEYS[2], id) - tonumber(ARGV[2])
if over > 0 then
  local dropped = redis.call('LPOP', KEYS[2], over)
  for i = 1, #dropped, 1000 do
    redis.call('HDEL', KEYS[3], unpack(dropped, i, math.min(i + 999, #dropped)))
  end
end
return id
"""


def record_call(
    redis: redis_lib.Redis,
    *,
    channel: str,
    api: str,
    method: str,
    query: dict[str, str],
    body: Any,
    at: datetime,
    errcode: int | None = None,
    http_status: int | None = None,
) -> dict[str, Any]:
    """Log one call (secrets masked), in one round trip, and return it; a call recorded before
    its answer (``http_status`` None) gets it from ``finish_call``."""
    call = {
        "channel": channel,
        "api": api,
        "method": method,
        "query": _mask(query),
        "body": _mask(body),
        "errcode": errcode,
        "http_status": http_status,
        "at": at.isoformat(),
    }
    call_id = int(redis.eval(_RECORD_CALL, 3, CALLS_SEQ, CALLS, CALLS_DATA, json.dumps(call, ensure_ascii=False),
                             MAX_CALLS))
    return {"id": call_id, **call}


def finish_call(redis: redis_lib.Redis, call_id: int, *, errcode: int | None, http_status: int) -> None:
    raw = redis.hget(CALLS_DATA, str(call_id))
    if raw is None:  # trimmed meanwhile
        return
    call = json.loads(raw)
    call.update(errcode=errcode, http_status=http_status)
    redis.hset(CALLS_DATA, str(call_id), json.dumps(call, ensure_ascii=False))


def list_calls(redis: redis_lib.Redis, channel: str | None = None, api: str | None = None) -> list[dict[str, Any]]:
    """Calls oldest first, optionally those of one channel and/or one api."""
    ids = redis.lrange(CALLS, 0, -1)
    if not ids:
        return []
    calls = [json.loads(raw) for raw in redis.hmget(CALLS_DATA, ids) if raw is not None]
    return [c for c in calls if (channel is None or c["channel"] == channel) and (api is None or c["api"] == api)]


def clear_calls(redis: redis_lib.Redis) -> None:
    redis.delete(CALLS, CALLS_DATA)


# ---- faults ------------------------------------------------------------------------------

# Oldest matching fault first; decrement its count and drop it at zero, all in one step so
# two concurrent calls never both take the last use.
_TAKE_FAULT = """
local ids = redis.call('LRANGE', KEYS[1], 0, -1)
for _, id in ipairs(ids) do
  local match = redis.call('HGET', KEYS[2], id)
  if match == ARGV[1] or match == ARGV[2] then
    local left = redis.call('HINCRBY', KEYS[3], id, -1)
    local spec = redis.call('HGET', KEYS[4], id)
    if left <= 0 then
      redis.call('LREM', KEYS[1], 0, id)
      redis.call('HDEL', KEYS[2], id)
      redis.call('HDEL', KEYS[3], id)
      redis.call('HDEL', KEYS[4], id)
    end
    if left >= 0 then return spec end
  end
end
return nil
"""


def add_fault(
    redis: redis_lib.Redis,
    *,
    channel: str,
    api: str,
    errcode: int | None = None,
    times: int = 1,
    delay_ms: int = 0,
    http_status: int | None = None,
) -> dict[str, Any]:
    """Make the next ``times`` calls of ``api`` (``"*"``: any api of the channel, the token
    calls included) sleep ``delay_ms`` and then answer ``errcode`` or a bare ``http_status``;
    with neither, they proceed normally after the delay."""
    if channel not in ("mp", "work"):
        raise ValueError("channel must be mp or work")
    if times < 1:
        raise ValueError("times must be at least 1")
    if errcode is not None and http_status is not None:
        raise ValueError("give errcode or http_status, not both")
    if errcode is None and http_status is None and delay_ms <= 0:
        raise ValueError("a fault needs an errcode, an http_status or a delay_ms")
    fault_id = int(redis.incr(FAULTS_SEQ))
    fault = {
        "id": fault_id,
        "channel": channel,
        "api": api,
        "errcode": errcode,
        "times": times,
        "delay_ms": delay_ms,
        "http_status": http_status,
    }
    pipe = redis.pipeline()
    pipe.hset(FAULTS_MATCH, str(fault_id), f"{channel} {api}")
    pipe.hset(FAULTS_LEFT, str(fault_id), times)
    pipe.hset(FAULTS_SPEC, str(fault_id), json.dumps(fault))
    pipe.rpush(FAULTS, fault_id)
    pipe.execute()
    return {**fault, "remaining": times}


def take_fault(redis: redis_lib.Redis, channel: str, api: str) -> dict[str, Any] | None:
    """Consume one use of the oldest fault matching this call, if any."""
    return _fault(redis.eval(*_take_fault_args(channel, api)))


def _take_fault_args(channel: str, api: str) -> tuple[Any, ...]:
    return _TAKE_FAULT, 4, FAULTS, FAULTS_MATCH, FAULTS_LEFT, FAULTS_SPEC, f"{channel} {api}", f"{channel} *"


def _fault(spec: bytes | None) -> dict[str, Any] | None:
    return json.loads(spec) if spec else None


def list_faults(redis: redis_lib.Redis) -> list[dict[str, Any]]:
    ids = redis.lrange(FAULTS, 0, -1)
    if not ids:
        return []
    specs = redis.hmget(FAULTS_SPEC, ids)
    lefts = redis.hmget(FAULTS_LEFT, ids)
    return [{**json.loads(spec), "remaining": int(left)} for spec, left in zip(specs, lefts) if spec and left]


def clear_faults(redis: redis_lib.Redis) -> None:
    redis.delete(FAULTS, FAULTS_MATCH, FAULTS_LEFT, FAULTS_SPEC)


# ---- access tokens -----------------------------------------------------------------------

# KEYS: tokens hash, current, previous. ARGV: new token, its expiry ms, now ms, grace expiry
# ms, "reuse" (WeCom: hand back the current token while it is valid).
_ISSUE_TOKEN = """
local current = redis.call('GET', KEYS[2])
if current and ARGV[5] == 'reuse' then
  local expiry = redis.call('HGET', KEYS[1], current)
  if expiry and tonumber(expiry) > tonumber(ARGV[3]) then return {current, expiry} end
end
local older = redis.call('GET', KEYS[3])
if older then redis.call('HDEL', KEYS[1], older) end
if current then
  local expiry = redis.call('HGET', KEYS[1], current)
  if expiry and tonumber(expiry) > tonumber(ARGV[4]) then
    redis.call('HSET', KEYS[1], current, ARGV[4])
  end
  redis.call('SET', KEYS[3], current)
else
  redis.call('DEL', KEYS[3])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[1])
return {ARGV[1], ARGV[2]}
"""


def _token_keys(channel: str) -> tuple[str, str, str]:
    return f"sandbox:{channel}:tokens", f"sandbox:{channel}:token:current", f"sandbox:{channel}:token:previous"


def issue_token(redis: redis_lib.Redis, channel: str, *, now: datetime, reuse: bool = False) -> tuple[str, int]:
    """A new token (MP: the last one keeps 5 minutes, older ones die); with ``reuse`` the
    current one while valid (WeCom). Returns the token and its seconds to live."""
    now_ms = ms(now)
    token, expiry = redis.eval(
        _ISSUE_TOKEN,
        3,
        *_token_keys(channel),
        secrets.token_urlsafe(48),
        now_ms + TOKEN_SECONDS * 1000,
        now_ms,
        now_ms + TOKEN_GRACE_SECONDS * 1000,
        "reuse" if reuse else "new",
    )
    return token.decode(), max(0, (int(expiry) - now_ms) // 1000)


def token_status(redis: redis_lib.Redis, channel: str, token: str, *, now: datetime) -> str:
    """``valid``, ``expired`` (the current token past its life) or ``invalid``."""
    tokens, current, _ = _token_keys(channel)
    return _token_status(token, redis.hget(tokens, token), redis.get(current), now)


def _token_status(token: str, expiry: bytes | None, current_token: bytes | None, now: datetime) -> str:
    if expiry is None:
        return "invalid"
    if int(expiry) > ms(now):
        return "valid"
    return "expired" if current_token is not None and current_token.decode() == token else "invalid"


# ---- one call's state, read at once -----------------------------------------------------


@dataclass(frozen=True)
class Opened:
    """What the sandbox knows of a call before it answers: the fault it takes, if any, and
    what its ``access_token`` is (None: it has none)."""

    fault: dict[str, Any] | None
    token_status: str | None


def open_call(redis: redis_lib.Redis, *, channel: str, api: str | None, token: str | None, now: datetime) -> Opened:
    """In one round trip: the world seeded, a fault taken (``api`` None: the sandbox does not
    play it, so none is), and the token's status looked up."""
    tokens, current, _ = _token_keys(channel)
    pipe = redis.pipeline(transaction=False)
    pipe.exists(SEEDED)
    if api is not None:
        pipe.eval(*_take_fault_args(channel, api))
    if token:
        pipe.hget(tokens, token)
        pipe.get(current)
    answers = pipe.execute()
    if not answers[0]:
        ensure_seeded(redis)
    fault = _fault(answers[1]) if api is not None else None
    status = _token_status(token, answers[-2], answers[-1], now) if token else None
    return Opened(fault, status)
