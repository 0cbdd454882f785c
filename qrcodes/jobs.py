"""Asking WeChat for a code, outside any request: ``qrcode/create`` (MP) or
``externalcontact/add_contact_way`` (WeCom), then the contact way's image.

Each step is committed before the next, so a retry never makes a second contact way: a row
with a ``config_id`` only lacks its image.
"""

from __future__ import annotations

import logging

import requests
from sqlalchemy import select

from guides.models import Guide
from qrcodes.models import ChannelCode
from scrm.runtime import Runtime, current, job
from scrm.wechat.errors import WeChatError

log = logging.getLogger(__name__)

# WeCom will not make this contact way whatever we do (unknown member, member outside the
# customer-contact range, not activated): a person has to fix the guide first.
PERMANENT_ERRCODES = frozenset({40003, 60111, 84074, 41054, 40098, 60011})
IMAGE_TIMEOUT_SECONDS = 10
MAX_CONTACT_WAY_USERS = 100


class CodeImageUnavailable(Exception):
    """The contact way exists but its image could not be fetched (retried)."""


@job
def create_code(runtime: Runtime, code_id: int) -> None:
    with runtime.transaction() as db_session:
        code = db_session.get(ChannelCode, code_id)
        if code is None or code.status in ("ready", "retired"):
            return
        channel, scene, config_id, image_url = code.channel, code.scene, code.config_id, code.image_url
        # A store's way follows the guides on duty (guides/store_duty.py): multi-person from the start.
        multi = code.kind == "store"
        remark, userids = _owner(db_session, code)
    try:
        if channel == "mp":
            qrcode = runtime.mp.create_qrcode(scene, permanent=True)
            _save(code_id, status="ready", ticket=qrcode.ticket, content=qrcode.url, error=None)
            return
        if config_id is None:
            if not userids:
                _save(code_id, status="failed", error="no active guide to receive customers")
                return
            way = runtime.work.add_contact_way(scene, userids[:MAX_CONTACT_WAY_USERS], remark=remark, multi=multi)
            config_id, image_url = way.config_id, way.qr_code
            _save(code_id, config_id=config_id, image_url=image_url)
        _save(code_id, status="ready", image=_download(image_url), error=None)
    except WeChatError as exc:
        _failed(code_id, exc, permanent=exc.errcode in PERMANENT_ERRCODES)
        if exc.errcode not in PERMANENT_ERRCODES:
            raise
    except CodeImageUnavailable as exc:
        _failed(code_id, exc, permanent=False)
        raise


def _owner(db_session, code: ChannelCode) -> tuple[str, list[str]]:  # noqa: ANN001
    """The contact way's remark, and the members who receive its customers."""
    if code.guide_id is not None:
        guide = db_session.get(Guide, code.guide_id)
        return f"guide {guide.code}", [guide.wecom_userid] if guide.active else []
    userids = db_session.scalars(
        select(Guide.wecom_userid).where(Guide.store_id == code.store_id, Guide.status == "active").order_by(Guide.id)
    ).all()
    return f"store {code.store_id}", list(userids)


def _download(url: str | None) -> bytes:
    if not url:
        raise CodeImageUnavailable("WeCom gave no image URL for the contact way")
    try:
        response = requests.get(url, timeout=IMAGE_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        raise CodeImageUnavailable(f"could not fetch the contact way image: {type(exc).__name__}") from None
    if response.status_code != 200 or not response.content:
        raise CodeImageUnavailable(f"the contact way image answered HTTP {response.status_code}")
    return response.content


def _save(code_id: int, **values: object) -> None:
    runtime = current()
    with runtime.transaction() as db_session:
        code = db_session.get(ChannelCode, code_id)
        for name, value in values.items():
            setattr(code, name, value)
        if values.get("status") == "ready":
            code.ready_at = runtime.clock.now()


def _failed(code_id: int, exc: Exception, *, permanent: bool) -> None:
    runtime = current()
    with runtime.transaction() as db_session:
        code = db_session.get(ChannelCode, code_id)
        code.attempts += 1
        code.error = str(exc)[:500]
        if permanent or code.attempts > runtime.config.queue.max_retries:
            code.status = "failed"
        attempts = code.attempts
    log.warning("code %s not created (attempt %s): %s", code_id, attempts, exc)
