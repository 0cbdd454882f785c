"""What the member page's forms (scrm/members/customer_pages.py) take, validated before anything
is read or written: a China mobile number, a 6-digit code, a birthday in the past, the
agreement ticked; a mall item id that fits its column and an idempotency key of the page's
making."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from scrm.members.joining import InvalidPhone, china_mobile

MAX_ITEM_ID = 2**31 - 1  # mall_items.id is an INTEGER
EARLIEST_BIRTHDAY = date(1900, 1, 1)
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)]


class CodeRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    phone: Text

    @field_validator("phone")
    @classmethod
    def _mobile(cls, value: str) -> str:
        try:
            return china_mobile(value)
        except InvalidPhone:
            raise ValueError("must be a China mobile number") from None


class JoinForm(CodeRequest):
    code: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{6}$")]
    birthday: date | None = None
    agree: bool

    @field_validator("birthday", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value in ("", None) else value

    @field_validator("agree", mode="before")
    @classmethod
    def _ticked(cls, value: object) -> bool:
        if value not in ("1", "on", "true", True):
            raise ValueError("the member agreement must be accepted")
        return True


class ExchangeForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    item_id: int = Field(ge=1, le=MAX_ITEM_ID)
    key: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{16,64}$")]


def birthday_is_real(birthday: date | None, today: date) -> bool:
    return birthday is None or EARLIEST_BIRTHDAY <= birthday <= today
