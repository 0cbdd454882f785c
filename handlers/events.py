"""Callbacks from their XML: :func:`parse_callback` maps a decrypted, parsed ``<xml>`` dict
to its frozen value (scrm/callbacks.py).

wechatpy 1.8 parses WeCom's customer-contact and group events as unknown messages and does
``int(MsgId)`` (WeCom's MsgIds are strings now), so callbacks are mapped here from the XML
dict directly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from handlers.wire import Rejected
from scrm.callbacks import (
    Callback,
    Event,
    ExternalChatChange,
    ExternalContactChange,
    ExternalTagChange,
    LinkMessage,
    LocationMessage,
    MediaMessage,
    MenuClick,
    MenuView,
    Scan,
    SendJobFinished,
    Subscribe,
    TextMessage,
    UnknownEvent,
    UnknownMessage,
    Unsubscribe,
)

MAX_ID_LENGTH = 64  # openids, external_userids, userids, chat ids: WeChat's are shorter
ID_FIELDS = ("ToUserName", "FromUserName", "ExternalUserID", "UserID", "ChatId")


def parse_callback(channel: str, xml: Mapping[str, Any]) -> Callback:
    """Map a decrypted, parsed ``<xml>`` dict to its typed callback. Ids longer than WeChat's
    (and our columns') 64 characters and coordinates that are not finite numbers are refused
    with 400 before anything is stored (SPEC §12), alike on SQLite and PostgreSQL."""
    _check_bounds(xml)
    common = {
        "channel": channel,
        "to_user": _text(xml, "ToUserName"),
        "from_user": _text(xml, "FromUserName"),
        "create_time": _int(xml, "CreateTime") or 0,
        "raw": dict(xml),
    }
    msg_type = _text(xml, "MsgType").lower()
    if msg_type == "event":
        return _parse_event(xml, common)
    msg_id = _text(xml, "MsgId") or None  # a string: WeCom's are not numbers
    if msg_type == "text":
        return TextMessage(**common, msg_id=msg_id, content=_text(xml, "Content"))
    if msg_type in ("image", "voice", "video", "shortvideo"):
        return MediaMessage(
            **common,
            msg_id=msg_id,
            media_type=msg_type,
            media_id=_text(xml, "MediaId"),
            pic_url=_text(xml, "PicUrl"),
            recognition=_text(xml, "Recognition"),
        )
    if msg_type == "location":
        return LocationMessage(
            **common,
            msg_id=msg_id,
            latitude=_float(xml, "Location_X"),
            longitude=_float(xml, "Location_Y"),
            label=_text(xml, "Label"),
        )
    if msg_type == "link":
        return LinkMessage(**common, msg_id=msg_id, title=_text(xml, "Title"), url=_text(xml, "Url"))
    return UnknownMessage(**common, msg_id=msg_id, msg_type=msg_type)


def _parse_event(xml: Mapping[str, Any], common: dict[str, Any]) -> Event:
    event = _text(xml, "Event")
    name = event.lower()
    common["event"] = event
    key = _text(xml, "EventKey")
    if name == "subscribe":
        scene = key[len("qrscene_"):] if key.startswith("qrscene_") else None
        return Subscribe(**common, scene=scene or None, ticket=_text(xml, "Ticket") or None)
    if name == "unsubscribe":
        return Unsubscribe(**common)
    if name == "scan":
        return Scan(**common, scene=key, ticket=_text(xml, "Ticket") or None)
    if name == "click":
        return MenuClick(**common, key=key)
    if name == "view":
        return MenuView(**common, url=key)
    if name in ("templatesendjobfinish", "masssendjobfinish"):
        counts = {k: _int(xml, k) or 0 for k in ("TotalCount", "FilterCount", "SentCount", "ErrorCount") if k in xml}
        return SendJobFinished(
            **common, msg_id=_text(xml, "MsgID") or _text(xml, "MsgId"), status=_text(xml, "Status"), counts=counts
        )
    if name == "change_external_contact":
        return ExternalContactChange(
            **common,
            change_type=_text(xml, "ChangeType"),
            userid=_text(xml, "UserID"),
            external_userid=_text(xml, "ExternalUserID"),
            state=_text(xml, "State") or None,
            welcome_code=_text(xml, "WelcomeCode") or None,
            fail_reason=_text(xml, "FailReason") or None,
        )
    if name == "change_external_chat":
        return ExternalChatChange(
            **common,
            change_type=_text(xml, "ChangeType"),
            chat_id=_text(xml, "ChatId"),
            update_detail=_text(xml, "UpdateDetail") or None,
            join_scene=_int(xml, "JoinScene"),
            quit_scene=_int(xml, "QuitScene"),
            members=_items(xml.get("MemChangeList")),
        )
    if name == "change_external_tag":
        return ExternalTagChange(
            **common, change_type=_text(xml, "ChangeType"), tag_id=_text(xml, "Id"), tag_type=_text(xml, "TagType")
        )
    return UnknownEvent(**common)


def _text(xml: Mapping[str, Any], name: str) -> str:
    value = xml.get(name)
    return value.strip() if isinstance(value, str) else ""


def _int(xml: Mapping[str, Any], name: str) -> int | None:
    try:
        return int(_text(xml, name))
    except ValueError:
        return None


def _float(xml: Mapping[str, Any], name: str) -> float:
    try:
        value = float(_text(xml, name))
    except ValueError:
        return 0.0
    if not math.isfinite(value):
        raise Rejected(400, f"{name} is not a finite number")
    return value


def _check_bounds(xml: Mapping[str, Any]) -> None:
    for name in ID_FIELDS:
        if len(_text(xml, name)) > MAX_ID_LENGTH:
            raise Rejected(400, f"{name} is longer than {MAX_ID_LENGTH} characters")
    if any(len(member) > MAX_ID_LENGTH for member in _items(xml.get("MemChangeList"))):
        raise Rejected(400, f"a MemChangeList item is longer than {MAX_ID_LENGTH} characters")


def _items(value: Any) -> tuple[str, ...]:
    """``<MemChangeList>``: xmltodict gives a list for several ``<Item>``s, a string for one."""
    if not isinstance(value, Mapping):
        return ()
    items = value.get("Item")
    if items is None:
        return ()
    if isinstance(items, str):
        return (items,)
    return tuple(str(item) for item in items)
