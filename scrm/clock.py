"""The clock adapter: code asks ``runtime.clock.now()``; tests freeze or move it. Beside it,
the brand's local days (``brand.timezone``) and moments read back from the database in UTC."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrm.config import Config


# The moment this thread's work happens "as of": see as_of().
_AS_OF: ContextVar[datetime | None] = ContextVar("scrm_clock_as_of", default=None)


@contextmanager
def as_of(moment: datetime) -> Iterator[None]:
    """Inside the block, ``now()`` of our clocks answers ``moment``, in this thread (context)
    only. The sandbox handles a backfilled callback (``scrm simulate --backfill``) as of the
    time the callback says it happened (handlers/dispatch.py)."""
    token = _AS_OF.set(as_utc(moment))
    try:
        yield
    finally:
        _AS_OF.reset(token)


class SystemClock:
    def now(self) -> datetime:
        return _AS_OF.get() or datetime.now(UTC)

    def timestamp(self) -> float:
        return self.now().timestamp()


class FrozenClock(SystemClock):
    """A clock that stands still until told to move."""

    def __init__(self, at: datetime) -> None:
        self._at = at if at.tzinfo else at.replace(tzinfo=UTC)

    def now(self) -> datetime:
        return _AS_OF.get() or self._at

    def advance(self, **delta: float) -> None:
        self._at += timedelta(**delta)

    def set(self, at: datetime) -> None:
        self._at = at if at.tzinfo else at.replace(tzinfo=UTC)


def as_utc(moment: datetime) -> datetime:
    """The same moment in UTC. SQLite hands datetimes back without their zone, and every one we
    store is UTC; SQLite also compares stored times as text, so an aware moment is turned to
    UTC before it is compared there."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def local_day(config: Config, at: datetime) -> date:
    """The brand's calendar day of ``at`` (``brand.timezone``)."""
    return at.astimezone(config.brand.zone).date()


def utc_bounds(config: Config, first_day: date, last_day: date) -> tuple[datetime, datetime]:
    """[start of ``first_day``, start of the day after ``last_day``) in UTC: the brand's local
    days as bounds for stored times (in UTC, which SQLite compares as text)."""
    zone = config.brand.zone
    return (datetime.combine(first_day, time(0), zone).astimezone(UTC),
            datetime.combine(last_day + timedelta(days=1), time(0), zone).astimezone(UTC))
