"""Login links for guides (``scrm guides login-link CODE``): a signed, expiring, single-use URL
that opens the guide's phone pages without typing a token.

The link carries the guide's code and a random nonce, signed with ``security.secret_key``
(itsdangerous). Using it claims the nonce in the database (``used_login_links``, a unique
nonce), so a link forwarded to someone else after the guide used it opens nothing, even
after a restart or a Redis flush. It then signs the guide in as their user
(created on first use, role ``guide``) with a fresh token; a login session ends when that
token is revoked (``scrm users revoke``) or the guide leaves.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from guides.models import Guide, UsedLoginLink
from scrm.db import dialect_insert
from scrm.errors import Refused
from scrm.signing import age_seconds, clock_serializer
from scrm.users.models import ApiToken, User
from scrm.users.service import hash_token, issue_token

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

SALT = "scrm guide login link"
PATH = "/m/login"


class LoginLinkRefused(Refused):
    """The link is forged, expired, used, or its guide has left; the message says which."""


class LoginLinkUsed(LoginLinkRefused):
    """The link was used already; ``guide_code`` says whose it is (the guide signed in with it
    who opens it again is simply shown their page)."""

    def __init__(self, guide_code: str) -> None:
        super().__init__("this login link was used already; ask for a new one")
        self.guide_code = guide_code


def _serializer(runtime: Runtime) -> URLSafeTimedSerializer:
    return clock_serializer(runtime, salt=SALT)


def make_link(*, runtime: Runtime, db_session: Session, guide_code: str) -> str:
    guide = db_session.scalar(select(Guide).where(Guide.code == guide_code))
    if guide is None:
        raise LookupError(f"no guide {guide_code}")
    if not guide.active:
        raise LoginLinkRefused(f"guide {guide_code} has left")
    token = _serializer(runtime).dumps({"guide": guide.code, "nonce": secrets.token_urlsafe(12)})
    return f"{runtime.config.server.public_base_url}{PATH}?t={token}"


def use_link(*, runtime: Runtime, db_session: Session, token: str) -> ApiToken:
    """The API token the guide is signed in with; :class:`LoginLinkRefused` otherwise."""
    max_age = runtime.config.guides.login_link_hours * 3600
    try:
        data, signed_at = _serializer(runtime).loads(token, return_timestamp=True)
    except (BadSignature, ValueError, TypeError):
        raise LoginLinkRefused("this is not a valid login link") from None
    if age_seconds(runtime, signed_at) > max_age:
        raise LoginLinkRefused("this login link has expired; ask for a new one")
    if not isinstance(data, dict) or not isinstance(data.get("guide"), str) or not isinstance(data.get("nonce"), str):
        raise LoginLinkRefused("this is not a valid login link")
    guide = db_session.scalar(select(Guide).where(Guide.code == data.get("guide")))
    if guide is None or not guide.active:
        raise LoginLinkRefused("this guide no longer works here")
    claimed = db_session.scalar(
        dialect_insert(db_session, UsedLoginLink)
        .values(nonce=data["nonce"][:32], guide_code=guide.code, used_at=runtime.clock.now())
        .on_conflict_do_nothing(index_elements=["nonce"])
        .returning(UsedLoginLink.nonce)
    )
    if claimed is None:
        raise LoginLinkUsed(guide.code)
    return sign_in_guide(db_session=db_session, guide=guide)


def sign_in_guide(*, db_session: Session, guide: Guide) -> ApiToken:
    """A fresh token for the guide's user (created on first sign-in)."""
    user = db_session.scalar(select(User).where(User.role == "guide", User.guide_code == guide.code, User.active.is_(True)))
    if user is None:
        user = User(name=_free_name(db_session, f"guide-{guide.code}"), role="guide", guide_code=guide.code)
        db_session.add(user)
        db_session.flush()
    token = issue_token(db_session=db_session, user=user)
    return db_session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))


def _free_name(db_session: Session, name: str) -> str:
    taken = set(db_session.scalars(select(User.name).where(User.name.like(f"{name}%"))))
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}-{n}"
    return candidate
