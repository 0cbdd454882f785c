"""What the campaign console pages show (scrm/outreach/pages.py): the list with each campaign's
delivery counts, the composer's choices and words, and the results with their charts.

Words are written in Chinese and marked for translation (scrm/web/i18n.py): channel keys,
statuses, trigger ids and reason codes never reach a page as they are stored.
The charts' geometry comes from scrm/web/charts.py, as the coupon and guide consoles' does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from guides.models import Store
from scrm.clock import as_utc
from scrm.coupons.models import CouponTemplate
from scrm.groups.service import list_groups
from scrm.outreach import campaigns, channels, composer, group_invites, results
from scrm.outreach.journeys import JOURNEYS, Journey
from scrm.web.charts import Chart, Group, Series, grouped_bars

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.config import Config
    from scrm.outreach.models import Campaign
    from scrm.outreach.results_reasons import Reason

DELIVERY_SERIES = (Series("sent", _l("已发送")), Series("failed", _l("失败")), Series("skipped_total", _l("跳过")))
RESPONSE_SERIES = (Series("opened", _l("打开")), Series("replied", _l("回复")),
                   Series("coupons_issued", _l("发券")), Series("coupons_redeemed", _l("核销")),
                   Series("orders", _l("下单")))
# A campaign whose results still move: the results page polls while it is one of these.
LIVE_STATUSES = ("scheduled", "running")
STATUS_WORDS = {"draft": _l("草稿"), "scheduled": _l("已排期"), "running": _l("发送中"),
                "paused": _l("已暂停"), "done": _l("已完成"), "cancelled": _l("已取消")}
OUTCOME_WORDS = {"failed": _l("失败"), "dead": _l("重试后放弃"), "skipped": _l("跳过"), "waiting": _l("等待")}
CHANNEL_WORDS = {"mp_custom": _l("公众号客服消息"), "mp_template": _l("公众号模板消息"), "mp_mass": _l("公众号群发"),
                 "work_single": _l("企业微信导购私信"), "work_group": _l("企业微信客户群群发"),
                 "work_group_invite": _l("企业微信邀请进群")}
KIND_WORDS = {"text": _l("文字"), "image": _l("图片"), "news": _l("图文链接"), "miniprogram": _l("小程序卡片"),
              "template": _l("模板消息"), "invite": _l("群活码邀请")}
TRIGGER_WORDS = {"follow": _l("顾客关注公众号时"), "binding": _l("顾客绑定导购时"), "purchase": _l("顾客下单后"),
                 "coupon_expiring": _l("优惠券到期前几天"), "points_expiring": _l("积分即将过期"),
                 "birthday": _l("顾客生日前几天"),
                 "inactive": _l("顾客多日未互动时"), "custom": _l("自定义事件发生时"),
                 "level_up": _l("会员升级时")}
WEEKDAY_WORDS = {"1": _l("周一"), "2": _l("周二"), "3": _l("周三"), "4": _l("周四"), "5": _l("周五"),
                 "6": _l("周六"), "7": _l("周日")}
SEND_WORDS = {"now": _l("立即发送"), "at": _l("定时发送"), "weekly": _l("每周重复"), "monthly": _l("每月重复"),
              "trigger": _l("事件触发"), "cron": _l("按原周期")}
CAPPED_WORDS = {"defer": _l("顺延到下次可发时"), "skip": _l("跳过这位顾客")}


@dataclass(frozen=True)
class Purpose:
    """What the manager wants to do; it picks the channel WeChat allows for it."""

    key: str
    name: Any  # lazy_gettext
    channel: str
    hint: Any


PURPOSES = (
    Purpose("reply", _l("回复近期互动的顾客"), "mp_custom", _l("48 小时内找过公众号的顾客，发什么都可以")),
    Purpose("notice", _l("服务通知"), "mp_template", _l("订单、预约、到期提醒，用审核过的模板")),
    Purpose("promotion", _l("促销与上新"), "mp_mass", _l("发给所有关注者，每人每月最多 4 次")),
    Purpose("care", _l("导购一对一关怀"), "work_single", _l("导购在企业微信里确认后，以导购的名义发出")),
    Purpose("community", _l("社群通知"), "work_group", _l("发到客户群，群主确认后发出")),
    Purpose("invite", _l("邀请进群"), "work_group_invite", _l("导购把群活码发给受众里的顾客，扫码进群")),
)
PURPOSE_OF_CHANNEL = {p.channel: p.key for p in PURPOSES}
# The journeys' names and descriptions as a page shows them (the domain's are for the API).
JOURNEY_WORDS = {
    "welcome": (_l("欢迎语"), _l("顾客绑定导购后，导购发出欢迎。")),
    "birthday": (_l("生日券"), _l("顾客生日前 3 天，送上优惠券和祝福。")),
    "wake_up": (_l("唤醒"), _l("每周一 10:00，提醒久未互动的顾客。")),
    "thank_you": (_l("购后感谢"), _l("顾客下单后，致谢并送上使用提示。")),
    "coupon_expiry": (_l("券到期提醒"), _l("优惠券到期前 3 天提醒顾客。")),
    "points_expiry": (_l("积分过期提醒"), _l("会员的积分即将过期时，提醒去积分商城兑换。")),
    "level_up": (_l("升级祝贺"), _l("会员升到更高等级时，送上祝贺和新等级的权益。")),
}


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
    codes: tuple[tuple[int, str], ...] = ()  # active group live codes an invitation may name: id, name


@dataclass(frozen=True)
class ResultsView:
    results: results.CampaignResults
    delivery_chart: Chart
    response_chart: Chart


def list_page(*, config: Config, db_session: Session) -> ListPage:
    found = campaigns.list_campaigns(db_session=db_session)
    counts = results.summaries(db_session=db_session, campaign_ids=[c.id for c in found])
    rows = tuple(CampaignRow(c.id, c.name, c.status, c.channel, schedule_text(c, config),
                             local_time(config, c.next_run_at),
                             counts.get(c.id)) for c in found)
    return ListPage(rows, JOURNEYS, coupon_templates(db_session))


def choices(db_session: Session) -> Choices:
    stores = tuple((code, name) for code, name in db_session.execute(select(Store.code, Store.name)
                                                                      .order_by(Store.code)))

    groups = tuple((g["chat_id"], g["name"], g["owner_userid"]) for g in list_groups(db_session=db_session))
    return Choices(coupon_templates(db_session), stores, groups, tuple(group_invites.active_codes(db_session)))


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
    groups = [Group(v.variant, variant_name(v.variant), tuple(getattr(v, one.key) for one in series)) for v in variants]
    return grouped_bars(groups, series, kind="variant")


def variant_name(variant: str) -> str:
    """A variant as people read it: the campaign's only content, the holdout, or its own name."""
    return str({"main": _("正文"), "holdout": _("对照组")}.get(variant, variant))


def schedule_text(campaign: Campaign, config: Config, now: datetime | None = None) -> str:
    """When the campaign sends, in words: now, a local moment, a repeat or a trigger. A draft's
    moment already past (given ``now``) goes as soon as it is launched: "now"."""
    schedule = campaign.schedule or {}
    kind = schedule.get("kind", "")
    if kind == "once":
        at = datetime.fromisoformat(schedule["at"]) if schedule.get("at") else None
        if at is None or (now is not None and campaign.status == "draft" and as_utc(at) <= now):
            return str(SEND_WORDS["now"])
        return _("%(at)s 发送", at=local_time(config, at))
    if kind == "cron":
        return repeat_text(schedule.get("cron") or "")
    if kind == "trigger":
        event = schedule.get("event") or ""
        words = str(TRIGGER_WORDS.get(event, event))
        if event == "custom" and schedule.get("name"):
            words = _("事件“%(name)s”发生时", name=schedule["name"])
        if schedule.get("days") is not None:
            words += _("（%(days)s 天）", days=schedule["days"])
        return words
    return ""


def repeat_text(cron: str) -> str:
    """A repeat as the pickers chose it: 每周一、周五 09:30; 每月 15 日 10:00."""
    picked = composer.pickers_of(cron)
    if picked is None:
        return _("按周期 %(cron)s", cron=cron)
    if picked["repeat"] == "weekly":
        days = "、".join(str(WEEKDAY_WORDS[d]) for d in picked["weekdays"]) if get_locale().language == "zh" \
            else ", ".join(str(WEEKDAY_WORDS[d]) for d in picked["weekdays"])
        return _("每%(days)s %(time)s", days=days, time=picked["time"])
    return _("每月 %(day)s 日 %(time)s", day=picked["monthday"], time=picked["time"])


def reason_words(reason: Reason) -> str:
    """A delivery's reason in the reader's language (results_reasons.py keeps both)."""
    return reason.zh if get_locale().language == "zh" else reason.en


def rule_text(channel: str, reach: composer.ChannelReach) -> str:
    """WeChat's rule for the channel, with the audience's numbers now."""
    if channel == "mp_custom":
        return _("客服消息只能发给 48 小时内与公众号互动过（发消息、点菜单、扫码或关注）的顾客：%(total)s 位中现在有 "
                 "%(count)s 位。", total=format(reach.audience, ","), count=format(reach.in_window, ","))
    if channel == "mp_template":
        return _("模板消息发给关注公众号的顾客，内容按模板的字段填写：%(total)s 位中有 %(count)s 位关注中。",
                 total=format(reach.audience, ","), count=format(reach.following, ","))
    if channel == "mp_mass":
        return _("每位关注者每月最多收到 %(per)s 次群发：本月还能收到的有 %(count)s 位，已用完的有 %(used)s 位。",
                 per=channels.MASS_PER_MONTH, count=format(reach.mass_left, ","), used=format(reach.mass_used_up, ","))
    if channel == "work_single":
        return _("由顾客的导购在企业微信里发出：每位导购收到一条群发任务，确认后才会发送。%(count)s 位顾客有导购，"
                 "涉及 %(guides)s 位导购。", count=format(reach.wecom_with_guide, ","), guides=format(reach.guides, ","))
    if channel == "work_group_invite":
        return _("由顾客的导购在企业微信里发出群活码邀请：每位导购收到一条群发任务，确认后才会发送；扫码进群的人数记入本活动。"
                 "%(count)s 位顾客有导购，涉及 %(guides)s 位导购。", count=format(reach.wecom_with_guide, ","),
                 guides=format(reach.guides, ","))
    return _("发到所选客户群，由群主在企业微信里确认后发出；每个群每月最多收到当月天数那么多条。已选 %(count)s 个群。",
             count=format(reach.audience, ","))


def reach_json(channel: str, reach: composer.ChannelReach) -> dict[str, Any]:
    """The composer's live numbers with their sentences, for the page's script."""
    unit = _("个客户群") if channel == "work_group" else _("位客户")
    return {**reach.as_json(), "rule": rule_text(channel, reach),
            "headline": _("现在可触达 %(count)s %(unit)s（共 %(total)s）", count=format(reach.reachable, ","), unit=unit,
                          total=format(reach.audience, ","))}


def local_time(config: Config, moment: datetime | None) -> str:
    if moment is None:
        return ""
    return f"{as_utc(moment).astimezone(config.brand.zone):%Y-%m-%d %H:%M}"


def words_json(words: dict[str, Any]) -> dict[str, str]:
    """Lazy words as plain strings in the reader's language, for a page's script."""
    return {key: str(word) for key, word in words.items()}


def channel_list(keys: list[str]) -> str:
    """Channels by their names, in order: 公众号群发、企业微信导购私信."""
    return _("、").join(str(CHANNEL_WORDS.get(key, key)) for key in keys)
