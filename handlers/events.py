"""Typed callbacks of our own: every message and event SPEC §3 lists, as frozen values.

wechatpy 1.8 parses WeCom's customer-contact and group events as unknown messages and does
``int(MsgId)`` (WeCom's MsgIds are strings now), so callbacks are mapped here from the XML
dict directly. Each value knows its :attr:`~Callback.dedupe_key` (WECHAT-NOTES: ``MsgId`` for
messages; ``FromUserName + CreateTime`` + event fields for events, and since every WeCom
customer event comes from ``sys``, its change type and ids too).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class Callback:
    channel: str  # "mp" or "work"
    to_user: str
    from_user: str
    create_time: int
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    kind: ClassVar[str] = "unknown"

    @property
    def key_fields(self) -> tuple[str, ...]:
        """What tells one delivery from another; a retry repeats all of it."""
        return ("other", _digest(self.raw))

    @property
    def dedupe_key(self) -> str:
        key = ":".join((self.channel, *self.key_fields))
        return key if len(key) <= MAX_KEY_LENGTH else f"{self.channel}:sha1:{_digest(key)}"

    @property
    def customer_external_id(self) -> str | None:
        """The customer's openid (MP) or external_userid (WeCom) this callback concerns."""
        return self.from_user if self.channel == "mp" else None


@dataclass(frozen=True)
class Message(Callback):
    msg_id: str | None = None
    kind: ClassVar[str] = "message"

    @property
    def key_fields(self) -> tuple[str, ...]:
        if self.msg_id:
            return ("msg", self.msg_id)
        return ("msg", self.from_user, str(self.create_time), _digest(self.raw))


@dataclass(frozen=True)
class TextMessage(Message):
    content: str = ""
    kind: ClassVar[str] = "text"


@dataclass(frozen=True)
class MediaMessage(Message):
    """image, voice, video, shortvideo: what WeChat keeps for us, by media id."""

    media_type: str = ""
    media_id: str = ""
    pic_url: str = ""
    recognition: str = ""  # voice recognised as text, when the account has it enabled
    kind: ClassVar[str] = "media"


@dataclass(frozen=True)
class LocationMessage(Message):
    latitude: float = 0.0
    longitude: float = 0.0
    label: str = ""
    kind: ClassVar[str] = "location"


@dataclass(frozen=True)
class LinkMessage(Message):
    title: str = ""
    url: str = ""
    kind: ClassVar[str] = "link"


@dataclass(frozen=True)
class UnknownMessage(Message):
    msg_type: str = ""
    kind: ClassVar[str] = "unknown_message"


@dataclass(frozen=True)
class Event(Callback):
    event: str = ""
    kind: ClassVar[str] = "event"

    @property
    def key_fields(self) -> tuple[str, ...]:
        return ("event", self.from_user, str(self.create_time), self.event, *self.detail_fields)

    @property
    def detail_fields(self) -> tuple[str, ...]:
        return (str(self.raw.get("EventKey") or ""),)


@dataclass(frozen=True)
class Subscribe(Event):
    scene: str | None = None  # the QR scene, without WeChat's "qrscene_" prefix
    ticket: str | None = None
    kind: ClassVar[str] = "follow"


@dataclass(frozen=True)
class Unsubscribe(Event):
    kind: ClassVar[str] = "unfollow"


@dataclass(frozen=True)
class Scan(Event):
    """A follower scanned a parametric QR code."""

    scene: str = ""
    ticket: str | None = None
    kind: ClassVar[str] = "scan"


@dataclass(frozen=True)
class MenuClick(Event):
    key: str = ""
    kind: ClassVar[str] = "click"


@dataclass(frozen=True)
class MenuView(Event):
    url: str = ""
    kind: ClassVar[str] = "view"


@dataclass(frozen=True)
class SendJobFinished(Event):
    """TEMPLATESENDJOBFINISH and MASSSENDJOBFINISH: how an outbound send ended."""

    msg_id: str = ""
    status: str = ""
    counts: Mapping[str, int] = field(default_factory=dict)
    kind: ClassVar[str] = "send_finished"

    @property
    def detail_fields(self) -> tuple[str, ...]:
        return (self.msg_id,)

    @property
    def customer_external_id(self) -> str | None:
        return None  # a report on a send, matched by msg_id, not something the customer did


@dataclass(frozen=True)
class UnknownEvent(Event):
    kind: ClassVar[str] = "unknown_event"

    @property
    def detail_fields(self) -> tuple[str, ...]:
        return (_digest(self.raw),)


@dataclass(frozen=True)
class ExternalContactChange(Event):
    """change_external_contact: a customer added, edited, deleted a member, or a transfer failed."""

    change_type: str = ""
    userid: str = ""  # the WeCom member (a guide)
    external_userid: str = ""
    state: str | None = None  # the contact way's state: our scene
    welcome_code: str | None = None
    fail_reason: str | None = None
    kind: ClassVar[str] = "contact_change"

    @property
    def detail_fields(self) -> tuple[str, ...]:
        return (self.change_type, self.userid, self.external_userid)

    @property
    def customer_external_id(self) -> str | None:
        return self.external_userid or None

    @property
    def starts_contact(self) -> bool:
        """The customer and one of our members became contacts (a follow, for WeCom)."""
        return self.change_type in ("add_external_contact", "add_half_external_contact")

    @property
    def ends_contact(self) -> bool:
        """Either side deleted the other (an unfollow, for WeCom)."""
        return self.change_type in ("del_external_contact", "del_follow_user")


@dataclass(frozen=True)
class ExternalChatChange(Event):
    """change_external_chat: a customer group was created, changed or dismissed."""

    change_type: str = ""
    chat_id: str = ""
    update_detail: str | None = None
    join_scene: int | None = None
    quit_scene: int | None = None
    members: tuple[str, ...] = ()
    kind: ClassVar[str] = "chat_change"

    @property
    def detail_fields(self) -> tuple[str, ...]:
        return (self.change_type, self.chat_id, self.update_detail or "", _digest(self.members))


@dataclass(frozen=True)
class ExternalTagChange(Event):
    """change_external_tag: a corp tag or tag group was created, changed, deleted or reordered."""

    change_type: str = ""
    tag_id: str = ""
    tag_type: str = ""
    kind: ClassVar[str] = "tag_change"

    @property
    def detail_fields(self) -> tuple[str, ...]:
        return (self.change_type, self.tag_id, self.tag_type)


def parse_callback(channel: str, xml: Mapping[str, Any]) -> Callback:
    """Map a decrypted, parsed ``<xml>`` dict to its typed callback."""
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
        return float(_text(xml, name))
    except ValueError:
        return 0.0


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


def _digest(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:20]
