"""What the campaign console pages show (scrm/outreach/pages.py): the list with each campaign's
delivery counts, the editor's choices, and the results with their charts.

The charts' geometry comes from scrm/web/charts.py, as the coupon and guide consoles' does.
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
from scrm.web.charts import Chart, Group, Series, grouped_bars

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.config import Config
    from scrm.outreach.models import Campaign

DELIVERY_SERIES = (Series("sent", "已发 sent"), Series("failed", "失败 failed"), Series("skipped_total", "跳过 skipped"))
RESPONSE_SERIES = (Series("opened", "打开 opened"), Series("replied", "回复 replied"),
                   Series("coupons_issued", "发券 coupons"), Series("coupons_redeemed", "核销 redeemed"),
                   Series("orders", "下单 orders"))
# A campaign whose results still move: the results page polls while it is one of these.
LIVE_STATUSES = ("scheduled", "running")
STATUS_WORDS = {"draft": "草稿 draft", "scheduled": "已排期 scheduled", "running": "发送中 running",
                "paused": "已暂停 paused", "done": "已完成 done", "cancelled": "已取消 cancelled"}
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


def results_view(*, db_session: Session, campaign_id: int, days: int = results.DEFAULT_DAYS,
                 now: datetime | None = None) -> ResultsView:
    found = results.campaign_results(db_session=db_session, campaign_id=campaign_id, days=days, now=now)
    variants = found.variants or (found.total,)
    return ResultsView(found, variant_chart(variants, DELIVERY_SERIES), variant_chart(variants, RESPONSE_SERIES))


def variant_chart(variants: tuple[results.VariantResult, ...], series: tuple[Series, ...]) -> Chart:
    """One group of bars per variant, one bar per measure."""
    groups = [Group(v.variant, v.variant, tuple(getattr(v, one.key) for one in series)) for v in variants]
    return grouped_bars(groups, series, kind="variant")


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
