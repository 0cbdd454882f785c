"""Rescoring a group's tags after its half-life or threshold changed (SPEC §5).

Each customer's tag stores the moment its score lapses (``active_until``), computed from its
group's settings when it was scored. When a manager changes a group's half-life or threshold,
every rule-given score of the group is brought to the moment of the change under the old
half-life, then to now under the new one, and its ``active_until`` set under the new
settings. Tags put on by hand and computed tags are held and stay so.

A big group holds millions of rows, minutes of writes: that is the queue's work, not the
request's. :func:`rescore_group` works in batches, each its own transaction that locks its
rows against a rule scoring them at the same moment, and continues in a new job after
``BATCHES_PER_JOB`` batches. A row scored after the change already follows the new settings
and is skipped (a rescored row is scored "now", after the change), so a retried job rescores
no row twice. Until the job has passed a row, the
row follows the old settings. Like a lapse by decay, this writes no timeline entry.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select, tuple_, update
from sqlalchemy.orm import Session

from scrm.clock import as_utc
from scrm.runtime import Runtime, job
from tagging.mirror_queue import customers_changed
from tagging.models import CustomerTag, Tag, TagGroup
from tagging.scores import active_until, decayed

BATCH = 2000
BATCHES_PER_JOB = 100
_customer_tags = CustomerTag.__table__
_WRITE = (
    update(_customer_tags)
    .where(_customer_tags.c.customer_id == bindparam("c"), _customer_tags.c.tag_id == bindparam("t"))
    .values(score=bindparam("new_score"), scored_at=bindparam("new_scored_at"), active_until=bindparam("until"))
)


@job
def rescore_group(runtime: Runtime, group_id: int, old_half_life: float | None, changed_at: str, after: tuple[int, int] = (0, 0)) -> None:
    """The job: rescore the group's rows scored before ``changed_at`` (ISO, UTC)."""
    changed = datetime.fromisoformat(changed_at)
    for _ in range(BATCHES_PER_JOB):
        with runtime.transaction() as db_session:
            last = rescore_batch(
                db_session=db_session,
                group_id=group_id,
                old_half_life=old_half_life,
                changed_at=changed,
                now=runtime.clock.now(),
                after=after,
                limit=BATCH,
            )
        if last is None:
            return
        after = last
    runtime.queue.enqueue(rescore_group, group_id, old_half_life, changed_at, after)


def rescore_batch(
    *,
    db_session: Session,
    group_id: int,
    old_half_life: float | None,
    changed_at: datetime,
    now: datetime,
    after: tuple[int, int],
    limit: int = BATCH,
) -> tuple[int, int] | None:
    """Rescore up to ``limit`` rows past ``after`` (customer_id, tag_id); the last one done,
    or None when the group is done."""
    group = db_session.get(TagGroup, group_id)
    if group is None or group.computed:
        return None
    tag_ids = list(db_session.scalars(select(Tag.id).where(Tag.group_id == group_id)))
    changed_at, now = as_utc(changed_at), max(as_utc(now), as_utc(changed_at))
    rows = db_session.execute(
        select(CustomerTag.customer_id, CustomerTag.tag_id, CustomerTag.score, CustomerTag.scored_at,
               CustomerTag.active_until)
        .where(
            tuple_(CustomerTag.customer_id, CustomerTag.tag_id) > tuple_(*after),
            CustomerTag.tag_id.in_(tag_ids),
            CustomerTag.manual.is_(False),
            CustomerTag.computed.is_(False),
            CustomerTag.score > 0,
            # at the change itself is taken too: no old decay to apply, so doing it twice is harmless
            CustomerTag.scored_at <= changed_at,
        )
        .order_by(CustomerTag.customer_id, CustomerTag.tag_id)
        .limit(limit)
        .with_for_update()
    ).all()
    if not rows:
        return None
    batch, flipped = [], set()
    for customer_id, tag_id, score, scored_at, old_until in rows:
        score = decayed(decayed(score, scored_at, changed_at, old_half_life), changed_at, now, group.half_life_days)
        until = active_until(score, now, group.half_life_days, group.threshold)
        batch.append({"c": customer_id, "t": tag_id, "new_score": score, "new_scored_at": now, "until": until})
        if (as_utc(old_until) > now) != (until > now):
            flipped.add(customer_id)
    db_session.connection().execute(_WRITE, batch)
    if flipped:
        customers_changed(db_session, flipped)  # carried or not now: WeChat follows
    return (rows[-1].customer_id, rows[-1].tag_id) if len(rows) == limit else None
