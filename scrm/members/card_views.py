"""What the customer's member page (/c/member, scrm/members/customer_pages.py) shows of a
member: the card (level, number, discount, benefits), progress to the next level, points
(available, frozen until when, expiring when), the check-in, the points mall and the history.
Plain values for the template, which words them (Flask-Babel, in ``brand.locale``).

Read-only; the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from scrm.clock import as_utc, local_day
from scrm.members import checkin, mall
from scrm.members.models import MallExchange, MallItem, PointEntry
from scrm.members.service import member_summary

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.config import Config
    from scrm.members.ledger import Balance

HISTORY_LINES = 20
FROZEN_DATES = 3


@dataclass(frozen=True)
class HistoryLine:
    """One ledger entry in the member's words: its kind, amount, and what it came from."""

    kind: str  # order, checkin, grant, exchange, expire, refund_reverse…
    amount: int
    source_id: str | None  # the order number for an order
    item_name: str | None  # the mall item for an exchange
    reason: str | None
    at: datetime


@dataclass(frozen=True)
class FrozenLot:
    points: int
    day: date  # the brand's local day they can be spent from


@dataclass(frozen=True)
class MemberCard:
    customer_id: int
    member_no: str
    level_name: str
    discount: Decimal  # 0.90 = 9折; 1 = none
    benefits: tuple[str, ...]
    growth: int  # what the level is judged by
    next_level_name: str | None
    growth_to_next: int | None
    progress_percent: int  # towards the next level, 100 at the top
    points: Balance
    frozen: tuple[FrozenLot, ...]  # the first few dates frozen points become available
    checkin: Any  # checkin.CheckinState
    items: tuple[Any, ...]  # mall.MallItemView
    history: tuple[HistoryLine, ...]

    @property
    def discount_tenths(self) -> str | None:
        """``9`` for 0.90, ``8.5`` for 0.85: how a Chinese shopper says a discount (9折); None for none."""
        if self.discount >= 1:
            return None
        return format((self.discount * 10).normalize(), "f")


def member_card(*, db_session: Session, config: Config, customer_id: int, at: datetime) -> MemberCard | None:
    """The member page's content, or None for a customer who has not joined."""
    summary = member_summary(db_session=db_session, config=config, customer_id=customer_id, at=at)
    if summary is None:
        return None
    level, next_level = summary.level, summary.next_level
    if next_level is None:
        progress = 100
    else:
        span = max(next_level.threshold - level.threshold, 1)
        progress = max(0, min(99, (summary.counted_growth - level.threshold) * 100 // span))
    return MemberCard(
        customer_id=customer_id, member_no=summary.member.member_no, level_name=level.name,
        discount=Decimal(level.discount), benefits=tuple(str(b) for b in level.benefits or ()),
        growth=summary.counted_growth, next_level_name=next_level.name if next_level else None,
        growth_to_next=summary.growth_to_next, progress_percent=progress, points=summary.balance,
        frozen=_frozen_lots(db_session, config, customer_id, at),
        checkin=checkin.checkin_state(db_session=db_session, config=config, customer_id=customer_id, at=at),
        items=tuple(mall.list_items(db_session=db_session, at=at, customer_id=customer_id, config=config)),
        history=history(db_session=db_session, customer_id=customer_id),
    )


def history(*, db_session: Session, customer_id: int, limit: int = HISTORY_LINES) -> tuple[HistoryLine, ...]:
    """The member's last ``limit`` ledger entries, newest first, with the item of each exchange."""
    rows = db_session.execute(
        select(PointEntry, MallItem.name)
        .outerjoin(MallExchange, MallExchange.entry_id == PointEntry.id)
        .outerjoin(MallItem, MallItem.id == MallExchange.item_id)
        .where(PointEntry.customer_id == customer_id).order_by(PointEntry.id.desc()).limit(limit)
    ).all()
    return tuple(HistoryLine(entry.kind, entry.amount, entry.source_id, name, entry.reason, as_utc(entry.created_at))
                 for entry, name in rows)


def _frozen_lots(db_session: Session, config: Config, customer_id: int, at: datetime) -> tuple[FrozenLot, ...]:
    """Frozen points by the local day they become available, the first few days."""
    at = as_utc(at)
    rows = db_session.execute(
        select(PointEntry.available_at, PointEntry.remaining)
        .where(PointEntry.customer_id == customer_id, PointEntry.remaining > 0, PointEntry.available_at > at,
               or_(PointEntry.expires_at.is_(None), PointEntry.expires_at > at))
        .order_by(PointEntry.available_at)
    ).all()
    by_day: dict[date, int] = {}
    for when, remaining in rows:
        day = local_day(config, as_utc(when))
        by_day[day] = by_day.get(day, 0) + remaining
    return tuple(FrozenLot(points, day) for day, points in list(by_day.items())[:FROZEN_DATES])
