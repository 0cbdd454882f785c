"""What the console's membership pages (scrm/members/pages.py) and the customer's profile show of
members: the member list with its filters, one member's card, ledger, check-ins and exchanges,
the levels with how many members hold each, and the coupon templates a level or an item may
give. Read-only, as frozen values (a template never lazy-loads); the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import and_, case, func, or_, select

from scrm.clock import as_utc, utc_bounds
from scrm.coupons.models import Coupon, CouponTemplate
from scrm.customers.models import Customer
from scrm.members.models import Checkin, MallExchange, MallItem, Member, MemberLevel, PointEntry
from scrm.members.service import member_summary

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.config import Config
    from scrm.members.console_forms import MemberFilter
    from scrm.members.service import MemberSummary

PAGE = 50
LEDGER_PAGE = 30
RECENT = 20


@dataclass(frozen=True)
class MemberRow:
    customer_id: int
    member_no: str
    nickname: str | None
    level: str
    level_rank: int
    growth: int
    available: int
    frozen: int
    joined_at: datetime


@dataclass(frozen=True)
class EntryLine:
    id: int
    at: datetime
    kind: str
    amount: int
    balance_after: int
    reason: str | None
    source_id: str | None
    created_by: str | None
    available_at: datetime | None
    expires_at: datetime | None


@dataclass(frozen=True)
class CheckinLine:
    day: date
    streak: int
    points: int


@dataclass(frozen=True)
class ExchangeLine:
    at: datetime
    item: str
    points: int
    coupon_code: str | None
    coupon_status: str | None


@dataclass(frozen=True)
class MemberPage:
    customer_id: int
    nickname: str | None
    phone: str
    birthday: date | None
    summary: MemberSummary
    entries: tuple[EntryLine, ...]
    entries_total: int
    checkins: tuple[CheckinLine, ...]
    exchanges: tuple[ExchangeLine, ...]


@dataclass(frozen=True)
class LevelRow:
    id: int
    rank: int
    name: str
    threshold: int
    discount: Decimal
    points_multiplier: Decimal
    benefits: tuple[str, ...]
    level_up_template: str | None
    birthday_template: str | None
    members: int


@dataclass(frozen=True)
class TemplateChoice:
    id: int
    name: str
    kind: str


def member_rows(*, db_session: Session, config: Config, at: datetime, chosen: MemberFilter, limit: int = PAGE,
                offset: int = 0) -> tuple[list[MemberRow], int]:
    """A page of the members ``chosen`` picks, newest first, and how many it picks."""
    where = []
    if chosen.phone:
        where.append(Member.phone == chosen.phone)
    if chosen.member_no:
        where.append(Member.member_no == chosen.member_no)
    if chosen.level_id is not None:
        where.append(Member.level_id == chosen.level_id)
    if chosen.first is not None or chosen.last is not None:
        start, end = utc_bounds(config, chosen.first or date(1970, 1, 1), chosen.last or date(2999, 12, 30))
        where += [Member.joined_at >= start, Member.joined_at < end]
    total = db_session.scalar(select(func.count()).select_from(Member).where(*where)) or 0
    rows = db_session.execute(
        select(Member, Customer.nickname, MemberLevel.name, MemberLevel.rank)
        .join(Customer, Customer.id == Member.customer_id).join(MemberLevel, MemberLevel.id == Member.level_id)
        .where(*where).order_by(Member.joined_at.desc(), Member.customer_id.desc()).limit(limit).offset(offset)
    ).all()
    points = _points_of(db_session, [member.customer_id for member, *_ in rows], at)
    return [MemberRow(m.customer_id, m.member_no, nickname, level, rank, m.growth,
                      *points.get(m.customer_id, (0, 0)), as_utc(m.joined_at))
            for m, nickname, level, rank in rows], total


def member_page(*, db_session: Session, config: Config, customer_id: int, at: datetime, page: int = 1,
                per_page: int = LEDGER_PAGE) -> MemberPage | None:
    """One member: card, a page of the ledger (newest first), recent check-ins and exchanges;
    None for a customer who has not joined."""
    summary = member_summary(db_session=db_session, config=config, customer_id=customer_id, at=at)
    if summary is None:
        return None
    customer = db_session.get(Customer, customer_id)
    total = db_session.scalar(select(func.count()).select_from(PointEntry)
                              .where(PointEntry.customer_id == customer_id)) or 0
    entries = db_session.scalars(select(PointEntry).where(PointEntry.customer_id == customer_id)
                                 .order_by(PointEntry.id.desc()).limit(per_page).offset((page - 1) * per_page)).all()
    checkins = db_session.scalars(select(Checkin).where(Checkin.customer_id == customer_id)
                                  .order_by(Checkin.day.desc()).limit(RECENT)).all()
    exchanges = db_session.execute(
        select(MallExchange, MallItem.name, Coupon.code, Coupon.status)
        .join(MallItem, MallItem.id == MallExchange.item_id).outerjoin(Coupon, Coupon.id == MallExchange.coupon_id)
        .where(MallExchange.customer_id == customer_id).order_by(MallExchange.id.desc()).limit(RECENT)).all()
    return MemberPage(
        customer_id, customer.nickname if customer else None, summary.member.phone, summary.member.birthday, summary,
        tuple(EntryLine(e.id, as_utc(e.created_at), e.kind, e.amount, e.balance_after, e.reason, e.source_id,
                        e.created_by, e.available_at and as_utc(e.available_at), e.expires_at and as_utc(e.expires_at))
              for e in entries),
        total,
        tuple(CheckinLine(c.day, c.streak, c.points) for c in checkins),
        tuple(ExchangeLine(as_utc(x.created_at), name, x.points, code, status) for x, name, code, status in exchanges),
    )


def level_rows(*, db_session: Session) -> list[LevelRow]:
    """The levels, lowest first, with the members holding each now."""
    held = dict(db_session.execute(select(Member.level_id, func.count()).group_by(Member.level_id)).all())
    names = dict(db_session.execute(select(CouponTemplate.id, CouponTemplate.name)).all())
    return [LevelRow(lv.id, lv.rank, lv.name, lv.threshold, Decimal(lv.discount), Decimal(lv.points_multiplier),
                     tuple(str(b) for b in (lv.benefits or [])), names.get(lv.level_up_template_id),
                     names.get(lv.birthday_template_id), int(held.get(lv.id, 0)))
            for lv in db_session.scalars(select(MemberLevel).order_by(MemberLevel.rank))]


def template_choices(*, db_session: Session, keep: tuple[int | None, ...] = ()) -> list[TemplateChoice]:
    """Active coupon templates (and those ``keep`` names, so a paused one chosen before still shows)."""
    kept = [t for t in keep if t is not None]
    rows = db_session.scalars(select(CouponTemplate).where(or_(CouponTemplate.status == "active",
                                                               CouponTemplate.id.in_(kept)))
                              .order_by(CouponTemplate.name, CouponTemplate.id)).all()
    return [TemplateChoice(t.id, t.name, t.kind) for t in rows]


def _points_of(db_session: Session, ids: list[int], at: datetime) -> dict[int, tuple[int, int]]:
    """(available, frozen) points of each member in ``ids`` at ``at``."""
    if not ids:
        return {}
    at = as_utc(at)
    lots = PointEntry.__table__.c
    live = or_(lots.expires_at.is_(None), lots.expires_at > at)
    rows = db_session.execute(
        select(lots.customer_id,
               func.coalesce(func.sum(case((and_(lots.available_at <= at, live), lots.remaining), else_=0)), 0),
               func.coalesce(func.sum(case((and_(lots.available_at > at, live), lots.remaining), else_=0)), 0))
        .where(lots.customer_id.in_(ids), lots.remaining > 0).group_by(lots.customer_id)).all()
    return {int(c): (int(a), int(f)) for c, a, f in rows}

