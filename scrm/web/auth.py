"""Who is calling: ``Authorization: Bearer`` on /api/, a login session on pages.

``@require_role("admin", "manager")`` answers 401 without a valid token or session and 403
for a role not listed. The user is on ``g.user`` as a frozen :class:`Caller`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import current_app, g, redirect, request, session, url_for

from scrm.web.errors import Forbidden, Unauthorized


@dataclass(frozen=True)
class Caller:
    user_id: int
    name: str
    role: str
    guide_code: str | None


def _runtime():  # noqa: ANN202
    return current_app.extensions["scrm"]


def authenticate_token(token: str) -> Caller | None:
    from scrm.users import service

    runtime = _runtime()
    with runtime.transaction() as db_session:
        user = service.authenticate(db_session=db_session, token=token, now=runtime.clock.now())
        if user is None:
            return None
        return Caller(user.id, user.name, user.role, user.guide_code)


def current_caller() -> Caller | None:
    if "caller" in g:
        return g.caller
    caller = None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        caller = authenticate_token(header[len("Bearer "):].strip())
    elif session.get("caller"):
        caller = Caller(**session["caller"])
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
    session["caller"] = caller.__dict__.copy()


def log_out() -> None:
    session.clear()
