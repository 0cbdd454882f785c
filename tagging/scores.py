"""Scores with decay, and the tag changes they cause (SPEC §5).

Applying a rule adds its weight to the customer's score for the tag, after decaying the old
score by the group's half-life: ``score · 0.5^(Δt / half_life)``. The customer carries the tag
while the decayed score is at least the group's threshold (SPEC §5): up to and including
``scored_at + half_life · log2(score / threshold)``. Stored times count microseconds, so
``active_until`` is the first microsecond after that, when the tag is no longer carried, and
SQL asks only ``active_until > now``: a score equal to its threshold carries the tag at the
moment it is scored. Sums of weights are floats (0.7 + 0.1 < 0.8), so a score within a
billionth of its threshold counts as reaching it. A manager's tag and a computed tag never
decay (HELD).

Every time a customer starts or stops carrying a tag because of a change here, the timeline
gets a ``tag_added``/``tag_removed`` entry naming the cause, and the customer's tags are
synced to WeChat after the commit (scrm/mirror/jobs.py). A tag that lapses by decay alone
has no moment of change to record; :func:`carried_tags` simply stops listing it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scrm.clock import as_utc
from scrm.customers.models import Interaction
from scrm.db import dialect_insert
from tagging.mirror_queue import customers_changed
from tagging.models import CustomerTag, Tag, TagGroup

HELD = datetime(9999, 12, 31, tzinfo=UTC)
RESOLUTION = timedelta(microseconds=1)  # of a stored time, on both backends
_TOLERANCE = 1e-9
_MICROSECONDS_A_DAY = 86_400_000_000


@dataclass(frozen=True)
class Cause:
    """Why a tag changed: ``kind`` is "rule", "manager" or "computation"."""

    kind: str
    ref: str  # the rule id, the manager's name, the computation ("rfm", "lifecycle")

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "ref": self.ref}


@dataclass(frozen=True)
class TagChange:
    customer_id: int
    tag_id: int
    added: bool  # False: removed


def decayed(score: float, scored_at: datetime, now: datetime, half_life_days: float | None) -> float:
    if not half_life_days or score <= 0:
        return score
    elapsed_days = max((now - as_utc(scored_at)).total_seconds(), 0.0) / 86400
    return score * 0.5 ** (elapsed_days / half_life_days)


def reaches(score: float, threshold: float) -> bool:
    """Whether ``score`` is at least ``threshold``, forgiving float sums (0.7 + 0.1 for 0.8)."""
    return score > 0 and score >= threshold * (1 - _TOLERANCE)


def carried_for(score: float, half_life_days: float | None, threshold: float) -> timedelta | None:
    """How long a score just set keeps its tag: None when it does not reach the threshold,
    ``timedelta.max`` when it never decays, else ``half_life · log2(score / threshold)`` (zero
    for a score equal to its threshold: carried at that moment only)."""
    if not reaches(score, threshold):
        return None
    if not half_life_days or threshold <= 0:
        return timedelta.max
    days = half_life_days * max(math.log2(score / threshold), 0.0)
    try:
        return timedelta(microseconds=math.floor(days * _MICROSECONDS_A_DAY))
    except OverflowError:
        return timedelta.max


def active_until(score: float, scored_at: datetime, half_life_days: float | None, threshold: float) -> datetime:
    """The first moment a score set at ``scored_at`` no longer carries its tag: ``scored_at``
    itself when it is below the threshold already, HELD when it never decays."""
    keeps = carried_for(score, half_life_days, threshold)
    if keeps is None:
        return scored_at
    try:
        until = scored_at + keeps + RESOLUTION
    except OverflowError:
        return HELD
    return min(until, HELD)


def add_score(
    *, db_session: Session, customer_id: int, tag: Tag, group: TagGroup, weight: float, now: datetime, cause: Cause
) -> TagChange | None:
    """Add ``weight`` to the customer's decayed score for ``tag``; return the change in
    whether the customer carries it, if any (also written to the timeline)."""
    row = _locked_row(db_session, customer_id, tag.id, now)
    was = _carried(row, now)
    row.score = decayed(row.score, row.scored_at, now, group.half_life_days) + weight
    row.scored_at = now
    row.active_until = HELD if (row.manual or row.computed) else active_until(
        row.score, now, group.half_life_days, group.threshold
    )
    return _note(db_session, row, tag, group, was, now, cause)


def set_manual(
    *, db_session: Session, customer_id: int, tag: Tag, group: TagGroup, on: bool, now: datetime, manager: str
) -> TagChange | None:
    """A manager puts a tag on a customer (it never decays) or takes it off."""
    row = _locked_row(db_session, customer_id, tag.id, now)
    was = _carried(row, now)
    row.manual = on
    if on:
        row.active_until = HELD
    else:
        row.score = 0.0
        row.scored_at = now
        row.active_until = now
    return _note(db_session, row, tag, group, was, now, Cause("manager", manager))


def set_computed(
    *, db_session: Session, customer_id: int, group: TagGroup, tag: Tag | None, now: datetime, computation: str
) -> list[TagChange]:
    """Make ``tag`` the customer's one tag in the computed ``group`` (None: no tag there)."""
    rows = db_session.scalars(
        select(CustomerTag)
        .join(Tag, Tag.id == CustomerTag.tag_id)
        .where(CustomerTag.customer_id == customer_id, Tag.group_id == group.id, CustomerTag.computed.is_(True))
    ).all()
    changes = []
    for row in rows:
        if tag is None or row.tag_id != tag.id:
            was = _carried(row, now)
            row.computed, row.active_until = False, now
            old = db_session.get(Tag, row.tag_id)
            change = _note(db_session, row, old, group, was, now, Cause("computation", computation))
            changes += [change] if change else []
    if tag is not None:
        row = _locked_row(db_session, customer_id, tag.id, now)
        was = _carried(row, now)
        row.computed, row.active_until = True, HELD
        change = _note(db_session, row, tag, group, was, now, Cause("computation", computation))
        changes += [change] if change else []
    return changes


def carried_tags(*, db_session: Session, customer_id: int, now: datetime) -> list[dict[str, Any]]:
    """The tags a customer carries now, with their group, score (decayed) and source."""
    rows = db_session.execute(
        select(CustomerTag, Tag, TagGroup)
        .join(Tag, Tag.id == CustomerTag.tag_id)
        .join(TagGroup, TagGroup.id == Tag.group_id)
        .where(CustomerTag.customer_id == customer_id, CustomerTag.active_until > now)
        .order_by(TagGroup.name, Tag.name)
    ).all()
    return [
        {
            "tag_id": tag.id,
            "group": group.name,
            "tag": tag.name,
            "score": round(decayed(row.score, row.scored_at, now, group.half_life_days), 3),
            "source": "manual" if row.manual else "computed" if row.computed else "rule",
        }
        for row, tag, group in rows
    ]


def _locked_row(db_session: Session, customer_id: int, tag_id: int, now: datetime) -> CustomerTag:
    """The row, locked for this transaction (created if missing, whoever is first)."""
    db_session.execute(
        dialect_insert(db_session, CustomerTag.__table__)
        .values(customer_id=customer_id, tag_id=tag_id, score=0.0, scored_at=now, active_until=now)
        .on_conflict_do_nothing(index_elements=["customer_id", "tag_id"])
    )
    return db_session.scalars(
        select(CustomerTag)
        .where(CustomerTag.customer_id == customer_id, CustomerTag.tag_id == tag_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _carried(row: CustomerTag, now: datetime) -> bool:
    return as_utc(row.active_until) > now


def _note(
    db_session: Session, row: CustomerTag, tag: Tag, group: TagGroup, was: bool, now: datetime, cause: Cause
) -> TagChange | None:
    db_session.flush()
    now_carried = _carried(row, now)
    if now_carried == was:
        return None
    db_session.add(
        Interaction(
            customer_id=row.customer_id,
            kind="tag_added" if now_carried else "tag_removed",
            occurred_at=now,
            payload={"tag": tag.name, "group": group.name, "tag_id": tag.id, "cause": cause.as_dict()},
        )
    )
    customers_changed(db_session, [row.customer_id])
    return TagChange(row.customer_id, tag.id, now_carried)


def merge_customer_tags(*, db_session: Session, keep_id: int, drop_id: int) -> None:
    """Move ``drop``'s tags to ``keep`` (two customers found to be one person). Where both
    have a tag, the row that holds longer wins; a manual or computed mark is kept."""
    kept = {row.tag_id: row for row in db_session.scalars(select(CustomerTag).where(CustomerTag.customer_id == keep_id))}
    dropped = db_session.scalars(select(CustomerTag).where(CustomerTag.customer_id == drop_id)).all()
    if dropped or kept:
        customers_changed(db_session, [keep_id])  # each identity in WeChat gets the merged tags
    for row in dropped:
        mine = kept.get(row.tag_id)
        if mine is None:
            row.customer_id = keep_id
            continue
        if as_utc(row.active_until) > as_utc(mine.active_until):
            mine.score, mine.scored_at, mine.active_until = row.score, row.scored_at, row.active_until
        mine.manual = mine.manual or row.manual
        mine.computed = mine.computed or row.computed
        db_session.delete(row)
    db_session.flush()
