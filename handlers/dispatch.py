"""Exactly-once effects under WeChat's retries (SPEC §3).

WeChat delivers an unanswered callback up to three more times, sometimes while the first is
still being handled, and to whichever process its load balancer picks. For each callback:

1. a reply already given (Redis ``wh:done:<key>``) is given again, with no other work;
2. otherwise one delivery claims the key in Redis (``SET NX``); the others wait for its reply;
3. the claimant records the callback in the ledger (unique ``dedupe_key``) and reacts to it,
   all in one transaction; a retry that arrives after Redis forgot finds the ledger row (the
   unique index, not Python, decides) and gets the reply stored on it;
4. slow work (WeChat API calls) is only enqueued, after the commit.

A delivery that fails releases its claim and answers 500; a delivery waiting on it then tries
itself, and otherwise WeChat's next try does the work.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from handlers.events import Callback
from handlers.models import CallbackRecord

if TYPE_CHECKING:
    from scrm.runtime import Runtime

log = logging.getLogger(__name__)

CLAIM_SECONDS = 10  # short: a claimant that died must not block WeChat's next try for long
DONE_SECONDS = 3600
WAIT_SECONDS = 3.0  # inside WeChat's 5 s
POLL_SECONDS = 0.02

Reply = dict[str, Any] | None


class StillProcessing(Exception):
    """Another delivery of this callback holds the claim and has not finished in time."""


def handle_callback(runtime: Runtime, callback: Callback) -> Reply:
    """React to ``callback`` once, however often it is delivered; return its reply."""
    key = callback.dedupe_key
    redis = runtime.redis
    for _ in range(2):  # a second round when the delivery we waited for gave up
        done = redis.get(f"wh:done:{key}")
        if done is not None:
            return json.loads(done)["reply"]
        if redis.set(f"wh:claim:{key}", b"1", nx=True, ex=CLAIM_SECONDS):
            try:
                reply = _record_and_react(runtime, callback)
            finally:
                redis.delete(f"wh:claim:{key}")
            redis.set(f"wh:done:{key}", json.dumps({"reply": reply}), ex=DONE_SECONDS)
            return reply
        settled, reply = _reply_of_other_delivery(runtime, key)
        if settled:
            return reply
    raise StillProcessing(key)


def _record_and_react(runtime: Runtime, callback: Callback) -> Reply:
    from handlers.reactions import react

    with runtime.transaction() as db_session:
        record = CallbackRecord(
            channel=callback.channel,
            dedupe_key=callback.dedupe_key,
            kind=callback.kind,
            payload=dict(callback.raw),
            received_at=runtime.clock.now(),
        )
        try:
            with db_session.begin_nested():
                db_session.add(record)
        except IntegrityError:
            log.info("callback %s was handled before; answering as then", callback.dedupe_key)
            return _stored_reply(db_session, callback.dedupe_key)
        outcome = react(runtime, db_session, callback)
        record.customer_id = outcome.customer_id
        record.reply = outcome.reply
        return outcome.reply


def _reply_of_other_delivery(runtime: Runtime, key: str) -> tuple[bool, Reply]:
    """Wait for the delivery holding the claim: (True, its reply), or (False, None) when it
    let go without recording the callback (it failed), so this delivery may try."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        done = runtime.redis.get(f"wh:done:{key}")
        if done is not None:
            return True, json.loads(done)["reply"]
        if not runtime.redis.exists(f"wh:claim:{key}"):
            break
        time.sleep(POLL_SECONDS)
    with runtime.transaction() as db_session:
        if db_session.scalar(select(CallbackRecord.id).where(CallbackRecord.dedupe_key == key)) is not None:
            return True, _stored_reply(db_session, key)
    if runtime.redis.exists(f"wh:claim:{key}"):
        raise StillProcessing(key)
    return False, None


def _stored_reply(db_session: Any, key: str) -> Reply:
    return db_session.scalar(select(CallbackRecord.reply).where(CallbackRecord.dedupe_key == key))
