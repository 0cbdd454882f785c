"""What ``POST /api/campaigns`` accepts, validated once here (SPEC §8, §11).

- ``audience``: ``{"expr": tag expression, "store": code, "guide": code}`` (any of them; the
  expression is checked against the tags now), or ``{"groups": [chat_id, …]}`` for group
  messages.
- ``channel``: ``mp_custom`` (customer-service message, 48 h window), ``mp_template``,
  ``mp_mass`` (mass send by tag), ``work_single`` (through the bound guide), ``work_group``
  (to customer groups, by their owner), ``work_group_invite`` (an invitation to a group live
  code, through the bound guide: content ``invite``, no fallbacks); ``fallbacks``: the
  channels to try, in order, for a customer the channel cannot reach.
- ``content``: ``{"kind": "text", "text"}``, ``{"kind": "news", "title", "description", "url",
  "picurl"}`` (the link is tracked), ``{"kind": "image", "media_id"}``, ``{"kind":
  "miniprogram", "title", "appid", "pagepath", "thumb_media_id"}``, for ``mp_template``
  ``{"kind": "template", "template_id", "data", "url"}``, for ``work_group_invite``
  ``{"kind": "invite", "code_id", "text"}`` (the text defaults to :data:`INVITE_TEXT`).
- ``schedule``: ``{"kind": "once", "at"}``, ``{"kind": "cron", "cron": "m h dom mon dow"}``
  (local time), ``{"kind": "trigger", "event", "days", "name"}``.
- ``variants`` ``[{"name", "weight", "content"}]`` (weights add up to 100) and
  ``holdout_percent`` (0-50); ``when_capped``: ``defer`` or ``skip``.

And campaigns as the JSON API shows them (SPEC §11): :func:`campaign_json`, :func:`runs_json`,
:func:`preview_json`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from scrm.clock import as_utc
from scrm.errors import InvalidInput, validated
from scrm.outreach.campaigns import cron_trigger
from scrm.texts import customer_name
from scrm.validators import IntId, Moment, described
from scrm.validators import text as bounded_text

if TYPE_CHECKING:
    from datetime import datetime

    from scrm.outreach.campaigns import Preview
    from scrm.outreach.models import Campaign, CampaignRun

CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
TRIGGERS = ("follow", "binding", "purchase", "coupon_expiring", "points_expiring", "birthday", "inactive", "custom",
            "level_up")
CONTENT_KINDS = ("text", "news", "image", "miniprogram", "template", "invite")
INVITE_TEXT = "邀请您加入我们的顾客群，扫码即可进群～"  # an invitation's text when none is written


class InvalidCampaign(InvalidInput):
    """Bad campaign input; ``field`` names the first offending field."""


def _url(value: str) -> str:
    if not re.fullmatch(r"https?://\S{1,1000}", value):
        raise ValueError("must be an http(s) URL")
    return value


def _code(value: str) -> str:
    if not CODE.match(value):
        raise ValueError("must be a code: 1-32 letters, digits, _ or -")
    return value


def _cron(value: str) -> str:
    try:
        cron_trigger(value, "UTC")
    except ValueError as exc:
        raise ValueError(f"is not a cron line (minute hour day month weekday): {exc}") from None
    return value


Url = Annotated[str, AfterValidator(_url), described(pattern=r"^https?://\S{1,1000}$")]


class AudienceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expr: Annotated[str, bounded_text(1000, strip=False)] | None = None
    store: Annotated[str, AfterValidator(_code), described(pattern=CODE.pattern)] | None = None
    guide: Annotated[str, AfterValidator(_code), described(pattern=CODE.pattern)] | None = None
    groups: list[Annotated[str, bounded_text(64, strip=False)]] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _customers_or_groups(self) -> AudienceIn:
        if self.groups and (self.expr or self.store or self.guide):
            raise ValueError("audience: groups, or customers (expr, store, guide), not both")
        return self


class ContentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["text", "news", "image", "miniprogram", "template", "invite"]
    text: Annotated[str, bounded_text(2000, strip=False)] | None = None
    code_id: IntId | None = None  # an invitation's group live code (群活码)
    title: Annotated[str, bounded_text(64, strip=False)] | None = None
    description: Annotated[str, bounded_text(512, strip=False)] | None = None
    url: Url | None = None
    picurl: Url | None = None
    media_id: Annotated[str, bounded_text(128, strip=False)] | None = None
    appid: Annotated[str, bounded_text(64, strip=False)] | None = None
    pagepath: Annotated[str, bounded_text(256, strip=False)] | None = None
    thumb_media_id: Annotated[str, bounded_text(128, strip=False)] | None = None
    template_id: Annotated[str, bounded_text(128, strip=False)] | None = None
    data: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _needs(self) -> ContentIn:
        needs = {"text": ("text",), "news": ("title", "url"), "image": ("media_id",),
                 "miniprogram": ("title", "appid", "pagepath"), "template": ("template_id", "data"),
                 "invite": ("code_id",)}[self.kind]
        for name in needs:
            if getattr(self, name) is None:
                raise ValueError(f"{name}: a {self.kind} message needs its {name}")
        if self.kind == "invite" and not self.text:
            self.text = INVITE_TEXT
        if self.kind != "invite" and self.code_id is not None:
            raise ValueError("code_id: only an invite names a group live code")
        return self


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["once", "cron", "trigger"]
    at: Moment | None = None
    cron: Annotated[str, AfterValidator(_cron)] | None = None
    event: Literal["follow", "binding", "purchase", "coupon_expiring", "points_expiring", "birthday", "inactive",
                   "custom", "level_up"] | None = None
    days: Annotated[int, Field(ge=0, le=365, strict=True)] | None = None
    name: Annotated[str, bounded_text(64, strip=False)] | None = None

    @model_validator(mode="after")
    def _complete(self) -> ScheduleIn:
        if self.kind == "once" and self.at is None:
            raise ValueError("at: a once schedule needs the moment, with its zone")
        if self.kind == "cron" and self.cron is None:
            raise ValueError("cron: a cron schedule needs its cron line")
        if self.kind == "trigger":
            if self.event is None:
                raise ValueError(f"event: a trigger needs its event, one of {', '.join(TRIGGERS)}")
            if self.event in ("birthday", "inactive", "coupon_expiring") and self.days is None:
                raise ValueError(f"days: a {self.event} trigger needs its number of days")
            if self.event == "custom" and self.name is None:
                raise ValueError("name: a custom trigger needs the event's name")
        return self


class VariantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, AfterValidator(_code), described(pattern=CODE.pattern)]
    weight: Annotated[int, Field(ge=1, le=100, strict=True)]
    content: ContentIn


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, bounded_text(64, strip=False)]
    audience: AudienceIn
    channel: Literal["mp_custom", "mp_template", "mp_mass", "work_single", "work_group", "work_group_invite"]
    fallbacks: list[Literal["mp_custom", "mp_template", "mp_mass", "work_single"]] = Field(default_factory=list,
                                                                                           max_length=4)
    content: ContentIn
    coupon_template_id: IntId | None = None
    schedule: ScheduleIn
    when_capped: Literal["defer", "skip"] = "defer"
    variants: list[VariantIn] = Field(default_factory=list, max_length=10)
    holdout_percent: Annotated[int, Field(ge=0, le=50, strict=True)] = 0

    @model_validator(mode="after")
    def _consistent(self) -> CampaignIn:
        if (self.channel == "mp_template") != (self.content.kind == "template"):
            raise ValueError("content: mp_template sends a template message, and only it does")
        if self.channel == "work_group" and not self.audience.groups:
            raise ValueError("audience: a work_group campaign names its groups")
        if self.channel != "work_group" and self.audience.groups:
            raise ValueError("channel: groups are reached by work_group only")
        if self.channel == "work_group" and (self.fallbacks or self.coupon_template_id
                                             or self.schedule.kind == "trigger"):
            raise ValueError("channel: a work_group message goes to groups, not customers: no fallbacks, "
                             "no coupon, once or on cron")
        if (self.channel == "work_group_invite") != (self.content.kind == "invite"):
            raise ValueError("content: work_group_invite sends an invitation to a group live code, and only it does")
        if self.channel == "work_group_invite" and (self.fallbacks or self.coupon_template_id):
            raise ValueError("channel: an invitation goes through the customer's guide only: no fallbacks, no coupon")
        if any(v.content.kind != self.content.kind or v.content.code_id != self.content.code_id
               for v in self.variants if self.content.kind == "invite"):
            raise ValueError("variants: each variant invites to the campaign's live code")
        if self.channel in self.fallbacks:
            raise ValueError("fallbacks: the channel itself is not a fallback")
        if self.variants and sum(v.weight for v in self.variants) != 100:
            raise ValueError("variants: their weights add up to 100")
        if len({v.name for v in self.variants}) != len(self.variants):
            raise ValueError("variants: each has its own name")
        return self


class PreviewIn(BaseModel):
    """What a preview may post: the audience to count instead of the campaign's (or unsaved)."""

    model_config = ConfigDict(extra="forbid")

    audience: AudienceIn | None = None


def parse(model: type[BaseModel], body: Mapping[str, Any], *, what: str) -> Any:
    """The validated input, or :class:`InvalidCampaign` naming every bad field."""
    return validated(model, body, error=InvalidCampaign, what=what)


# ---- output ---------------------------------------------------------------------------------

def campaign_json(campaign: Campaign) -> dict[str, Any]:
    return {
        "id": campaign.id, "name": campaign.name, "status": campaign.status, "audience": campaign.audience,
        "channel": campaign.channel, "fallbacks": campaign.fallbacks, "content": campaign.content,
        "coupon_template_id": campaign.coupon_template_id, "schedule": campaign.schedule,
        "when_capped": campaign.when_capped, "variants": campaign.variants,
        "holdout_percent": campaign.holdout_percent, "next_run_at": _moment(campaign.next_run_at),
        "created_at": _moment(campaign.created_at), "launched_at": _moment(campaign.launched_at),
    }


def runs_json(runs: list[CampaignRun]) -> list[dict[str, Any]]:
    return [{"id": r.id, "cause": r.cause, "status": r.status, "planned": r.planned,
             "started_at": _moment(r.started_at), "planned_at": _moment(r.planned_at)} for r in runs]


def preview_json(preview: Preview, locale: str = "zh_CN") -> dict[str, Any]:
    """The count and the sample with nicknames, as the tag audience preview shows them; ``name``
    is what a page shows (the nickname, or 顾客 #id in ``locale``)."""
    return {"count": preview.count,
            "sample": [{"id": i, "nickname": preview.nicknames.get(i),
                        "name": customer_name(locale, i, preview.nicknames.get(i))} for i in preview.sample]}


def _moment(moment: datetime | None) -> str | None:
    return None if moment is None else as_utc(moment).isoformat()


# ---- described in /api/openapi.json ---------------------------------------------------------


class CampaignOut(BaseModel):
    id: int
    name: str
    status: str
    audience: dict[str, Any]
    channel: str
    fallbacks: list[str]
    content: dict[str, Any]
    coupon_template_id: int | None
    schedule: dict[str, Any]
    when_capped: str
    variants: list[dict[str, Any]]
    holdout_percent: int
    next_run_at: str | None
    created_at: str | None
    launched_at: str | None


class VariantResultOut(BaseModel):
    variant: str
    planned: int
    sent: int
    failed: int
    dead: int
    waiting: int
    holdout: int
    opened: int
    replied: int
    coupons_issued: int
    coupons_redeemed: int
    orders: int
    skipped: dict[str, int] = Field(description="deliveries skipped, by reason")
    skipped_total: int
    order_amount: str


class CampaignResultsOut(BaseModel):
    campaign_id: int
    days: int
    total: VariantResultOut
    variants: list[VariantResultOut]
    group_joins: int | None = Field(None, description="an invitation's (work_group_invite) joins through its ways")


class CampaignSummaryOut(CampaignOut):
    deliveries: VariantResultOut | None


class CampaignListOut(BaseModel):
    campaigns: list[CampaignSummaryOut]


class RunOut(BaseModel):
    id: int
    cause: str
    status: str
    planned: int
    started_at: str | None
    planned_at: str | None


class CampaignDetailOut(CampaignOut):
    runs: list[RunOut]
    results: CampaignResultsOut


class SampleCustomerOut(BaseModel):
    id: int
    nickname: str | None
    name: str  # as shown: the nickname, or 顾客 #id


class PreviewOut(BaseModel):
    count: int
    sample: list[SampleCustomerOut]
    audience: dict[str, Any] | None


class JourneyOut(BaseModel):
    key: str
    name: str
    description: str
    needs_coupon: bool
    campaign: dict[str, Any] = Field(description="the draft campaign it starts")


class JourneyListOut(BaseModel):
    journeys: list[JourneyOut]


class EventOut(BaseModel):
    id: int
    name: str
    customer_id: int
    event_key: str | None
    occurred_at: str
    payload: dict[str, Any]
