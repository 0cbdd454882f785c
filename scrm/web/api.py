"""What every JSON route needs: the runtime, the body as a JSON object, days and ids from the
query, and path ids bounded by their column. (Bad input raises a ``scrm.errors.InvalidInput``,
which scrm/web/errors.py answers with 422.)"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from flask import Blueprint, current_app, request
from sqlalchemy import BigInteger
from werkzeug.exceptions import NotFound

from scrm.clock import local_day
from scrm.validators import BIG_ID_MAX, INT_ID_MAX
from scrm.web.edge import query_id
from scrm.web.errors import ApiError

if TYPE_CHECKING:
    from scrm.runtime import Runtime


def current_runtime() -> Runtime:
    return current_app.extensions["scrm"]


def json_object() -> dict[str, Any]:
    """The request body as a JSON object, or 400 ``bad_json``."""
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise ApiError("the body must be a JSON object", code="bad_json")
    return body


# The days a query may name: a day at either end of ``date`` has no UTC bounds in another zone
# (0001-01-01 in Asia/Shanghai starts in year 0), which was an OverflowError, a 500.
EARLIEST_DAY, LATEST_DAY = date(1970, 1, 1), date(2999, 12, 31)


def day_range(runtime: Runtime, *, most_days: int = 366, default_days: int = 30) -> tuple[date, date]:
    """``?from=YYYY-MM-DD&to=YYYY-MM-DD`` as local days (``brand.timezone``): ``to`` defaults to
    today, ``from`` to ``default_days`` before it; 400 ``bad_query`` for bad or reversed dates,
    days outside :data:`EARLIEST_DAY` … :data:`LATEST_DAY`, or a range over ``most_days``."""

    last = _query_day("to") or local_day(runtime.config, runtime.clock.now())
    first = _query_day("from") or max(last - timedelta(days=default_days - 1), EARLIEST_DAY)
    if first > last or (last - first).days >= most_days:
        raise ApiError(f"from must be before to, at most {most_days} days apart", code="bad_query")
    return first, last


def _query_day(name: str) -> date | None:
    if name not in request.args:
        return None
    try:
        day = date.fromisoformat(request.args[name])
    except ValueError:
        raise ApiError("from and to must be dates, YYYY-MM-DD", code="bad_query") from None
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise ApiError(f"from and to must be dates from {EARLIEST_DAY} to {LATEST_DAY}", code="bad_query")
    return day


def query_int(name: str, *, default: int, low: int, high: int) -> int:
    """The query parameter ``name`` as a whole number from ``low`` to ``high`` (``default`` when
    absent), or 400 ``bad_query``."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise ApiError(f"{name} must be a whole number from {low} to {high}", code="bad_query", field=name)
    return int(raw)


def largest_id(column: Any) -> int:  # noqa: ANN401
    """The largest id ``column`` holds: PostgreSQL's INTEGER is 32 bits, BIGINT 64 (``BigId`` is
    a BIGINT with a SQLite variant)."""
    return BIG_ID_MAX if isinstance(column.type, BigInteger) else INT_ID_MAX


def path_ids_fit(blueprint: Blueprint, **columns: Any) -> None:  # noqa: ANN401
    """``<int:name>`` beyond its column's largest id names nothing: 404 before the database sees
    it (scrm/web/edge.py stops at 64 bits; PostgreSQL answers an INTEGER compared with a larger
    number with an error, a 500), alike on SQLite."""
    limits = {name: largest_id(column) for name, column in columns.items()}

    @blueprint.url_value_preprocessor
    def _fit(_endpoint: str | None, values: dict[str, Any] | None) -> None:
        if values and any(type(values.get(name)) is int and values[name] > most for name, most in limits.items()):
            raise NotFound()


def query_id_of(name: str, column: Any) -> int | None:  # noqa: ANN401
    """:func:`~scrm.web.edge.query_id`, bounded by ``column``'s largest id: 400 ``bad_query``
    beyond it."""
    value, most = query_id(name), largest_id(column)
    if value is not None and value > most:
        raise ApiError(f"{name} must be a whole number from 0 to {most}", code="bad_query", field=name)
    return value
