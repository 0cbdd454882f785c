"""What a tag rule may hold: the API's input, validated once here for every caller.

Patterns by kind: a ``keyword`` (with ``synonyms``; whole words unless ``substring``), a
menu ``click`` key (WeChat allows 128 bytes), a ``view`` URL (http or https, as the menu or
the tracked link has it), a QR ``scene`` (exact, or a prefix when it ends with ``*``), an
``event`` (follow, unfollow, purchase).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError
from pydantic import field_validator, model_validator

from tagging.keywords import normal_form, segmentable
from scrm.errors import InvalidInput

EVENTS = ("follow", "unfollow", "purchase")
KEYWORD_MAX_CHARS = 32
MAX_SYNONYMS = 20
CLICK_MAX_BYTES = 128
SCENE_MAX_CHARS = 64  # WeChat's scene_str limit; a prefix pattern adds its "*"
URL_MAX_CHARS = 255  # the column's
MAX_WEIGHT = 100.0

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


class InvalidTagRule(InvalidInput):
    """Bad input for a tag rule; ``field`` names the first offending field ("synonyms.1")."""


class TagRuleIn(BaseModel):
    """A whole, consistent rule. Build it with :func:`parse_rule` to get :class:`InvalidTagRule`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["keyword", "click", "view", "scene", "event"]
    pattern: StrictStr
    tag_id: StrictInt = Field(gt=0, lt=2**31)
    weight: float = Field(1.0, gt=0, le=MAX_WEIGHT, allow_inf_nan=False, strict=True)
    synonyms: tuple[StrictStr, ...] = Field((), max_length=MAX_SYNONYMS)
    substring: StrictBool = False
    enabled: StrictBool = True

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        value = value.strip()
        if not value or _CONTROL_CHARS.search(value):
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

