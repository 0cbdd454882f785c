"""Scheduled coupon work: expiry (过期) and the reminders recorded before it.

- :func:`expire_due` marks issued coupons whose validity is over as ``expired``, with the
  moment they expired, in batches. Redemption never waits for it: a coupon past its
  ``valid_until`` is refused as expired whether or not the sweep has run.
- :func:`record_reminders` records, once per coupon, the intent to remind its customer
  ``remind_days_before`` days before expiry (the template's, else ``coupons.remind_days_before``;
  0 turns reminders off). Outreach sends them; until then they are listed for managers.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, exists, func, literal, select, update

from scrm.coupons.models import Coupon, CouponReminder, CouponTemplate
from scrm.runtime import Runtime, job

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

BATCH = 5000


@job
def expire_due(runtime: Runtime) -> int:
    """Scheduled: expire what is due; returns how many coupons expired."""

    total = 0
    while True:
        with runtime.transaction() as db_session:
            done = expire_batch(db_session=db_session, now=runtime.clock.now())
        total += done
        if done < BATCH:
            return total


def expire_batch(*, db_session: Session, now: datetime) -> int:
    ids = list(db_session.scalars(
        select(Coupon.id).where(Coupon.status == "issued", Coupon.valid_until <= now).limit(BATCH)
    ))
    if not ids:
        return 0
    result = db_session.execute(
        update(Coupon).where(Coupon.id.in_(ids), Coupon.status == "issued")
        .values(status="expired", expired_at=Coupon.valid_until)
    )
    return result.rowcount


@job
def record_reminders(runtime: Runtime) -> int:
    """Scheduled (daily): record the reminders that are due; returns how many were new."""

    with runtime.transaction() as db_session:
        return remind_due(runtime=runtime, db_session=db_session)


def remind_due(*, runtime: Runtime, db_session: Session) -> int:
    now = runtime.clock.now()
    default_days = runtime.config.coupons.remind_days_before
    days_of = func.coalesce(CouponTemplate.remind_days_before, default_days)
    recorded = 0
    for days in db_session.scalars(select(days_of).distinct()):
        if not days:
            continue
        already = exists().where(CouponReminder.coupon_id == Coupon.id)
        due = (
            select(Coupon.id, Coupon.customer_id, literal(now), literal("pending"), literal(now))
            .join(CouponTemplate, CouponTemplate.id == Coupon.template_id)
            .where(and_(days_of == days, Coupon.status == "issued", Coupon.valid_until > now,
                        Coupon.valid_until <= now + timedelta(days=days), ~already))
        )
        table = CouponReminder.__table__
        inserted = db_session.execute(
            table.insert().from_select(["coupon_id", "customer_id", "due_at", "state", "created_at"], due)
            .returning(table.c.coupon_id)
        )
        recorded += len(inserted.all())
    return recorded
