"""Errors as ``{"error": code, "message": …}`` (SPEC §11). Domain code raises ApiError
subclasses or its own errors mapped here; nothing reaches the client as a bare 500 page."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from scrm.errors import ConflictError, DomainError, InvalidInput, NotFoundError, Refused

log = logging.getLogger(__name__)


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None, **details: object):
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.status = status or self.status
        self.details = details


class NotFound(ApiError):
    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class Unprocessable(ApiError):
    status, code = 422, "unprocessable"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


def error_body(code: str, message: str, **details: object) -> dict[str, object]:
    return {"error": code, "message": message, **details}


DOMAIN_STATUS = ((NotFoundError, 404), (ConflictError, 409), (Refused, 422))


def domain_status(exc: DomainError) -> int:
    return next((status for kind, status in DOMAIN_STATUS if isinstance(exc, kind)), 400)


def init_app(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain_error(exc: DomainError):  # noqa: ANN202
        return jsonify(error_body(exc.code, exc.message, **exc.details)), domain_status(exc)

    @app.errorhandler(InvalidInput)
    def _invalid_input(exc: InvalidInput):  # noqa: ANN202
        body = error_body("unprocessable", f"{exc.field}: {exc.message}", field=exc.field, errors=exc.errors)
        return jsonify(body), 422

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):  # noqa: ANN202
        return jsonify(error_body(exc.code, exc.message, **exc.details)), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # noqa: ANN202
        if request.path.startswith("/api/"):
            code = (exc.name or "error").lower().replace(" ", "_")
            return jsonify(error_body(code, exc.description or exc.name)), exc.code
        if exc.code == 429:  # a person on a page (sign-in, the guide's redeem page) reads why
            return render_template("too_many.html"), 429
        return exc

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # noqa: ANN202
        log.exception("unhandled error on %s %s", request.method, request.path)
        return jsonify(error_body("internal_error", "something went wrong; it has been logged")), 500
