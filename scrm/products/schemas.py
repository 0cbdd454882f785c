"""What the product-code API accepts (SPEC §11, §14), validated once here, and what it answers.

A batch is ``{product, sku, quantity, reward: {points} | {coupon_template_id}, store_code?,
valid_until?}``; numbers are JSON integers (``strict``), texts bounded and without NUL bytes.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from scrm.products.models import MAX_QUANTITY
from scrm.validators import IntId
from scrm.validators import text as bounded_text

MAX_REWARD_POINTS = 1_000_000
SHEET_MAX_LABELS = 5_000  # labels in one PDF: 77 pages of 65, a print shop's job, not a warehouse's


class RewardIn(BaseModel):
    """Exactly one of ``points`` (added to the member's points) or ``coupon_template_id``."""

    model_config = ConfigDict(extra="forbid")

    points: Annotated[int, Field(ge=1, le=MAX_REWARD_POINTS, strict=True)] | None = None
    coupon_template_id: IntId | None = None

    @model_validator(mode="after")
    def _one(self) -> RewardIn:
        if (self.points is None) == (self.coupon_template_id is None):
            raise ValueError("points: give the reward as points or as coupon_template_id, one of the two")
        return self


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product: Annotated[str, bounded_text(64)]
    sku: Annotated[str, bounded_text(64)]
    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY, strict=True)]
    reward: RewardIn
    store_code: Annotated[str, bounded_text(32)] | None = None
    valid_until: date | None = None


class SheetRange(BaseModel):
    """``from``/``to``: the serials printed, inclusive, at most SHEET_MAX_LABELS."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    first: Annotated[int, Field(ge=1, le=MAX_QUANTITY, alias="from")]
    last: Annotated[int, Field(ge=1, le=MAX_QUANTITY, alias="to")]

    @model_validator(mode="after")
    def _range(self) -> SheetRange:
        if self.last < self.first:
            raise ValueError("to: must not be below from")
        if self.last - self.first + 1 > SHEET_MAX_LABELS:
            raise ValueError(f"to: at most {SHEET_MAX_LABELS} labels in one sheet file; ask for the rest in parts")
        return self


def batch_out(batch: Any, *, store_code: str | None, template_name: str | None, claims: int,
              coupons_left: int | None = None) -> dict[str, Any]:
    """A batch as the API shows it."""
    reward = ({"points": batch.reward_points} if batch.reward_points is not None
              else {"coupon_template_id": batch.reward_template_id, "coupon_template": template_name,
                    "coupons_left": coupons_left})
    return {
        "id": batch.id, "prefix": batch.prefix, "product": batch.product, "sku": batch.sku,
        "quantity": batch.quantity, "reward": reward, "store_code": store_code,
        "valid_until": batch.valid_until.isoformat() if batch.valid_until else None,
        "claims": claims, "created_by": batch.created_by, "created_at": batch.created_at.isoformat(),
    }


class CodeRange(BaseModel):
    """codes.csv's ``from``/``to``: the serials exported, inclusive; the whole batch by default."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    first: int | None = Field(default=None, ge=1, le=MAX_QUANTITY, alias="from")
    last: int | None = Field(default=None, ge=1, le=MAX_QUANTITY, alias="to")

    @model_validator(mode="after")
    def _range(self) -> CodeRange:
        if self.first is not None and self.last is not None and self.last < self.first:
            raise ValueError("to: must not be below from")
        return self


# ---- what the API answers (described in /api/openapi.json)


class RewardOut(BaseModel):
    points: int | None = Field(default=None, description="points added to the member's points; or:")
    coupon_template_id: int | None = Field(default=None, description="a coupon of this template")
    coupon_template: str | None = Field(default=None, description="the template's name")
    coupons_left: int | None = Field(default=None, description=(
        "the template's coupons not yet issued (its stock left, shared with its other uses; null: no "
        "limit): a claim that finds none gives nothing and leaves the code unclaimed"))


class BatchOut(BaseModel):
    id: int
    prefix: str = Field(description="the batch's part of every code (5 characters)")
    product: str
    sku: str
    quantity: int = Field(description="codes in the batch: serials 1…quantity")
    reward: RewardOut
    store_code: str | None = Field(description="the store credited with its claims")
    valid_until: date | None = Field(description="the last local day its codes can be claimed")
    claims: int = Field(description="codes claimed so far")
    created_by: str | None
    created_at: str = Field(description="ISO 8601, UTC")


class BatchListOut(BaseModel):
    batches: list[BatchOut] = Field(description="newest first")
    page: int
    per_page: int
    total: int
    has_more: bool
