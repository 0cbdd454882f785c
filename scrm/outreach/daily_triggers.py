"""The time-based triggers (SPEC §8), scanned once a day (scrm/scheduler.py), each firing a
campaign for one customer through :func:`scrm.outreach.triggers.fire_in`:

- ``birthday`` with ``days`` N: customers whose birthday (``customers.birthday``) is N local
  days ahead; a day the scan missed is caught up (up to :data:`CATCH_UP_DAYS`) as long as the
  birthday is still ahead. 29 February birthdays are kept on 28 February in other years.
  Once per customer and year.
- ``inactive`` with ``days`` N: customers whose last activity on the timeline (their own
  doing: :data:`ACTIVITY_KINDS`, not our tags, coupons or messages) is N days old — crossed
  since :data:`INACTIVE_LOOKBACK_DAYS`, so launching a wake-up campaign does not reach
  customers asleep for years, and a missed scan is caught up. Once per sleeping spell (the
  cause names the last activity's day: a customer who comes back and sleeps again fires again).
- ``coupon_expiring`` with ``days`` N: issued coupons that end within N days. Once per coupon;
  the coupon's pending reminder (scrm/coupons/expiry.py) is then marked ``sent``.
- ``points_expiring`` with ``days`` N (none: ``members.expiry_remind_days``): members whose
  available points (lots spendable now, SPEC §13) start expiring within N days. Once per
  member and expiry date (the cause names the local day the first of those lots expires; a
  member whose lots expire on several days is reminded again before the next, once the
  first has gone by the nightly expiry, scrm/members/expiry.py).

Each scan fires in transactions of :data:`FIRE_BATCH` customers, each committed before its
deliveries are queued.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import extract, func, or_, select, update

from scrm.clock import as_utc, local_day
from scrm.coupons.models import Coupon, CouponReminder
from scrm.customers.models import ACTIVITY_KINDS, Customer, Interaction
from scrm.members.models import PointEntry
from scrm.outreach import planner
from scrm.outreach.triggers import cause_of, fire_in, live_triggers
from scrm.runtime import Runtime, job

if TYPE_CHECKING:
    from collections.abc import Iterable

    from scrm.outreach.triggers import Trigger
    from scrm.runtime import Runtime

FIRE_BATCH = 200
CATCH_UP_DAYS = 2
INACTIVE_LOOKBACK_DAYS = 7


@job
def fire_birthdays(runtime: Runtime) -> int:
    """Scheduled (daily): birthday triggers; returns how many runs it started."""

    return _scan(runtime, "birthday", lambda trigger: _birthdays(runtime, trigger))


@job
def fire_inactive(runtime: Runtime) -> int:
    """Scheduled (daily): no-interaction-for-N-days triggers."""

    return _scan(runtime, "inactive", lambda trigger: _sleepers(runtime, trigger))


@job
def fire_expiring_coupons(runtime: Runtime) -> int:
    """Scheduled (daily): coupon-about-to-expire triggers."""

    return _scan(runtime, "coupon_expiring", lambda trigger: _expiring(runtime, trigger))


@job
def fire_expiring_points(runtime: Runtime) -> int:
    """Scheduled (daily): points-about-to-expire triggers (积分即将过期)."""

    return _scan(runtime, "points_expiring", lambda trigger: _expiring_points(runtime, trigger))


def _scan(runtime: Runtime, event: str, occurrences) -> int:  # noqa: ANN001 - Trigger → [(customer, ref)]
    with runtime.transaction() as db_session:
        triggers = live_triggers(db_session=db_session, event=event)
    fired = 0
    for trigger in triggers:
        found = list(occurrences(trigger))
        for start in range(0, len(found), FIRE_BATCH):
            due_now, coupons = [], []
            with runtime.transaction() as db_session:
                for customer_id, ref in found[start:start + FIRE_BATCH]:
                    result = fire_in(runtime=runtime, db_session=db_session, campaign_id=trigger.campaign_id,
                                     customer_id=customer_id, cause=cause_of(event, customer_id, ref))
                    if result is not None:
                        fired += 1
                        due_now += result[1]
                        if event == "coupon_expiring":
                            coupons.append(int(ref))
                if event == "coupon_expiring" and coupons:
                    db_session.execute(update(CouponReminder).where(CouponReminder.coupon_id.in_(coupons),
                                                                    CouponReminder.state == "pending")
                                       .values(state="sent"))
            planner.enqueue_sends(runtime, due_now)
    return fired


def _birthdays(runtime: Runtime, trigger: Trigger) -> Iterable[tuple[int, str]]:
    today = local_day(runtime.config, runtime.clock.now())
    days = trigger.days or 0
    with runtime.transaction() as db_session:
        for back in range(min(CATCH_UP_DAYS, days) + 1):
            target = today + timedelta(days=days - back)
            month_days = [(target.month, target.day)]
            if (target.month, target.day) == (2, 28) and not calendar.isleap(target.year):
                month_days.append((2, 29))
            wanted = or_(*[(extract("month", Customer.birthday) == m) & (extract("day", Customer.birthday) == d)
                           for m, d in month_days])
            query = select(Customer.id).where(Customer.birthday.is_not(None), Customer.merged_into_id.is_(None),
                                              wanted).order_by(Customer.id)
            yield from ((customer_id, str(target.year)) for customer_id in db_session.scalars(query).all())


def _sleepers(runtime: Runtime, trigger: Trigger) -> list[tuple[int, str]]:
    now = runtime.clock.now()
    cutoff = now - timedelta(days=trigger.days or 0)
    last = func.max(Interaction.occurred_at)
    with runtime.transaction() as db_session:
        rows = db_session.execute(
            select(Interaction.customer_id, last).where(Interaction.kind.in_(ACTIVITY_KINDS))
            .group_by(Interaction.customer_id)
            .having(last < cutoff, last >= cutoff - timedelta(days=INACTIVE_LOOKBACK_DAYS))
            .order_by(Interaction.customer_id)
        ).all()
    return [(customer_id, _day(runtime, moment).isoformat()) for customer_id, moment in rows]


def _expiring(runtime: Runtime, trigger: Trigger) -> list[tuple[int, str]]:
    now = runtime.clock.now()
    with runtime.transaction() as db_session:
        rows = db_session.execute(
            select(Coupon.customer_id, Coupon.id).where(
                Coupon.status == "issued", Coupon.valid_until > now,
                Coupon.valid_until <= now + timedelta(days=trigger.days or 0))
            .order_by(Coupon.id)
        ).all()
    return [(customer_id, str(coupon_id)) for customer_id, coupon_id in rows]


def _expiring_points(runtime: Runtime, trigger: Trigger) -> list[tuple[int, str]]:
    now = runtime.clock.now()
    days = trigger.days if trigger.days is not None else runtime.config.members.expiry_remind_days
    first = func.min(PointEntry.expires_at)
    with runtime.transaction() as db_session:
        rows = db_session.execute(
            select(PointEntry.customer_id, first).where(
                PointEntry.remaining > 0, PointEntry.expires_at > now,
                PointEntry.expires_at <= now + timedelta(days=days), PointEntry.available_at <= now)
            .group_by(PointEntry.customer_id).order_by(PointEntry.customer_id)
        ).all()
    return [(customer_id, _day(runtime, moment).isoformat()) for customer_id, moment in rows]


def _day(runtime: Runtime, moment) -> date:  # noqa: ANN001 - a datetime, naive from SQLite

    return local_day(runtime.config, as_utc(moment))
