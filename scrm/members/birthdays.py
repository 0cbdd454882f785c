"""Birthday coupons (生日礼券, SPEC §13): each member's level gives its ``birthday_template_id``
coupon ``members.birthday_days_ahead`` local days before the birthday — the member's own
(``members.birthday``), else the one the customer record has. Once per member and year: the
coupon's source_ref is ``birthday:<year of the birthday>`` (scrm/members/gifts.py). A day the
scheduler missed is caught up for :data:`CATCH_UP_DAYS` days, as long as the birthday is not
past. A 29 February birthday is kept on 28 February in other years. Members whose level has no
birthday coupon get nothing (the outreach ``birthday`` trigger can still greet them).
"""

from __future__ import annotations

import calendar
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, exists, extract, func, or_, select

from scrm.clock import local_day
from scrm.coupons.models import Coupon
from scrm.customers.models import Customer
from scrm.members import gifts
from scrm.members.ledger import lock_member
from scrm.members.models import Member, MemberLevel

if TYPE_CHECKING:
    from scrm.runtime import Runtime

CATCH_UP_DAYS = 2
ISSUE_BATCH = 200  # members per transaction


def issue_birthday_coupons(runtime: Runtime) -> int:
    """Give the birthday coupons due today (and the days missed); how many were issued."""
    config, now = runtime.config, runtime.clock.now()
    today = local_day(config, now)
    ahead = config.members.birthday_days_ahead
    due: list[tuple[int, int]] = []  # (customer id, year)
    with runtime.transaction() as db_session:
        for back in range(min(CATCH_UP_DAYS, ahead) + 1):
            target = today + timedelta(days=ahead - back)
            due += [(cid, target.year) for cid in db_session.scalars(_born_on(target)).all()]
    issued = 0
    for start in range(0, len(due), ISSUE_BATCH):
        with runtime.transaction() as db_session:
            for customer_id, year in due[start:start + ISSUE_BATCH]:
                member = lock_member(db_session, customer_id)
                template_id = db_session.scalar(select(MemberLevel.birthday_template_id)
                                                .where(MemberLevel.id == member.level_id))
                coupon = gifts.give_once(runtime=runtime, db_session=db_session, customer_id=customer_id,
                                         template_id=template_id, source_ref=f"birthday:{year}", at=now)
                issued += coupon is not None
    return issued


def _born_on(day):  # noqa: ANN001, ANN202 - a date → a select of customer ids
    """Members born on ``day``'s month and day, whose level has a birthday coupon they have not
    had for ``day``'s year."""
    month_days = [(day.month, day.day)]
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        month_days.append((2, 29))
    birthday = func.coalesce(Member.birthday, Customer.birthday)
    born = or_(*[and_(extract("month", birthday) == m, extract("day", birthday) == d) for m, d in month_days])
    had = exists().where(Coupon.customer_id == Member.customer_id, Coupon.source == gifts.SOURCE,
                         Coupon.source_ref == f"birthday:{day.year}")
    return (select(Member.customer_id)
            .join(Customer, Customer.id == Member.customer_id)
            .join(MemberLevel, MemberLevel.id == Member.level_id)
            .where(MemberLevel.birthday_template_id.is_not(None), Customer.merged_into_id.is_(None), born, ~had)
            .order_by(Member.customer_id))
