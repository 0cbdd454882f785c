"""Stores, guides and their codes as JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from guides.models import Guide, GuideTransfer, Store
    from qrcodes.models import ChannelCode


def store_json(store: Store, *, guides: int | None = None, codes: dict[str, ChannelCode] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": store.code, "name": store.name, "address": store.address}
    if guides is not None:
        body["active_guides"] = guides
    if codes is not None:
        body["codes"] = {channel: code_json(code, f"/api/stores/{store.code}/qrcode.png?channel={channel}")
                         for channel, code in codes.items()}
    return body


def guide_json(guide: Guide, *, customers: int | None = None, codes: dict[str, ChannelCode] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": guide.code,
        "name": guide.name,
        "store": {"code": guide.store.code, "name": guide.store.name},
        "wecom_userid": guide.wecom_userid,
        "status": guide.status,
        "left_at": _iso(guide.left_at),
        "photo_url": guide.photo_url,
        "welcome_text": guide.welcome_text,
        "schedule": guide.schedule or {},
        "daily_cap": guide.daily_cap,
        "backup": guide.backup,
    }
    if customers is not None:
        body["customers"] = customers
    if codes is not None:
        body["codes"] = {channel: code_json(code, f"/api/guides/{guide.code}/qrcode.png?channel={channel}")
                         for channel, code in codes.items()}
    return body


def code_json(code: ChannelCode, png_path: str) -> dict[str, Any]:
    return {
        "id": code.id,
        "channel": code.channel,
        "scene": code.scene,
        "status": code.status,
        "error": code.error,
        "attempts": code.attempts,
        # MP: the URL the code encodes; WeCom: the contact way.
        "url": code.content,
        "config_id": code.config_id,
        "png": png_path if code.status in ("ready", "retired") else None,
    }


def transfer_json(transfer: GuideTransfer) -> dict[str, Any]:
    return {
        "customer_id": transfer.customer_id,
        "external_userid": transfer.external_userid,
        "status": transfer.status,
        "errcode": transfer.errcode,
        "reason": transfer.reason,
        "attempts": transfer.attempts,
        "next_try_at": _iso(transfer.next_try_at),
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
