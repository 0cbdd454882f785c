"""What the guide's phone pages show, as small frozen values built from the domain's rows.

The pages are rendered from these and never from ORM rows, so a template cannot lazy-load
(a query per row on a weak shop connection) and an unmasked phone number never reaches one:
a guide sees ``138****5678`` (SPEC §12), masked here with :func:`mask_phone`. What a page
reads besides (the guide's pending WeCom tasks) is read here too, never in the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from guides.models import Binding, Guide
from guides.roster import RosterEntry
from qrcodes import stats
from qrcodes.models import ChannelCode
from scrm.clock import as_utc
from scrm.coupons.models import Coupon, CouponTemplate
from scrm.customers.models import Customer, CustomerIdentity, Interaction
from scrm.customers.schemas import mask_phone
from scrm.members.level_schemas import zhe
from scrm.members.models import Member
from scrm.members.service import member_summary
from scrm.products.stats import week_claims
from scrm import texts
from scrm.texts import customer_name, local_time
from scrm.outreach.models import WecomTask
from tagging.models import Order

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

# Lazy: read in the guide's language when a page shows them.
CHANNEL_WORDS = {"mp": _l("公众号"), "work": _l("企业微信")}
CODE_STATUS_WORDS = {
    "pending": _l("生成中"),
    "failed": _l("生成失败"),
    "retired": _l("已停用"),
}


@dataclass(frozen=True)
class GuideCard:
    """A guide as their pages and their public card show them."""

    code: str
    name: str
    store_name: str
    store_address: str | None
    photo_url: str | None


@dataclass(frozen=True)
class CodeView:
    channel: str
    label: str
    ready: bool
    note: str | None  # why there is no image yet
    png: str  # the API's PNG, which answers the login session


@dataclass(frozen=True)
class CustomerRow:
    customer_id: int
    name: str
    phone: str | None  # masked
    channel: str | None
    last_seen: str | None  # "3 小时前"
    last_kind: str | None
    tags: tuple[str, ...]


@dataclass(frozen=True)
class TimelineLine:
    at: str
    kind: str  # in words
    detail: str


@dataclass(frozen=True)
class Profile:
    customer_id: int
    name: str
    phone: str | None  # masked
    identities: tuple[tuple[str, bool], ...]  # (channel in words, following)
    tags: tuple[str, ...]
    timeline: tuple[TimelineLine, ...]
    older_than: int | None  # the next page's before_id


def guide_card(guide: Guide) -> GuideCard:
    photo = guide.photo_url if guide.photo_url and guide.photo_url.startswith(("https://", "http://", "/")) else None
    return GuideCard(guide.code, guide.name, guide.store.name, guide.store.address, photo)


def code_views(guide_code: str, codes: dict[str, ChannelCode]) -> list[CodeView]:
    views = []
    for channel in ("mp", "work"):
        code = codes.get(channel)
        status = code.status if code is not None else "pending"
        note = None if status == "ready" else CODE_STATUS_WORDS.get(status, status)
        if status == "failed" and code is not None and code.error:
            note = f"{note}: {code.error}"
        views.append(CodeView(channel, CHANNEL_WORDS[channel], status == "ready", note,
                              f"/m/guides/{guide_code}/qrcode.png?channel={channel}"))
    return views


def customer_rows(entries: list[RosterEntry], now: datetime, locale: str = "zh_CN") -> list[CustomerRow]:
    return [
        CustomerRow(e.customer_id, customer_name(locale, e.customer_id, e.nickname), mask_phone(e.phone),
                    CHANNEL_WORDS.get(e.channel or "", e.channel), ago(e.last_seen_at, now),
                    kind_words(e.last_kind, locale) if e.last_kind else None, e.tags)
        for e in entries
    ]


def profile(
    customer: Customer, identities: list[CustomerIdentity], tags: list[dict[str, Any]],
    entries: list[Interaction], older_than: int | None, zone: ZoneInfo, locale: str = "zh_CN",
    coupon_names: dict[int, str] | None = None,
) -> Profile:
    """A customer as a page shows them: kinds by their names and times in ``zone``, both the
    brand's; ``coupon_names`` (:func:`claimed_coupon_names`) names the coupons of product claims."""
    return Profile(
        customer.id,
        customer_name(locale, customer.id, customer.nickname),
        mask_phone(customer.phone),
        tuple((CHANNEL_WORDS.get(i.channel, i.channel), i.following) for i in identities),
        tuple(t["tag"] for t in tags),
        tuple(TimelineLine(local_time(e.occurred_at, zone), kind_words(e.kind, locale),
                           _detail(e, locale, coupon_names or {})) for e in entries),
        older_than,
    )


def kind_words(kind: str | None, locale: str = "zh_CN") -> str:
    """A timeline kind by its human name (scrm/texts.py KIND_WORDS); never the raw key."""
    return texts.kind_words(locale, kind) if kind else ""


def ago(at: datetime | None, now: datetime) -> str | None:
    """How long ago, in the words a guide glances at: 刚刚, 5 分钟前, 3 小时前, 2 天前."""
    if at is None:
        return None
    seconds = max(0, int((as_utc(now) - as_utc(at)).total_seconds()))
    if seconds < 60:
        return _("刚刚")
    if seconds >= 86400:
        return _("%(n)s 天前", n=seconds // 86400)
    if seconds >= 3600:
        return _("%(n)s 小时前", n=seconds // 3600)
    return _("%(n)s 分钟前", n=seconds // 60)


def pending_task_ids(*, db_session: Session, sender: str) -> list[int]:
    """The member's WeCom tasks (群发任务) still waiting to be sent, oldest first."""
    return list(db_session.scalars(select(WecomTask.id).where(
        WecomTask.sender == sender, WecomTask.status == "pending").order_by(WecomTask.id)))


def claimed_coupon_names(*, db_session: Session, entries: list[Interaction]) -> dict[int, str]:
    """coupon id → its template's name, for the coupons product claims among ``entries`` gave
    (a claim's entry holds the coupon's id, not its name): one query, none without such a claim."""
    ids = {e.payload["coupon_id"] for e in entries if e.kind == "product_claimed" and isinstance(e.payload, dict)
           and isinstance(e.payload.get("coupon_id"), int)}
    if not ids:
        return {}
    return dict(db_session.execute(select(Coupon.id, CouponTemplate.name)
                                   .join(CouponTemplate, CouponTemplate.id == Coupon.template_id)
                                   .where(Coupon.id.in_(ids))).all())


def _detail(entry: Interaction, locale: str = "zh_CN", coupon_names: dict[int, str] | None = None) -> str:
    """The one thing worth reading about an entry; empty when its kind says it all."""
    payload = entry.payload if isinstance(entry.payload, dict) else {}
    if entry.kind == "product_claimed":
        return _claimed(payload, locale, coupon_names or {})
    if entry.kind == "text":
        return str(payload.get("content") or "")
    if entry.kind == "guide_bound":
        name, code = payload.get("guide_name"), payload.get("guide")
        return f"{name} ({code})" if name else str(code or "")
    if entry.kind in ("purchase", "order", "refund"):
        amount = payload.get("amount")
        return f"¥{amount}" + (f" · {payload['order_no']}" if payload.get("order_no") else "") if amount else ""
    if entry.kind in ("tag_added", "tag_removed"):
        return str(payload.get("tag") or "")
    if entry.kind in ("link_open", "view", "link"):
        return str(payload.get("title") or payload.get("url") or "")
    if entry.kind == "media":
        return str(payload.get("recognition") or payload.get("media_type") or "")
    if entry.kind == "location":
        return str(payload.get("label") or "")
    if entry.kind == "coupon_issued":
        return str(payload.get("template") or "")
    if entry.kind == "custom_event":
        return str(payload.get("name") or payload.get("event") or "")
    return ""


def _claimed(payload: dict[str, Any], locale: str, coupon_names: dict[int, str]) -> str:
    """英氏多维营养米粉 · 50 积分, or · 优惠券 英氏到店礼 (SPEC §14)."""
    product = str(payload.get("product") or "")
    if payload.get("coupon_id") is not None:
        return texts.say(locale, "claim.coupon", product=product,
                         coupon=coupon_names.get(payload["coupon_id"], f"#{payload['coupon_id']}"))
    if payload.get("points") is not None:
        key = "claim.points_pending" if payload.get("points_pending") else "claim.points"
        return texts.say(locale, key, product=product, points=payload["points"])
    return product


@dataclass(frozen=True)
class WeekNumbers:
    since: datetime  # local Monday 00:00
    customers: int  # current customers
    new_customers: int
    scans: int
    follows: int
    orders: int
    order_amount: Decimal
    redemptions: int
    members: int  # current customers who are members (SPEC §13)
    new_members: int  # members who joined this week while bound to the guide: the guide's credit
    claims: int = 0  # product codes claimed this week with the guide's credit (SPEC §14)
    claims_before: int = 0  # … on the same days of the week before


def week_numbers(*, runtime: Runtime, db_session: Session, guide_id: int) -> WeekNumbers:
    """This local week (Monday on) for one guide: their customers, scans of their codes, and
    what was credited to them: orders, product codes claimed (beside the same days of the week
    before), and the coupons they redeemed (any customer's)."""
    zone = runtime.config.brand.zone
    today = runtime.clock.now().astimezone(zone).date()
    monday = today - timedelta(days=today.weekday())
    since = datetime.combine(monday, time(0), zone)
    current = db_session.scalar(select(func.count()).where(Binding.guide_id == guide_id, Binding.ended_at.is_(None)))
    new = db_session.scalar(select(func.count()).where(Binding.guide_id == guide_id,
                                                       Binding.bound_at >= since.astimezone(UTC)))
    days = stats.per_day(db_session=db_session, code_ids=stats.code_ids_of(db_session=db_session, guide_id=guide_id),
                         start=monday, end=today)
    orders, amount = db_session.execute(
        select(func.count(), func.coalesce(func.sum(Order.amount), 0))
        .where(Order.credited_guide_id == guide_id, Order.ordered_at >= since.astimezone(UTC))
    ).one()

    redeemed = db_session.scalar(select(func.count()).where(Coupon.redeemed_guide_id == guide_id,
                                                            Coupon.redeemed_at >= since.astimezone(UTC)))
    members = db_session.scalar(select(func.count()).select_from(Binding).join(
        Member, Member.customer_id == Binding.customer_id).where(Binding.guide_id == guide_id, Binding.ended_at.is_(None)))
    new_members = db_session.scalar(select(func.count()).where(Member.joined_guide_id == guide_id,
                                                               Member.joined_at >= since.astimezone(UTC)))
    claims, claims_before = week_claims(db_session=db_session, today=today, guide_id=guide_id)
    return WeekNumbers(since, current or 0, new or 0, sum(d.scans for d in days), sum(d.follows for d in days),
                       orders, Decimal(amount).quantize(Decimal("0.01")), redeemed or 0, members or 0, new_members or 0,
                       claims, claims_before)


@dataclass(frozen=True)
class MemberBadge:
    """What a guide sees of a member at the counter (SPEC §13): level and its benefits, member
    number, points available. No phone: the page shows the customer's, masked (SPEC §12)."""

    customer_id: int
    level: str
    rank: int
    member_no: str
    available: int
    frozen: int
    discount: str | None  # "金卡 8.5折"; None when the level gives none
    benefits: tuple[str, ...]


def member_badge(*, db_session: Session, config: Any, customer_id: int, at: datetime) -> MemberBadge | None:  # noqa: ANN401
    """The customer's membership as the guide's pages show it; None for a customer who has not joined."""
    found = member_summary(db_session=db_session, config=config, customer_id=customer_id, at=at)
    if found is None:
        return None
    level = found.level
    off = zhe(Decimal(level.discount))
    return MemberBadge(customer_id, level.name, level.rank, found.member.member_no, found.balance.available,
                       found.balance.frozen, _("%(level)s %(zhe)s折", level=level.name, zhe=off) if off else None,
                       tuple(str(b) for b in level.benefits or []))
