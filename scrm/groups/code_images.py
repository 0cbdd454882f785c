"""A live code's QR image (群活码): WeCom's image of the code's own join way (``qr_code`` from
``get_join_way``), fetched once and kept in Redis a day, so the console, the API and the poster
show the code WeCom made (whose content only WeCom knows), never a code of the image's URL."""

from __future__ import annotations

from typing import TYPE_CHECKING

import requests

from scrm.errors import ConflictError
from scrm.groups.codes import get, own_way

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

CACHE_KEY = "scrm:groups:code-image:{config_id}"
CACHE_SECONDS = 24 * 3600
FETCH_TIMEOUT_SECONDS = 10


class CodeImageUnavailable(ConflictError):
    """WeCom's image of the code could not be fetched now (409: try again)."""

    code = "image_unavailable"


def code_image(*, runtime: Runtime, db_session: Session, code_id: int) -> bytes:
    """The PNG of the code's own join way; :class:`GroupCodeNotFound` for no code."""
    get(db_session=db_session, code_id=code_id)
    way = own_way(db_session=db_session, code_id=code_id)
    if way is None:
        raise CodeImageUnavailable(f"group code {code_id} has no QR image")
    return way_image(runtime=runtime, config_id=way.config_id, qr_code=way.qr_code, what=f"group code {code_id}")


def way_image(*, runtime: Runtime, config_id: str, qr_code: str, what: str) -> bytes:
    """The PNG of one join way (the code's own, or a guide's or campaign's), from WeCom's
    ``qr_code`` URL, kept a day; :class:`CodeImageUnavailable` when WeCom's image is not there."""
    if not qr_code:
        raise CodeImageUnavailable(f"{what} has no QR image")
    key = CACHE_KEY.format(config_id=config_id)
    cached = runtime.redis.get(key)
    if cached:
        return cached
    try:
        response = requests.get(qr_code, timeout=FETCH_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        raise CodeImageUnavailable(f"WeCom's image of {what} not fetched: {type(exc).__name__}") from None
    if response.status_code != 200 or not response.content:
        raise CodeImageUnavailable(f"WeCom's image of {what} answered HTTP {response.status_code}")
    runtime.redis.set(key, response.content, ex=CACHE_SECONDS)
    return response.content
