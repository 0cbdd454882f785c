"""A level (会员等级, SPEC §13) as the console's level form gives it.

The discount is typed as 折, as Chinese shoppers read it (9 = 10% off, 8.5 = 15% off, 10 = none)
and stored as the price's share (0.85). Benefits are lines of text shown on the member card and
to the guide. A coupon template (the level-up gift, the birthday gift) must be an active one.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from scrm.errors import InvalidInput, validated
from scrm.validators import IntId
from scrm.validators import text as bounded_text

THRESHOLD_MAX = 100_000_000
BENEFITS_MAX = 10
BENEFIT_CHARS = 40


class InvalidLevel(InvalidInput):
    """Bad level input; ``field`` names the first offending field."""


class LevelIn(BaseModel):
    """A level's fields, all of them (the form shows them all)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, bounded_text(16)]
    threshold: int = Field(ge=0, le=THRESHOLD_MAX, description="the growth value (成长值) that reaches the level")
    discount_zhe: Decimal = Field(ge=Decimal("0.1"), le=Decimal("10"), allow_inf_nan=False,
                                  description="the members' price as 折: 9 = 10% off, 10 = no discount")
    points_multiplier: Decimal = Field(ge=Decimal("0.1"), le=Decimal("10"), allow_inf_nan=False,
                                       description="points earned per yuan are multiplied by this")
    benefits: list[Annotated[str, bounded_text(BENEFIT_CHARS)]] = Field(default_factory=list, max_length=BENEFITS_MAX)
    level_up_template_id: IntId | None = None
    birthday_template_id: IntId | None = None

    @field_validator("discount_zhe")
    @classmethod
    def _one_place(cls, value: Decimal) -> Decimal:
        if value.as_tuple().exponent < -1:  # type: ignore[operator]
            raise ValueError("has at most one decimal place, e.g. 8.5")
        return value

    @field_validator("points_multiplier")
    @classmethod
    def _two_places(cls, value: Decimal) -> Decimal:
        if value.as_tuple().exponent < -2:  # type: ignore[operator]
            raise ValueError("has at most two decimal places, e.g. 1.25")
        return value

    @property
    def discount(self) -> Decimal:
        """The stored share of the price: 8.5 折 → 0.85."""
        return (self.discount_zhe / 10).quantize(Decimal("0.01"))


def parse_level(body: dict) -> LevelIn:
    return validated(LevelIn, body, error=InvalidLevel, what="a level")


def zhe(discount: Decimal) -> str:
    """A stored discount as 折 ("8.5", "9"); "" for none (1.00)."""
    if discount >= 1:
        return ""
    return f"{(Decimal(discount) * 10).normalize():f}"
