"""What every JSON route needs: the runtime, the body as an object, validated input."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from flask import current_app, request
from pydantic import BaseModel, ValidationError

from scrm.web.errors import ApiError, Unprocessable

if TYPE_CHECKING:
    from scrm.runtime import Runtime

M = TypeVar("M", bound=BaseModel)


def current_runtime() -> Runtime:
    return current_app.extensions["scrm"]


def json_object() -> dict[str, Any]:
    """The request body as a JSON object, or 400 ``bad_json``."""
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise ApiError("the body must be a JSON object", code="bad_json")
    return body


def field_errors(exc: ValidationError, *, what: str = "this") -> list[dict[str, str]]:
    """Pydantic's errors as ``[{"field": "articles.0.url", "message": …}]``."""
    return [
        {
            "field": ".".join(str(part) for part in error["loc"]) or "body",
            "message": f"is not a field of {what}"
            if error["type"] == "extra_forbidden"
            else str(error["msg"]).removeprefix("Value error, "),
        }
        for error in exc.errors()
    ]


def validated(model: type[M], data: Mapping[str, Any], *, what: str = "this") -> M:
    """``model`` built from ``data``, or 422 naming the first bad field (all in ``errors``)."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        errors = field_errors(exc, what=what)
        raise Unprocessable(f"{errors[0]['field']}: {errors[0]['message']}", field=errors[0]["field"], errors=errors) from None
