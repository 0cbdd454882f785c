"""A manager's manual points change (手动发放 / 扣除积分, SPEC §13): a grant (a lot, kind
``grant``) or a deduction (kind ``deduct``, from the oldest available lots, refused when the
member has fewer available points), with a reason and the manager's name on the entry.

The key names the change: the console draws a fresh one with the form, so a double submit (or
a retried request) finds the first change and writes nothing. The same key used for another
change is a :class:`ledger.KeyReused`.

Service functions take ``db_session`` and never commit; the caller owns the transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from scrm.errors import InvalidInput, validated
from scrm.members import ledger
from scrm.validators import text as bounded_text

AMOUNT_MAX = 1_000_000
KEY_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class InvalidPointsChange(InvalidInput):
    """Bad manual points input; ``field`` names the first offending field."""


class PointsChangeIn(BaseModel):
    """``amount`` > 0 grants, < 0 deducts; ``reason`` is shown in the member's history."""

    model_config = ConfigDict(extra="forbid")

    amount: int = Field(ge=-AMOUNT_MAX, le=AMOUNT_MAX, description="points: > 0 grant, < 0 deduct, never 0")
    reason: Annotated[str, bounded_text(200)]
    key: str = Field(pattern=KEY_PATTERN, description="names the change: the same key again changes nothing")

    @field_validator("amount")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must not be 0")
        return value


def parse_points_change(body: dict) -> PointsChangeIn:
    return validated(PointsChangeIn, body, error=InvalidPointsChange, what="a points change")


def change_points(*, db_session, config, customer_id: int, change_in: PointsChangeIn, by: str,  # noqa: ANN001
                  at: datetime) -> ledger.Posted:
    """The grant or deduction, once per key; :class:`ledger.NotAMember`,
    :class:`ledger.NotEnoughPoints` (nothing written), :class:`ledger.KeyReused`."""
    key = f"manual:{customer_id}:{change_in.key}"
    if change_in.amount > 0:
        return ledger.earn(db_session=db_session, config=config, customer_id=customer_id, amount=change_in.amount,
                           kind="grant", source="grant", source_id=change_in.key, key=key, at=at,
                           reason=change_in.reason, created_by=by[:64])
    return ledger.spend(db_session=db_session, customer_id=customer_id, amount=-change_in.amount, kind="deduct",
                        source="deduct", source_id=change_in.key, key=key, at=at, reason=change_in.reason,
                        created_by=by[:64])
