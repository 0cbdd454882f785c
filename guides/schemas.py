"""What the store and guide API (and the CSV import, and the CLI) accept, validated once here,
and what it answers: stores, guides, their codes, customers and hand-overs as JSON.

Codes are what people type on posters and in orders: 1-32 of ``A-Z a-z 0-9 _ -``. A guide's
``wecom_userid`` is their WeCom member id (1-64 characters, WeCom's own limit). A schedule
maps weekdays (``mon`` … ``sun``) to hour ranges (``"10-22"``, wrapping midnight allowed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from guides.duty_routing import WEEKDAYS, parse_hours
from scrm.errors import InvalidInput as BaseInvalidInput
from scrm.validators import described

if TYPE_CHECKING:
    from guides.models import Guide, GuideTransfer, Store
    from guides.roster import RosterEntry
    from qrcodes.models import ChannelCode

CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
USERID = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


class InvalidInput(BaseInvalidInput):
    """Bad store or guide input; ``field`` names the first offending field."""


def _code(value: str) -> str:
    value = value.strip()
    if not CODE.match(value):
        raise ValueError("must be 1-32 letters, digits, _ or -")
    return value


def _text(value: str, most: int) -> str:
    value = value.strip()
    if not 1 <= len(value) <= most:
        raise ValueError(f"must be 1-{most} characters, not only spaces")
    if _CONTROL_CHARS.search(value):
        raise ValueError("must not contain control characters")
    return value


def _schedule(value: dict[str, list[str]]) -> dict[str, list[str]]:
    for day, ranges in value.items():
        if day not in WEEKDAYS:
            raise ValueError(f"{day!r} is not a weekday; use {', '.join(WEEKDAYS)}")
        for text in ranges:
            parse_hours(text)
    return {day: [r.strip() for r in ranges] for day, ranges in value.items()}


def _url(value: str) -> str:
    if not re.match(r"^https?://[^\s]{1,490}$", value):
        raise ValueError("must be an http(s) URL")
    return value


def _userid(value: str) -> str:
    if not USERID.match(value):
        raise ValueError("must be a WeCom userid: 1-64 letters, digits, _ . @ or -")
    return value


Code = Annotated[str, AfterValidator(_code), described(pattern=CODE.pattern)]
Name = Annotated[str, AfterValidator(lambda v: _text(v, 64)), described(minLength=1, maxLength=64)]
Address = Annotated[str, AfterValidator(lambda v: _text(v, 200)), described(minLength=1, maxLength=200)]
WelcomeText = Annotated[str, AfterValidator(lambda v: _text(v, 600)), described(minLength=1, maxLength=600)]
Url = Annotated[str, AfterValidator(_url), described(pattern=r"^https?://\S{1,490}$")]
Schedule = Annotated[dict[str, list[str]], AfterValidator(_schedule),
                     described(propertyNames={"enum": list(WEEKDAYS)})]
UserId = Annotated[str, AfterValidator(_userid), described(pattern=USERID.pattern)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class StoreIn(_Input):
    code: Code
    name: Name
    address: Address | None = None


class GuideFields(_Input):
    """What may change on a guide (PATCH): only the fields given."""

    name: Name | None = None
    photo_url: Url | None = None
    welcome_text: WelcomeText | None = None
    schedule: Schedule | None = None
    daily_cap: int | None = Field(None, ge=1, le=10_000)
    backup: bool | None = None


class GuideIn(GuideFields):
    code: Code
    name: Name
    store: Code
    wecom_userid: UserId


class LeaveIn(_Input):
    to: Code


def parse(model: type[_Input], data: Mapping[str, Any]) -> Any:
    """A valid ``model`` from JSON-like data, or :class:`InvalidInput` naming the field."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc, what="this", special=_special) from None


def _special(error: Mapping[str, Any]) -> str | None:
    if error["type"] == "extra_forbidden":
        return "is not a field here"
    if error["type"] != "missing":
        return str(error["msg"]).removeprefix("Value error, ").replace("Input should be", "must be", 1)
    return None


# ---- answers ------------------------------------------------------------------------------
# The models describe them in /api/openapi.json (scrm/web/openapi.py); the functions below make them.


class ChannelCodeOut(BaseModel):
    id: int
    channel: str
    scene: str
    status: str = Field(description="pending, ready, failed or retired")
    error: str | None
    attempts: int
    url: str | None = Field(description="MP: the URL the code encodes; WeCom: the contact way")
    config_id: str | None
    png: str | None = Field(description="the card's path, once the code is ready")


class StoreOut(BaseModel):
    code: str
    name: str
    address: str | None
    active_guides: int | None = None
    codes: dict[str, ChannelCodeOut] | None = Field(None, description="by channel, mp and work")


class StoreRef(BaseModel):
    code: str
    name: str


class GuideOut(BaseModel):
    code: str
    name: str
    store: StoreRef
    wecom_userid: str
    status: str = Field(description="active or left")
    left_at: str | None
    photo_url: str | None
    welcome_text: str | None
    schedule: dict[str, list[str]]
    daily_cap: int | None
    backup: bool
    customers: int | None = None
    codes: dict[str, ChannelCodeOut] | None = None


class StoreDetailOut(StoreOut):
    guides: list[GuideOut]


class StoreListOut(BaseModel):
    stores: list[StoreOut]


class GuideListOut(BaseModel):
    guides: list[GuideOut]


class RosterCustomerOut(BaseModel):
    id: int
    nickname: str | None
    phone: str | None = Field(description="masked for a guide")
    channel: str | None
    bound_at: str
    tags: list[str]
    last_seen_at: str | None
    last_kind: str | None


class GuideCustomersOut(BaseModel):
    total: int
    customers: list[RosterCustomerOut]


class CodeFiguresOut(BaseModel):
    scans: int
    follows: int
    bindings: int
    orders: int
    order_amount: str = Field(description="yuan, two decimals")
    redemptions: int


class DayFiguresOut(CodeFiguresOut):
    day: str


class GuideStatsOut(BaseModel):
    guide: str
    start: str
    end: str
    totals: CodeFiguresOut
    channels: dict[str, CodeFiguresOut]
    days: list[DayFiguresOut]


class LeaveOut(BaseModel):
    guide: str
    to: str
    moved: int
    wecom_transfers: int


class TransferOut(BaseModel):
    customer_id: int
    external_userid: str
    status: str
    errcode: int | None
    reason: str | None
    attempts: int
    next_try_at: str | None


class TransfersOut(BaseModel):
    transfers: list[TransferOut]


class ImportOut(BaseModel):
    created: list[str] = Field(description="the codes of the guides created")
    unchanged: list[str] = Field(description="the codes of guides that were already so")



def store_json(store: Store, *, guides: int | None = None, codes: dict[str, ChannelCode] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": store.code, "name": store.name, "address": store.address}
    if guides is not None:
        body["active_guides"] = guides
    if codes is not None:
        body["codes"] = {channel: code_json(code, f"/api/stores/{store.code}/qrcode.png?channel={channel}")
                         for channel, code in codes.items()}
    return body


def guide_json(guide: Guide, *, customers: int | None = None, codes: dict[str, ChannelCode] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": guide.code,
        "name": guide.name,
        "store": {"code": guide.store.code, "name": guide.store.name},
        "wecom_userid": guide.wecom_userid,
        "status": guide.status,
        "left_at": _iso(guide.left_at),
        "photo_url": guide.photo_url,
        "welcome_text": guide.welcome_text,
        "schedule": guide.schedule or {},
        "daily_cap": guide.daily_cap,
        "backup": guide.backup,
    }
    if customers is not None:
        body["customers"] = customers
    if codes is not None:
        body["codes"] = {channel: code_json(code, f"/api/guides/{guide.code}/qrcode.png?channel={channel}")
                         for channel, code in codes.items()}
    return body


def code_json(code: ChannelCode, png_path: str) -> dict[str, Any]:
    return {
        "id": code.id,
        "channel": code.channel,
        "scene": code.scene,
        "status": code.status,
        "error": code.error,
        "attempts": code.attempts,
        # MP: the URL the code encodes; WeCom: the contact way.
        "url": code.content,
        "config_id": code.config_id,
        "png": png_path if code.status in ("ready", "retired") else None,
    }


def transfer_json(transfer: GuideTransfer) -> dict[str, Any]:
    return {
        "customer_id": transfer.customer_id,
        "external_userid": transfer.external_userid,
        "status": transfer.status,
        "errcode": transfer.errcode,
        "reason": transfer.reason,
        "attempts": transfer.attempts,
        "next_try_at": _iso(transfer.next_try_at),
    }


def customer_json(entry: RosterEntry, *, phone: str | None) -> dict[str, Any]:
    """One of a guide's customers, with ``phone`` as the caller may see it (a guide: masked)."""
    return {
        "id": entry.customer_id, "nickname": entry.nickname, "phone": phone,
        "channel": entry.channel, "bound_at": entry.bound_at.isoformat(), "tags": list(entry.tags),
        "last_seen_at": entry.last_seen_at.isoformat() if entry.last_seen_at else None, "last_kind": entry.last_kind,
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
