"""Members (SPEC §13): creating one, reading one.

Service functions take ``db_session`` and never commit; the caller owns the transaction.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from scrm.clock import as_utc
from scrm.db import dialect_insert
from scrm.errors import ConflictError
from scrm.members import levels
from scrm.members.ledger import Balance, balance
from scrm.members.models import Member, MemberLevel

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.config import Config

MEMBER_NO_DIGITS = 12


class PhoneTaken(ConflictError):
    """Another member holds the phone number (409 ``phone_taken``)."""

    code = "phone_taken"


def new_member_no() -> str:
    """A member number (会员号): 12 random digits, the first not 0, so numbers say nothing of
    how many members there are (SPEC §12)."""
    return str(secrets.randbelow(9 * 10 ** (MEMBER_NO_DIGITS - 1)) + 10 ** (MEMBER_NO_DIGITS - 1))


def get_member(*, db_session: Session, customer_id: int) -> Member | None:
    return db_session.get(Member, customer_id)


def create_member(
    *, db_session: Session, config: Config, customer_id: int, phone: str, at: datetime, birthday: date | None = None,
    joined_via: str | None = None, joined_guide_id: int | None = None,
) -> tuple[Member, bool]:
    """The customer's membership, created at the lowest level with a fresh member number, and
    whether it is new (False: the customer had joined already; nothing changes)."""
    existing = db_session.get(Member, customer_id)
    if existing is not None:
        return existing, False
    holder = db_session.scalar(select(Member.customer_id).where(Member.phone == phone))
    if holder is not None:
        raise PhoneTaken("another member has this phone number", existing=holder)
    lowest = levels.ensure_levels(db_session=db_session, config=config, at=at)[0]
    at = as_utc(at)
    for _ in range(5):  # a clash of 12 random digits is rare; try another number then
        inserted = db_session.execute(
            dialect_insert(db_session, Member.__table__).values(
                customer_id=customer_id, member_no=new_member_no(), phone=phone, birthday=birthday,
                level_id=lowest.id, growth=0, points_balance=0, checkin_streak=0, joined_via=joined_via,
                joined_guide_id=joined_guide_id, joined_at=at, level_changed_at=at, updated_at=at,
            ).on_conflict_do_nothing().returning(Member.__table__.c.customer_id)
        ).first()
        if inserted is not None:
            levels.tag_level(db_session=db_session, customer_id=customer_id, level=lowest, at=at)
            return db_session.get(Member, customer_id, populate_existing=True), True
        if db_session.get(Member, customer_id, populate_existing=True) is not None:  # joined at this moment
            return db_session.get(Member, customer_id), False
        if db_session.scalar(select(Member.customer_id).where(Member.phone == phone)) is not None:
            raise PhoneTaken("another member has this phone number")
    raise RuntimeError("no free member number after 5 tries")


@dataclass(frozen=True)
class MemberSummary:
    """What the member card, the guide and the console show of a member."""

    member: Member
    level: MemberLevel
    next_level: MemberLevel | None
    counted_growth: int  # what the level is judged by (level_basis)
    growth_to_next: int | None  # growth still needed for the next level
    balance: Balance


def member_summary(*, db_session: Session, config: Config, customer_id: int, at: datetime) -> MemberSummary | None:
    """The member's card, level progress and points; None for a customer who has not joined."""
    from scrm.members.growth import counted_growth

    member = db_session.get(Member, customer_id)
    if member is None:
        return None
    all_levels = levels.ensure_levels(db_session=db_session, config=config, at=at)
    level = next((lv for lv in all_levels if lv.id == member.level_id), all_levels[0])
    higher = [lv for lv in all_levels if lv.rank > level.rank]
    counted = counted_growth(db_session=db_session, config=config, member=member, at=at)
    next_level = higher[0] if higher else None
    to_next = None if next_level is None else max(next_level.threshold - counted, 0)
    points = balance(db_session=db_session, customer_id=customer_id, at=at,
                     expiring_days=config.members.expiry_remind_days)
    return MemberSummary(member, level, next_level, counted, to_next, points)
