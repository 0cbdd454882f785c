"""Exactly-once effects under WeChat's retries (SPEC §3).

WeChat delivers an unanswered callback up to three more times, sometimes while the first is
still being handled, and to whichever process its load balancer picks. For each callback
one Redis key ``wh:<dedupe key>`` is both the claim and, afterwards, the reply given:

1. a delivery claims the key (``SET NX``, value ``pending``); one that finds the key holding
   a reply answers with it, one that finds it pending waits for it;
2. the claimant reacts to the callback and, last in the same transaction, records it in the
   ledger with its reply (``INSERT … ON CONFLICT DO NOTHING``). If the ledger has the key
   already (Redis forgot: restart, eviction) the unique index says so, the reaction is rolled
   back and the stored reply given: the database, not Python, decides;
3. the reply replaces ``pending``; slow work (WeChat API calls) was enqueued after the commit.

A delivery that fails releases the claim and answers 500; a delivery waiting on it then tries
itself, and otherwise WeChat's next try does the work.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from scrm.callbacks import Callback
from handlers.models import CallbackRecord
from handlers.reactions import react
from scrm.clock import as_of
from scrm.db import dialect_insert

if TYPE_CHECKING:
    from scrm.runtime import Runtime

log = logging.getLogger(__name__)

CLAIM_SECONDS = 10  # short: a claimant that died must not block WeChat's next try for long
DONE_SECONDS = 3600
WAIT_SECONDS = 3.0  # inside WeChat's 5 s
POLL_SECONDS = 0.02
PENDING = b"pending"
# The sandbox only: a callback whose CreateTime is further back than WeChat's replay window
# is a backfill (scrm simulate --backfill) and is handled as of that time; see _as_of_event.
BACKFILL_AFTER_SECONDS = 300
BACKFILL_MAX_DAYS = 3660

Reply = dict[str, Any] | None


class StillProcessing(Exception):
    """Another delivery of this callback holds the claim and has not finished in time."""


def handle_callback(runtime: Runtime, callback: Callback) -> Reply:
    """React to ``callback`` once, however often it is delivered; return its reply."""
    key = f"wh:{callback.dedupe_key}"
    redis = runtime.redis
    for _ in range(2):  # a second round when the delivery we waited for gave up
        if redis.set(key, PENDING, nx=True, ex=CLAIM_SECONDS):
            try:
                reply = _record_and_react(runtime, callback)
            except BaseException:
                redis.delete(key)
                raise
            redis.set(key, json.dumps({"reply": reply}), ex=DONE_SECONDS)
            return reply
        settled, reply = _reply_of_other_delivery(runtime, key, callback.dedupe_key)
        if settled:
            return reply
    raise StillProcessing(callback.dedupe_key)


def _record_and_react(runtime: Runtime, callback: Callback) -> Reply:
    with runtime.transaction() as db_session:
        with _as_of_event(runtime, callback):
            outcome = react(runtime, db_session, callback)
        recorded = db_session.connection().execute(
            _ledger_insert(db_session),
            {
                "channel": callback.channel,
                "dedupe_key": callback.dedupe_key,
                "kind": callback.kind,
                "customer_id": outcome.customer_id,
                "payload": dict(callback.raw),
                "reply": outcome.reply,
                "received_at": runtime.clock.now(),
            },
        ).scalar()
        if recorded is None:
            log.info("callback %s was handled before; answering as then", callback.dedupe_key)
            db_session.rollback()  # undo this delivery's reaction, and the jobs it queued
            return _stored_reply(db_session, callback.dedupe_key)
        return outcome.reply


def _as_of_event(runtime: Runtime, callback: Callback):  # noqa: ANN202
    """With ``wechat.sandbox`` on, a callback that says it happened more than 300 s ago (and
    within ten years) is reacted to as of then: its interaction, following, scan, binding,
    coupons and tag scores carry that time, so a backfilled history reads as it happened.
    WeChat itself sends CreateTime within seconds of the event, and the signed query
    ``timestamp`` (checked before this, 300 s window) still guards against replays; off the
    sandbox, every callback is handled as of now, as before. The ledger keeps the real
    receiving time, and jobs queued by the reaction run on the real clock."""
    if not runtime.config.wechat.sandbox or callback.create_time <= 0:
        return nullcontext()
    now = runtime.clock.now().timestamp()
    age = now - callback.create_time
    if not BACKFILL_AFTER_SECONDS < age <= BACKFILL_MAX_DAYS * 86_400:
        return nullcontext()
    return as_of(datetime.fromtimestamp(callback.create_time, UTC))


_LEDGER_INSERTS: dict[str, Any] = {}


def _ledger_insert(db_session: Any) -> Any:
    """``INSERT … ON CONFLICT (dedupe_key) DO NOTHING RETURNING id``, built once per dialect."""
    dialect = db_session.get_bind().dialect.name
    if dialect not in _LEDGER_INSERTS:
        table = CallbackRecord.__table__
        _LEDGER_INSERTS[dialect] = (
            dialect_insert(db_session, table).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(table.c.id)
        )
    return _LEDGER_INSERTS[dialect]


def _reply_of_other_delivery(runtime: Runtime, key: str, dedupe_key: str) -> tuple[bool, Reply]:
    """Wait for the delivery holding the claim: (True, its reply), or (False, None) when it
    let go without recording the callback (it failed), so this delivery may try."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        value = runtime.redis.get(key)
        if value is None or time.monotonic() >= deadline:
            break
        if value != PENDING:
            return True, json.loads(value)["reply"]
        time.sleep(POLL_SECONDS)
    with runtime.transaction() as db_session:
        if db_session.scalar(select(CallbackRecord.id).where(CallbackRecord.dedupe_key == dedupe_key)) is not None:
            return True, _stored_reply(db_session, dedupe_key)
    if value is not None:
        raise StillProcessing(dedupe_key)
    return False, None


def _stored_reply(db_session: Any, key: str) -> Reply:
    return db_session.scalar(select(CallbackRecord.reply).where(CallbackRecord.dedupe_key == key))
