"""Users and API tokens: create, authenticate, revoke. Callers own the transaction."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager

from scrm.clock import as_utc
from scrm.runtime import current
from scrm.users.models import ROLES, ApiToken, User

TOKEN_PREFIX = "scrm_"
LAST_USED_PRECISION = timedelta(minutes=1)


class UserError(Exception):
    """Bad input for a user: the message says what."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(*, db_session: Session, name: str, role: str, guide_code: str | None = None) -> tuple[User, str]:
    """Create a user and their first token; the token is returned once and stored hashed."""
    name = (name or "").strip()
    if not name or len(name) > 64:
        raise UserError("name must be 1-64 characters")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if role == "guide" and not guide_code:
        raise UserError("a guide user needs --guide CODE")
    if role != "guide" and guide_code:
        raise UserError("only a guide user has a guide code")
    if db_session.scalar(select(User.id).where(User.name == name)) is not None:
        raise UserError(f"a user named {name!r} exists already")
    user = User(name=name, role=role, guide_code=guide_code)
    db_session.add(user)
    db_session.flush()
    return user, issue_token(db_session=db_session, user=user)


def issue_token(*, db_session: Session, user: User) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db_session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), prefix=token[:12]))
    db_session.flush()
    return token


def authenticate(*, db_session: Session, token: str, now: datetime) -> ApiToken | None:
    """The live token (with its active user), or None. Looks the token up by its digest.

    ``last_used_at`` is written when it is older than :data:`LAST_USED_PRECISION`, not on every
    request: a token used by many requests at once (a shop's till, an order system) would
    otherwise make each of them wait for the others' row lock."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    api_token = _live_token(db_session, ApiToken.token_hash == hash_token(token))
    if api_token is not None and (api_token.last_used_at is None
                                  or now - as_utc(api_token.last_used_at) >= LAST_USED_PRECISION):
        api_token.last_used_at = now
    return api_token


def live_token(*, db_session: Session, token_id: int) -> ApiToken | None:
    """The token a login session was opened with, if it is still unrevoked and its user active."""
    return _live_token(db_session, ApiToken.id == token_id)


def _live_token(db_session: Session, condition) -> ApiToken | None:  # noqa: ANN001 - a SQL expression
    return db_session.scalar(
        select(ApiToken)
        .join(User, ApiToken.user_id == User.id)
        .options(contains_eager(ApiToken.user))
        .where(condition, ApiToken.revoked_at.is_(None), User.active.is_(True))
    )


def list_users(*, db_session: Session) -> list[User]:
    return list(db_session.scalars(select(User).order_by(User.id)))


def revoke_tokens(*, db_session: Session, name: str, now: datetime) -> int:
    user = db_session.scalar(select(User).where(User.name == name))
    if user is None:
        raise UserError(f"no user named {name!r}")
    count = 0
    for token in user.tokens:
        if token.revoked_at is None:
            token.revoked_at = now
            count += 1
    forget_signed_in_after_commit(db_session)
    return count


CALLERS_GENERATION_KEY = "scrm:auth:generation"


def forget_callers(redis_client) -> None:  # noqa: ANN001
    """Every process stops trusting the callers it remembered (a token revoked, a user off):
    scrm/web/auth.py compares this generation number with the one it remembered them under."""
    redis_client.incr(CALLERS_GENERATION_KEY)


def forget_signed_in_after_commit(db_session: Session) -> None:
    """Once the transaction commits, every process forgets the callers it remembered
    (scrm/web/auth.py): a revoked token or a deactivated user is refused at once."""
    from sqlalchemy import event

    def _forget(_session: Session) -> None:
        forget_callers(current().redis)

    event.listen(db_session, "after_commit", _forget, once=True)
