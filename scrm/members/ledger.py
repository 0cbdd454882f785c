"""The points ledger (积分, SPEC §13): earning lots, spending oldest first, taking back.

Every change of one member's points starts by locking the member's row (:func:`lock_member`,
an UPDATE: a row lock on PostgreSQL, the write lock on SQLite), so changes of one member queue
and a balance can never go below zero, whatever the concurrency. Then the idempotency key is
looked up: the same request retried finds its entry and writes nothing (a key used before
with other content is a :class:`KeyReused`). Two invariants hold after every change, and
``scrm members audit`` checks both (:func:`audit`):

- ``Member.points_balance`` = the sum of the member's entries' ``amount``;
- it also = the sum of the ``remaining`` of the member's lots (spending and expiry lower
  ``remaining`` by exactly what they write as negative entries).

Service functions take ``db_session`` and never commit; the caller owns the transaction.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, case, func, or_, select, update

from scrm.clock import as_utc
from scrm.errors import ConflictError, NotFoundError
from scrm.members.models import Member, PointAllocation, PointEntry

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.orm import Session

    from scrm.config import Config

KEY_MAX = 128


class NotAMember(NotFoundError):
    """The customer has not joined the membership (404 ``not_a_member``)."""

    code = "not_a_member"


class NotEnoughPoints(ConflictError):
    """Fewer points available than asked (409 ``not_enough_points``, with ``available``)."""

    code = "not_enough_points"


class KeyReused(ConflictError):
    """The idempotency key names another change (409 ``key_reused``, with the ``existing`` entry id)."""

    code = "key_reused"


@dataclass(frozen=True)
class Posted:
    """An entry and whether this call wrote it (False: the same request was made before)."""

    entry: PointEntry
    created: bool


@dataclass(frozen=True)
class Balance:
    total: int  # available + frozen (what the ledger sums to)
    available: int  # can be spent now
    frozen: int  # earned, not spendable yet (an order's return window)
    expiring: int  # available and expiring within the window asked about
    expiring_at: datetime | None  # when the first of those expires


def lock_member(db_session: Session, customer_id: int) -> Member:
    """The member's row, locked for this transaction, read afresh (one statement: the lock's
    ``UPDATE … RETURNING`` is the read); :class:`NotAMember`."""
    locked = db_session.scalars(
        update(Member).where(Member.customer_id == customer_id)
        .values(points_balance=Member.points_balance).returning(Member),
        execution_options={"populate_existing": True, "synchronize_session": False},
    ).first()
    if locked is None:
        raise NotAMember(f"customer {customer_id} is not a member")
    return locked


def expires_at_for(config: Config, earned_at: datetime) -> datetime | None:
    """When points earned at ``earned_at`` expire under ``members.points_expiry``."""
    rule = config.members
    if rule.points_expiry == "never":
        return None
    zone = config.brand.zone
    local = as_utc(earned_at).astimezone(zone)
    months = rule.expiry_months
    if months is None:  # year_end: the end of the year after the one they were earned in
        return datetime.combine(local.date().replace(year=local.year + 2, month=1, day=1), time(0), zone).astimezone(UTC)
    month_index = local.month - 1 + months
    year, month = local.year + month_index // 12, month_index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day).astimezone(UTC)


def earn(
    *, db_session: Session, config: Config, customer_id: int, amount: int, kind: str, source: str,
    source_id: str | None, key: str, at: datetime, available_at: datetime | None = None,
    expires_at: datetime | None = None, reason: str | None = None, created_by: str | None = None,
    locked: Member | None = None,
) -> Posted:
    """A lot of ``amount`` (> 0) points: spendable from ``available_at`` (default ``at``),
    expiring at ``expires_at`` (default by ``members.points_expiry``). ``locked``: the member
    as :func:`lock_member` returned it earlier in this transaction, not locked and read again."""
    if amount <= 0:
        raise ValueError("a lot holds more than 0 points")
    if locked is not None and locked.customer_id != customer_id:
        raise ValueError(f"the locked member is customer {locked.customer_id}, not {customer_id}")
    member = locked if locked is not None else lock_member(db_session, customer_id)
    found = _already(db_session, key, customer_id=customer_id, amount=amount, kind=kind)
    if found is not None:
        return Posted(found, False)
    at = as_utc(at)
    lot = {"available_at": as_utc(available_at) if available_at is not None else at,
           "expires_at": as_utc(expires_at) if expires_at is not None else expires_at_for(config, at),
           "remaining": amount}
    entry = _append(db_session, member, amount=amount, kind=kind, source=source, source_id=source_id, key=key, at=at,
                    reason=reason, created_by=created_by, lot=lot)
    return Posted(entry, True)


def spend(
    *, db_session: Session, customer_id: int, amount: int, kind: str, source: str, source_id: str | None, key: str,
    at: datetime, reason: str | None = None, created_by: str | None = None,
) -> Posted:
    """Take ``amount`` (> 0) available points, oldest lots first, or :class:`NotEnoughPoints`
    (nothing written)."""
    if amount <= 0:
        raise ValueError("spend more than 0 points")
    member = lock_member(db_session, customer_id)
    found = _already(db_session, key, customer_id=customer_id, amount=-amount, kind=kind)
    if found is not None:
        return Posted(found, False)
    at = as_utc(at)
    lots = _spendable_lots(db_session, customer_id, at)
    available = sum(remaining for _, remaining in lots)
    if available < amount:
        raise NotEnoughPoints(f"{available} points available, {amount} asked", available=available, asked=amount)
    entry = _append(db_session, member, amount=-amount, kind=kind, source=source, source_id=source_id, key=key, at=at,
                    reason=reason, created_by=created_by)
    _take(db_session, entry, lots, amount)
    return Posted(entry, True)


def take_back(
    *, db_session: Session, customer_id: int, amount: int, lot_id: int | None, kind: str, source: str,
    source_id: str | None, key: str, at: datetime, reason: str | None = None, created_by: str | None = None,
) -> Posted | None:
    """Take back up to ``amount`` points a refund or a manager reverses: from ``lot_id`` first
    (frozen or not), then the oldest available lots. What the member no longer has is not
    taken (the balance stays at or above zero); None when there is nothing to take."""
    member = lock_member(db_session, customer_id)
    existing = db_session.scalar(select(PointEntry).where(PointEntry.idempotency_key == key))
    if existing is not None:
        if existing.customer_id != customer_id or existing.kind != kind:
            raise KeyReused(f"key {key!r} was used for another change", existing=existing.id)
        return Posted(existing, False)
    at = as_utc(at)
    lots = _spendable_lots(db_session, customer_id, at)
    if lot_id is not None:
        own = db_session.get(PointEntry, lot_id)
        lots = [(lid, rem) for lid, rem in lots if lid != lot_id]
        if own is not None and own.customer_id == customer_id and own.remaining > 0:
            lots.insert(0, (own.id, own.remaining))
    taken = min(amount, sum(remaining for _, remaining in lots))
    if taken <= 0:
        return None
    entry = _append(db_session, member, amount=-taken, kind=kind, source=source, source_id=source_id, key=key, at=at,
                    reason=reason, created_by=created_by)
    _take(db_session, entry, lots, taken)
    return Posted(entry, True)


def allocations_of(db_session: Session, entry_id: int) -> list[tuple[PointEntry, int]]:
    """The lots a spending entry took from, with how much of each (oldest first)."""
    rows = db_session.execute(
        select(PointEntry, PointAllocation.amount).join(PointAllocation, PointAllocation.lot_id == PointEntry.id)
        .where(PointAllocation.entry_id == entry_id).order_by(PointEntry.id)
    ).all()
    return [(lot, amount) for lot, amount in rows]


def entry_by_key(db_session: Session, key: str) -> PointEntry | None:
    return db_session.scalar(select(PointEntry).where(PointEntry.idempotency_key == key))


def balance(*, db_session: Session, customer_id: int, at: datetime, expiring_days: int = 30) -> Balance:
    """The member's points now: available, frozen, and expiring within ``expiring_days``."""
    at = as_utc(at)
    soon = at + timedelta(days=expiring_days)
    lots = PointEntry.__table__.c
    is_live = or_(lots.expires_at.is_(None), lots.expires_at > at)
    is_available = and_(lots.available_at <= at, is_live)
    is_expiring = and_(is_available, lots.expires_at.is_not(None), lots.expires_at <= soon)
    row = db_session.execute(
        select(
            func.coalesce(func.sum(case((is_available, lots.remaining), else_=0)), 0),
            func.coalesce(func.sum(case((and_(lots.available_at > at, is_live), lots.remaining), else_=0)), 0),
            func.coalesce(func.sum(case((is_expiring, lots.remaining), else_=0)), 0),
            func.min(case((is_expiring, lots.expires_at), else_=None)),
        ).where(lots.customer_id == customer_id, lots.remaining > 0)
    ).one()
    total = db_session.scalar(select(Member.points_balance).where(Member.customer_id == customer_id))
    if total is None:
        raise NotAMember(f"customer {customer_id} is not a member")
    return Balance(total=total, available=int(row[0]), frozen=int(row[1]), expiring=int(row[2]),
                   expiring_at=None if row[3] is None else as_utc(row[3]))


@dataclass(frozen=True)
class AuditFinding:
    customer_id: int
    balance: int  # what the member row says
    ledger_sum: int  # what the entries add up to
    lots_remaining: int  # what the lots still hold


def audit(*, db_session: Session, batch: int = 10_000) -> list[AuditFinding]:
    """Members whose balance is not the sum of their ledger (or of their lots' remaining)."""
    return list(audit_findings(db_session=db_session, batch=batch))


def audit_findings(*, db_session: Session, batch: int = 10_000) -> Iterator[AuditFinding]:
    """:func:`audit`, streamed (``scrm members audit`` prints as it reads)."""
    sums = (select(PointEntry.customer_id.label("customer_id"), func.sum(PointEntry.amount).label("total"),
                   func.sum(PointEntry.remaining).label("remaining"))
            .group_by(PointEntry.customer_id).subquery())
    ledger_sum = func.coalesce(sums.c.total, 0)
    lots_sum = func.coalesce(sums.c.remaining, 0)
    rows = db_session.execute(
        select(Member.customer_id, Member.points_balance, ledger_sum, lots_sum)
        .outerjoin(sums, sums.c.customer_id == Member.customer_id)
        .where(or_(Member.points_balance != ledger_sum, Member.points_balance != lots_sum))
        .order_by(Member.customer_id).execution_options(yield_per=batch)
    )
    for c, b, s, r in rows:
        yield AuditFinding(int(c), int(b), int(s), int(r))


# -- inside ----------------------------------------------------------------------------------


def _already(db_session: Session, key: str, *, customer_id: int, amount: int, kind: str) -> PointEntry | None:
    existing = db_session.scalar(select(PointEntry).where(PointEntry.idempotency_key == key))
    if existing is None:
        return None
    if (existing.customer_id, existing.amount, existing.kind) != (customer_id, amount, kind):
        raise KeyReused(f"key {key!r} was used for another change", existing=existing.id)
    return existing


def _append(db_session: Session, member: Member, *, amount: int, kind: str, source: str, source_id: str | None,
            key: str, at: datetime, reason: str | None, created_by: str | None,
            lot: dict[str, object] | None = None) -> PointEntry:
    """The entry, inserted with its lot's fields (``lot``: available_at, expires_at, remaining)
    in the one INSERT; the member's balance raised or lowered by ``amount``."""
    if len(key) > KEY_MAX:
        raise ValueError(f"an idempotency key holds at most {KEY_MAX} characters")
    member.points_balance += amount
    member.updated_at = at
    entry = PointEntry(customer_id=member.customer_id, amount=amount, kind=kind, source=source, source_id=source_id,
                       idempotency_key=key, balance_after=member.points_balance, reason=reason,
                       created_by=created_by, created_at=at, **(lot or {"remaining": 0}))
    db_session.add(entry)
    db_session.flush()
    return entry


def _spendable_lots(db_session: Session, customer_id: int, at: datetime) -> list[tuple[int, int]]:
    """(lot id, remaining) of the lots spendable at ``at``, oldest first."""
    return [(lot_id, remaining) for lot_id, remaining in db_session.execute(
        select(PointEntry.id, PointEntry.remaining)
        .where(PointEntry.customer_id == customer_id, PointEntry.remaining > 0, PointEntry.available_at <= at,
               or_(PointEntry.expires_at.is_(None), PointEntry.expires_at > at))
        .order_by(PointEntry.id)
    ).all()]


def _take(db_session: Session, entry: PointEntry, lots: list[tuple[int, int]], amount: int) -> None:
    left = amount
    for lot_id, remaining in lots:
        if left == 0:
            break
        part = min(left, remaining)
        db_session.execute(update(PointEntry).where(PointEntry.id == lot_id)
                           .values(remaining=PointEntry.remaining - part))
        db_session.add(PointAllocation(entry_id=entry.id, lot_id=lot_id, amount=part))
        left -= part
    db_session.flush()
