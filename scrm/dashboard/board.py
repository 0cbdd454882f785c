"""What the console's dashboard (SPEC §11) shows beside the funnel: the guides' leaderboard
(with the product codes claimed with each one's credit, SPEC §14), how customers spread over
tags, and the latest campaigns' results. Each is a few grouped
queries; days are the brand's local days (``brand.timezone``), turned into UTC bounds
because SQLite compares the stored UTC times as text."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from guides.models import Binding, Guide, Store
from qrcodes.models import ChannelCode, CodeDayStats
from scrm.clock import utc_bounds
from scrm.coupons.models import Coupon
from scrm.outreach.models import Campaign
from scrm.outreach.results import VariantResult, campaign_results
from scrm.products.models import ProductClaim
from tagging.models import CustomerTag, Order, Tag, TagGroup

if TYPE_CHECKING:
    from sqlalchemy import Row
    from sqlalchemy.orm import Session

    from scrm.config import Config

LEADERS = 20
TAGS_SHOWN = 15
CAMPAIGNS_SHOWN = 5


def stores(*, db_session: Session) -> list[Row[tuple[int, str, str]]]:
    """Every store, to narrow the dashboard to one: ``id``, ``code`` and ``name``, by code."""
    return list(db_session.execute(select(Store.id, Store.code, Store.name).order_by(Store.code)).all())


@dataclass(frozen=True)
class GuideLine:
    code: str
    name: str
    store: str
    scans: int  # of the guide's own codes
    bindings: int  # customers bound to the guide in the period, by any code
    customers: int  # bound to the guide now
    redemptions: int
    orders: int
    order_amount: Decimal
    claims: int = 0  # product codes claimed with the guide's credit (SPEC §14)


@dataclass(frozen=True)
class TagLine:
    group: str
    tag: str
    customers: int


@dataclass(frozen=True)
class CampaignLine:
    id: int
    name: str
    status: str
    channel: str
    launched_at: datetime | None
    total: VariantResult


def leaderboard(*, db_session: Session, config: Config, first_day: date, last_day: date,
                store_id: int | None = None, limit: int = LEADERS) -> list[GuideLine]:
    """Active guides (of one store, if given) by bindings, then redemptions, then order amount."""
    start, end = utc_bounds(config, first_day, last_day)
    guides = select(Guide.id, Guide.code, Guide.name, Store.name.label("store")).join(Store, Store.id == Guide.store_id) \
        .where(Guide.status == "active")
    if store_id is not None:
        guides = guides.where(Guide.store_id == store_id)
    people = db_session.execute(guides).all()
    ids = [g.id for g in people]
    if not ids:
        return []

    def grouped(query) -> dict[int, tuple]:  # noqa: ANN001
        return {row[0]: tuple(row[1:]) for row in db_session.execute(query)}

    scans = grouped(select(ChannelCode.guide_id, func.sum(CodeDayStats.scans))
                    .join(CodeDayStats, CodeDayStats.code_id == ChannelCode.id)
                    .where(ChannelCode.guide_id.in_(ids), CodeDayStats.day.between(first_day, last_day))
                    .group_by(ChannelCode.guide_id))
    bound = grouped(select(Binding.guide_id, func.count())
                    .where(Binding.guide_id.in_(ids), Binding.bound_at >= start, Binding.bound_at < end)
                    .group_by(Binding.guide_id))
    current = grouped(select(Binding.guide_id, func.count())
                      .where(Binding.guide_id.in_(ids), Binding.ended_at.is_(None)).group_by(Binding.guide_id))
    redeemed = grouped(select(Coupon.redeemed_guide_id, func.count())
                       .where(Coupon.redeemed_guide_id.in_(ids), Coupon.status == "redeemed",
                              Coupon.redeemed_at >= start, Coupon.redeemed_at < end)
                       .group_by(Coupon.redeemed_guide_id))
    orders = grouped(select(Order.credited_guide_id, func.count(), func.coalesce(func.sum(Order.amount), 0))
                     .where(Order.credited_guide_id.in_(ids), Order.ordered_at >= start, Order.ordered_at < end)
                     .group_by(Order.credited_guide_id))
    claims = grouped(select(ProductClaim.guide_id, func.count())
                     .where(ProductClaim.guide_id.in_(ids), ProductClaim.day.between(first_day, last_day))
                     .group_by(ProductClaim.guide_id))
    lines = [GuideLine(g.code, g.name, g.store, int((scans.get(g.id) or (0,))[0] or 0), bound.get(g.id, (0,))[0],
                       current.get(g.id, (0,))[0], redeemed.get(g.id, (0,))[0], orders.get(g.id, (0, 0))[0],
                       Decimal(orders.get(g.id, (0, 0))[1]).quantize(Decimal("0.01")), claims.get(g.id, (0,))[0])
             for g in people]
    lines.sort(key=lambda line: (-line.bindings, -line.redemptions, -line.order_amount, line.code))
    return lines[:limit]


def tag_distribution(*, db_session: Session, now: datetime, limit: int = TAGS_SHOWN) -> list[TagLine]:
    """The tags carried by the most customers now."""
    rows = db_session.execute(
        select(TagGroup.name, Tag.name, func.count(CustomerTag.customer_id).label("n"))
        .join(Tag, Tag.id == CustomerTag.tag_id).join(TagGroup, TagGroup.id == Tag.group_id)
        .where(CustomerTag.active_until > now)
        .group_by(TagGroup.name, Tag.name).order_by(func.count(CustomerTag.customer_id).desc(), Tag.name)
        .limit(limit)).all()
    return [TagLine(group, tag, n) for group, tag, n in rows]


def latest_campaigns(*, db_session: Session, limit: int = CAMPAIGNS_SHOWN) -> list[CampaignLine]:
    """The campaigns launched last, with their results in total."""
    campaigns = db_session.scalars(select(Campaign).where(Campaign.launched_at.is_not(None))
                                   .order_by(Campaign.launched_at.desc(), Campaign.id.desc()).limit(limit)).all()
    return [CampaignLine(c.id, c.name, c.status, c.channel, c.launched_at,
                         campaign_results(db_session=db_session, campaign_id=c.id).total) for c in campaigns]
