"""What every request meets before a route: ids bounded to the database's 64 bits, NUL
characters refused, and the security headers on every answer (SPEC §12). Bad input is
refused here alike on SQLite and PostgreSQL, instead of reaching PostgreSQL as a 500."""

from __future__ import annotations

import re

from flask import Flask, request
from werkzeug.routing import IntegerConverter

from scrm.web.errors import ApiError

MAX_ID = 2**63 - 1  # BIGINT on PostgreSQL, INTEGER on SQLite
_JSON_NUL = re.compile(rb"\\u0000", re.IGNORECASE)

SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # signed links (coupon pages, sign-in) never leave in a Referer
}


class IdConverter(IntegerConverter):
    """``<int:…>`` in every route: a number beyond 64 bits names nothing, so it is a 404."""

    def __init__(self, map, *args, **kwargs) -> None:  # noqa: A002, ANN001, ANN002, ANN003
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def init_app(app: Flask) -> None:
    app.url_map.converters["int"] = IdConverter

    @app.before_request
    def _refuse_nul() -> None:
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
    if request.mimetype == "application/x-www-form-urlencoded" or request.mimetype == "multipart/form-data":
        return any("\x00" in key or "\x00" in value for key, value in request.form.items(multi=True))
    if request.is_json:
        data = request.get_data(cache=True)
        return b"\x00" in data or _JSON_NUL.search(data) is not None
    return False


def query_id(name: str) -> int | None:
    """The query parameter ``name`` as an id: None when absent, 400 ``bad_query`` when it is
    not a whole number from 0 to 2**63-1."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or int(raw) > MAX_ID:
        raise ApiError(f"{name} must be a whole number from 0 to {MAX_ID}", code="bad_query", field=name)
    return int(raw)
