"""What the membership API and the points mall accept, validated once here (SPEC §11, §13),
and what the API answers (the member card, ledger entries, mall items) as JSON.

Points are whole numbers, given as JSON integers (``strict``: ``"10"``, ``10.0``, ``NaN`` and
``1e999`` are refused). Idempotency keys are 1-64 printable characters. A guide sees a
member's phone number masked (SPEC §12).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from scrm.clock import as_utc
from scrm.customers.schemas import mask_phone
from scrm.validators import BigIntId, IntId, described
from scrm.validators import text as bounded_text

if TYPE_CHECKING:
    from datetime import datetime

    from scrm.members.checkin import CheckedIn, CheckinState
    from scrm.members.history import EntryPage
    from scrm.members.ledger import Balance
    from scrm.members.mall import Exchanged, MallItemView
    from scrm.members.models import PointEntry
    from scrm.members.service import MemberSummary

MAX_POINTS = 10_000_000
MAX_GRANT = 1_000_000
MAX_SORT = 1_000_000
KEY = re.compile(r"^[\x21-\x7e]{1,64}$")  # printable ASCII, no spaces


def _key(value: str) -> str:
    if not KEY.match(value):
        raise ValueError("must be 1-64 printable ASCII characters without spaces")
    return value


IdempotencyKey = Annotated[str, AfterValidator(_key), described(pattern=KEY.pattern, minLength=1, maxLength=64)]
ItemPoints = Annotated[int, Field(ge=1, le=MAX_POINTS, strict=True)]
Stock = Annotated[int, Field(ge=0, le=MAX_POINTS, strict=True)]
PerMemberLimit = Annotated[int, Field(ge=1, le=1000, strict=True)]
Sort = Annotated[int, Field(ge=-MAX_SORT, le=MAX_SORT, strict=True)]


class MallItemIn(BaseModel):
    """An item of the points mall: a coupon template for ``points``; ``stock`` (omitted or
    null: no limit), ``per_member_limit`` (null: no limit), ``min_level_id`` (reserved to that
    level and above)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, bounded_text(64)]
    description: Annotated[str, bounded_text(500, strip=False)] | None = None
    template_id: IntId
    points: ItemPoints
    stock: Stock | None = None
    per_member_limit: PerMemberLimit | None = None
    min_level_id: IntId | None = None
    status: Literal["active", "paused"] = "active"
    sort: Sort = 0


NULLABLE_CHANGES = ("description", "stock", "per_member_limit", "min_level_id")


class MallItemChangeIn(BaseModel):
    """What changes of an item: only the fields given. ``null`` clears a nullable one
    (``stock``: no limit; ``per_member_limit``: no limit; ``min_level_id``: every member)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, bounded_text(64)] | None = None
    description: Annotated[str, bounded_text(500, strip=False)] | None = None
    template_id: IntId | None = None
    points: ItemPoints | None = None
    stock: Stock | None = None
    per_member_limit: PerMemberLimit | None = None
    min_level_id: IntId | None = None
    status: Literal["active", "paused"] | None = None
    sort: Sort | None = None

    @model_validator(mode="after")
    def _nulls_only_where_they_mean_something(self) -> MallItemChangeIn:
        for name in sorted(self.model_fields_set - set(NULLABLE_CHANGES)):
            if getattr(self, name) is None:
                raise ValueError(f"{name}: cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields given, with their new values."""
        return {name: getattr(self, name) for name in sorted(self.model_fields_set)}


# ---- the JSON API (scrm/members/routes.py) -------------------------------------------------

POINTS_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # as the console's manual change (scrm/members/grants.py)


def _points_key(value: str) -> str:
    if not POINTS_KEY.match(value):
        raise ValueError("must be 1-64 letters, digits, _ or -")
    return value


def _not_zero(value: int) -> int:
    if value == 0:
        raise ValueError("must not be 0: > 0 grants, < 0 deducts")
    return value


class MemberPointsIn(BaseModel):
    """``POST /api/members/<customer_id>/points``: a manager's grant (``amount`` > 0, a lot of
    kind ``grant``) or deduction (< 0, kind ``deduct``, refused when fewer are available). The
    ``key`` names the change: the same key again answers the first entry (200)."""

    model_config = ConfigDict(extra="forbid")

    amount: Annotated[int, Field(ge=-MAX_GRANT, le=MAX_GRANT, strict=True), AfterValidator(_not_zero)]
    reason: Annotated[str, bounded_text(200)]
    key: Annotated[str, AfterValidator(_points_key), described(pattern=POINTS_KEY.pattern)]


class ExchangeIn(BaseModel):
    """``POST /api/points-mall/exchange``: ``key`` makes a retry one exchange (omitted: every
    call is a new one); ``customer_id`` only with a manager's token (on the member's behalf)."""

    model_config = ConfigDict(extra="forbid")

    item_id: IntId
    key: IdempotencyKey | None = None
    customer_id: BigIntId | None = None


class CheckinIn(BaseModel):
    """``POST /api/members/checkin``: ``customer_id`` only with a manager's token."""

    model_config = ConfigDict(extra="forbid")

    customer_id: BigIntId | None = None


def _at(moment: datetime | None) -> str | None:
    return None if moment is None else as_utc(moment).isoformat()


def points_json(points: Balance) -> dict[str, Any]:
    return {"total": points.total, "available": points.available, "frozen": points.frozen,
            "expiring": points.expiring, "expiring_at": _at(points.expiring_at)}


def member_json(summary: MemberSummary, state: CheckinState, *, role: str) -> dict[str, Any]:
    member, level, following = summary.member, summary.level, summary.next_level
    return {
        "customer_id": member.customer_id, "member_no": member.member_no,
        "phone": mask_phone(member.phone) if role == "guide" else member.phone,
        "birthday": member.birthday.isoformat() if member.birthday else None,
        "level": {"id": level.id, "name": level.name, "rank": level.rank, "threshold": level.threshold,
                  "discount": str(level.discount), "points_multiplier": str(level.points_multiplier),
                  "benefits": [str(b) for b in level.benefits or []]},
        "growth": member.growth, "counted_growth": summary.counted_growth,
        "next_level": None if following is None else {"id": following.id, "name": following.name,
                                                       "threshold": following.threshold},
        "growth_to_next": summary.growth_to_next,
        "points": points_json(summary.balance),
        "checkin": {"checked_today": state.checked_today, "streak": state.streak,
                    "next_bonus": None if state.next_tier is None else {"streak": state.next_tier[0],
                                                                         "points": state.next_tier[1]}},
        "joined_at": _at(member.joined_at),
    }


def entry_json(entry: PointEntry) -> dict[str, Any]:
    return {"id": entry.id, "amount": entry.amount, "kind": entry.kind, "source": entry.source,
            "source_id": entry.source_id, "balance_after": entry.balance_after,
            "available_at": _at(entry.available_at), "expires_at": _at(entry.expires_at),
            "remaining": entry.remaining if entry.amount > 0 else None, "reason": entry.reason,
            "created_by": entry.created_by, "created_at": _at(entry.created_at)}


def entry_page_json(found: EntryPage) -> dict[str, Any]:
    return {"entries": [entry_json(e) for e in found.entries], "page": found.page, "per_page": found.per_page,
            "total": found.total, "has_more": found.has_more}


def item_json(view: MallItemView) -> dict[str, Any]:
    return {"id": view.id, "name": view.name, "description": view.description, "points": view.points,
            "template_id": view.template_id, "template_name": view.template_name, "stock": view.stock,
            "stock_left": view.stock_left, "exchanged_count": view.exchanged_count,
            "per_member_limit": view.per_member_limit, "min_level_id": view.min_level_id,
            "min_level_name": view.min_level_name, "status": view.status, "sort": view.sort,
            "available": view.available, "why_not": view.why_not, "why_not_code": view.why_not_code}


def exchanged_json(done: Exchanged, *, coupon_code: str, available: int) -> dict[str, Any]:
    return {"exchange_id": done.exchange_id, "coupon_id": done.coupon_id, "coupon_code": coupon_code,
            "points": done.points, "created": done.created, "points_available": available}


def checked_in_json(done: CheckedIn, *, level_name: str | None) -> dict[str, Any]:
    change = done.level_change
    return {"day": done.day.isoformat(), "streak": done.streak, "points": done.points, "bonus": done.bonus,
            "growth": done.growth, "created": done.created,
            "level_up": None if change is None or not change.up else {"level_id": change.new_level_id,
                                                                       "name": level_name}}


# ---- described in /api/openapi.json ---------------------------------------------------------


class MemberPointsOut(BaseModel):
    total: int = Field(description="available + frozen: the ledger's sum")
    available: int = Field(description="can be spent now")
    frozen: int = Field(description="earned by orders, spendable after the return window")
    expiring: int = Field(description="available and expiring within members.expiry_remind_days")
    expiring_at: str | None = Field(description="when the first of those expires")


class MemberLevelOut(BaseModel):
    id: int
    name: str
    rank: int
    threshold: int
    discount: str = Field(description="0.90 = pay 90 %")
    points_multiplier: str
    benefits: list[str]


class MemberNextLevelOut(BaseModel):
    id: int
    name: str
    threshold: int


class MemberNextBonusOut(BaseModel):
    streak: int = Field(description="the streak day on which the next check-in bonus comes")
    points: int


class MemberCheckinOut(BaseModel):
    checked_today: bool
    streak: int = Field(description="consecutive days still alive (checked in today or yesterday), else 0")
    next_bonus: MemberNextBonusOut | None


class MemberCardOut(BaseModel):
    customer_id: int
    member_no: str
    phone: str | None = Field(description="masked for a guide")
    birthday: str | None
    level: MemberLevelOut
    growth: int = Field(description="all growth ever earned")
    counted_growth: int = Field(description="what the level is judged by (members.level_basis)")
    next_level: MemberNextLevelOut | None
    growth_to_next: int | None
    points: MemberPointsOut
    checkin: MemberCheckinOut
    joined_at: str | None


class PointEntryOut(BaseModel):
    id: int
    amount: int = Field(description="> 0 earned (a lot), < 0 spent")
    kind: str = Field(description="order, checkin, grant, refund_return, product; exchange, order_spend, "
                                  "refund_reverse, expire, deduct")
    source: str
    source_id: str | None
    balance_after: int
    available_at: str | None
    expires_at: str | None
    remaining: int | None = Field(description="what is left of a lot; null for spending")
    reason: str | None
    created_by: str | None
    created_at: str | None


class PointEntryPageOut(BaseModel):
    entries: list[PointEntryOut]
    page: int
    per_page: int
    total: int
    has_more: bool


class PointsChangedOut(BaseModel):
    entry: PointEntryOut
    created: bool = Field(description="false: the key was used before; nothing changed")
    points: MemberPointsOut


class MallItemOut(BaseModel):
    id: int
    name: str
    description: str | None
    points: int
    template_id: int
    template_name: str
    stock: int | None = Field(description="null: no limit")
    stock_left: int | None
    exchanged_count: int
    per_member_limit: int | None
    min_level_id: int | None
    min_level_name: str | None
    status: str = Field(description="active or paused")
    sort: int
    available: bool = Field(description="for the member asked about (or anyone)")
    why_not: str | None = Field(description="in the member's words: 已兑完, 已达兑换上限, 金卡及以上可兑, 积分不足…")
    why_not_code: str | None = Field(description="item_paused, out_of_stock, template_unavailable, "
                                                 "level_required, limit_reached, not_enough_points")


class MallItemListOut(BaseModel):
    items: list[MallItemOut]


class ExchangedOut(BaseModel):
    exchange_id: int
    coupon_id: int
    coupon_code: str
    points: int
    created: bool = Field(description="false: the key was exchanged before; nothing changed")
    points_available: int


class CheckinLevelUpOut(BaseModel):
    level_id: int
    name: str | None


class CheckedInOut(BaseModel):
    day: str = Field(description="the local day (brand.timezone)")
    streak: int
    points: int = Field(description="the daily points + bonus")
    bonus: int
    growth: int
    created: bool = Field(description="false: checked in that day already; nothing changed")
    level_up: CheckinLevelUpOut | None
