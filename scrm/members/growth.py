"""Growth value (成长值, SPEC §13): earned by orders (per yuan), check-ins and tasks, taken
back by refunds, never spent. A level rises as soon as growth reaches its threshold (under
``members.level_basis``: all growth, or the last 12 months'); it drops only at the yearly review
(scrm/members/level_jobs.py).

Service functions take ``db_session`` and never commit; the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from scrm.clock import as_utc
from scrm.members import levels
from scrm.members.ledger import lock_member
from scrm.members.models import GrowthEntry, Member, MemberLevel

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.config import Config

ROLLING_DAYS = 365


@dataclass(frozen=True)
class LevelChange:
    """A member's level moved (up at once, down only at the review)."""

    customer_id: int
    old_level_id: int
    new_level_id: int
    old_rank: int
    new_rank: int
    at: datetime

    @property
    def up(self) -> bool:
        return self.new_rank > self.old_rank


@dataclass(frozen=True)
class GrowthPosted:
    entry: GrowthEntry
    created: bool  # False: the same request was made before; nothing changed
    level_change: LevelChange | None  # the level it raised the member to


def add_growth(
    *, db_session: Session, config: Config, customer_id: int, amount: int, kind: str, source_id: str | None,
    key: str, at: datetime, counted_from: datetime | None = None,
) -> GrowthPosted:
    """Add ``amount`` (negative: take back, never below zero in total) growth; the member's
    level rises when the growth that counts reaches a higher threshold. ``counted_from`` (default
    ``at``) is when the growth counts from under ``rolling_12_months``: an order's growth from
    the purchase, a refund's taking back from the same moment as the order's, so both leave the
    12 months together."""
    member = lock_member(db_session, customer_id)
    existing = db_session.scalar(select(GrowthEntry).where(GrowthEntry.idempotency_key == key))
    if existing is not None:
        return GrowthPosted(existing, False, None)
    at = as_utc(at)
    amount = max(amount, -member.growth)
    entry = GrowthEntry(customer_id=customer_id, amount=amount, kind=kind, source_id=source_id, idempotency_key=key,
                        created_at=as_utc(counted_from) if counted_from is not None else at)
    db_session.add(entry)
    member.growth += amount
    member.updated_at = at
    db_session.flush()
    change = raise_level(db_session=db_session, config=config, member=member, at=at) if amount > 0 else None
    return GrowthPosted(entry, True, change)


def counted_growth(*, db_session: Session, config: Config, member: Member, at: datetime) -> int:
    """The growth the level is judged by: all of it, or the last 12 months' (level_basis)."""
    if config.members.level_basis == "lifetime":
        return member.growth
    since = as_utc(at) - timedelta(days=ROLLING_DAYS)
    return int(db_session.scalar(
        select(func.coalesce(func.sum(GrowthEntry.amount), 0))
        .where(GrowthEntry.customer_id == member.customer_id, GrowthEntry.created_at > since)
    ))


def raise_level(*, db_session: Session, config: Config, member: Member, at: datetime) -> LevelChange | None:
    """Move the (locked) member up to the level their counted growth reaches, if higher."""
    all_levels = levels.ensure_levels(db_session=db_session, config=config, at=at)
    reached = levels.level_for(all_levels, counted_growth(db_session=db_session, config=config, member=member, at=at))
    current = db_session.get(MemberLevel, member.level_id)
    if current is not None and reached.rank <= current.rank:
        return None
    old_id, old_rank = member.level_id, current.rank if current is not None else -1
    member.level_id = reached.id
    member.level_changed_at = as_utc(at)
    db_session.flush()
    levels.tag_level(db_session=db_session, customer_id=member.customer_id, level=reached, at=as_utc(at))
    return LevelChange(member.customer_id, old_id, reached.id, old_rank, reached.rank, as_utc(at))
