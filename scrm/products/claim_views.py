"""The claim page's read-model (/p/<code>, SPEC §14): a genuine code as the customer sees it.

``state`` says which page it is: ``unclaimed`` (the 领取 button), ``yours`` (the customer's own
claim: when, and a link to what they got) or ``other`` (claimed by someone else: when, and the
warning that the package may be used or counterfeit). Reads only; nothing is recorded here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from scrm.products import claiming
from scrm.products.follow import reward_words
from scrm.texts import local_time

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.products.claiming import Checked
    from scrm.runtime import Runtime


@dataclass(frozen=True)
class ClaimPage:
    code: str
    state: str  # unclaimed, yours, other
    product: str
    sku: str
    reward: str  # in words: "50 积分", "满100减20（满100减¥20）"
    claimed_at: str | None = None  # local time, for yours and other
    coupon_id: int | None = None  # yours: the coupon the claim gave
    points: int | None = None  # yours: the points it gave (or keeps until the customer joins)
    points_pending: bool = False


def claim_page(*, runtime: Runtime, db_session: Session, checked: Checked, customer_id: int | None) -> ClaimPage:
    """The page of a genuine, unexpired code for ``customer_id`` (None: someone not yet known)."""
    batch = checked.batch
    base = {"code": checked.code, "product": batch.product, "sku": batch.sku,
            "reward": reward_words(runtime, db_session, batch)}
    claim = claiming.claim_of(db_session=db_session, batch_id=batch.id, serial=checked.serial)
    if claim is None:
        return ClaimPage(state="unclaimed", **base)
    at = local_time(claim.claimed_at, runtime.config.brand.zone)
    if customer_id is None or claim.customer_id != customer_id:
        return ClaimPage(state="other", claimed_at=at, **base)
    return ClaimPage(state="yours", claimed_at=at, coupon_id=claim.coupon_id, points=claim.points,
                     points_pending=claim.points_pending, **base)
