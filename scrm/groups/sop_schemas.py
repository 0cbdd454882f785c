"""Group SOP (群SOP) plans as the API takes and shows them (SPEC §9, §11)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from scrm.errors import InvalidInput, validated
from scrm.groups.models import SOP_STATUSES, SOP_TASK_STATUSES

TIME = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
MAX_STEPS = 30
MAX_TEXT = 1500  # WeCom takes 4,000 bytes of text: 1,500 Chinese characters fit


class SopInvalid(InvalidInput):
    """A plan or step that cannot be saved (422, naming the field)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SopLinkIn(_Strict):
    title: str = Field(min_length=1, max_length=64)
    url: str = Field(min_length=8, max_length=500, pattern=r"^https?://\S+$")
    description: str = Field("", max_length=200)


class StepIn(_Strict):
    """When (``day_offset`` days after the group came into the plan, or every ``weekday``
    1–7, Monday first) at ``time`` (local HH:MM), and what the owner sends."""

    day_offset: int | None = Field(None, ge=0, le=365)
    weekday: int | None = Field(None, ge=1, le=7)
    time: str
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    link: SopLinkIn | None = None
    image_media_id: str | None = Field(None, min_length=1, max_length=128)
    deadline_minutes: int = Field(120, ge=10, le=7 * 24 * 60)

    @field_validator("time")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        if not TIME.fullmatch(value):
            raise ValueError("must be a time HH:MM (00:00–23:59)")
        return value

    @model_validator(mode="after")
    def _one_timing(self) -> StepIn:
        if (self.day_offset is None) == (self.weekday is None):
            raise ValueError("day_offset: give either day_offset or weekday")
        return self

    def content(self) -> dict[str, Any]:
        return {"text": self.text, "link": self.link.model_dump() if self.link else None,
                "image_media_id": self.image_media_id}


class SelectorIn(_Strict):
    kind: str = Field(description="owner (guide codes, comma-separated), store (a store code), "
                                  "name (a group name pattern, * for any characters), "
                                  "code (a live code's id or name: the groups on it now)")
    value: str = Field(min_length=1, max_length=200)


class SopIn(_Strict):
    name: str = Field(min_length=1, max_length=64)
    status: Literal["active", "paused", "archived"] = "active"
    selector: SelectorIn
    steps: list[StepIn] = Field(min_length=1, max_length=MAX_STEPS)


class SopPatch(_Strict):
    """Only the fields given change; ``steps`` replaces the steps by position."""

    name: str | None = Field(None, min_length=1, max_length=64)
    status: Literal["active", "paused", "archived"] | None = None
    selector: SelectorIn | None = None
    steps: list[StepIn] | None = Field(None, min_length=1, max_length=MAX_STEPS)


def parse_sop(body: dict[str, Any], *, patch: bool = False) -> SopIn | SopPatch:
    return validated(SopPatch if patch else SopIn, body, error=SopInvalid, what="a group SOP")


# ---- described in /api/openapi.json ---------------------------------------------------------


class StepOut(BaseModel):
    position: int
    day_offset: int | None
    weekday: int | None
    time: str
    text: str
    link: dict[str, str] | None
    image_media_id: str | None
    deadline_minutes: int


class SopOut(BaseModel):
    id: int
    name: str
    status: str = Field(description=" | ".join(SOP_STATUSES))
    selector: dict[str, str]
    steps: list[StepOut]
    groups: int = Field(description="groups the selector matches now (normal ones with an owner)")
    tasks: int
    sent_on_time: int
    created_at: str


class SopListOut(BaseModel):
    sops: list[SopOut]


class SopTaskOut(BaseModel):
    id: int
    position: int
    owner_userid: str
    due_at: str
    deadline_at: str
    chat_ids: list[str]
    msgid: str | None
    status: str = Field(description=" | ".join(SOP_TASK_STATUSES))
    sent_at: str | None
    reminded_at: str | None
    on_time: bool


class SopDetailOut(SopOut):
    chat_ids: list[str]
    task_list: list[SopTaskOut]
