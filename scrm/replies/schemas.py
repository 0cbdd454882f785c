"""What a reply rule may hold: the API's input, validated once here for every caller.

WeChat's limits shape the rules: a passive text reply is kept within 2048 bytes of UTF-8
(counted in bytes, not characters, so Chinese text is measured honestly); a news reply to a
customer's message may carry one article only, while an event reply (the follow greeting)
may carry up to eight (WeChat silently drops the rest, so we refuse them instead); and the
reply is XML, which cannot carry most control characters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from scrm.errors import InvalidInput

if TYPE_CHECKING:
    from scrm.replies.models import ReplyRule

MATCHES = ("exact", "contains", "follow", "default")
KEYWORD_MATCHES = ("exact", "contains")
SINGLE_MATCHES = ("follow", "default")  # at most one enabled rule of each
REPLY_KINDS = ("text", "news")

KEYWORD_MAX_CHARS = 64
TEXT_MAX_BYTES = 2048
TITLE_MAX_CHARS = 64
DESCRIPTION_MAX_CHARS = 512
URL_MAX_CHARS = 1024
MAX_ARTICLES_FOR_EVENT = 8  # the follow greeting answers an event
MAX_ARTICLES_FOR_MESSAGE = 1  # keyword and default replies answer a customer's message
PRIORITY_LIMIT = 1_000_000

# XML 1.0 refuses these; a reply carrying one would break the webhook's answer.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


class InvalidRule(InvalidInput):
    """Bad input for a reply rule; ``field`` names the first offending field ("articles.0.url")."""


def match_form(text: str) -> str:
    """The form in which keywords and messages are compared: full-width letters and digits
    folded to ASCII (NFKC), outer whitespace stripped, case folded. Chinese is unchanged."""
    return unicodedata.normalize("NFKC", text).strip().casefold()


def _printable(value: str) -> str:
    if _CONTROL_CHARS.search(value):
        raise ValueError("must not contain control characters")
    return value


def _http_url(value: str, *, required: bool) -> str:
    value = value.strip()
    if not value and not required:
        return value
    if len(value) > URL_MAX_CHARS:
        raise ValueError(f"must be at most {URL_MAX_CHARS} characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
        raise ValueError("must be an http:// or https:// URL")
    return _printable(value)


class ArticleIn(BaseModel):
    """One article card (图文): the url is the article's own; tagging tracks clicks on it later."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: StrictStr
    description: StrictStr = ""
    url: StrictStr
    picurl: StrictStr = ""

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        value = value.strip()
        if not 1 <= len(value) <= TITLE_MAX_CHARS:
            raise ValueError(f"must be 1-{TITLE_MAX_CHARS} characters")
        return _printable(value)

    @field_validator("description")
    @classmethod
    def _description(cls, value: str) -> str:
        if len(value) > DESCRIPTION_MAX_CHARS:
            raise ValueError(f"must be at most {DESCRIPTION_MAX_CHARS} characters")
        return _printable(value)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value, required=True)

    @field_validator("picurl")
    @classmethod
    def _picurl(cls, value: str) -> str:
        return _http_url(value, required=False)


class RuleIn(BaseModel):
    """A whole, consistent rule. Build it with :func:`parse_rule` to get :class:`InvalidRule`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    match: Literal["exact", "contains", "follow", "default"]
    keyword: StrictStr | None = None
    reply_kind: Literal["text", "news"] = "text"
    text: StrictStr = ""
    articles: tuple[ArticleIn, ...] = ()
    priority: StrictInt = Field(0, ge=-PRIORITY_LIMIT, le=PRIORITY_LIMIT)
    enabled: StrictBool = True

    @field_validator("keyword")
    @classmethod
    def _keyword(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not 1 <= len(value) <= KEYWORD_MAX_CHARS or not match_form(value):
            raise ValueError(f"must be 1-{KEYWORD_MAX_CHARS} characters, not only spaces")
        return _printable(value)

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        size = len(value.encode("utf-8"))
        if size > TEXT_MAX_BYTES:
            raise ValueError(f"is {size} bytes of UTF-8; a WeChat text reply holds at most {TEXT_MAX_BYTES}")
        return _printable(value)

    # Raising InvalidRule (not ValueError) lets it pass through pydantic with its field name.
    @model_validator(mode="after")
    def _consistent(self) -> RuleIn:
        if self.match in KEYWORD_MATCHES and self.keyword is None:
            raise InvalidRule("keyword", f"an {self.match} rule needs a keyword of 1-{KEYWORD_MAX_CHARS} characters")
        if self.match in SINGLE_MATCHES and self.keyword is not None:
            raise InvalidRule("keyword", f"a {self.match} rule has no keyword")
        if self.reply_kind == "text":
            if self.articles:
                raise InvalidRule("articles", "only a news reply has articles")
            if not self.text.strip():
                raise InvalidRule("text", f"a text reply needs 1-{TEXT_MAX_BYTES} bytes of text")
        else:
            if self.text:
                raise InvalidRule("text", "a news reply has no text; use the article's description")
            limit = MAX_ARTICLES_FOR_EVENT if self.match == "follow" else MAX_ARTICLES_FOR_MESSAGE
            if not 1 <= len(self.articles) <= limit:
                why = "" if self.match == "follow" else " (WeChat sends one article in reply to a message)"
                raise InvalidRule("articles", f"a {self.match} news reply needs 1-{limit} articles{why}")
        return self


def parse_rule(data: Mapping[str, Any]) -> RuleIn:
    """A valid :class:`RuleIn` from JSON-like data, or :class:`InvalidRule` naming the field."""
    try:
        return RuleIn.model_validate(dict(data))
    except ValidationError as exc:
        raise InvalidRule.from_validation(exc, what="a reply rule") from None


def parse_changes(data: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a PATCH sets; the merged rule is validated whole by the service."""
    unknown = sorted(set(data) - set(RuleIn.model_fields))
    if unknown:
        raise InvalidRule(unknown[0], "is not a field of a reply rule")
    return dict(data)


# ---- output ---------------------------------------------------------------------------------

def rule_json(rule: ReplyRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "match": rule.match,
        "keyword": rule.keyword,
        "reply_kind": rule.reply_kind,
        "text": rule.text,
        "articles": rule.articles,
        "priority": rule.priority,
        "enabled": rule.enabled,
        "created_at": _iso(rule.created_at),
        "updated_at": _iso(rule.updated_at),
    }


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    # SQLite hands back CURRENT_TIMESTAMP (UTC) without a zone.
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).isoformat()


# ---- described in /api/openapi.json ---------------------------------------------------------


class ReplyRuleOut(BaseModel):
    id: int
    match: str
    keyword: str | None
    reply_kind: str = Field(description="text or news")
    text: str
    articles: list[dict[str, Any]]
    priority: int
    enabled: bool
    created_at: str | None
    updated_at: str | None


class ReplyRuleListOut(BaseModel):
    rules: list[ReplyRuleOut]


class MenuOut(BaseModel):
    id: int
    button: list[dict[str, Any]] = Field(description="WeChat's menu/create button list: name, type click|view, "
                                                     "key or url, or sub_button")
    status: str = Field(description="saved, publishing, published, failed or superseded")
    error: str | None = Field(description="WeChat's errcode and errmsg when publishing failed")
    published_at: str | None
