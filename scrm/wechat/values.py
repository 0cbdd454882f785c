"""What the WeChat adapters return: frozen values, never wechatpy objects.

``raw`` fields keep WeChat's whole answer (read-only) for the rare field not mapped here;
they take no part in equality.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def frozen_raw(data: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(data))


# --- MP (公众号) -------------------------------------------------------------------------


@dataclass(frozen=True)
class QRCode:
    """A parametric QR code (带参数二维码); ``url`` is what the code encodes."""

    ticket: str
    url: str
    expire_seconds: int | None  # None: permanent


@dataclass(frozen=True)
class MPTag:
    id: int
    name: str
    count: int = 0


@dataclass(frozen=True)
class Follower:
    openid: str
    subscribed: bool
    nickname: str = ""
    unionid: str | None = None
    language: str | None = None
    subscribe_time: int | None = None
    subscribe_scene: str | None = None
    qr_scene_str: str | None = None
    remark: str = ""
    tag_ids: tuple[int, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, compare=False, repr=False)


@dataclass(frozen=True)
class MassSend:
    msg_id: int
    msg_data_id: int | None = None
    duplicate: bool = False  # the clientmsgid was used before; msg_id is that send's


# --- WeCom (企业微信) ----------------------------------------------------------------------


@dataclass(frozen=True)
class JoinWay:
    """A group join way (群活码, ``groupchat/get_join_way``); ``qr_code`` is its image's URL."""

    config_id: str
    scene: int
    remark: str
    auto_create_room: bool
    room_base_name: str
    room_base_id: int
    chat_ids: tuple[str, ...]
    state: str
    qr_code: str


@dataclass(frozen=True)
class ContactWay:
    """A 「联系我」 configuration; ``qr_code`` is the URL of its QR image."""

    config_id: str
    qr_code: str


@dataclass(frozen=True)
class CorpTag:
    id: str
    name: str
    group_id: str
    group_name: str


@dataclass(frozen=True)
class CorpTagGroup:
    group_id: str
    group_name: str
    tags: tuple[CorpTag, ...] = ()


@dataclass(frozen=True)
class MsgTemplate:
    """A mass message (群发) waiting for the member to confirm it in WeCom."""

    msgid: str
    failed_external_userids: tuple[str, ...] = ()


@dataclass(frozen=True)
class MemberTask:
    """One member's part of a mass message (``get_groupmsg_task``): sent once they confirmed it."""

    userid: str
    sent: bool
    send_time: int | None = None  # Unix seconds, when sent


@dataclass(frozen=True)
class TransferResult:
    """One customer's outcome of ``transfer_customer`` (errcode 0: accepted)."""

    external_userid: str
    errcode: int

    @property
    def ok(self) -> bool:
        return self.errcode == 0


@dataclass(frozen=True)
class GroupChatRef:
    chat_id: str
    status: int = 0  # 0 normal; 1–3 the owner left and the group is being handed over


@dataclass(frozen=True)
class GroupChatPage:
    chats: tuple[GroupChatRef, ...]
    next_cursor: str | None = None


@dataclass(frozen=True)
class GroupMember:
    userid: str
    type: int  # 1 a corp member, 2 an external contact
    join_time: int | None = None
    join_scene: int | None = None
    invitor: str | None = None
    name: str = ""
    unionid: str | None = None
    state: str | None = None  # the join way's state they came by (群活码)


@dataclass(frozen=True)
class GroupChat:
    chat_id: str
    name: str
    owner: str
    create_time: int | None = None
    notice: str = ""
    members: tuple[GroupMember, ...] = ()
    admins: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, compare=False, repr=False)


@dataclass(frozen=True)
class Member:
    """A WeCom member (成员), e.g. a shopping guide."""

    userid: str
    name: str
    department: tuple[int, ...] = ()
    position: str = ""
    status: int | None = None  # 1 active, 2 disabled, 4 not activated, 5 left
    raw: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, compare=False, repr=False)


@dataclass(frozen=True)
class PairTag:
    """A tag on a member–customer pair. ``type`` 1: a corp tag (企业标签, with its ``id``);
    2: the member's personal tag (no id); 3: a rule-group tag."""

    id: str
    name: str
    group_name: str = ""
    type: int = 1


@dataclass(frozen=True)
class FollowUser:
    """One member who has the customer as a contact, and the tags on that pair."""

    userid: str
    createtime: int | None = None
    state: str = ""
    tags: tuple[PairTag, ...] = ()

    @property
    def corp_tag_ids(self) -> frozenset[str]:
        return frozenset(t.id for t in self.tags if t.type == 1 and t.id)


@dataclass(frozen=True)
class ExternalContact:
    """A WeCom customer (外部联系人) as ``externalcontact/get`` tells it."""

    external_userid: str
    name: str = ""
    unionid: str | None = None  # given when the corp has a bound Official Account or mini program
    follow_userids: tuple[str, ...] = ()  # the members who have this customer as a contact
    follow_users: tuple[FollowUser, ...] = ()  # the same, with each pair's tags
    raw: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, compare=False, repr=False)
