"""Scan statistics per code and local day (SPEC §6): one upserted row, counters added in SQL
so concurrent callbacks never lose a count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from qrcodes.models import ChannelCode, CodeDayStats
from scrm.db import dialect_insert

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.orm import Session

COUNTERS = ("scans", "follows", "bindings", "orders", "order_amount", "redemptions")


def count(*, db_session: Session, code_id: int, day: date, **increments: int | Decimal) -> None:
    """Add ``increments`` (``scans=1, follows=1`` …) to the code's row for ``day``."""
    unknown = set(increments) - set(COUNTERS)
    if unknown:
        raise ValueError(f"unknown counters {sorted(unknown)}")
    increments = {name: value for name, value in increments.items() if value}
    if not increments:
        return
    table = CodeDayStats.__table__
    insert = dialect_insert(db_session, table).values(code_id=code_id, day=day, **increments)
    insert = insert.on_conflict_do_update(
        index_elements=["code_id", "day"],
        set_={name: table.c[name] + insert.excluded[name] for name in increments},
    )
    db_session.connection().execute(insert)


@dataclass(frozen=True)
class DayStats:
    day: date
    scans: int
    follows: int
    bindings: int
    orders: int
    order_amount: Decimal
    redemptions: int

    def as_dict(self) -> dict[str, object]:
        return {
            "day": self.day.isoformat(),
            "scans": self.scans,
            "follows": self.follows,
            "bindings": self.bindings,
            "orders": self.orders,
            "order_amount": str(self.order_amount),
            "redemptions": self.redemptions,
        }


def per_day(*, db_session: Session, code_ids: Iterable[int], start: date, end: date) -> list[DayStats]:
    """The codes' counts summed per day, ``start`` to ``end`` inclusive, days without any
    scan included (as zeros), oldest first."""
    ids = list(code_ids)
    rows = {}
    if ids:
        query = (
            select(CodeDayStats.day, *(func.coalesce(func.sum(CodeDayStats.__table__.c[n]), 0) for n in COUNTERS))
            .where(CodeDayStats.code_id.in_(ids), CodeDayStats.day.between(start, end))
            .group_by(CodeDayStats.day)
        )
        rows = {row[0]: row[1:] for row in db_session.execute(query)}
    days = []
    for ordinal in range(start.toordinal(), end.toordinal() + 1):
        day = date.fromordinal(ordinal)
        values = rows.get(day, (0, 0, 0, 0, 0, 0))
        days.append(DayStats(day, *(int(v) for v in values[:4]), Decimal(values[4]).quantize(Decimal("0.01")), int(values[5])))
    return days


def totals(days: Iterable[DayStats]) -> dict[str, object]:
    days = list(days)
    summed = {name: sum((getattr(d, name) for d in days), Decimal(0) if name == "order_amount" else 0) for name in COUNTERS}
    summed["order_amount"] = str(Decimal(summed["order_amount"]).quantize(Decimal("0.01")))
    return summed


def code_ids_of(*, db_session: Session, guide_id: int | None = None, store_id: int | None = None) -> list[int]:
    query = select(ChannelCode.id)
    if guide_id is not None:
        query = query.where(ChannelCode.guide_id == guide_id)
    if store_id is not None:
        query = query.where(ChannelCode.store_id == store_id)
    return list(db_session.scalars(query))
