"""Product-code figures (扫码数据, SPEC §14) for a period of the brand's local days, beside the
period of the same length before it: claims, unique customers, new followers through codes
(claims that waited for the follow), repeat scans and every scan that gave no reward by its
reason, per day, batch, product, store and guide; and the suspicious patterns
(scrm/products/suspicious.py).

Where a figure is counted:

- a claim by its own ``day``, ``batch_id``, ``store_id`` (the batch's store when it was claimed)
  and ``guide_id`` (the guide it credited; none: no guide);
- a scan by its ``day`` and ``batch_id``, the store of that batch, and the guide the scanning
  customer is bound to now (a scan credits no one: the guide whose customers meet the
  refusals is the one who can explain them). A code that is not genuine has no batch, so no
  product or store: it counts in the totals and the days, and in no batch, product or store.

*Repeat scans* are ``already_yours`` and ``claimed_by_other``; *refused scans* are every scan
that gave no reward but the customer's own code again (``claimed_by_other`` is both).

The counting is scrm/products/stats_tally.py's: a few grouped queries on the ``day`` indexes,
nothing read per claim into Python; a line's period before has no unique customers (None), the
totals have both. Read-only; the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, select

from guides.models import Guide, Store
from scrm.products.models import SCAN_RESULTS, CodeBatch, ProductClaim, ProductScan
from scrm.products.stats_scope import Scope, claims_in, scans_in
from scrm.products.stats_tally import Tally, as_day, count
from scrm.products.suspicious import Suspicious, suspicious_out, suspicious_patterns

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.config import Config

DIMENSIONS = ("batch", "product", "store", "guide")
NOTHING = (Tally(), Tally())


@dataclass(frozen=True)
class Scans:
    """Scans that gave no reward, by reason (ProductScan.result, SCAN_RESULTS)."""

    already_yours: int = 0
    claimed_by_other: int = 0
    not_genuine: int = 0
    expired: int = 0
    daily_limit: int = 0
    not_following: int = 0
    reward_unavailable: int = 0

    @property
    def repeat(self) -> int:
        return self.already_yours + self.claimed_by_other

    @property
    def refused(self) -> int:
        return sum(getattr(self, name) for name in SCAN_RESULTS) - self.already_yours

    def by_reason(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in SCAN_RESULTS}


@dataclass(frozen=True)
class Figures:
    claims: int = 0
    customers: int | None = 0  # who claimed, each once; None: not counted (a line's period before)
    new_followers: int = 0  # claims completed by following the account
    scans: Scans = Scans()

    @property
    def quiet(self) -> bool:
        return not self.claims and not sum(self.scans.by_reason().values())


@dataclass(frozen=True)
class Line:
    """One day, batch, product, store or guide: the period and the one before. ``key``: the
    day (ISO), the batch's, store's or guide's id, the product's name; None: claims and scans
    with no batch, store or guide. ``label`` names it (product · SKU for a batch, the name
    for a store or guide); ``note`` says more (a batch's prefix, a store's code, a guide's
    code and store)."""

    key: str | int | None
    label: str
    note: str
    now: Figures
    before: Figures


@dataclass(frozen=True)
class ProductStats:
    first_day: date
    last_day: date
    before_first: date
    before_last: date
    scope: Scope
    totals: Figures
    before: Figures
    days: tuple[Line, ...]  # every day, oldest first; ``before``: the same day of the period before
    batches: tuple[Line, ...]  # each ranking: most claims first, then most refused scans
    products: tuple[Line, ...]
    stores: tuple[Line, ...]
    guides: tuple[Line, ...]
    suspicious: Suspicious

    @property
    def empty(self) -> bool:
        """Nothing claimed or scanned in either period (the page says what to do first)."""
        return self.totals.quiet and self.before.quiet


def product_stats(*, db_session: Session, config: Config, first_day: date, last_day: date,
                  batch_id: int | None = None, product: str | None = None, store_id: int | None = None,
                  guide_id: int | None = None) -> ProductStats:
    """The figures of ``first_day`` … ``last_day`` and of as many days before, narrowed to a
    batch, a product, a store and/or a guide."""
    scope = Scope(batch_id, product, store_id, guide_id)
    before_last = first_day - timedelta(days=1)
    before_first = before_last - (last_day - first_day)
    counted = count(db_session=db_session, scope=scope, before_first=before_first, first=first_day, last=last_day)

    def figures(dimension: str, key: Any) -> tuple[Figures, Figures]:  # noqa: ANN401
        now, before = counted.tallies[dimension].get(key, NOTHING)
        customers = counted.customers[dimension].get(key, 0) if dimension != "total" else counted.customers_total[0]
        return (Figures(now.claims, customers, now.new_followers, Scans(**now.scans)),
                Figures(before.claims, counted.customers_total[1] if dimension == "total" else None,
                        before.new_followers, Scans(**before.scans)))

    totals = figures("total", None)
    length = (last_day - first_day).days + 1
    days = tuple(Line(day.isoformat(), f"{day:%m-%d}", "", figures("day", day)[0],
                      figures("day", day - timedelta(days=length))[1])
                 for day in (first_day + timedelta(days=i) for i in range(length)))
    return ProductStats(
        first_day, last_day, before_first, before_last, scope, totals[0], totals[1], days,
        *(_ranked(_labelled(db_session, dimension, {key: figures(dimension, key) for key in counted.tallies[dimension]}))
          for dimension in DIMENSIONS),
        suspicious_patterns(db_session=db_session, config=config, first_day=first_day, last_day=last_day,
                            scope=scope),
    )


def _labelled(db_session: Session, dimension: str, measured: dict[Any, tuple[Figures, Figures]]) -> list[Line]:
    ids = [key for key in measured if key is not None]
    names: dict[Any, tuple[str, str]] = {}
    if dimension == "batch" and ids:
        names = {bid: (f"{product} · {sku}", prefix) for bid, product, sku, prefix in db_session.execute(
            select(CodeBatch.id, CodeBatch.product, CodeBatch.sku, CodeBatch.prefix).where(CodeBatch.id.in_(ids)))}
    elif dimension == "store" and ids:
        names = {sid: (name, code) for sid, name, code in db_session.execute(
            select(Store.id, Store.name, Store.code).where(Store.id.in_(ids)))}
    elif dimension == "guide" and ids:
        names = {gid: (name, f"{code} · {store}") for gid, name, code, store in db_session.execute(
            select(Guide.id, Guide.name, Guide.code, Store.name).join(Store, Store.id == Guide.store_id)
            .where(Guide.id.in_(ids)))}
    elif dimension == "product":
        names = {name: (name, "") for name in ids}
    return [Line(key, *names.get(key, ("", "")), now, before) for key, (now, before) in measured.items()
            if key is None or key in names]  # an id whose row is gone (a deleted store) is left out


def _ranked(lines: list[Line]) -> tuple[Line, ...]:
    return tuple(sorted(lines, key=lambda line: (-line.now.claims, -line.now.scans.refused, -line.before.claims,
                                                 line.key is None, str(line.label), str(line.key))))


# ---- the small figures other pages show --------------------------------------------------


@dataclass(frozen=True)
class Headline:
    """The dashboard's 一物一码 card: claims today and yesterday, this week (Monday on) and the
    same days of the week before, refused scans this week and the week before's same days."""

    since: date  # this week's Monday
    today: int
    yesterday: int
    week: int
    week_before: int
    refused_week: int
    refused_week_before: int
    batches: int  # batches made, ever: none yet, the card says what to do first


def headline(*, db_session: Session, today: date, store_id: int | None = None) -> Headline:
    monday = today - timedelta(days=today.weekday())
    last_monday, a_week_ago = monday - timedelta(days=7), today - timedelta(days=7)
    scope = Scope(store_id=store_id)
    claims = dict(db_session.execute(claims_in(
        select(ProductClaim.day, func.count()).where(ProductClaim.day.between(last_monday, today)), scope)
        .group_by(ProductClaim.day)).all())
    refused = dict(db_session.execute(scans_in(
        select(ProductScan.day, func.count()).where(ProductScan.day.between(last_monday, today),
                                                    ProductScan.result != "already_yours"), scope)
        .group_by(ProductScan.day)).all())
    claims, refused = ({as_day(day): int(n) for day, n in counts.items()} for counts in (claims, refused))

    def total(counts: dict[date, int], first: date, last: date) -> int:
        return sum(n for day, n in counts.items() if first <= day <= last)

    return Headline(monday, claims.get(today, 0), claims.get(today - timedelta(days=1), 0),
                    total(claims, monday, today), total(claims, last_monday, a_week_ago),
                    total(refused, monday, today), total(refused, last_monday, a_week_ago),
                    int(db_session.scalar(select(func.count()).select_from(CodeBatch)) or 0))


def week_claims(*, db_session: Session, today: date, guide_id: int | None = None) -> tuple[int, int]:
    """Claims this week (Monday … ``today``) and on the same days of the week before (the
    guide's home page: 本周扫码领取, with last week's so far), on ``(guide_id, day)``."""
    monday = today - timedelta(days=today.weekday())
    now, before = db_session.execute(claims_in(
        select(func.count(case((ProductClaim.day >= monday, 1))),
               func.count(case((ProductClaim.day <= today - timedelta(days=7), 1))))
        .where(ProductClaim.day.between(monday - timedelta(days=7), today)), Scope(guide_id=guide_id))).one()
    return int(now or 0), int(before or 0)


def claims_per_day(*, db_session: Session, first_day: date, last_day: date, guide_id: int) -> dict[date, int]:
    """The guide's claims on each day that has some (the console's guide page)."""
    return {as_day(day): int(n) for day, n in db_session.execute(
        select(ProductClaim.day, func.count()).where(ProductClaim.guide_id == guide_id,
                                                     ProductClaim.day.between(first_day, last_day))
        .group_by(ProductClaim.day))}


# ---- the filter bar's choices and the JSON ------------------------------------------------


@dataclass(frozen=True)
class Choices:
    batches: tuple[tuple[int, str], ...]  # (id, "英氏多维营养米粉 · YS-MF-01 · k3m7d"), newest first
    products: tuple[str, ...]
    stores: tuple[tuple[int, str, str], ...]  # (id, code, name)
    guides: tuple[tuple[int, str, str], ...]  # (id, code, name)

    def has_batch(self, batch_id: int | None) -> bool:
        return any(bid == batch_id for bid, _label in self.batches)

    def store_id(self, code: str) -> int | None:
        """The id of the store of that code; None for none."""
        return next((sid for sid, store_code, _name in self.stores if store_code == code), None)

    def guide_id(self, code: str) -> int | None:
        """The id of the guide of that code; None for none."""
        return next((gid for gid, guide_code, _name in self.guides if guide_code == code), None)


def filter_choices(*, db_session: Session) -> Choices:
    batches = tuple((bid, f"{product} · {sku} · {prefix}") for bid, product, sku, prefix in db_session.execute(
        select(CodeBatch.id, CodeBatch.product, CodeBatch.sku, CodeBatch.prefix).order_by(CodeBatch.id.desc())))
    products = tuple(db_session.scalars(select(CodeBatch.product).distinct().order_by(CodeBatch.product)))
    stores = tuple(tuple(row) for row in db_session.execute(select(Store.id, Store.code, Store.name).order_by(Store.code)))
    guides = tuple(tuple(row) for row in db_session.execute(select(Guide.id, Guide.code, Guide.name)
                                                            .order_by(Guide.code)))
    return Choices(batches, products, stores, guides)


def figures_out(figures: Figures) -> dict[str, Any]:
    return {"claims": figures.claims, "customers": figures.customers, "new_followers": figures.new_followers,
            "repeat_scans": figures.scans.repeat, "refused_scans": figures.scans.refused,
            "scans_by_reason": figures.scans.by_reason()}


def line_out(line: Line) -> dict[str, Any]:
    return {"key": line.key, "label": line.label, "note": line.note, **figures_out(line.now),
            "before": figures_out(line.before)}


def stats_out(stats: ProductStats) -> dict[str, Any]:
    """``GET /api/product-codes/stats``: the figures as JSON (days as ISO dates)."""
    return {
        "first_day": stats.first_day.isoformat(), "last_day": stats.last_day.isoformat(),
        "before_first_day": stats.before_first.isoformat(), "before_last_day": stats.before_last.isoformat(),
        "scope": asdict(stats.scope),
        "totals": figures_out(stats.totals), "before": figures_out(stats.before),
        "days": [{"day": line.key, **figures_out(line.now), "before": figures_out(line.before)} for line in stats.days],
        "batches": [line_out(line) for line in stats.batches],
        "products": [line_out(line) for line in stats.products],
        "stores": [line_out(line) for line in stats.stores],
        "guides": [line_out(line) for line in stats.guides],
        "suspicious": suspicious_out(stats.suspicious),
    }


