"""The counting behind scrm/products/stats.py: a handful of grouped queries over the claims and
scans of a period and the one before it, tallied in Python per day, batch, product, store and
guide. Written for millions of claims (issue 19; bench/product_stats.py measures it):

- claims and new followers of both periods in two hash aggregates without DISTINCT: one grouped
  by ``(day, batch_id, store_id)`` (a few rows a day per batch: the days, batches, products,
  stores and totals are added up from it, a batch's product from the batches' small table),
  one by ``guide_id``;
- scans of both periods by reason: one grouped by ``(day, batch_id, result)`` (a scan's store
  and product are its batch's), one by the scanning customer's guide now and ``result``;
- unique customers (``count(DISTINCT customer_id)``, the costly part: a sort of the rows)
  only where the page reads them: per day, batch, product, store and guide in the period,
  and in total for both periods. A line's period before has its claims, new followers and
  scans, not its unique customers (None).

Every query reads rows through the ``day`` indexes, narrowed by the scope
(scrm/products/stats_scope.py). Read-only.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, distinct, func, select

from guides.models import Binding
from scrm.products.models import SCAN_RESULTS, CodeBatch, ProductClaim, ProductScan
from scrm.products.stats_scope import Scope, claims_in, scans_in

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

DIMENSIONS = ("day", "batch", "product", "store", "guide")


@dataclass
class Tally:
    """What one day, batch, product, store or guide (or the total) counted in one period."""

    claims: int = 0
    new_followers: int = 0
    scans: Counter = field(default_factory=Counter)  # reason → scans


@dataclass(frozen=True)
class Counted:
    """``tallies[dimension][key]``: (this period, the period before); ``customers[dimension][key]``:
    unique customers this period; ``customers_total``: (this period, the period before).
    The total's dimension is ``"total"`` with the key None."""

    tallies: dict[str, dict[Any, tuple[Tally, Tally]]]
    customers: dict[str, dict[Any, int]]
    customers_total: tuple[int, int]


def count(*, db_session: Session, scope: Scope, before_first: date, first: date, last: date) -> Counted:
    batches = {bid: (product, store_id) for bid, product, store_id in db_session.execute(
        select(CodeBatch.id, CodeBatch.product, CodeBatch.store_id))}
    tallies: dict[str, dict[Any, tuple[Tally, Tally]]] = {
        dimension: defaultdict(lambda: (Tally(), Tally())) for dimension in ("total", *DIMENSIONS)}

    def period(day: Any) -> int:  # noqa: ANN401
        return 0 if as_day(day) >= first else 1

    claims = claims_in(select(ProductClaim.day, ProductClaim.batch_id, ProductClaim.store_id, func.count(),
                              func.count(case((ProductClaim.new_follower.is_(True), 1))))
                       .where(ProductClaim.day.between(before_first, last)), scope)
    for day, batch_id, store_id, n, new in db_session.execute(
            claims.group_by(ProductClaim.day, ProductClaim.batch_id, ProductClaim.store_id)):
        p = period(day)
        for dimension, key in (("total", None), ("day", as_day(day)), ("batch", batch_id),
                               ("product", batches.get(batch_id, (None,))[0]), ("store", store_id)):
            tally = tallies[dimension][key][p]
            tally.claims += int(n)
            tally.new_followers += int(new)
    now = ProductClaim.day >= first
    by_guide = claims_in(select(
        ProductClaim.guide_id, func.count(case((now, 1))), func.count(case((now & ProductClaim.new_follower.is_(True), 1))),
        func.count(case((~now, 1))), func.count(case((~now & ProductClaim.new_follower.is_(True), 1))))
        .where(ProductClaim.day.between(before_first, last)), scope)
    for guide_id, n, new, n_before, new_before in db_session.execute(by_guide.group_by(ProductClaim.guide_id)):
        this, before = tallies["guide"][guide_id]
        this.claims, this.new_followers, before.claims, before.new_followers = int(n), int(new), int(n_before), \
            int(new_before)

    scans = scans_in(select(ProductScan.day, ProductScan.batch_id, ProductScan.result, func.count())
                     .where(ProductScan.day.between(before_first, last)), scope)
    for day, batch_id, result, n in db_session.execute(
            scans.group_by(ProductScan.day, ProductScan.batch_id, ProductScan.result)):
        if result not in SCAN_RESULTS:
            continue
        p = period(day)
        product, store_id = batches.get(batch_id, (None, None))
        for dimension, key in (("total", None), ("day", as_day(day)), ("batch", batch_id), ("product", product),
                               ("store", store_id)):
            tallies[dimension][key][p].scans[result] += int(n)
    scan_now = ProductScan.day >= first
    by_guide = scans_in(select(Binding.guide_id, ProductScan.result, func.count(case((scan_now, 1))),
                               func.count(case((~scan_now, 1))))
                        .where(ProductScan.day.between(before_first, last)), scope, guides=True)
    for guide_id, result, n, n_before in db_session.execute(by_guide.group_by(Binding.guide_id, ProductScan.result)):
        if result in SCAN_RESULTS:
            this, before = tallies["guide"][guide_id]
            this.scans[result], before.scans[result] = int(n), int(n_before)

    return Counted({dimension: dict(found) for dimension, found in tallies.items()},
                   {dimension: _customers(db_session, scope, first, last, dimension) for dimension in DIMENSIONS},
                   (_customers(db_session, scope, first, last, None).get(None, 0),
                    _customers(db_session, scope, before_first, _day_before(first), None).get(None, 0)))


CLAIM_KEYS = {"day": ProductClaim.day, "batch": ProductClaim.batch_id, "product": CodeBatch.product,
              "store": ProductClaim.store_id, "guide": ProductClaim.guide_id}


def _customers(db_session: Session, scope: Scope, first: date, last: date, dimension: str | None) -> dict[Any, int]:
    """Unique customers who claimed ``first`` … ``last``, per ``dimension`` (None: in total)."""
    key = CLAIM_KEYS.get(dimension or "")
    query = claims_in(select(*([key] if key is not None else []), func.count(distinct(ProductClaim.customer_id)))
                      .where(ProductClaim.day.between(first, last)), scope, batches=dimension == "product")
    if key is None:
        return {None: int(db_session.scalar(query) or 0)}
    return {as_day(k) if dimension == "day" else k: int(n) for k, n in db_session.execute(query.group_by(key))}


def _day_before(day: date) -> date:
    return date.fromordinal(day.toordinal() - 1)


def as_day(value: Any) -> date:  # noqa: ANN401
    """SQLite answers a grouping by a Date column as text."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))
