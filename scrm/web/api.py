"""What every JSON route needs: the runtime and the body as a JSON object. (Bad input
raises a ``scrm.errors.InvalidInput``, which scrm/web/errors.py answers with 422.)"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import current_app, request

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
