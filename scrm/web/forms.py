"""What every console form needs: the fields as typed, errors as the templates list them, the
status a refused form is answered with, and 404 pages for unknown records."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from flask import abort

from scrm.errors import InvalidInput
from scrm.web.refusals import reader_message

if TYPE_CHECKING:
    from werkzeug.datastructures import MultiDict


def form_fields(form: MultiDict[str, str], *names: str) -> dict[str, str]:
    """The named fields, stripped; a missing one is ``""`` (re-shown as typed on an error)."""
    return {name: form.get(name, "").strip() for name in names}


def form_errors(exc: Exception) -> list[dict[str, str]]:
    """Each bad field of an :class:`InvalidInput`, or the message of any other refusal, worded
    for the reader (scrm/web/refusals.py)."""
    items = exc.errors if isinstance(exc, InvalidInput) else [{"field": "", "message": str(exc)}]
    return [{**item, "message": reader_message(item["message"])} for item in items]


def form_status(exc: Exception, *conflicts: type[Exception]) -> int:
    """409 for a conflict (a taken name, a state that forbids it), else 422."""
    return 409 if isinstance(exc, conflicts) else 422


def not_found_as_404(*missing: type[Exception]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A page whose record does not exist answers 404."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            try:
                return view(*args, **kwargs)
            except missing:
                abort(404)

        return wrapped

    return decorate
