"""Who is calling: ``Authorization: Bearer`` on /api/, a login session on pages.

``@require_role("admin", "manager")`` answers 401 without a valid token or session and 403
for a role not listed. The user is on ``g.user`` as a frozen :class:`Caller`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import g, redirect, request, session, url_for

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
    elif session.get("token_id"):
        caller = _session_caller(session["token_id"])
    g.caller = caller
    return caller


def require_role(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            caller = current_caller()
            if caller is None:
                if not request.path.startswith("/api/"):
                    return redirect(url_for("pages.login", next=request.path))
                raise Unauthorized("a valid bearer token is required")
            if roles and caller.role not in roles:
                raise Forbidden(f"this needs the role {' or '.join(roles)}; you are {caller.role}")
            return view(*args, **kwargs)

        return wrapped

    return decorate


def log_in(caller: Caller) -> None:
    session.clear()
    session["token_id"] = caller.token_id


def log_out() -> None:
    session.clear()
