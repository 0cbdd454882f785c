"""What every request meets before a route: ids bounded to the database's 64 bits, NUL
characters refused, and the security headers on every answer (SPEC §12). Bad input is
refused here alike on SQLite and PostgreSQL, instead of reaching PostgreSQL as a 500."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import NotFound

from scrm.errors import InvalidInput
from scrm.web.errors import ApiError

MAX_ID = 2**63 - 1  # BIGINT on PostgreSQL, INTEGER on SQLite
_JSON_NUL = re.compile(rb"\\u0000")

SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # signed links (coupon pages, sign-in) never leave in a Referer
}


def init_app(app: Flask) -> None:
    @app.url_value_preprocessor
    def _ids_fit(_endpoint: str | None, values: dict[str, Any] | None) -> None:
        """``<int:…>`` in every route: a number beyond 64 bits names nothing (404, whatever the
        method; a converter with a maximum would make werkzeug answer 405 for some)."""
        if values and any(type(value) is int and value > MAX_ID for value in values.values()):
            raise NotFound()

    @app.before_request
    def _refuse_nul() -> None:
        field = _json_nul_field()
        if field is not None:
            raise InvalidInput(field, "NUL characters are not accepted")
        if _has_nul():
            raise ApiError("NUL characters are not accepted", code="bad_request")

    @app.after_request
    def _security_headers(response):  # noqa: ANN001, ANN202
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def _has_nul() -> bool:
    if b"%00" in request.query_string.lower() or "\x00" in request.path:
        return True
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return any("\x00" in key or "\x00" in value for key, value in request.form.items(multi=True))
    return request.is_json and b"\x00" in request.get_data(cache=True)


def _json_nul_field() -> str | None:
    """In a JSON body, the dotted path of the first key or text holding a NUL (a 422 naming
    the field, as schema errors do); None when there is none or the body is not JSON."""
    if not request.is_json or _JSON_NUL.search(request.get_data(cache=True)) is None:
        return None
    return _nul_path(request.get_json(silent=True), "")


def _nul_path(value: Any, path: str) -> str | None:  # noqa: ANN401
    if isinstance(value, str):
        return (path or "body") if "\x00" in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        where = f"{path}.{key}" if path else str(key)
        if "\x00" in str(key):
            return where
        found = _nul_path(item, where)
        if found is not None:
            return found
    return None


def query_id(name: str) -> int | None:
    """The query parameter ``name`` as an id: None when absent, 400 ``bad_query`` when it is
    not a whole number from 0 to 2**63-1."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or int(raw) > MAX_ID:
        raise ApiError(f"{name} must be a whole number from 0 to {MAX_ID}", code="bad_query", field=name)
    return int(raw)
