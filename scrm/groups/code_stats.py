"""Joins through live codes (群活码), from :class:`GroupCodeDayStats` (way × group × local day):
by code, by day, by way (who handed the code out) and by group, and every code's joins beside the
groups on it now (:func:`code_joins`, for 社群数据). Read-only; the caller owns the transaction;
days are ``brand.timezone``'s, ``first`` to ``last`` inclusive."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import func, or_, select

from scrm.groups.models import GroupCode, GroupCodeChat, GroupCodeDayStats, GroupCodeWay

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.orm import Session

STATS = GroupCodeDayStats


class CodeJoins(NamedTuple):
    """One live code's joins in a period, and the groups on it now."""

    code_id: int
    name: str
    joined: int
    groups: int


def code_joins(*, db_session: Session, first: date, last: date) -> list[CodeJoins]:
    """Every active code, and every retired one with joins in the period: its joins through any
    of its ways, and the groups on it now; most joins first."""
    joined = (select(STATS.code_id, func.sum(STATS.joined).label("n")).where(STATS.day.between(first, last))
              .group_by(STATS.code_id).subquery())
    on_it = (select(GroupCodeChat.code_id, func.count().label("n")).where(GroupCodeChat.removed_at.is_(None))
             .group_by(GroupCodeChat.code_id).subquery())
    rows = db_session.execute(
        select(GroupCode.id, GroupCode.name, func.coalesce(joined.c.n, 0), func.coalesce(on_it.c.n, 0))
        .outerjoin(joined, joined.c.code_id == GroupCode.id).outerjoin(on_it, on_it.c.code_id == GroupCode.id)
        .where(or_(GroupCode.status == "active", joined.c.n > 0)))
    found = [CodeJoins(code_id, name, int(n), int(groups)) for code_id, name, n, groups in rows]
    return sorted(found, key=lambda c: (-c.joined, c.code_id))


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


def joins_by_source(*, db_session: Session, source: str, source_id: int, first: date, last: date) -> dict[int, int]:
    """code id → joins in the period through the ways ``source`` (``guide``, ``campaign``) with
    id ``source_id`` handed out (codes with none are left out)."""
    rows = db_session.execute(select(STATS.code_id, func.sum(STATS.joined))
                              .join(GroupCodeWay, GroupCodeWay.id == STATS.way_id)
                              .where(GroupCodeWay.source == source, GroupCodeWay.source_id == source_id,
                                     STATS.day.between(first, last))
                              .group_by(STATS.code_id))
    return {code_id: int(n or 0) for code_id, n in rows}


def _grouped(db_session: Session, column: object, code_id: int, first: date, last: date) -> dict[int, int]:
    rows = db_session.execute(select(column, func.sum(STATS.joined))
                              .where(STATS.code_id == code_id, STATS.day.between(first, last)).group_by(column))
    return {key: int(n or 0) for key, n in rows}
