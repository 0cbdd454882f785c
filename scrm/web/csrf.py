"""Writes from a browser (SPEC §12): every state-changing request that a cookie authenticates
carries a CSRF token or is refused with 403; ``/api/`` authenticates by Bearer token only and
takes JSON only (415 otherwise).

The tokens are Flask-WTF's (``CSRFProtect``): a random value kept in the session, signed with
the secret key, sent back in a form's hidden ``csrf_token`` field (``{{ csrf_token() }}`` in
every template with a form) or, from a page's script, in the ``X-CSRFToken`` header (the page
puts the token in ``<meta name="csrf-token">``). A token lasts as long as its session, which
expires on its own (``security.session_hours``): a guide may keep the redeem page open all day.

Not checked, because no cookie of ours authenticates them: ``/api/`` (the Bearer token does;
a cookie alone gets 401), the webhooks (signed by WeChat) and the sandbox's fake WeChat API
(which plays WeChat's servers, not our site).
"""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect

from scrm.web.errors import ApiError, error_body

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NOT_BY_COOKIE = ("/api/", "/wechat/", "/sandbox/wechat/")
JSON = "application/json"
# endpoint → the one other body type it takes (an upload a person makes from a file)
OTHER_BODIES = {"guides_api.import_csv": "text/csv"}


def init_app(app: Flask) -> CSRFProtect:
    app.config.update(
        WTF_CSRF_CHECK_DEFAULT=False,  # checked below, by where the request is going
        WTF_CSRF_TIME_LIMIT=None,  # the session's own expiry bounds the token
    )
    csrf = CSRFProtect(app)

    @app.before_request
    def _check_writes() -> None:
        if request.method not in WRITES or request.endpoint is None:
            return  # a read, or a 404/405 that acts on nothing
        if request.path.startswith("/api/"):
            _json_only()
        elif not request.path.startswith(NOT_BY_COOKIE):
            csrf.protect()

    @app.errorhandler(CSRFError)
    def _refused(exc: CSRFError):  # noqa: ANN202
        message = f"this request did not come from one of our pages ({exc.description}); reload the page and try again"
        if request.accept_mimetypes.best == JSON or request.is_json:
            return jsonify(error_body("csrf_failed", message)), 403
        return render_template("form_expired.html"), 403

    return csrf


def _json_only() -> None:
    """415 for an /api/ write whose body is not JSON (an HTML form or ``text/plain``, which a
    page of another site can send without asking). A write with no body at all is let through:
    actions such as ``…/launch`` take none."""
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if not request.content_type and not request.content_length and not chunked:
        return
    accepted = (JSON, OTHER_BODIES.get(request.endpoint, JSON))
    if request.mimetype not in accepted:
        raise ApiError(
            f"this API takes {' or '.join(sorted(set(accepted)))} bodies, not {request.mimetype or 'an untyped body'}",
            code="unsupported_media_type",
            status=415,
        )
