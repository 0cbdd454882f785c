"""Store codes: which guide a new customer of the store goes to (SPEC §6).

A guide is on duty when the local time (``brand.timezone``) falls in one of the hour ranges
of their schedule for that weekday: ``{"mon": ["10-14", "18-22"], "sat": ["10-22"]}``. A range
may wrap midnight (``"22-2"``); an empty schedule means always on duty. The store code gives
each guide at most ``daily_cap`` customers a local day (None: no cap). Among the regular guides
on duty and under their cap the one given fewest today wins (then the longest-serving); when
all are capped or off duty, the backups under their cap, on duty or not; else no one.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from guides.models import Binding, Guide
from qrcodes.models import ChannelCode

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.config import Config

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_hours(text: str) -> tuple[int, int]:
    """``"10-22"`` → (10, 22); hours 0-24, start ≠ end."""
    parts = text.split("-")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f'"{text}" is not an hour range like "10-22"')
    start, end = (int(p) for p in parts)
    if not (0 <= start <= 23 and 0 <= end <= 24) or start == end:
        raise ValueError(f'"{text}": hours are 0-24 and the range is not empty')
    return start, end


def on_duty(schedule: dict[str, Any] | None, local: datetime) -> bool:
    if not schedule:
        return True
    hour, today = local.hour, local.weekday()
    for text in schedule.get(WEEKDAYS[today], ()):
        start, end = parse_hours(text)
        if start <= hour < end or (start > end and hour >= start):
            return True
    # Yesterday's shift that wraps midnight ("fri": ["22-2"] covers Saturday until 2:00).
    for text in schedule.get(WEEKDAYS[(today - 1) % 7], ()):
        start, end = parse_hours(text)
        if start > end and hour < end:
            return True
    return False


def route(*, db_session: Session, config: Config, store_id: int, at: datetime) -> int | None:
    """The id of the guide a store code gives a new customer at ``at``, or None."""
    pool = on_duty_pool(db_session=db_session, config=config, store_id=store_id, at=at)
    return pool[0] if pool else None


def on_duty_pool(*, db_session: Session, config: Config, store_id: int, at: datetime) -> list[int]:
    """The guides a store code may give a customer to at ``at``, best first: the regular
    guides on duty under their cap, else the backups under theirs."""
    zone = config.brand.zone
    local = at.astimezone(zone)
    guides = db_session.execute(
        select(Guide.id, Guide.schedule, Guide.daily_cap, Guide.backup)
        .where(Guide.store_id == store_id, Guide.status == "active")
        .order_by(Guide.id)
    ).all()
    if not guides:
        return []
    # in UTC: SQLite compares the stored (UTC) times as text
    given = _given_today(db_session, store_id, datetime.combine(local.date(), time(0), zone).astimezone(UTC))
    under_cap = [g for g in guides if g.daily_cap is None or given.get(g.id, 0) < g.daily_cap]
    regular = [g for g in under_cap if not g.backup and on_duty(g.schedule, local)]
    pool = regular or [g for g in under_cap if g.backup]
    return [g.id for g in sorted(pool, key=lambda g: (given.get(g.id, 0), g.id))]


def _given_today(db_session: Session, store_id: int, midnight: datetime) -> dict[int, int]:
    """Customers each guide got from the store's codes since local midnight."""
    store_codes = select(ChannelCode.id).where(ChannelCode.store_id == store_id, ChannelCode.kind == "store")
    rows = db_session.execute(
        select(Binding.guide_id, func.count())
        .where(Binding.code_id.in_(store_codes), Binding.bound_at >= midnight, Binding.bound_at < midnight + timedelta(days=1))
        .group_by(Binding.guide_id)
    )
    return {guide_id: n for guide_id, n in rows}
