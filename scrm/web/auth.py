"""Who is calling: ``Authorization: Bearer`` on /api/ (only that: a session cookie does not
authenticate the API, so no other site can make a browser call it), a login session on pages.

``@require_role("admin", "manager")`` answers 401 without a valid token or session and 403
for a role not listed. The user is on ``g.user`` as a frozen :class:`Caller`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import g, redirect, request, session, url_for
from flask_babel import gettext

from scrm.redis_store import is_memory_url
from scrm.users import service
from scrm.web.api import current_runtime
from scrm.web.errors import Forbidden, Unauthorized


@dataclass(frozen=True)
class Caller:
    user_id: int
    name: str
    role: str
    guide_code: str | None
    token_id: int


def _caller(api_token) -> Caller | None:  # noqa: ANN001
    if api_token is None:
        return None
    user = api_token.user
    return Caller(user.id, user.name, user.role, user.guide_code, api_token.id)


def authenticate_token(token: str) -> Caller | None:
    """The token's caller. A process remembers the callers it found for
    :data:`REMEMBER_SECONDS` (by the runtime's clock), keyed by the token's digest, so
    ``last_used_at`` lags by at most that plus ``users.service.LAST_USED_PRECISION``. Any
    revocation or deactivation anywhere makes every process forget them at once (a generation
    number in Redis, read on each request: one Redis round trip instead of a database
    transaction). With ``memory://`` another process (``scrm users revoke``) cannot reach this
    one's Redis, so nothing is remembered: each request asks the database."""
    runtime = current_runtime()
    if is_memory_url(runtime.config.redis.url):
        with runtime.transaction() as db_session:
            return _caller(service.authenticate(db_session=db_session, token=token, now=runtime.clock.now()))
    digest = service.hash_token(token)
    generation = runtime.redis.get(service.CALLERS_GENERATION_KEY)
    remembered = _remembered.get(digest)
    now = runtime.clock.timestamp()
    if remembered is not None and remembered[1] == generation and now - remembered[2] < REMEMBER_SECONDS:
        return remembered[0]
    with runtime.transaction() as db_session:
        caller = _caller(service.authenticate(db_session=db_session, token=token, now=runtime.clock.now()))
    if caller is not None:
        if len(_remembered) >= REMEMBER_MOST:
            _remembered.clear()
        _remembered[digest] = (caller, generation, now)
    return caller


REMEMBER_SECONDS = 30
REMEMBER_MOST = 10_000
_remembered: dict[str, tuple[Caller, bytes | None, float]] = {}


def _session_caller(token_id: int) -> Caller | None:
    """A login session lasts only while its token is unrevoked and its user active."""
    with current_runtime().transaction() as db_session:
        return _caller(service.live_token(db_session=db_session, token_id=token_id))


def current_caller() -> Caller | None:
    if "caller" in g:
        return g.caller
    caller = None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        caller = authenticate_token(header[len("Bearer "):].strip())
    elif session.get("sid") and not request.path.startswith("/api/"):  # the API takes Bearer tokens only
        token_id = _live_session(session["sid"])
        caller = _session_caller(token_id) if token_id is not None else None
    g.caller = caller
    return caller


def require_role(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            caller = current_caller()
            if caller is None:
                if request.path.startswith("/api/"):
                    raise Unauthorized("a valid bearer token is required")
                if request.accept_mimetypes.best == "application/json":  # a page's script
                    raise Unauthorized(gettext("登录已过期，请重新登录。"))
                return redirect(url_for("pages.login", next=request.path))
            if roles and caller.role not in roles:
                raise Forbidden(f"this needs the role {' or '.join(roles)}; you are {caller.role}")
            return view(*args, **kwargs)

        return wrapped

    return decorate


SESSION_KEY = "scrm:session:{}"


def log_in(caller: Caller) -> None:
    """A login session: the cookie names it, the server holds it (Redis), so that it expires
    after ``security.session_hours`` (the console's, or a guide's) and logging out ends it."""
    runtime = current_runtime()
    hours = runtime.config.security.session_hours
    seconds = 3600 * (hours.guide if caller.role == "guide" else hours.console)
    sid = secrets.token_urlsafe(24)
    until = int(runtime.clock.timestamp()) + seconds
    runtime.redis.set(SESSION_KEY.format(sid), f"{caller.token_id}:{until}", ex=seconds)
    session.clear()
    session["sid"] = sid


def log_out() -> None:
    sid = session.get("sid")
    if sid:
        current_runtime().redis.delete(SESSION_KEY.format(sid))
    session.clear()


def _live_session(sid: str) -> int | None:
    """The token behind a session that is neither logged out nor past its hours (by the
    runtime's clock; Redis's expiry only clears it away)."""
    runtime = current_runtime()
    held = runtime.redis.get(SESSION_KEY.format(sid))
    if held is None:
        return None
    token_id, until = (int(part) for part in held.decode().split(":"))
    return token_id if runtime.clock.timestamp() < until else None
