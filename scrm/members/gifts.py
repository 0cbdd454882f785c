"""Level benefits that are coupons (SPEC §13): the level-up gift (升级礼券), once per member and
level, and the birthday coupon (生日礼券, scrm/members/birthdays.py), once per member and year.

Both are issued with source ``member`` and a ``source_ref`` naming the occasion
(``level_up:<level id>``, ``birthday:<year>``); a coupon of the member with that source_ref is
what "once" looks for, so a retried order, a drop and a rise again, or a scan run twice give
nothing more. A template that cannot give one now (paused, out of stock, the customer at its
limit) is noted on the customer's timeline (``coupon_not_issued``) and the order or scan goes
on. The member's row is locked by the caller (ledger.lock_member), so two gifts of one
occasion never race.

Service functions take ``db_session`` and never commit; the caller owns the transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from scrm.coupons.issuing import NotIssued, issue
from scrm.coupons.models import Coupon
from scrm.customers.models import Interaction
from scrm.members.models import MemberLevel

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

SOURCE = "member"


def give_once(
    *, runtime: Runtime, db_session: Session, customer_id: int, template_id: int | None, source_ref: str,
    at: datetime,
) -> Coupon | None:
    """One coupon of ``template_id`` for the occasion ``source_ref``, unless the member had it
    (or there is no template): the coupon, or None."""
    if template_id is None:
        return None
    had = db_session.scalar(select(Coupon.id).where(Coupon.customer_id == customer_id, Coupon.source == SOURCE,
                                                    Coupon.source_ref == source_ref).limit(1))
    if had is not None:
        return None
    try:
        return issue(runtime=runtime, db_session=db_session, template_id=template_id, customer_id=customer_id,
                     source=SOURCE, source_ref=source_ref, at=at)
    except NotIssued as exc:
        db_session.add(Interaction(customer_id=customer_id, kind="coupon_not_issued", occurred_at=at,
                                   payload={"template_id": template_id, "reason": exc.reason,
                                            "source": SOURCE, "source_ref": source_ref}))
        db_session.flush()
        return None


def level_up_gift(*, runtime: Runtime, db_session: Session, customer_id: int, level_id: int,
                  at: datetime) -> Coupon | None:
    """The level's level-up coupon for a member who just reached it (once per member and level)."""
    level = db_session.get(MemberLevel, level_id)
    if level is None:
        return None
    return give_once(runtime=runtime, db_session=db_session, customer_id=customer_id,
                     template_id=level.level_up_template_id, source_ref=f"level_up:{level_id}", at=at)
