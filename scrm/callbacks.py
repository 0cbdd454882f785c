"""Typed callbacks of our own: every message and event SPEC §3 lists, as frozen values.

handlers/events.py makes them from a callback's XML; the webhook's reactions and the domain
services they call (tag rules, the tag mirror, group sync) take them, which is why they live
here, below every domain. Each value knows its :attr:`~Callback.dedupe_key` (WECHAT-NOTES:
``MsgId`` for messages; ``FromUserName + CreateTime`` + event fields for events, and since
every WeCom customer event comes from ``sys``, its change type and ids too).
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


def _digest(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:20]
