"""Checks the input models of several domains share (pydantic ``Annotated`` pieces)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

# Ids as large as their column holds: an INTEGER id (PostgreSQL's is 32 bits) or a BIGINT one
# (customers, coupons, orders, …). A larger id is refused here, before PostgreSQL would refuse
# it with an error (a 500), alike on SQLite (SPEC §12).
INT_ID_MAX = 2**31 - 1
BIG_ID_MAX = 2**63 - 1
IntId = Annotated[int, Field(ge=1, le=INT_ID_MAX, strict=True)]
BigIntId = Annotated[int, Field(ge=1, le=BIG_ID_MAX, strict=True)]

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029]")


# Moments a body may give: year 1 at +08:00 is in year 0 in UTC (an OverflowError, a 500);
# nothing the brand plans or records is before 1970 or after 2999.
EARLIEST_MOMENT, LATEST_MOMENT = datetime(1970, 1, 1, tzinfo=UTC), datetime(3000, 1, 1, tzinfo=UTC)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must carry a time zone, e.g. 2026-12-01T10:00:00+08:00")
    if not EARLIEST_MOMENT <= value < LATEST_MOMENT:  # compared in UTC without converting: no overflow
        raise ValueError("must be between 1970 and 2999")
    return value.astimezone(UTC)


# A moment given with its zone, kept in UTC.
Moment = Annotated[datetime, AfterValidator(_aware)]


@dataclass(frozen=True, eq=False)  # eq=False: hashed by identity, as its bounds may hold a dict
class Described:
    """What /api/openapi.json says of a value a validator checks (a pattern, a length): it adds
    to the JSON Schema only; the validator still decides, with its own message."""

    bounds: tuple[tuple[str, Any], ...]

    def __get_pydantic_json_schema__(self, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema.update(self.bounds)
        return schema


def described(**bounds: Any) -> Described:  # noqa: ANN401
    return Described(tuple(bounds.items()))


@dataclass(frozen=True, slots=True)
class _Text(AfterValidator):
    most: int = 0

    def __get_pydantic_json_schema__(self, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema.update(minLength=1, maxLength=self.most)
        return schema


def text(most: int, *, strip: bool = True) -> AfterValidator:
    """1-``most`` characters, not only spaces, no control characters (line breaks and tabs are
    allowed); ``strip``: outer spaces dropped (names), else kept (messages)."""

    def check(value: str) -> str:
        kept = value.strip() if strip else value
        if not value.strip() or len(kept) > most:
            raise ValueError(f"must be 1-{most} characters, not only spaces")
        if _CONTROL_CHARS.search(kept):
            raise ValueError("must not contain control characters")
        return kept

    return _Text(check, most=most)
