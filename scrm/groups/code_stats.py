"""Joins through live codes (群活码), from :class:`GroupCodeDayStats` (way × group × local day):
by code, by day, by way (who handed the code out) and by group. Read-only; the caller owns the
transaction; days are ``brand.timezone``'s, ``first`` to ``last`` inclusive."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from scrm.groups.models import GroupCodeDayStats

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.orm import Session

STATS = GroupCodeDayStats


def joins_by_code(*, db_session: Session, code_ids: Iterable[int], first: date, last: date) -> dict[int, int]:
    """code id → joins in the period (codes with none are left out)."""
    rows = db_session.execute(select(STATS.code_id, func.sum(STATS.joined))
                              .where(STATS.code_id.in_(list(code_ids)), STATS.day.between(first, last))
                              .group_by(STATS.code_id))
    return {code_id: int(n or 0) for code_id, n in rows}


def joins_by_day(*, db_session: Session, code_id: int, first: date, last: date) -> list[dict[str, object]]:
    """Every day of the period, in order, with the code's joins (0 when none)."""
    counted = dict(db_session.execute(select(STATS.day, func.sum(STATS.joined))
                                      .where(STATS.code_id == code_id, STATS.day.between(first, last))
                                      .group_by(STATS.day)).all())
    return [{"day": (first + timedelta(days=n)).isoformat(), "joined": int(counted.get(first + timedelta(days=n)) or 0)}
            for n in range((last - first).days + 1)]


def joins_by_way(*, db_session: Session, code_id: int, first: date, last: date) -> dict[int, int]:
    """way id → joins in the period."""
    return _grouped(db_session, STATS.way_id, code_id, first, last)


def joins_by_group(*, db_session: Session, code_id: int, first: date, last: date) -> dict[int, int]:
    """group id (customer_groups.id) → joins through the code in the period."""
    return _grouped(db_session, STATS.group_id, code_id, first, last)


def joins_by_code_and_day(*, db_session: Session, code_ids: Iterable[int], first: date,
                          last: date) -> dict[tuple[int, date], int]:
    """(code id, day) → joins, only the days with some."""
    rows = db_session.execute(select(STATS.code_id, STATS.day, func.sum(STATS.joined))
                              .where(STATS.code_id.in_(list(code_ids)), STATS.day.between(first, last))
                              .group_by(STATS.code_id, STATS.day))
    return {(code_id, day): int(n or 0) for code_id, day, n in rows}


def _grouped(db_session: Session, column: object, code_id: int, first: date, last: date) -> dict[int, int]:
    rows = db_session.execute(select(column, func.sum(STATS.joined))
                              .where(STATS.code_id == code_id, STATS.day.between(first, last)).group_by(column))
    return {key: int(n or 0) for key, n in rows}
