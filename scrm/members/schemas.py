"""What the membership API and the points mall accept, validated once here (SPEC §11, §13),
and what the API answers (the member card, ledger entries, mall items) as JSON.

Points are whole numbers, given as JSON integers (``strict``: ``"10"``, ``10.0``, ``NaN`` and
``1e999`` are refused). Idempotency keys are 1-64 printable characters. A guide sees a
member's phone number masked (SPEC §12).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from scrm.validators import IntId, described
from scrm.validators import text as bounded_text

MAX_POINTS = 10_000_000
MAX_GRANT = 1_000_000
MAX_SORT = 1_000_000
KEY = re.compile(r"^[\x21-\x7e]{1,64}$")  # printable ASCII, no spaces


def _key(value: str) -> str:
    if not KEY.match(value):
        raise ValueError("must be 1-64 printable ASCII characters without spaces")
    return value


IdempotencyKey = Annotated[str, AfterValidator(_key), described(pattern=KEY.pattern, minLength=1, maxLength=64)]
ItemPoints = Annotated[int, Field(ge=1, le=MAX_POINTS, strict=True)]
Stock = Annotated[int, Field(ge=0, le=MAX_POINTS, strict=True)]
PerMemberLimit = Annotated[int, Field(ge=1, le=1000, strict=True)]
Sort = Annotated[int, Field(ge=-MAX_SORT, le=MAX_SORT, strict=True)]


class MallItemIn(BaseModel):
    """An item of the points mall: a coupon template for ``points``; ``stock`` (omitted or
    null: no limit), ``per_member_limit`` (null: no limit), ``min_level_id`` (reserved to that
    level and above)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, bounded_text(64)]
    description: Annotated[str, bounded_text(500, strip=False)] | None = None
    template_id: IntId
    points: ItemPoints
    stock: Stock | None = None
    per_member_limit: PerMemberLimit | None = None
    min_level_id: IntId | None = None
    status: Literal["active", "paused"] = "active"
    sort: Sort = 0


NULLABLE_CHANGES = ("description", "stock", "per_member_limit", "min_level_id")


class MallItemChangeIn(BaseModel):
    """What changes of an item: only the fields given. ``null`` clears a nullable one
    (``stock``: no limit; ``per_member_limit``: no limit; ``min_level_id``: every member)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, bounded_text(64)] | None = None
    description: Annotated[str, bounded_text(500, strip=False)] | None = None
    template_id: IntId | None = None
    points: ItemPoints | None = None
    stock: Stock | None = None
    per_member_limit: PerMemberLimit | None = None
    min_level_id: IntId | None = None
    status: Literal["active", "paused"] | None = None
    sort: Sort | None = None

    @model_validator(mode="after")
    def _nulls_only_where_they_mean_something(self) -> MallItemChangeIn:
        for name in sorted(self.model_fields_set - set(NULLABLE_CHANGES)):
            if getattr(self, name) is None:
                raise ValueError(f"{name}: cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields given, with their new values."""
        return {name: getattr(self, name) for name in sorted(self.model_fields_set)}
