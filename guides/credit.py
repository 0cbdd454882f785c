"""Crediting a guide with a customer's purchase or redemption (SPEC §6).

The guide credited is the one the order names (``guide_code``), else the customer's current
guide. When that is the bound guide, the binding's protection is renewed, and the code that
brought the customer is credited in its day's statistics: what a code's customers bought
later is what the code was worth.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import select

from guides.binding import current_binding, renew_protection
from guides.models import Guide
from qrcodes import stats
from scrm.clock import as_utc, local_day

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime


def credit_guide(
    *, runtime: Runtime, db_session: Session, customer_id: int, guide_code: str | None, at: datetime,
    kind: str, amount: Decimal = Decimal(0), guide_id: int | None = None,
) -> int | None:
    """The id of the guide credited with the customer's ``kind`` ("order" or "redemption");
    ``guide_id``, when the caller knows it, saves looking ``guide_code`` up."""
    at = as_utc(at)
    binding = current_binding(db_session=db_session, customer_id=customer_id, lock=True)
    if guide_id is not None:
        credited = guide_id
    elif guide_code:
        credited = db_session.scalar(select(Guide.id).where(Guide.code == guide_code))
    else:
        credited = binding.guide_id if binding is not None else None
    if credited is None or binding is None or binding.guide_id != credited:
        return credited
    renew_protection(runtime=runtime, binding=binding, at=at)
    if binding.code_id is not None:
        day = local_day(runtime.config, at)
        if kind == "order":
            stats.count(db_session=db_session, code_id=binding.code_id, day=day, orders=1, order_amount=amount)
        else:
            stats.count(db_session=db_session, code_id=binding.code_id, day=day, redemptions=1)
    return credited
