"""The nightly points expiry (积分过期, SPEC §13), scheduled in scrm/scheduler.py.

Every lot whose ``expires_at`` has come and that still holds points becomes an ``expire`` entry
of ``-remaining`` (key ``expire:<lot id>``, source ``expire`` + the lot id), with a
:class:`~scrm.members.models.PointAllocation` of that lot; the lot's ``remaining`` goes to 0
and the member's ``points_balance`` down by as much. A member with several lots expiring at
once gets one entry per lot, oldest lot first, whose ``balance_after`` chain down from the
balance (a window sum over the member's lots).

It is set-based SQL, :data:`BATCH` lots to a transaction, on SQLite and PostgreSQL alike, and
it holds against concurrent spends: each batch first locks its members (PostgreSQL:
``SELECT … FOR UPDATE`` in customer id order, as another expiry run would; SQLite: the write
lock, taken before anything is read), then reads what the lots still hold. A spend that
committed first has taken its part; one waiting behind the lock then finds the lot expired
(spending never takes a lot past its ``expires_at`` anyway). Running it twice expires nothing
more: an expired lot holds 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import ARRAY, BigInteger, String, any_, cast, func, insert, literal, select, text, update

from scrm.members.models import Member, PointAllocation, PointEntry
from scrm.runtime import Runtime, job

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy import ColumnElement
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

BATCH = 20_000  # lots a transaction (SQLite takes up to 32,766 bound values a statement)
KIND = "expire"

_lots = PointEntry.__table__
_members = Member.__table__


@job
def expire_due(runtime: Runtime) -> int:
    """Scheduled (nightly): expire every lot that is due; returns how many lots expired."""

    total, after = 0, None
    while True:
        with runtime.transaction() as db_session:
            found, expired, after = expire_batch(db_session=db_session, now=runtime.clock.now(), after=after)
        total += expired
        if found < BATCH:
            return total


def expire_batch(*, db_session: Session, now: datetime, after: int | None = None,
                 batch: int | None = None) -> tuple[int, int, int | None]:
    """Expire up to ``batch`` due lots of the members from customer id ``after`` on (in
    customer order: a batch's members, their rows and index entries lie together): (lots found
    due, lots expired, the last member's customer id, where the next batch starts). Found but not
    expired: a concurrent spend took what was left before the lock was ours."""
    batch = batch or BATCH
    postgres = db_session.get_bind().dialect.name == "postgresql"
    if not postgres:
        _take_write_lock(db_session, now)
    query = select(_lots.c.id, _lots.c.customer_id).where(_lots.c.remaining > 0, _lots.c.expires_at <= now)
    if after is not None:
        query = query.where(_lots.c.customer_id >= after)
    due = db_session.execute(query.order_by(_lots.c.customer_id, _lots.c.id).limit(batch)).all()
    if not due:
        return 0, 0, after
    lot_ids = [lot_id for lot_id, _ in due]
    customer_ids = sorted({customer_id for _, customer_id in due})
    # The batch's members lie between its first and last: said outright, the planner reads
    # that stretch of members instead of all of them.
    ours = (_members.c.customer_id.between(customer_ids[0], customer_ids[-1]),
            _one_of(db_session, _members.c.customer_id, customer_ids))
    if postgres:
        # Plans for this batch's ids and stretch, never a generic one: the driver prepares a
        # statement run 5 times, and a generic plan of these statements joins blind (minutes).
        db_session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        db_session.execute(select(_members.c.customer_id).where(*ours).order_by(_members.c.customer_id)
                           .with_for_update())
    # From here on the members are ours: what their lots hold no longer moves.
    held = (_one_of(db_session, _lots.c.id, lot_ids), _lots.c.remaining > 0)
    taken_before = func.sum(_lots.c.remaining).over(
        partition_by=_lots.c.customer_id, order_by=_lots.c.id, rows=(None, 0))
    key_of_lot = literal("expire:") + cast(_lots.c.id, String)
    # Every entry written from here on has a greater id: the allocations look only at those.
    floor = db_session.scalar(select(func.coalesce(func.max(_lots.c.id), 0)))
    db_session.execute(_lots.insert().from_select(
        ["customer_id", "amount", "kind", "source", "source_id", "idempotency_key", "balance_after", "remaining",
         "created_at"],
        select(_lots.c.customer_id, -_lots.c.remaining, literal(KIND), literal(KIND), cast(_lots.c.id, String),
               key_of_lot, _members.c.points_balance - taken_before, literal(0), literal(now, _lots.c.created_at.type))
        .join(_members, _members.c.customer_id == _lots.c.customer_id)
        .where(*held, *ours).order_by(_lots.c.customer_id, _lots.c.id)  # ids follow the balance_after chain
    ))
    entry = _lots.alias("entry")
    db_session.execute(insert(PointAllocation.__table__).from_select(
        ["entry_id", "lot_id", "amount"],
        select(entry.c.id, _lots.c.id, _lots.c.remaining)
        .join(entry, (entry.c.id > floor) & (entry.c.source == KIND)
              & (entry.c.source_id == cast(_lots.c.id, String)))
        .where(*held)
    ))
    expiring = (select(_lots.c.customer_id, func.sum(_lots.c.remaining).label("points")).where(*held)
                .group_by(_lots.c.customer_id).subquery())
    db_session.execute(update(_members).where(_members.c.customer_id == expiring.c.customer_id, *ours)
                       .values(points_balance=_members.c.points_balance - expiring.c.points, updated_at=now)
                       .execution_options(synchronize_session=False))
    expired = db_session.execute(update(_lots).where(*held).values(remaining=0)
                                 .execution_options(synchronize_session=False)).rowcount
    return len(due), expired, customer_ids[-1]


def _one_of(db_session: Session, column: ColumnElement, values: list[int]) -> ColumnElement[bool]:
    """``column IN values``: one array on PostgreSQL (20,000 bound values are slow to send and
    plan), the values on SQLite."""
    if db_session.get_bind().dialect.name == "postgresql":
        return column == any_(cast(values, ARRAY(BigInteger)))
    return column.in_(values)


def _take_write_lock(db_session: Session, now: datetime) -> None:
    """SQLite: start writing before reading (a WAL reader that turns writer after another
    writer committed fails instead of waiting): a no-op write on one member with a due lot."""
    one = select(_lots.c.customer_id).where(_lots.c.remaining > 0, _lots.c.expires_at <= now).limit(1)
    db_session.execute(update(_members).where(_members.c.customer_id.in_(one))
                       .values(points_balance=_members.c.points_balance)
                       .execution_options(synchronize_session=False))
