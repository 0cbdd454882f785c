"""Coupon statistics (SPEC §7): issued, redeemed and expired per template, store, guide or
local day (``brand.timezone``), and the redemption rate (redeemed ÷ issued of the row).

Counted from the coupons themselves, so they are never out of step with them and no hot
counter row slows redemption down. An issue counts for the customer's guide (and that guide's
store) at the moment of issue; a redemption for the guide and store that redeemed it; an
expiry for the day the coupon expired.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from guides.models import Guide, Store
from scrm.clock import utc_bounds
from scrm.coupons.models import Coupon, CouponTemplate

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.config import Config

DIMENSIONS = ("template", "store", "guide", "day")
MEASURES = ("issued", "redeemed", "expired")
MAX_DAYS = 366


@dataclass(frozen=True)
class StatsRow:
    key: Any
    label: str
    issued: int
    redeemed: int
    expired: int

    @property
    def redemption_rate(self) -> float | None:
        return round(self.redeemed / self.issued, 4) if self.issued else None

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "issued": self.issued, "redeemed": self.redeemed,
                "expired": self.expired, "redemption_rate": self.redemption_rate}


def coupon_stats(
    *, db_session: Session, config: Config, by: str, first_day: date, last_day: date, template_id: int | None = None,
) -> list[StatsRow]:
    """One row per template, store, guide or day with anything in ``first_day``..``last_day``."""
    if by not in DIMENSIONS:
        raise ValueError(f"by must be one of {', '.join(DIMENSIONS)}")
    zone = config.brand.zone
    start, end = utc_bounds(config, first_day, last_day)
    counts: dict[Any, dict[str, int]] = {}
    for measure, moment, store, guide in (
        ("issued", Coupon.issued_at, Coupon.issued_store_id, Coupon.issued_guide_id),
        ("redeemed", Coupon.redeemed_at, Coupon.redeemed_store_id, Coupon.redeemed_guide_id),
        ("expired", Coupon.expired_at, Coupon.issued_store_id, Coupon.issued_guide_id),
    ):
        key = {"template": Coupon.template_id, "store": store, "guide": guide,
               "day": _local_date(db_session, moment, zone)}[by]
        query = select(key, func.count()).where(moment >= start, moment < end).group_by(key)
        if measure != "issued":
            query = query.where(Coupon.status == measure)
        if template_id is not None:
            query = query.where(Coupon.template_id == template_id)
        for value, count in db_session.execute(query):
            value = str(value) if by == "day" else value
            counts.setdefault(value, dict.fromkeys(MEASURES, 0))[measure] = count
    labels = _labels(db_session, by, [k for k in counts if k is not None])
    rows = [StatsRow(key, labels.get(key, "(none)") if key is not None else "(no guide)", **numbers)
            for key, numbers in counts.items()]
    return sorted(rows, key=lambda row: (row.key is None, str(row.key) if by == "day" else -row.issued))


def totals(rows: list[StatsRow]) -> StatsRow:
    return StatsRow("all", "all", *(sum(getattr(row, m) for row in rows) for m in MEASURES))


def _local_date(db_session: Session, column: Any, zone: ZoneInfo) -> Any:
    if db_session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(zone.key, column))
    # SQLite keeps UTC text and has no zones: shift by the zone's offset now (zones without
    # daylight saving, such as Asia/Shanghai, are exact).
    offset = datetime.now(zone).utcoffset() or timedelta()
    return func.date(column, f"{int(offset.total_seconds()) // 60:+d} minutes")


def _labels(db_session: Session, by: str, keys: list[Any]) -> dict[Any, str]:
    if by == "day" or not keys:
        return {key: str(key) for key in keys}
    model, label = {"template": (CouponTemplate, CouponTemplate.name), "store": (Store, Store.name),
                    "guide": (Guide, Guide.name)}[by]
    code = getattr(model, "code", None)
    rows = db_session.execute(select(model.id, label, *( [code] if code is not None else [])).where(model.id.in_(keys)))
    return {row[0]: (f"{row[2]} {row[1]}" if code is not None else row[1]) for row in rows}


def percent(value: float | None) -> str:
    return "—" if value is None else f"{Decimal(value * 100).quantize(Decimal('0.1'))} %"
