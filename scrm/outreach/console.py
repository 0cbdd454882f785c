"""What the campaign console pages show (scrm/outreach/pages.py): the list with each campaign's
delivery counts, the editor's choices, and the results with their charts.

Charts are drawn by the server as inline SVG (no script), as the coupon and guide consoles draw
theirs: the geometry is computed here, the template only places it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from guides.models import Store
from scrm.clock import as_utc
from scrm.coupons.models import CouponTemplate
from scrm.groups.service import list_groups
from scrm.outreach import campaigns, results
from scrm.outreach.journeys import JOURNEYS, Journey

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.config import Config
    from scrm.outreach.models import Campaign

DELIVERY_SERIES = (("sent", "已发 sent"), ("failed", "失败 failed"), ("skipped_total", "跳过 skipped"))
RESPONSE_SERIES = (("opened", "打开 opened"), ("replied", "回复 replied"), ("coupons_issued", "发券 coupons"),
                   ("coupons_redeemed", "核销 redeemed"), ("orders", "下单 orders"))
SCHEDULE_WORDS = {"once": "一次 once", "cron": "周期 recurring", "trigger": "触发 triggered"}


@dataclass(frozen=True)
class CampaignRow:
    id: int
    name: str
    status: str
    channel: str
    schedule: str
    next_run: str
    counts: results.VariantResult | None


@dataclass(frozen=True)
class ListPage:
    campaigns: tuple[CampaignRow, ...]
    journeys: tuple[Journey, ...]
    coupon_templates: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class Choices:
    """What the editor's selects offer."""

    coupon_templates: tuple[tuple[int, str], ...]
    stores: tuple[tuple[str, str], ...]
    groups: tuple[tuple[str, str, str], ...] = ()  # synced customer groups: chat_id, name, owner


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: str  # the measure: the CSS class that colours it
    label: str


@dataclass(frozen=True)
class Label:
    x: float
    text: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    baseline: float
    top_y: float
    top: int
    bars: tuple[Bar, ...]
    labels: tuple[Label, ...]  # the variants, under their groups
    legend: tuple[tuple[str, str], ...]  # (series, word)


@dataclass(frozen=True)
class ResultsView:
    results: results.CampaignResults
    delivery_chart: Chart
    response_chart: Chart


def list_page(*, config: Config, db_session: Session) -> ListPage:
    found = campaigns.list_campaigns(db_session=db_session)
    counts = results.summaries(db_session=db_session, campaign_ids=[c.id for c in found])
    rows = tuple(CampaignRow(c.id, c.name, c.status, c.channel, schedule_text(c), local_time(config, c.next_run_at),
                             counts.get(c.id)) for c in found)
    return ListPage(rows, JOURNEYS, coupon_templates(db_session))


def choices(db_session: Session) -> Choices:
    stores = tuple((code, name) for code, name in db_session.execute(select(Store.code, Store.name)
                                                                      .order_by(Store.code)))

    groups = tuple((g["chat_id"], g["name"], g["owner_userid"]) for g in list_groups(db_session=db_session))
    return Choices(coupon_templates(db_session), stores, groups)


def coupon_templates(db_session: Session) -> tuple[tuple[int, str], ...]:
    rows = db_session.execute(select(CouponTemplate.id, CouponTemplate.name).order_by(CouponTemplate.id.desc()))
    return tuple((template_id, name) for template_id, name in rows)


def results_view(*, db_session: Session, campaign_id: int, days: int = results.DEFAULT_DAYS) -> ResultsView:
    found = results.campaign_results(db_session=db_session, campaign_id=campaign_id, days=days)
    variants = found.variants or (found.total,)
    return ResultsView(found, variant_chart(variants, DELIVERY_SERIES), variant_chart(variants, RESPONSE_SERIES))


def variant_chart(variants: tuple[results.VariantResult, ...], series: tuple[tuple[str, str], ...], *,
                  width: int = 460, height: int = 190) -> Chart:
    """One group of bars per variant, one bar per measure, on one scale from 0 to the largest."""
    left, right, top_pad, bottom_pad = 32, 6, 16, 24
    plot_w, plot_h = width - left - right, height - top_pad - bottom_pad
    top = max([1] + [getattr(v, measure) for v in variants for measure, _ in series])
    slot = plot_w / max(1, len(variants))
    bar_w = slot * 0.8 / len(series)
    baseline = top_pad + plot_h
    bars, labels = [], []
    for i, variant in enumerate(variants):
        x = left + i * slot + slot * 0.1
        for j, (measure, word) in enumerate(series):
            value = getattr(variant, measure)
            h = plot_h * value / top
            bars.append(Bar(round(x + j * bar_w, 2), round(baseline - h, 2), round(bar_w, 2), round(h, 2), measure,
                            f"{variant.variant} {word}: {value}"))
        labels.append(Label(round(left + (i + 0.5) * slot, 1), variant.variant))
    return Chart(width, height, left, baseline, top_pad, top, tuple(bars), tuple(labels), series)


def schedule_text(campaign: Campaign) -> str:
    schedule = campaign.schedule or {}
    kind = schedule.get("kind", "")
    detail = schedule.get("cron") or schedule.get("event") or ""
    if schedule.get("days") is not None:
        detail += f" {schedule['days']}d"
    return f"{SCHEDULE_WORDS.get(kind, kind)} {detail}".strip()


def local_time(config: Config, moment: datetime | None) -> str:
    if moment is None:
        return ""
    return f"{as_utc(moment).astimezone(config.brand.zone):%Y-%m-%d %H:%M}"
