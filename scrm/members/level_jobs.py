"""The nightly level run and the yearly review (会员等级评定, SPEC §13), set-based.

Every night (scrm/scheduler.py, through scrm/members/jobs.py) :func:`review_levels` walks the
members in batches of :data:`BATCH` customer ids, one transaction each:

- **Rises** apply at once: a member whose counted growth (``members.level_basis``: all of it,
  or the last 365 days') reaches a higher level is moved up. Orders and check-ins raise levels
  as they happen (growth.raise_level); the night catches what they cannot see, such as a
  threshold lowered in the console. A rise gives the level-up coupon (gifts.py) and is handed
  to ``on_raised`` (the job fires the ``level_up`` trigger there; outreach sits above members).
- **Drops** apply only at the review: the 1st of ``members.review_month``, local time
  (``brand.timezone``). A member whose level was last set before the last review day, and
  whose growth then does not reach it, moves down to the level it does reach. "Growth then"
  is all growth (lifetime), or the growth counted from 365 days before the review day on
  (rolling): it includes the year the review looks back on and whatever came since, so a
  member kept at the review is never dropped on a later night. A review day the scheduler
  missed is caught up on the nights after it, up to :data:`REVIEW_CATCH_UP_DAYS`; after that,
  drops wait for the next review (so a refund months later never drops anyone).
- **The level tag** (group 会员等级) is reconciled for every member of the batch: a member
  without the computed tag of their level gets it, and a computed tag of the group that is not
  the member's level is taken off, with ``tag_added``/``tag_removed`` on the timeline and the
  customers queued for the WeChat mirror. This follows the night's changes, a renamed level,
  and anything a crash left behind.

Candidates are found by one SQL statement per batch (a rise needs ``members.growth`` to reach
the next threshold at least; a drop needs a level above the lowest, set before the review),
with the batch's rolling growth summed over one range of the growth index; the changes are
UPDATEs per (old level, new level) pair guarded by the old level, so a member an order raised
meanwhile is left alone. The tag is reconciled by one UPDATE and one INSERT … SELECT … ON
CONFLICT per batch, which write nothing on a quiet night. Returns counts:
``{"members", "raised", "dropped", "tags_added", "tags_removed", "review_day", "drops_due",
"seconds"}``.
"""

from __future__ import annotations

import time as timer
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, and_, any_, bindparam, case, false, func, insert, literal, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY

from scrm.clock import local_day
from scrm.customers.models import Interaction
from scrm.db import dialect_insert
from scrm.members import gifts, levels
from scrm.members.growth import ROLLING_DAYS, LevelChange
from scrm.members.models import GrowthEntry, Member, MemberLevel
from tagging.mirror_queue import customers_changed
from tagging.models import CustomerTag, Tag, TagGroup
from tagging.scores import HELD

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.config import Config
    from scrm.runtime import Runtime

BATCH = 10_000
REVIEW_CATCH_UP_DAYS = 7
OnRaised = Callable[["Session", list[LevelChange]], None]

_m = Member.__table__
_g = GrowthEntry.__table__
_ct = CustomerTag.__table__


def last_review_day(config: Config, now: datetime) -> date:
    """The latest 1st of ``members.review_month`` on or before today (local)."""
    today = local_day(config, now)
    review = date(today.year, config.members.review_month, 1)
    return review if review <= today else review.replace(year=today.year - 1)


@dataclass(frozen=True)
class _Plan:
    """The levels and moments one run works with."""

    now: datetime
    review_at: datetime  # local midnight of the last review day, in UTC
    drops_due: bool
    rolling: bool
    levels: list[MemberLevel]
    tag_of: dict[int, int]  # level id → tag id of 会员等级
    tags: dict[int, Tag]  # tag id → tag, every tag of 会员等级
    group: TagGroup


def review_levels(runtime: Runtime, *, on_raised: OnRaised | None = None, batch_size: int = BATCH) -> dict[str, Any]:
    """Rises at once, drops at the review, the level tag for everyone (module docstring)."""
    started = timer.perf_counter()
    config, now = runtime.config, runtime.clock.now()
    review = last_review_day(config, now)
    with runtime.transaction() as db_session:
        all_levels = levels.ensure_levels(db_session=db_session, config=config, at=now)
        group, tags = levels.level_tags(db_session=db_session, levels=all_levels)
        group_tags = db_session.scalars(select(Tag).where(Tag.group_id == group.id)).all()  # old names' too
        db_session.expunge_all()
    plan = _Plan(now=now, review_at=datetime.combine(review, time(0), config.brand.zone).astimezone(UTC),
                 drops_due=(local_day(config, now) - review).days < REVIEW_CATCH_UP_DAYS,
                 rolling=config.members.level_basis == "rolling_12_months", levels=all_levels,
                 tag_of={level_id: tag.id for level_id, tag in tags.items()},
                 tags={tag.id: tag for tag in group_tags}, group=group)
    counts = {"members": 0, "raised": 0, "dropped": 0, "tags_added": 0, "tags_removed": 0}
    low = -1
    while True:
        with runtime.transaction() as db_session:
            high = _batch_end(db_session, low, batch_size)
            if high is None:
                break
            counts["members"] += db_session.scalar(select(func.count()).where(_m.c.customer_id > low,
                                                                              _m.c.customer_id <= high))
            raised, dropped = _move_levels(db_session, plan, low, high)
            added, removed = _reconcile_tags(db_session, plan, low, high)
            for change in raised:
                gifts.level_up_gift(runtime=runtime, db_session=db_session, customer_id=change.customer_id,
                                    level_id=change.new_level_id, at=now)
            if on_raised is not None and raised:
                on_raised(db_session, raised)
        counts["raised"] += len(raised)
        counts["dropped"] += dropped
        counts["tags_added"] += added
        counts["tags_removed"] += removed
        low = high
    return {**counts, "review_day": review.isoformat(), "drops_due": plan.drops_due,
            "seconds": round(timer.perf_counter() - started, 2)}


def _batch_end(db_session: Session, low: int, size: int) -> int | None:
    """The last customer id of the batch after ``low`` (the last member's when fewer are left)."""
    after = _m.c.customer_id > low
    end = db_session.scalar(select(_m.c.customer_id).where(after).order_by(_m.c.customer_id)
                            .offset(size - 1).limit(1))
    return end if end is not None else db_session.scalar(select(func.max(_m.c.customer_id)).where(after))


def _move_levels(db_session: Session, plan: _Plan, low: int, high: int) -> tuple[list[LevelChange], int]:
    """Apply the batch's rises (and drops, when due); the rises, and how many dropped."""
    by_id = {level.id: level for level in plan.levels}
    higher = {level.id: next((up.threshold for up in plan.levels if up.rank > level.rank), None)
              for level in plan.levels}
    rank = case({lid: lv.rank for lid, lv in by_id.items()}, value=_m.c.level_id, else_=0)
    thresholds = {lid: t for lid, t in higher.items() if t is not None}
    if not thresholds:  # one level: nobody rises or drops
        return [], 0
    set_before_review = func.coalesce(_m.c.level_changed_at, _m.c.joined_at) < plan.review_at
    may_rise = _m.c.growth >= case(thresholds, value=_m.c.level_id, else_=None)
    may_drop = and_(rank > 0, set_before_review) if plan.drops_due else false()
    in_batch = and_(_m.c.customer_id > low, _m.c.customer_id <= high)
    source, recent, since_review = _m, _m.c.growth, _m.c.growth
    # The batch's growth entries of the window, summed once over a range of the index (cheaper
    # than looking up the candidates one by one, measured).
    if plan.rolling:
        recent_since = plan.now - timedelta(days=ROLLING_DAYS)
        review_since = plan.review_at - timedelta(days=ROLLING_DAYS)
        sums = (select(_g.c.customer_id,
                       func.sum(_g.c.amount).filter(_g.c.created_at > recent_since).label("recent"),
                       func.sum(_g.c.amount).filter(_g.c.created_at > review_since).label("since_review"))
                .where(_g.c.customer_id > low, _g.c.customer_id <= high,
                       _g.c.created_at > min(recent_since, review_since))
                .group_by(_g.c.customer_id).subquery("sums"))
        source = _m.outerjoin(sums, sums.c.customer_id == _m.c.customer_id)
        recent, since_review = func.coalesce(sums.c.recent, 0), func.coalesce(sums.c.since_review, 0)
    # The level a growth reaches (levels.level_for), and its rank, in SQL: only changes come back.
    highest_first = list(reversed(plan.levels))

    def reached(growth: Any, attribute: str) -> Any:  # noqa: ANN401
        return case(*[(growth >= lv.threshold, getattr(lv, attribute)) for lv in highest_first[:-1]],
                    else_=getattr(plan.levels[0], attribute))

    whens = [(reached(recent, "rank") > rank, reached(recent, "id"))]
    if plan.drops_due:
        whens.append((and_(may_drop, reached(since_review, "rank") < rank), reached(since_review, "id")))
    target = case(*whens, else_=_m.c.level_id).label("target")
    candidates = (select(_m.c.customer_id, _m.c.level_id, target).select_from(source)
                  .where(in_batch, or_(may_rise, may_drop)).subquery("candidates"))
    rows = db_session.execute(select(candidates).where(candidates.c.target != candidates.c.level_id)).all()
    moves: dict[tuple[int, int], list[int]] = defaultdict(list)
    for customer_id, level_id, target_id in rows:
        moves[(level_id, target_id)].append(customer_id)
    raised: list[LevelChange] = []
    dropped = 0
    for (old_id, new_id), customer_ids in moves.items():
        up = by_id[new_id].rank > by_id[old_id].rank
        guard = [_among(db_session, _m.c.customer_id, customer_ids), _m.c.level_id == old_id]
        if not up:
            guard.append(set_before_review)
        moved = db_session.execute(
            update(_m).where(*guard).values(level_id=new_id, level_changed_at=plan.now, updated_at=plan.now)
            .returning(_m.c.customer_id)
        ).scalars().all()
        if up:
            raised += [LevelChange(cid, old_id, new_id, by_id[old_id].rank, by_id[new_id].rank, plan.now)
                       for cid in sorted(moved)]
        else:
            dropped += len(moved)
    return raised, dropped


def _among(db_session: Session, column: Any, ids: list[int]) -> Any:  # noqa: ANN401
    """``column`` is one of ``ids``: one array parameter on PostgreSQL (thousands of separate
    parameters cost more to send and plan than the UPDATE itself), an IN list on SQLite."""
    if db_session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("ids", value=ids, type_=ARRAY(BigInteger)))
    return column.in_(ids)


def _reconcile_tags(db_session: Session, plan: _Plan, low: int, high: int) -> tuple[int, int]:
    """Each member of the batch carries the computed tag of their level of 会员等级, and no
    other computed tag of it; the tags added and removed. Two statements, each writing only
    what is wrong (a quiet night writes nothing)."""
    group_tags = list(plan.tags)
    member = _m.alias("member")
    members_tag = select(case(plan.tag_of, value=member.c.level_id)).where(
        member.c.customer_id == _ct.c.customer_id, member.c.customer_id > low,
        member.c.customer_id <= high).scalar_subquery()
    # Found by a join of the two ranges (a quiet night ends here), then written for those only.
    wrong = db_session.scalars(
        select(_ct.c.customer_id).distinct()
        .select_from(_ct.outerjoin(member, and_(member.c.customer_id == _ct.c.customer_id,
                                                member.c.customer_id > low, member.c.customer_id <= high)))
        .where(_ct.c.customer_id > low, _ct.c.customer_id <= high, _ct.c.computed.is_(True),
               _ct.c.tag_id.in_(group_tags),
               or_(member.c.customer_id.is_(None), _ct.c.tag_id != case(plan.tag_of, value=member.c.level_id)))
    ).all()
    removed = db_session.execute(
        update(_ct).where(_among(db_session, _ct.c.customer_id, list(wrong)), _ct.c.computed.is_(True),
                          _ct.c.tag_id.in_(group_tags), _ct.c.tag_id != func.coalesce(members_tag, -1))
        .values(computed=False, active_until=plan.now).returning(_ct.c.customer_id, _ct.c.tag_id)
    ).all() if wrong else []
    level_tag = case(plan.tag_of, value=_m.c.level_id)
    held = _ct.alias("held")
    wanting = (select(_m.c.customer_id, level_tag, literal(0.0), literal(plan.now), literal(HELD), false(),
                      literal(True))
               # The range on both sides lets the join read the batch's rows of the index, not the table.
               .select_from(_m.outerjoin(held, and_(held.c.customer_id == _m.c.customer_id,
                                                    held.c.customer_id > low, held.c.customer_id <= high,
                                                    held.c.tag_id == level_tag)))
               .where(_m.c.customer_id > low, _m.c.customer_id <= high,
                      or_(held.c.customer_id.is_(None), held.c.computed.is_(False))))
    upsert = dialect_insert(db_session, _ct).from_select(
        ["customer_id", "tag_id", "score", "scored_at", "active_until", "manual", "computed"], wanting)
    added = db_session.execute(
        upsert.on_conflict_do_update(index_elements=["customer_id", "tag_id"],
                                     set_={"computed": True, "active_until": HELD})
        .returning(_ct.c.customer_id, _ct.c.tag_id)
    ).all()
    if not removed and not added:
        return 0, 0
    # The group's tags are computed only (the API refuses a manager's tag there): a computed
    # row is carried, so each row written is a change worth a timeline entry. Removals before
    # additions, so a member's timeline reads "removed 银卡, added 金卡".
    notes = [_note(plan, cid, tid, added=False) for cid, tid in removed]
    notes += [_note(plan, cid, tid, added=True) for cid, tid in added]
    notes.sort(key=lambda note: (note["customer_id"], note["kind"] == "tag_added"))
    db_session.execute(insert(Interaction.__table__), notes)
    customers_changed(db_session, {note["customer_id"] for note in notes})
    return len(added), len(removed)


def _note(plan: _Plan, customer_id: int, tag_id: int, *, added: bool) -> dict[str, Any]:
    tag = plan.tags[tag_id]
    payload = {"tag": tag.name, "group": plan.group.name, "tag_id": tag_id,
               "cause": {"kind": "computation", "ref": levels.LEVEL_COMPUTATION}}  # as tagging.scores._note
    return {"customer_id": customer_id, "kind": "tag_added" if added else "tag_removed", "occurred_at": plan.now,
            "payload": payload}
