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

Each measure is one grouped query over both periods (conditional counts), on the claims' and
scans' ``day`` indexes; nothing here reads a row per claim into Python. Read-only; the caller
owns the transaction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, distinct, func, select

from guides.models import Binding, Guide, Store
from scrm.products.models import SCAN_RESULTS, CodeBatch, ProductClaim, ProductScan
from scrm.products.stats_scope import Scope, claims_in, scans_in
from scrm.products.suspicious import Suspicious, suspicious_out, suspicious_patterns

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.config import Config

DIMENSIONS = ("batch", "product", "store", "guide")
NO_CLAIMS = ((0, 0, 0), (0, 0, 0))


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
    customers: int = 0  # who claimed, each once
    new_followers: int = 0  # claims completed by following the account
    scans: Scans = Scans()

    @property
    def quiet(self) -> bool:
        return not self.claims and not sum(self.scans.by_reason().values())


@dataclass(frozen=True)
class Line:
    """One day, batch, product, store or guide: the period and the one before. ``key``: the
    day (ISO), the batch's, store's or guide's id, the product's name; None: claims and scans
    with no batch, store or guide. ``label`` names it (product · SKU · prefix for a batch,
    the name for a store or guide); ``note`` says more (a batch's prefix, a guide's store)."""

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
    span = (before_first, first_day, last_day)

    def measured(dimension: str | None) -> dict[Any, tuple[Figures, Figures]]:
        claims = _claim_counts(db_session, scope, span, dimension)
        scans = _scan_counts(db_session, scope, span, dimension)
        found = {}
        for key in claims.keys() | scans.keys():
            (claims_now, claims_before), (scans_now, scans_before) = claims.get(key, NO_CLAIMS), scans.get(key, ({}, {}))
            found[key] = (Figures(*claims_now, scans=Scans(**scans_now)),
                          Figures(*claims_before, scans=Scans(**scans_before)))
        return found

    nothing = (Figures(), Figures())
    totals = measured(None).get(None, nothing)
    by_day = measured("day")
    length = (last_day - first_day).days + 1
    days = tuple(Line(day.isoformat(), f"{day:%m-%d}", "", by_day.get(day, nothing)[0],
                      by_day.get(day - timedelta(days=length), nothing)[1])
                 for day in (first_day + timedelta(days=i) for i in range(length)))
    return ProductStats(
        first_day, last_day, before_first, before_last, scope, totals[0], totals[1], days,
        *(_ranked(_labelled(db_session, dimension, measured(dimension))) for dimension in DIMENSIONS),
        suspicious_patterns(db_session=db_session, config=config, first_day=first_day, last_day=last_day,
                            scope=scope),
    )


# What each dimension groups by: a claim's own columns; a scan's batch, its store, and the
# scanning customer's guide now (stats_scope.scans_in joins them).
CLAIM_KEYS = {"day": ProductClaim.day, "batch": ProductClaim.batch_id, "product": CodeBatch.product,
              "store": ProductClaim.store_id, "guide": ProductClaim.guide_id}
SCAN_KEYS = {"day": ProductScan.day, "batch": ProductScan.batch_id, "product": CodeBatch.product,
             "store": CodeBatch.store_id, "guide": Binding.guide_id}


def _claim_counts(db_session: Session, scope: Scope, span: tuple[date, date, date],
                  dimension: str | None) -> dict[Any, tuple[tuple[int, int, int], tuple[int, int, int]]]:
    """key → ((claims, customers, new followers) now, (…) before), one grouped query."""
    before_first, first, last = span
    columns = []
    for period in (ProductClaim.day >= first, ProductClaim.day < first):
        columns += [func.count(case((period, 1))),
                    func.count(distinct(case((period, ProductClaim.customer_id)))),
                    func.count(case((and_(period, ProductClaim.new_follower.is_(True)), 1)))]
    key = CLAIM_KEYS[dimension] if dimension else None
    query = select(*([key] if dimension else []), *columns).select_from(ProductClaim) \
        .where(ProductClaim.day.between(before_first, last))
    query = claims_in(query, scope, batches=dimension == "product")
    if dimension:
        query = query.group_by(key)
    found = {}
    for row in db_session.execute(query):
        values = [int(v or 0) for v in (row[1:] if dimension else row)]
        found[_keyed(row[0], dimension) if dimension else None] = (tuple(values[:3]), tuple(values[3:]))
    return found


def _scan_counts(db_session: Session, scope: Scope, span: tuple[date, date, date],
                 dimension: str | None) -> dict[Any, tuple[dict[str, int], dict[str, int]]]:
    """key → ({reason: scans} now, {…} before), one query grouped by key and reason."""
    before_first, first, last = span
    key = SCAN_KEYS[dimension] if dimension else None
    query = select(*([key] if dimension else []), ProductScan.result,
                   func.count(case((ProductScan.day >= first, 1))), func.count(case((ProductScan.day < first, 1)))) \
        .select_from(ProductScan).where(ProductScan.day.between(before_first, last))
    query = scans_in(query, scope, batches=dimension in ("product", "store"), guides=dimension == "guide")
    query = query.group_by(*([key] if dimension else []), ProductScan.result)
    found: dict[Any, tuple[dict[str, int], dict[str, int]]] = {}
    for row in db_session.execute(query):
        *keyed, result, now, before = row
        if result not in SCAN_RESULTS:
            continue
        now_by, before_by = found.setdefault(_keyed(keyed[0], dimension) if dimension else None, ({}, {}))
        now_by[result], before_by[result] = int(now), int(before)
    return found


def _as_day(value: Any) -> date:  # noqa: ANN401
    """SQLite answers a grouping by a Date column as text."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _keyed(value: Any, dimension: str | None) -> Any:  # noqa: ANN401
    return _as_day(value) if dimension == "day" else value


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
    claims, refused = ({_as_day(day): int(n) for day, n in counts.items()} for counts in (claims, refused))

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
    return {_as_day(day): int(n) for day, n in db_session.execute(
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
        **{f"{dimension}es" if dimension == "batch" else f"{dimension}s": [line_out(line) for line in lines]
           for dimension, lines in zip(DIMENSIONS, (stats.batches, stats.products, stats.stores, stats.guides),
                                       strict=True)},
        "suspicious": suspicious_out(stats.suspicious),
    }


