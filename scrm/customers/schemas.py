"""What a manager may change on a customer (``PATCH /api/customers/<id>``): the birthday, which
the birthday journey reads (scrm/outreach/daily_triggers.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from scrm.errors import InvalidInput, validated

EARLIEST_BIRTHDAY = date(1900, 1, 1)


class InvalidCustomer(InvalidInput):
    pass


def _iso_day(value: Any) -> Any:  # noqa: ANN401
    """Only ``YYYY-MM-DD`` (pydantic would also take a number as a timestamp)."""
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("must be a date written YYYY-MM-DD, or null to forget it")
    return value


class CustomerChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    birthday: Annotated[date | None, BeforeValidator(_iso_day)]


def parse_change(body: Mapping[str, Any], *, today: date) -> CustomerChangeIn:
    """The change, or :class:`InvalidCustomer` naming the field: a birthday after ``today`` (the
    brand's local day) or before 1900 is a typo."""
    change = validated(CustomerChangeIn, body, error=InvalidCustomer, what="customer")
    if change.birthday is not None and not EARLIEST_BIRTHDAY <= change.birthday <= today:
        raise InvalidCustomer("birthday", f"must be between {EARLIEST_BIRTHDAY} and today ({today})")
    return change
