"""Errors shared across domains."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError


_BLAMED = re.compile(r"[a-z_]+")


class RetryLater(Exception):
    """Transient refusal: try again after ``retry_after`` seconds (the queue backs off by it
    without spending one of the job's retries). WeChat's rate limits raise a subclass."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DomainError(Exception):
    """A refusal a domain service raises, with a ``code`` and details for the caller. The web
    layer answers every one the same way (scrm/web/errors.py, SPEC §11): a NotFoundError with
    404, a ConflictError with 409, a Refused with 422. Each domain raises subclasses of its own
    name; a subclass may set ``code`` and pass details (``field=…``, ``existing_id=…``)."""

    code = "refused"

    def __init__(self, message: str, *, code: str | None = None, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.details = details


class NotFoundError(DomainError):
    code = "not_found"


class ConflictError(DomainError):
    code = "conflict"


class Refused(DomainError):
    """The request names something that cannot be used (an unknown store, a bad audience):
    422, with ``field`` in the details where one field is to blame."""

    code = "unprocessable"


class InvalidInput(Exception):
    """Input that fails validation, naming the field (``errors`` lists every bad field).
    The web layer answers 422 with them; each domain raises a subclass of its own name."""

    def __init__(self, field: str, message: str, *, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.errors = errors or [{"field": field, "message": message}]

    @classmethod
    def from_validation(
        cls,
        exc: ValidationError,
        *,
        what: str,
        special: Callable[[Mapping[str, Any]], str | None] = lambda error: None,
    ) -> InvalidInput:
        """From pydantic's errors: each names its field ("articles.0.url"), the first leads.
        ``special`` may word an error its own way (None: the usual wording)."""
        errors = [
            {"field": _field_of(error) or "body", "message": special(error) or _wording(error, what)}
            for error in exc.errors()
        ]
        return cls(errors[0]["field"], errors[0]["message"], errors=errors)


def _field_of(error: Mapping[str, Any]) -> str:
    # pydantic names the branch of a union it tried ("half_life_days.float"): the field is enough
    return ".".join(str(part) for part in error["loc"] if part not in ("float", "int", "str", "none"))


def _wording(error: Mapping[str, Any], what: str) -> str:
    if error["type"] == "extra_forbidden":
        return f"is not a field of {what}"
    if error["type"] == "missing":
        return "is required"
    return str(error["msg"]).removeprefix("Value error, ")


def validated(model: Any, body: Mapping[str, Any], *, error: type[InvalidInput], what: str) -> Any:
    """``model`` validated from ``body``, or ``error`` naming every bad field. A check that spans
    fields blames one of them by starting its message with ``field: `` (``"amount: a cash
    coupon needs its amount"``), and the error names that field, under the object it is in."""
    from pydantic import ValidationError

    try:
        return model.model_validate(dict(body))
    except ValidationError as exc:
        errors = error.from_validation(exc, what=what).errors
    for item in errors:
        named, _, message = item["message"].partition(": ")
        if message and _BLAMED.fullmatch(named):
            parent = "" if item["field"] == "body" else item["field"]
            item["field"], item["message"] = ".".join(p for p in (parent, named) if p), message
    raise error(errors[0]["field"], errors[0]["message"], errors=errors)
