"""Check-in (签到, SPEC §13): once per local day (``brand.timezone``), points and growth for
it, and a bonus when the streak of consecutive days reaches a tier of ``members.checkin_streak``.

**Streak tiers.** A tier pays its bonus on the day the streak equals its ``days``. After the
highest tier the streak keeps counting and the highest tier's bonus comes again on every day
the streak is a multiple of its ``days``: with tiers 3 and 7 days, the bonus comes on days 3,
7, 14, 21, … A day without a check-in breaks the streak; the next check-in starts at 1.

Exactly once per day: the member's row is locked first (:func:`ledger.lock_member`), then the
day's check-in is looked for (``member_checkins`` is unique on customer and day; the ledger key
is ``checkin:<customer_id>:<day>``, the growth key ``checkin-growth:<customer_id>:<day>``).
A second check-in the same day answers the first's figures and writes nothing.

Service functions take ``db_session`` and never commit; the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from scrm.clock import as_utc, local_day
from scrm.members import ledger
from scrm.members.growth import LevelChange, add_growth
from scrm.members.models import Checkin, GrowthEntry, Member

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.config import Config, StreakTier
    from scrm.runtime import Runtime


@dataclass(frozen=True)
class CheckedIn:
    """A day's check-in: ``points`` = the daily points + ``bonus`` (a streak tier's)."""

    day: date  # the local day (brand.timezone)
    streak: int  # consecutive days, this one included
    points: int
    bonus: int
    growth: int
    created: bool  # False: the member had checked in that day already; nothing changed
    level_change: LevelChange | None = None  # the level the check-in's growth raised the member to


@dataclass(frozen=True)
class CheckinState:
    """What the member page shows before the button is pressed."""

    checked_today: bool
    streak: int  # the streak still alive (checked in today or yesterday), else 0
    next_tier: tuple[int, int] | None  # (streak day of the next bonus, its points); None: no tiers


def streak_bonus(tiers: list[StreakTier], streak: int) -> int:
    """The bonus a streak of ``streak`` days earns on its last day (see the module's doc)."""
    if not tiers:
        return 0
    ordered = sorted(tiers, key=lambda tier: tier.days)
    exact = next((tier for tier in ordered if tier.days == streak), None)
    if exact is not None:
        return exact.points
    highest = ordered[-1]
    return highest.points if streak > highest.days and streak % highest.days == 0 else 0


def next_bonus(tiers: list[StreakTier], streak: int) -> tuple[int, int] | None:
    """(the streak day of the next bonus after ``streak``, its points), or None without tiers."""
    if not tiers:
        return None
    ordered = sorted(tiers, key=lambda tier: tier.days)
    upcoming = next((tier for tier in ordered if tier.days > streak), None)
    if upcoming is not None:
        return upcoming.days, upcoming.points
    highest = ordered[-1]
    return (streak // highest.days + 1) * highest.days, highest.points


def check_in(*, runtime: Runtime, db_session: Session, customer_id: int, at: datetime) -> CheckedIn:
    """The member checks in for the local day of ``at``; :class:`ledger.NotAMember`."""
    config = runtime.config
    member = ledger.lock_member(db_session, customer_id)
    at = as_utc(at)
    day = local_day(config, at)
    done = db_session.scalar(select(Checkin).where(Checkin.customer_id == customer_id, Checkin.day == day))
    if done is not None:
        return _again(db_session, config, done)
    yesterday = db_session.scalar(select(Checkin.streak).where(Checkin.customer_id == customer_id,
                                                               Checkin.day == day - timedelta(days=1)))
    streak = (yesterday or 0) + 1
    bonus = streak_bonus(config.members.checkin_streak, streak)
    points = config.members.checkin_points + bonus
    db_session.add(Checkin(customer_id=customer_id, day=day, streak=streak, points=points, created_at=at))
    if member.last_checkin_day is None or day >= member.last_checkin_day:
        member.last_checkin_day, member.checkin_streak = day, streak
    member.updated_at = at
    db_session.flush()
    if points > 0:
        ledger.earn(db_session=db_session, config=config, customer_id=customer_id, amount=points, kind="checkin",
                    source="checkin", source_id=day.isoformat(), key=f"checkin:{customer_id}:{day.isoformat()}",
                    at=at)
    growth = config.members.checkin_growth
    change = None
    if growth > 0:
        posted = add_growth(db_session=db_session, config=config, customer_id=customer_id, amount=growth,
                            kind="checkin", source_id=day.isoformat(),
                            key=f"checkin-growth:{customer_id}:{day.isoformat()}", at=at)
        change = posted.level_change
    return CheckedIn(day, streak, points, bonus, growth, True, change)


def checkin_state(*, db_session: Session, config: Config, customer_id: int, at: datetime) -> CheckinState:
    """Whether the member checked in today, the live streak and the next bonus;
    :class:`ledger.NotAMember`."""
    if db_session.get(Member, customer_id) is None:
        raise ledger.NotAMember(f"customer {customer_id} is not a member")
    today = local_day(config, as_utc(at))
    last = db_session.execute(
        select(Checkin.day, Checkin.streak).where(Checkin.customer_id == customer_id, Checkin.day <= today)
        .order_by(Checkin.day.desc()).limit(1)
    ).first()
    checked_today = last is not None and last.day == today
    alive = last is not None and last.day >= today - timedelta(days=1)
    streak = last.streak if alive else 0
    return CheckinState(checked_today, streak, next_bonus(config.members.checkin_streak, streak))


def _again(db_session: Session, config: Config, done: Checkin) -> CheckedIn:
    day = done.day
    growth = db_session.scalar(select(GrowthEntry.amount).where(
        GrowthEntry.idempotency_key == f"checkin-growth:{done.customer_id}:{day.isoformat()}"))
    bonus = min(streak_bonus(config.members.checkin_streak, done.streak), done.points)
    return CheckedIn(day, done.streak, done.points, bonus, growth or 0, False, None)
