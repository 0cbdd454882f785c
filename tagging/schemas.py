"""What the tag API accepts, validated once here: groups, tags, a manager's tag on a customer.

Names are what managers type and what audience expressions refer to: outer whitespace is
stripped, control characters are refused, and a tag name holds at most 30 characters, the
limit of both WeChat MP user tags and WeCom corp tags (they are mirrored there, SPEC §5).
A group's ``half_life_days`` is None (scores never decay) or a positive number of days; its
``threshold`` is the score a customer needs to carry one of its tags. Computed groups (RFM,
lifecycle) belong to the recompute job: the API neither creates nor changes them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator
from scrm.errors import InvalidInput as BaseInvalidInput

NAME_MAX_CHARS = 30  # WeChat's limit for a tag name (MP and WeCom); groups share it
HALF_LIFE_MAX_DAYS = 36_500
THRESHOLD_MAX = 1_000_000.0
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\ufffe\uffff]")


class InvalidInput(BaseInvalidInput):
    """Bad input; ``field`` names the first offending field ("half_life_days")."""


def clean_name(value: str) -> str:
    value = value.strip()
    if not 1 <= len(value) <= NAME_MAX_CHARS:
        raise ValueError(f"must be 1-{NAME_MAX_CHARS} characters, not only spaces")
    if _CONTROL_CHARS.search(value):
        raise ValueError("must not contain control characters")
    return value


class _Input(BaseModel):
    # strict: true is not a number and "3" is not a number of days
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class GroupIn(_Input):
    name: str
    half_life_days: float | None = Field(None, gt=0, le=HALF_LIFE_MAX_DAYS)
    threshold: float = Field(1.0, gt=0, le=THRESHOLD_MAX)
    computed: Literal[False] = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return clean_name(value)


class GroupChanges(_Input):
    """A PATCH: only the fields given change (``half_life_days: null`` turns decay off)."""

    name: str | None = None
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
    group: StrictInt | str  # the group's id, or its name
    name: str

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
    tag_id: StrictInt = Field(gt=0)


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