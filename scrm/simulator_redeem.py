"""The simulator's customers come to the store: a share of the coupons they were given is
redeemed (核销) by their guide, through the guide's own path (scrm.coupons.redemption with the
guide's counter: the guide and their store credited, the binding's protection renewed, the
code's day counted), so the dashboard's funnel has its last step and the leaderboard its
redemptions.

It works in the server's database (``scrm demo``'s history; ``scrm simulate`` without
``--token``): a coupon's code is only in the database and on the customer's phone. Backfilled,
each redemption is dated a few hours to days after its coupon was issued (never later than
now), as a guide's redemption that day would have been; live, it is now.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from guides.models import Binding, Guide
from scrm.clock import as_of, as_utc
from scrm.coupons.models import Coupon
from scrm.coupons.redemption import guide_counter, redeem

if TYPE_CHECKING:
    from scrm.runtime import Runtime

# Of the coupons a bound customer is given, the share they bring to the store: SCRM brands see
# a third or so for a gift handed over at the counter.
REDEEM_FRACTION = 0.35
LATEST_DELAY = timedelta(days=5)
EARLIEST_DELAY = timedelta(hours=2)


@dataclass
class Redeemed:
    redeemed: int = 0
    refused: Counter[str] = field(default_factory=Counter)

    def describe(self) -> str:
        refused = ", ".join(f"{n} {why}" for why, n in sorted(self.refused.items()))
        return f"redemptions: {self.redeemed} coupons redeemed by their guides" + (
            f" ({sum(self.refused.values())} refused: {refused})" if self.refused else "")


def redeem_some(runtime: Runtime, *, fraction: float = REDEEM_FRACTION, seed: int = 0,
                backdated: bool = True, since: datetime | None = None) -> Redeemed:
    """Redeem ``fraction`` of the unused coupons of customers who have a guide (issued at or
    after ``since``), each by that guide in the guide's store; each in its own transaction,
    as each guide's tap on 确认核销 is."""
    if not 0 <= fraction <= 1:
        raise ValueError("fraction must be within [0, 1]")
    rng = random.Random(seed)
    now = runtime.clock.now()
    with runtime.transaction() as db_session:
        query = (select(Coupon.code, Coupon.issued_at, Guide.code.label("guide"))
                 .join(Binding, (Binding.customer_id == Coupon.customer_id) & Binding.ended_at.is_(None))
                 .join(Guide, Guide.id == Binding.guide_id)
                 .where(Coupon.status == "issued", Coupon.code.is_not(None), Guide.status == "active")
                 .order_by(Coupon.id))
        if since is not None:
            query = query.where(Coupon.issued_at >= since)
        rows = [row for row in db_session.execute(query).all() if rng.random() < fraction]
    done = Redeemed()
    for row in rows:
        at = now
        if backdated:
            delay = EARLIEST_DELAY + (LATEST_DELAY - EARLIEST_DELAY) * rng.random()
            at = min(as_utc(row.issued_at) + delay, now)
        with as_of(at), runtime.transaction() as db_session:
            counter = guide_counter(db_session=db_session, user_id=None, guide_code=row.guide)
            outcome = redeem(runtime=runtime, db_session=db_session, code=row.code, counter=counter)
        if outcome.ok:
            done.redeemed += 1
        else:
            done.refused[outcome.result] += 1
    return done
