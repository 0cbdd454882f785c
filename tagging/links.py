"""Tracked links (跟踪链接) ``/t/<token>``: an article link that records who opened it, applies
the ``view`` rules for its URL, and redirects there.

The token is the target URL and the customer's openid, signed (not encrypted: the openid can
be read from the link) with the app's secret key and the salt ``tracked-link``, and stamped
with the time of signing from the runtime's clock. Only http and https URLs are ever signed,
so the redirect can never be turned into ``javascript:`` or an open redirect to a URL we did
not sign. A token that does not verify, or is older than :data:`LINK_LIFETIME`, gets a 404
page, never a redirect.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, redirect
from itsdangerous import BadSignature, URLSafeTimedSerializer

from scrm.customers import service as customers
from scrm.customers.service import IdentityRef
from scrm.signing import clock_serializer
from scrm.web.api import current_runtime
from tagging.apply import apply_view_rules

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime
    from tagging.scores import TagChange

log = logging.getLogger(__name__)

SALT = "tracked-link"
LINK_LIFETIME = timedelta(days=90)
URL_MAX_CHARS = 2048


class LinkInvalid(Exception):
    """Not a token we signed (tampered, truncated, another key or salt, or not a token)."""


class LinkExpired(LinkInvalid):
    pass


@dataclass(frozen=True)
class TrackedLink:
    url: str
    openid: str | None
    signed_at: datetime


def make_link(runtime: Runtime, url: str, *, openid: str | None = None) -> str:
    """The tracked link for ``url`` (an http or https URL), opened by the follower ``openid``
    (None: counted for nobody): ``<public base URL>/t/<token>``."""
    if not _is_web_url(url):
        raise ValueError(f"only http:// and https:// URLs of up to {URL_MAX_CHARS} characters are tracked")
    token = _serializer(runtime).dumps({"u": url, "o": openid})
    return f"{runtime.config.server.public_base_url}/t/{token}"


def read_link(runtime: Runtime, token: str) -> TrackedLink:
    """The link ``token`` carries; :class:`LinkInvalid` or :class:`LinkExpired` otherwise."""
    try:
        payload, signed_at = _serializer(runtime).loads(token, return_timestamp=True)
    except (BadSignature, ValueError, TypeError) as exc:  # SignatureExpired is a BadSignature
        raise LinkInvalid("no such link") from exc
    url, openid = _fields(payload)
    if runtime.clock.now() - signed_at > LINK_LIFETIME:
        raise LinkExpired("this link has expired")
    return TrackedLink(url, openid, signed_at)


def record_link_open(runtime: Runtime, db_session: Session, link: TrackedLink) -> list[TagChange]:
    """The customer behind the link's openid opened it: a ``link_open`` entry on their
    timeline and the ``view`` rules for the URL. Nothing for a link without an openid or an
    openid we do not know."""
    if not link.openid:
        return []
    identity = customers.find_identity(db_session=db_session, channel="mp", external_id=link.openid)
    if identity is None:
        return []
    ref = IdentityRef(identity.id, identity.customer_id, identity.channel, identity.following)
    customers.record_interaction(
        db_session=db_session, identity=ref, kind="link_open", occurred_at=runtime.clock.now(), payload={"url": link.url}
    )
    return apply_view_rules(runtime, db_session, customer_id=ref.customer_id, url=link.url)


def _serializer(runtime: Runtime) -> URLSafeTimedSerializer:
    return clock_serializer(runtime, salt=SALT)


def _fields(payload: Any) -> tuple[str, str | None]:
    """Check what a verified token holds anyway: the redirect must only ever go to the web."""
    if not isinstance(payload, dict):
        raise LinkInvalid("no such link")
    url, openid = payload.get("u"), payload.get("o")
    if not isinstance(url, str) or not _is_web_url(url) or not (openid is None or isinstance(openid, str)):
        raise LinkInvalid("no such link")
    return url, openid


def _is_web_url(url: str) -> bool:
    if not url or len(url) > URL_MAX_CHARS or any(c.isspace() or ord(c) < 32 for c in url):
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


# -- the route -----------------------------------------------------------------------------

blueprint = Blueprint("links", __name__)


@blueprint.get("/t/<token>")
def open_link(token: str):  # noqa: ANN201
    runtime = current_runtime()
    try:
        link = read_link(runtime, token)
    except LinkExpired:
        abort(404, description="This link has expired.")
    except LinkInvalid:
        abort(404, description="There is no such link.")
    try:
        with runtime.transaction() as db_session:
            record_link_open(runtime, db_session, link)
    except Exception:  # the customer still gets the article; the click is lost and logged
        log.exception("could not record a tracked link opened")
    response = redirect(link.url, code=302)
    response.headers["Cache-Control"] = "no-store"  # every open reaches us
    return response
