"""Tags that lapsed by decay, written to the timeline (SPEC §5: every change of a customer's
tags is there with its cause).

A decayed tag stops being carried at its row's ``active_until`` without anything happening
at that moment, so an hourly sweep (scrm/scheduler.py) finds the rows whose ``active_until``
passed since the last sweep and writes a ``tag_removed`` entry dated ``active_until``, cause
``decay``. Entries carry a dedupe key, so a sweep repeated (or run by two processes) writes
each lapse once. The first sweep looks back ``FIRST_LOOKBACK``. Rows are read per tag, on the
``(tag_id, active_until)`` index.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from scrm.clock import as_utc
from scrm.customers.models import Interaction
from scrm.db import dialect_insert
from scrm.runtime import Runtime, job
from tagging.mirror_queue import customers_changed
from tagging.models import CustomerTag, Tag, TagGroup

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

LAST_SWEEP_KEY = "tagging:lapses:last-sweep"
FIRST_LOOKBACK = timedelta(days=1)


@job
def record_lapsed_tags(runtime: Runtime) -> int:
    """The scheduler's hourly sweep; returns how many lapses it wrote."""
    now = runtime.clock.now()
    raw = runtime.redis.get(LAST_SWEEP_KEY)
    since = datetime.fromisoformat(raw.decode()) if raw else now - FIRST_LOOKBACK
    with runtime.transaction() as db_session:
        written = record_lapses(db_session=db_session, since=since, until=now)
    runtime.redis.set(LAST_SWEEP_KEY, now.isoformat())
    return written


def record_lapses(*, db_session: Session, since: datetime, until: datetime) -> int:
    """``tag_removed`` (cause decay) for every carried tag whose ``active_until`` is in
    (since, until]; those already written are skipped."""
    written = 0
    groups = db_session.execute(select(Tag.id, Tag.name, TagGroup.name).join(TagGroup, TagGroup.id == Tag.group_id)).all()
    table = Interaction.__table__
    insert = dialect_insert(db_session, table).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(table.c.id)
    for tag_id, tag_name, group_name in groups:
        rows = db_session.execute(
            select(CustomerTag.customer_id, CustomerTag.active_until)
            .where(CustomerTag.tag_id == tag_id, CustomerTag.active_until > since, CustomerTag.active_until <= until,
                   CustomerTag.active_until > CustomerTag.scored_at,  # it was carried once
                   CustomerTag.manual.is_(False), CustomerTag.computed.is_(False), CustomerTag.score > 0)
        ).all()
        values = [
            {
                "customer_id": customer_id,
                "kind": "tag_removed",
                "occurred_at": lapsed_at,
                "dedupe_key": f"lapse:{customer_id}:{tag_id}:{int(_epoch(lapsed_at))}",
                "payload": {"tag": tag_name, "group": group_name, "tag_id": tag_id,
                            "cause": {"kind": "decay", "ref": group_name}},
            }
            for customer_id, lapsed_at in rows
        ]
        lapsed = []
        for value in values:  # one by one: a skipped duplicate returns no id
            if db_session.connection().execute(insert, value).scalar() is not None:
                lapsed.append(value["customer_id"])
        written += len(lapsed)
        if lapsed:
            customers_changed(db_session, lapsed)  # WeChat drops the tag too, after the commit
    return written


def _epoch(moment: datetime) -> float:
    return as_utc(moment).timestamp()
