"""What every JSON route needs: the runtime and the body as a JSON object. (Bad input
raises a ``scrm.errors.InvalidInput``, which scrm/web/errors.py answers with 422.)"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from flask import current_app, request

from scrm.clock import local_day
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


def day_range(runtime: Runtime, *, most_days: int = 366, default_days: int = 30) -> tuple[date, date]:
    """``?from=YYYY-MM-DD&to=YYYY-MM-DD`` as local days (``brand.timezone``): ``to`` defaults to
    today, ``from`` to ``default_days`` before it; 400 ``bad_query`` for bad or reversed dates
    or a range over ``most_days``."""

    try:
        last = date.fromisoformat(request.args["to"]) if "to" in request.args else local_day(runtime.config,
                                                                                              runtime.clock.now())
        first = (date.fromisoformat(request.args["from"]) if "from" in request.args
                 else last - timedelta(days=default_days - 1))
    except ValueError:
        raise ApiError("from and to must be dates, YYYY-MM-DD", code="bad_query") from None
    if first > last or (last - first).days >= most_days:
        raise ApiError(f"from must be before to, at most {most_days} days apart", code="bad_query")
    return first, last
