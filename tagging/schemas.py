"""What the tagging API accepts, validated once here for every caller (SPEC §5, §11): tag
groups, tags and a manager's tag on a customer; tag rules; orders.

**Groups and tags.** Names are what managers type and what audience expressions refer to:
outer whitespace is stripped, control characters are refused, and a tag name holds at most 30
characters, the limit of both WeChat MP user tags and WeCom corp tags (they are mirrored
there, SPEC §5). A group's ``half_life_days`` is None (scores never decay) or a positive
number of days; its ``threshold`` is the score a customer needs to carry one of its tags (1
when not given). A rule's ``weight`` is 2 when not given, so that one firing carries a tag.
Computed groups (RFM, lifecycle) belong to the recompute job: the API neither creates nor
changes them.

**Tag rules.** Patterns by kind: a ``keyword`` (with ``synonyms``; whole words unless
``substring``), a menu ``click`` key (WeChat allows 128 bytes), a ``view`` URL (http or
https, as the menu or the tracked link has it), a QR ``scene`` (exact, or a prefix when it
ends with ``*``), an ``event`` (follow, unfollow, purchase).

**Orders** (``POST /api/orders``) come from the brand's order system: ``order_no`` (1-64
characters, outer spaces stripped), ``amount`` (a decimal string or a JSON number, over 0, at
most 2 decimals and at most 10,000,000; a float is read by its shortest decimal form, so
``19.9`` is 19.90 while ``0.1 + 0.2`` is refused), ``ordered_at`` (ISO 8601 with a zone, at
most 5 minutes ahead of our clock), ``customer`` (exactly one of ``openid``,
``external_userid``, ``phone``), and optional ``store_code``/``guide_code`` and ``points_used``
(a member's points paying part of it: a whole number 0-10,000,000). A refund
(``POST /api/orders/<order_no>/refund``) gives ``amount`` (as an order's) and optionally
``refund_no`` (1-64 characters), the refund's own number in the order system. Phones are
compared normalised: separators dropped, a leading ``+86`` dropped, digits only
(``+86 138-0013-8000`` → ``13800138000``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError
from pydantic import field_validator, model_validator

from scrm.errors import InvalidInput as BaseInvalidInput
from scrm.validators import INT_ID_MAX, described
from tagging.keywords import normal_form, segmentable


# -- groups and tags --------------------------------------------------------------------------


NAME_MAX_CHARS = 30  # WeChat's limit for a tag name (MP and WeCom); groups share it
HALF_LIFE_MAX_DAYS = 36_500
THRESHOLD_MAX = 1_000_000.0
# One firing counts (SPEC §5): a rule's default weight is twice a group's default threshold, so
# one firing carries the tag for one half-life (for ever in a group without decay).
DEFAULT_THRESHOLD = 1.0
DEFAULT_WEIGHT = 2.0
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\ufffe\uffff]")


class InvalidInput(BaseInvalidInput):
    """Bad input; ``field`` names the first offending field ("half_life_days")."""


def clean_name(value: str, most: int = NAME_MAX_CHARS) -> str:
    value = value.strip()
    if not 1 <= len(value) <= most:
        raise ValueError(f"must be 1-{most} characters, not only spaces")
    if _CONTROL_CHARS.search(value):
        raise ValueError("must not contain control characters")
    return value


Name = Annotated[str, described(minLength=1, maxLength=NAME_MAX_CHARS)]  # checked by clean_name


class _Input(BaseModel):
    # strict: true is not a number and "3" is not a number of days
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class GroupIn(_Input):
    name: Name
    half_life_days: float | None = Field(None, gt=0, le=HALF_LIFE_MAX_DAYS)
    threshold: float = Field(DEFAULT_THRESHOLD, gt=0, le=THRESHOLD_MAX)
    computed: Literal[False] = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return clean_name(value)


class GroupChanges(_Input):
    """A PATCH: only the fields given change (``half_life_days: null`` turns decay off)."""

    name: Name | None = None
    half_life_days: float | None = Field(None, gt=0, le=HALF_LIFE_MAX_DAYS)
    threshold: float | None = Field(None, gt=0, le=THRESHOLD_MAX)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("must not be null")
        return clean_name(value)

    @field_validator("threshold")
    @classmethod
    def _threshold(cls, value: float | None) -> float:
        if value is None:
            raise ValueError("must be a number > 0, not null")
        return value

    def given(self) -> dict[str, Any]:
        return {field: getattr(self, field) for field in self.model_fields_set}


class TagIn(_Input):
    group: Annotated[StrictInt, described(minimum=1)] | Name  # the group's id, or its name
    name: Name

    @field_validator("group", mode="before")
    @classmethod
    def _group(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError("must be a group's id or name")
        if isinstance(value, int):
            if value < 1:
                raise ValueError("must be a group's id or name")
            return value
        return clean_name(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return clean_name(value)


class ManualTagIn(_Input):
    tag_id: StrictInt = Field(gt=0)  # beyond the tags' ids: 404, as any other unknown tag (tagging/service.py)


def parse(model: type[_Input], data: Mapping[str, Any]) -> Any:
    """A valid ``model`` from JSON-like data, or :class:`InvalidInput` naming the field."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc, what="this", special=_special) from None


def _special(error: Mapping[str, Any]) -> str | None:
    """Tag input's own wording; None: the common wording (scrm.errors)."""
    if error["type"] == "extra_forbidden":
        return "is not a field here"
    if error["type"] == "literal_error" and error["loc"] == ("computed",):
        return "computed groups are created by the recompute job, not the API"
    if error["type"] in ("float_type", "int_type", "finite_number"):
        return "must be a number" if error["type"] != "int_type" else "must be a whole number"
    if error["type"] != "missing":
        return str(error["msg"]).removeprefix("Value error, ").replace("Input should be", "must be", 1)
    return None


# -- tag rules --------------------------------------------------------------------------------


EVENTS = ("follow", "unfollow", "purchase")
KEYWORD_MAX_CHARS = 32
MAX_SYNONYMS = 20
CLICK_MAX_BYTES = 128
SCENE_MAX_CHARS = 64  # WeChat's scene_str limit; a prefix pattern adds its "*"
URL_MAX_CHARS = 255  # the column's
MAX_WEIGHT = 100.0

_RULE_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


class InvalidTagRule(BaseInvalidInput):
    """Bad input for a tag rule; ``field`` names the first offending field ("synonyms.1")."""


class TagRuleIn(BaseModel):
    """A whole, consistent rule. Build it with :func:`parse_rule` to get :class:`InvalidTagRule`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["keyword", "click", "view", "scene", "event"]
    pattern: StrictStr
    tag_id: StrictInt = Field(gt=0, le=INT_ID_MAX)
    weight: float = Field(DEFAULT_WEIGHT, gt=0, le=MAX_WEIGHT, allow_inf_nan=False, strict=True)
    synonyms: tuple[StrictStr, ...] = Field((), max_length=MAX_SYNONYMS)
    substring: StrictBool = False
    enabled: StrictBool = True

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        value = value.strip()
        if not value or _RULE_CONTROL_CHARS.search(value):
            raise ValueError("must be non-empty, without control characters")
        return value

    @field_validator("synonyms")
    @classmethod
    def _synonyms(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(value.strip() for value in values)

    # Raising InvalidTagRule (not ValueError) lets it pass through pydantic with its field name.
    @model_validator(mode="after")
    def _consistent(self) -> TagRuleIn:
        if self.kind != "keyword":
            if self.synonyms:
                raise InvalidTagRule("synonyms", "only a keyword rule has synonyms")
            if self.substring:
                raise InvalidTagRule("substring", "only a keyword rule matches substrings")
        check = {
            "keyword": self._check_keyword,
            "click": self._check_click,
            "view": self._check_view,
            "scene": self._check_scene,
            "event": self._check_event,
        }[self.kind]
        check()
        return self

    def _check_keyword(self) -> None:
        _check_word("pattern", self.pattern, substring=self.substring)
        seen = {normal_form(self.pattern)}
        for index, synonym in enumerate(self.synonyms):
            _check_word(f"synonyms.{index}", synonym, substring=self.substring)
            if normal_form(synonym) in seen:
                raise InvalidTagRule(f"synonyms.{index}", "repeats the keyword or another synonym")
            seen.add(normal_form(synonym))

    def _check_click(self) -> None:
        if len(self.pattern.encode()) > CLICK_MAX_BYTES:
            raise InvalidTagRule("pattern", f"a menu key is at most {CLICK_MAX_BYTES} bytes")

    def _check_view(self) -> None:
        parts = urlsplit(self.pattern)
        if len(self.pattern) > URL_MAX_CHARS:
            raise InvalidTagRule("pattern", f"a URL is at most {URL_MAX_CHARS} characters")
        if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in self.pattern):
            raise InvalidTagRule("pattern", "must be an http:// or https:// URL")

    def _check_scene(self) -> None:
        scene = self.pattern.removesuffix("*")
        if "*" in scene or len(scene) > SCENE_MAX_CHARS:
            raise InvalidTagRule(
                "pattern", f"a scene of at most {SCENE_MAX_CHARS} characters, with * only at the end (a prefix)"
            )

    def _check_event(self) -> None:
        if self.pattern not in EVENTS:
            raise InvalidTagRule("pattern", f"an event rule's pattern is one of {', '.join(EVENTS)}")


def _check_word(field: str, word: str, *, substring: bool) -> None:
    folded = normal_form(word)
    if not 1 <= len(word) <= KEYWORD_MAX_CHARS or not folded.strip():
        raise InvalidTagRule(field, f"must be 1-{KEYWORD_MAX_CHARS} characters")
    if not substring and not segmentable(folded):
        raise InvalidTagRule(
            field,
            "a whole-word keyword is one run of Chinese, letters and digits (no spaces or punctuation); "
            "set substring to true to match it anywhere",
        )


def parse_rule(data: Mapping[str, Any]) -> TagRuleIn:
    """A valid :class:`TagRuleIn` from JSON-like data, or :class:`InvalidTagRule` naming the field."""
    try:
        return TagRuleIn.model_validate(dict(data))
    except ValidationError as exc:
        raise InvalidTagRule.from_validation(exc, what="a tag rule") from None


def parse_changes(data: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a PATCH sets; the merged rule is validated whole by the service."""
    unknown = sorted(set(data) - set(TagRuleIn.model_fields))
    if unknown:
        raise InvalidTagRule(unknown[0], "is not a field of a tag rule")
    return dict(data)


# -- orders -----------------------------------------------------------------------------------


ORDER_NO_MAX_CHARS = 64
CODE_MAX_CHARS = 32  # stores' and guides' codes (orders.store_code, orders.guide_code)
EXTERNAL_ID_MAX_CHARS = 64
AMOUNT_MAX = Decimal("10000000")
POINTS_USED_MAX = 10_000_000
CENT = Decimal("0.01")
FUTURE_TOLERANCE = timedelta(minutes=5)  # the order system's clock may run a little ahead
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)

_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")
_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
_PHONE_DIGITS = re.compile(r"[0-9]{5,20}")


class InvalidOrder(BaseInvalidInput):
    """Bad input for an order; ``field`` names the first offending field ("customer.phone")."""


def normalise_phone(raw: str) -> str:
    """Digits only, without the +86 country code; ValueError if that leaves no phone number."""
    phone = _PHONE_SEPARATORS.sub("", raw)
    phone = phone.removeprefix("+86")
    if not _PHONE_DIGITS.fullmatch(phone):
        raise ValueError("must be a phone number: digits, optionally +86 first")
    return phone


def parse_amount(value: Any) -> Decimal:
    """Yuan as an exact Decimal with 2 places; ValueError saying what is wrong."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("must be a decimal string or a number, e.g. \"199.00\"")
    text = value.strip() if isinstance(value, str) else repr(value)
    if isinstance(value, str) and not _DECIMAL.fullmatch(text):
        raise ValueError("must be a decimal number like \"199.00\" (digits, at most one point, no sign or exponent)")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError("must be a decimal number like \"199.00\"") from None
    if not amount.is_finite():
        raise ValueError("must be a finite number")
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError("has more than 2 decimal places")
    if amount <= 0:
        raise ValueError("must be more than 0")
    if amount > AMOUNT_MAX:
        raise ValueError(f"must be at most {AMOUNT_MAX:,}")
    return amount.quantize(CENT)


def _printable(value: str, max_chars: int) -> str:
    value = value.strip()
    if not 1 <= len(value) <= max_chars:
        raise ValueError(f"must be 1-{max_chars} characters")
    if _CONTROL_CHARS.search(value):
        raise ValueError("must not contain control characters")
    return value


class CustomerRefIn(BaseModel):
    """Exactly one way to find the customer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    openid: StrictStr | None = None
    external_userid: StrictStr | None = None
    phone: StrictStr | None = None

    @field_validator("openid", "external_userid")
    @classmethod
    def _external_id(cls, value: str | None) -> str | None:
        return None if value is None else _printable(value, EXTERNAL_ID_MAX_CHARS)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else normalise_phone(value)

    @model_validator(mode="after")
    def _exactly_one(self) -> CustomerRefIn:
        if sum(v is not None for v in (self.openid, self.external_userid, self.phone)) != 1:
            raise InvalidOrder("customer", "give exactly one of openid, external_userid or phone")
        return self

    @property
    def key(self) -> tuple[str, str]:
        """("openid" | "external_userid" | "phone", the value)."""
        for name in ("openid", "external_userid", "phone"):
            value = getattr(self, name)
            if value is not None:
                return name, value
        raise AssertionError("validated: exactly one is set")


class _OrderFields(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    order_no: StrictStr
    amount: Any
    ordered_at: StrictStr
    customer: CustomerRefIn
    store_code: StrictStr | None = None
    guide_code: StrictStr | None = None
    # Points the member paid with (SPEC §13), spent in the order's transaction.
    points_used: Annotated[int, Field(ge=0, le=POINTS_USED_MAX, strict=True)] = 0

    @field_validator("order_no")
    @classmethod
    def _order_no(cls, value: str) -> str:
        return _printable(value, ORDER_NO_MAX_CHARS)

    @field_validator("amount")
    @classmethod
    def _amount(cls, value: Any) -> Decimal:
        return parse_amount(value)

    @field_validator("ordered_at")
    @classmethod
    def _ordered_at(cls, value: str) -> str:
        _parse_moment(value)
        return value

    @field_validator("store_code", "guide_code")
    @classmethod
    def _code(cls, value: str | None) -> str | None:
        return None if value is None else _printable(value, CODE_MAX_CHARS)


@dataclass(frozen=True)
class OrderIn:
    """A valid order: ``amount`` has 2 places, ``ordered_at`` is in UTC."""

    order_no: str
    amount: Decimal
    ordered_at: datetime
    customer: CustomerRefIn
    store_code: str | None
    guide_code: str | None
    points_used: int = 0


def parse_order(data: Mapping[str, Any], *, now: datetime) -> OrderIn:
    """A valid :class:`OrderIn` from JSON-like data, or :class:`InvalidOrder` naming the field."""
    try:
        fields = _OrderFields.model_validate(dict(data))
    except ValidationError as exc:
        raise InvalidOrder.from_validation(exc, what="an order") from None
    ordered_at = _parse_moment(fields.ordered_at)
    if ordered_at > now + FUTURE_TOLERANCE:
        raise InvalidOrder("ordered_at", f"is in the future (our clock says {now.isoformat(timespec='seconds')})")
    return OrderIn(
        order_no=fields.order_no,
        amount=fields.amount,
        ordered_at=ordered_at,
        customer=fields.customer,
        store_code=fields.store_code,
        guide_code=fields.guide_code,
        points_used=fields.points_used,
    )


def _parse_moment(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("must be an ISO 8601 date and time, e.g. 2026-11-01T10:30:00+08:00") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("must carry a time zone, e.g. +08:00 or Z")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None
    if moment < EARLIEST:
        raise ValueError("is before 1970")
    return moment


class RefundIn(BaseModel):
    """A refund of (part of) an order: ``amount`` yuan, 2 decimals; ``refund_no`` when the
    order system numbers its refunds (tagging/refunds.py says what a retry is without one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount: Any
    refund_no: StrictStr | None = None

    @field_validator("amount")
    @classmethod
    def _amount(cls, value: Any) -> Decimal:
        return parse_amount(value)

    @field_validator("refund_no")
    @classmethod
    def _refund_no(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = _printable(value, ORDER_NO_MAX_CHARS)
        if value.startswith("auto:"):
            raise ValueError('must not start with "auto:" (the numbers of refunds made without one)')
        return value


def parse_refund(data: Mapping[str, Any]) -> RefundIn:
    """A valid :class:`RefundIn`, or :class:`InvalidOrder` naming the field."""
    try:
        return RefundIn.model_validate(dict(data))
    except ValidationError as exc:
        raise InvalidOrder.from_validation(exc, what="a refund") from None
