"""Membership figures (会员数据, SPEC §11, §13) for a period of the brand's local days, beside the
period of the same length before it: members by level (now), new members, points issued, spent
and expired, check-ins and exchanges per day and in total, exchanges per item, and the points
outstanding now (the brand's liability: every member's balance, available and frozen).

Words: *issued* is every earning entry (orders, check-ins, grants, product codes, points an
order spent given back by its refund); *spent* is exchanges, points used on orders and manual
deductions; *reversed* is points a refund took back; *expired* is the nightly expiry's entries.

Read-only; the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, func, or_, select

from scrm.clock import as_utc, utc_bounds
from scrm.members.models import Checkin, MallExchange, MallItem, Member, MemberLevel, PointEntry

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from sqlalchemy.orm import Session

    from scrm.config import Config

SPENT_KINDS = ("exchange", "order_spend", "deduct")
MEASURES = ("joined", "issued", "spent", "expired", "reversed", "checkins", "exchanges", "exchange_points")


@dataclass(frozen=True)
class DayFigures:
    day: date
    joined: int = 0
    issued: int = 0
    spent: int = 0
    expired: int = 0
    reversed: int = 0
    checkins: int = 0
    exchanges: int = 0
    exchange_points: int = 0


@dataclass(frozen=True)
class Totals:
    joined: int
    issued: int
    spent: int
    expired: int
    reversed: int
    checkins: int
    exchanges: int
    exchange_points: int


@dataclass(frozen=True)
class LevelCount:
    level_id: int
    name: str
    rank: int
    members: int


@dataclass(frozen=True)
class ItemExchanges:
    item_id: int
    name: str
    exchanges: int
    points: int


@dataclass(frozen=True)
class Outstanding:
    """The points members hold now: ``total`` is the sum of balances; ``available`` and
    ``frozen`` are what live lots hold (lots past their expiry wait for the nightly run)."""

    total: int
    available: int
    frozen: int


@dataclass(frozen=True)
class MemberStats:
    first_day: date
    last_day: date
    before_first: date
    before_last: date
    members: int  # now
    by_level: tuple[LevelCount, ...]
    days: tuple[DayFigures, ...]
    totals: Totals
    before: Totals
    items: tuple[ItemExchanges, ...]
    outstanding: Outstanding

    def as_json(self) -> dict[str, Any]:
        return {
            "first_day": self.first_day.isoformat(), "last_day": self.last_day.isoformat(),
            "before_first_day": self.before_first.isoformat(), "before_last_day": self.before_last.isoformat(),
            "members": self.members, "by_level": [asdict(level) for level in self.by_level],
            "days": [{**asdict(d), "day": d.day.isoformat()} for d in self.days],
            "totals": asdict(self.totals), "before": asdict(self.before),
            "items": [asdict(item) for item in self.items], "outstanding": asdict(self.outstanding),
        }


def member_stats(*, db_session: Session, config: Config, first_day: date, last_day: date,
                 at: datetime) -> MemberStats:
    """The figures of ``first_day`` … ``last_day`` (local days) and of as many days before;
    ``at`` is now, for the members by level and the points outstanding."""
    before_last = first_day - timedelta(days=1)
    before_first = before_last - (last_day - first_day)
    days = day_figures(db_session=db_session, config=config, first_day=first_day, last_day=last_day)
    before = totals(day_figures(db_session=db_session, config=config, first_day=before_first, last_day=before_last))
    by_level = tuple(LevelCount(lid, name, rank, int(n)) for lid, name, rank, n in db_session.execute(
        select(MemberLevel.id, MemberLevel.name, MemberLevel.rank, func.count(Member.customer_id))
        .outerjoin(Member, Member.level_id == MemberLevel.id)
        .group_by(MemberLevel.id, MemberLevel.name, MemberLevel.rank).order_by(MemberLevel.rank)))
    return MemberStats(first_day, last_day, before_first, before_last, sum(level.members for level in by_level),
                       by_level, tuple(days), totals(days), before,
                       tuple(by_item(db_session=db_session, config=config, first_day=first_day, last_day=last_day)),
                       outstanding(db_session=db_session, at=at))


@dataclass(frozen=True)
class Headline:
    """The dashboard's membership card: members now, new in the period and the one before, and
    the points they hold (the balances' sum: one pass over members, not over every open lot)."""

    members: int
    joined: int
    joined_before: int
    points: int


def headline(*, db_session: Session, config: Config, first_day: date, last_day: date) -> Headline:
    before_last = first_day - timedelta(days=1)
    before_first = before_last - (last_day - first_day)

    def joined(first: date, last: date) -> int:
        start, end = utc_bounds(config, first, last)
        return int(db_session.scalar(select(func.count()).select_from(Member)
                                     .where(Member.joined_at >= start, Member.joined_at < end)) or 0)

    members, points = db_session.execute(select(func.count(), func.coalesce(func.sum(Member.points_balance), 0))
                                         .select_from(Member)).one()
    return Headline(int(members), joined(first_day, last_day), joined(before_first, before_last), int(points))


def day_figures(*, db_session: Session, config: Config, first_day: date, last_day: date) -> list[DayFigures]:
    """Each local day of the period, every day listed (a quiet day with zeros)."""
    start, end = utc_bounds(config, first_day, last_day)
    zone = config.brand.zone
    found: dict[date, dict[str, int]] = {}

    def add(rows, *names: str) -> None:  # noqa: ANN001
        for day, *values in rows:
            figures = found.setdefault(_as_date(day), {})
            for name, value in zip(names, values, strict=True):
                figures[name] = figures.get(name, 0) + int(value or 0)

    joined_day = _local_date(db_session, Member.joined_at, zone)
    add(db_session.execute(select(joined_day, func.count()).where(Member.joined_at >= start, Member.joined_at < end)
                           .group_by(joined_day)), "joined")
    entry_day = _local_date(db_session, PointEntry.created_at, zone)
    amount = PointEntry.amount
    add(db_session.execute(
        select(entry_day,
               func.sum(case((amount > 0, amount), else_=0)),
               func.sum(case((PointEntry.kind.in_(SPENT_KINDS), -amount), else_=0)),
               func.sum(case((PointEntry.kind == "expire", -amount), else_=0)),
               func.sum(case((PointEntry.kind == "refund_reverse", -amount), else_=0)))
        .where(PointEntry.created_at >= start, PointEntry.created_at < end).group_by(entry_day)),
        "issued", "spent", "expired", "reversed")
    add(db_session.execute(select(Checkin.day, func.count()).where(Checkin.day.between(first_day, last_day))
                           .group_by(Checkin.day)), "checkins")
    exchange_day = _local_date(db_session, MallExchange.created_at, zone)
    add(db_session.execute(select(exchange_day, func.count(), func.sum(MallExchange.points))
                           .where(MallExchange.created_at >= start, MallExchange.created_at < end)
                           .group_by(exchange_day)), "exchanges", "exchange_points")
    span = (last_day - first_day).days + 1
    return [DayFigures(day, **found.get(day, {})) for day in (first_day + timedelta(days=i) for i in range(span))]


def totals(days: list[DayFigures]) -> Totals:
    return Totals(*(sum(getattr(d, name) for d in days) for name in MEASURES))


def by_item(*, db_session: Session, config: Config, first_day: date, last_day: date) -> list[ItemExchanges]:
    """Exchanges of each item in the period, the most exchanged first."""
    start, end = utc_bounds(config, first_day, last_day)
    count = func.count(MallExchange.id)
    return [ItemExchanges(item_id, name, int(n), int(points or 0)) for item_id, name, n, points in db_session.execute(
        select(MallItem.id, MallItem.name, count, func.sum(MallExchange.points))
        .join(MallExchange, MallExchange.item_id == MallItem.id)
        .where(MallExchange.created_at >= start, MallExchange.created_at < end)
        .group_by(MallItem.id, MallItem.name).order_by(count.desc(), MallItem.id))]


def outstanding(*, db_session: Session, at: datetime) -> Outstanding:
    """Every member's points now: the balances' sum, and what live lots hold, available or frozen."""
    at = as_utc(at)
    lots = PointEntry.__table__.c
    live = or_(lots.expires_at.is_(None), lots.expires_at > at)
    available, frozen = db_session.execute(select(
        func.coalesce(func.sum(case((and_(lots.available_at <= at, live), lots.remaining), else_=0)), 0),
        func.coalesce(func.sum(case((and_(lots.available_at > at, live), lots.remaining), else_=0)), 0),
    ).where(lots.remaining > 0)).one()
    total = db_session.scalar(select(func.coalesce(func.sum(Member.points_balance), 0)))
    return Outstanding(int(total or 0), int(available), int(frozen))


def _local_date(db_session: Session, column: Any, zone: ZoneInfo) -> Any:  # noqa: ANN401
    """The local day of a stored UTC moment, as SQL (as scrm/coupons/stats.py reads days)."""
    if db_session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(zone.key, column))
    # SQLite keeps UTC text and has no zones: shift by the zone's offset now (zones without
    # daylight saving, such as Asia/Shanghai, are exact).
    offset = datetime.now(zone).utcoffset() or timedelta()
    return func.date(column, f"{int(offset.total_seconds()) // 60:+d} minutes")


def _as_date(value: Any) -> date:  # noqa: ANN401
    return value if isinstance(value, date) else date.fromisoformat(str(value))
