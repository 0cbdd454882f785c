"""Joining a customer group through a join way (群活码) and quitting it, as WeCom plays them
(SPEC §10; WECHAT-NOTES "Customer groups, live codes"). Re-exported by :mod:`scrm.sandbox.world`.

A person who scans a way's code is put in the first chat of its ``chat_id_list`` that is not
full (WeCom's limit: 500 members). When every chat is full, or the list is empty, and the way
has ``auto_create_room`` 1, WeCom makes a new group named ``room_base_name`` + ``room_base_id``,
counts ``room_base_id`` up and puts the group on the way itself. Who owns that group WeCom does
not say: the sandbox's choice is the owner of the last chat on the way (else the way's
``owner`` if it has one, else the first default member), and the new group inherits the
welcome (入群欢迎语, ``welcome_template_id``) that owner applied to that last chat (also the
sandbox's choice: in WeCom the owner applies a welcome to each group). A way already naming 5 chats drops its
first (full) chat to make room (the sandbox's choice: WeCom keeps at most 5).

The member joins with ``join_scene`` 3 and the way's ``state`` (what ``groupchat/get`` reports
in ``member_list[].state``), invited by the group's owner. A quit removes the entry.

A phone customer (an MP follower, an openid) needs a WeCom identity to be in a group:
:func:`wecom_identity` finds the WeCom customer sharing the follower's ``unionid`` (one who added
a guide, so the product knows them), else gives a stable id derived from the openid and keeps
that customer in the world without a member relation (a stranger to every guide, as a WeChat
user who joins a group from a poster is).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis as redis_lib
from sqlalchemy import select

from scrm.sandbox import store
from scrm.sandbox.models import SandboxCustomer, SandboxFollower
from scrm.sandbox.world_docs import GROUP_CHAT, JOIN_WAY
CHAT_MEMBER_LIMIT = 500  # WeCom's most members in a customer group
MOST_CHATS_ON_A_WAY = 5
JOIN_SCENE_JOIN_WAY = 3
DEFAULT_OWNER = "zhangsan"  # the first default member (scrm.sandbox.world.DEFAULT_MEMBERS)


class JoinRefused(Exception):
    """WeCom would not let the person in (or out): ``code`` is ``unknown_way``, ``group_full``,
    ``already_member``, ``unknown_chat`` or ``not_a_member``; ``chat_id`` the group concerned."""

    def __init__(self, code: str, message: str, *, chat_id: str = "", name: str = "") -> None:
        super().__init__(message)
        self.code, self.chat_id, self.name = code, chat_id, name


@dataclass(frozen=True)
class JoinResult:
    chat_id: str
    created: bool  # a new room WeCom made for the way (auto_create_room)
    member_count: int  # members after the join, the owner included
    name: str = ""
    state: str = ""


def _entry(external_userid: str, *, owner: str, state: str, at: datetime) -> dict[str, Any]:
    entry: dict[str, Any] = {"userid": external_userid, "type": 2, "join_time": int(at.timestamp()),
                             "join_scene": JOIN_SCENE_JOIN_WAY, "invitor": {"userid": owner}}
    if state:
        entry["state"] = state
    return entry


def _new_room(session: Any, way: dict[str, Any], chats: list[dict[str, Any]], at: datetime) -> dict[str, Any]:
    owner = chats[-1]["owner"] if chats else way.get("owner") or DEFAULT_OWNER
    number = int(way.get("room_base_id") if way.get("room_base_id") is not None else 1)
    chat_id = "wr" + secrets.token_urlsafe(21)
    chat = {"chat_id": chat_id, "name": f"{way.get('room_base_name') or ''}{number}", "owner": owner,
            "create_time": int(at.timestamp()), "notice": "", "status": 0, "admin_list": [],
            "member_list": [{"userid": owner, "type": 1, "join_time": int(at.timestamp()), "join_scene": 1}]}
    if chats and chats[-1].get("welcome_template_id"):
        chat["welcome_template_id"] = chats[-1]["welcome_template_id"]
    listed = list(way.get("chat_id_list") or [])
    if len(listed) >= MOST_CHATS_ON_A_WAY:
        listed = listed[len(listed) - MOST_CHATS_ON_A_WAY + 1:]
    way["chat_id_list"] = [*listed, chat_id]
    way["room_base_id"] = number + 1
    store.put_doc(session, JOIN_WAY, way["config_id"], way)
    return chat


def join_via_way(redis: redis_lib.Redis, config_id: str, external_userid: str, *, at: datetime | None = None,
                 limit: int = CHAT_MEMBER_LIMIT) -> JoinResult:
    """``external_userid`` scans the way's code: put in the first chat with room (or a new room).
    :class:`JoinRefused` with nothing changed: no such way, already in one of its chats, or
    every chat full (``group_full``) and no auto-create."""
    at = store.now(at)
    with store.lock(redis, "work"), store.transaction() as session:
        way = store.get_doc(session, JOIN_WAY, config_id) if config_id else None
        if way is None:
            raise JoinRefused("unknown_way", f"no join way {config_id!r} in the sandbox")
        chats = [c for c in (store.get_doc(session, GROUP_CHAT, i) for i in way.get("chat_id_list") or ()) if c]
        for chat in chats:
            if any(m["userid"] == external_userid for m in chat["member_list"]):
                raise JoinRefused("already_member", f"{external_userid} is already in {chat['chat_id']}",
                                  chat_id=chat["chat_id"], name=chat["name"])
        chat = next((c for c in chats if len(c["member_list"]) < limit), None)
        created = chat is None
        if created:
            if not int(way.get("auto_create_room") or 0):
                raise JoinRefused("group_full", "every chat of the way is full and auto_create_room is 0")
            chat = _new_room(session, way, chats, at)
        state = way.get("state") or ""
        chat["member_list"].append(_entry(external_userid, owner=chat["owner"], state=state, at=at))
        store.put_doc(session, GROUP_CHAT, chat["chat_id"], chat)
        return JoinResult(chat["chat_id"], created, len(chat["member_list"]), chat["name"], state)


def quit_group(redis: redis_lib.Redis, chat_id: str, external_userid: str, *, at: datetime | None = None) -> int:
    """``external_userid`` leaves the group by themselves: the members left (owner included).
    :class:`JoinRefused` with nothing changed: no such group, or not in it."""
    with store.lock(redis, "work"), store.transaction() as session:
        chat = store.get_doc(session, GROUP_CHAT, chat_id) if chat_id else None
        if chat is None:
            raise JoinRefused("unknown_chat", f"no group chat {chat_id!r} in the sandbox", chat_id=chat_id)
        staying = [m for m in chat["member_list"] if m["userid"] != external_userid]
        if len(staying) == len(chat["member_list"]):
            raise JoinRefused("not_a_member", f"{external_userid} is not in {chat_id}", chat_id=chat_id,
                              name=chat["name"])
        chat["member_list"] = staying
        store.put_doc(session, GROUP_CHAT, chat_id, chat)
        return len(staying)


def chats_of(redis: redis_lib.Redis, external_userid: str) -> list[dict[str, Any]]:
    """The groups ``external_userid`` is in, each with their own member entry as ``me``."""
    with store.transaction() as session:
        chats = store.docs(session, GROUP_CHAT)
    found = []
    for chat in chats.values():
        me = next((m for m in chat["member_list"] if m["userid"] == external_userid), None)
        if me is not None:
            found.append({**chat, "me": me})
    return sorted(found, key=lambda c: (c["me"].get("join_time") or 0, c["chat_id"]))


def wecom_identity(redis: redis_lib.Redis, openid: str, *, name: str = "", keep: bool = True) -> str:
    """The external_userid of the MP follower ``openid`` in WeCom: the WeCom customer with the
    follower's unionid, else a stable id derived from the openid, kept (``keep``) as a customer
    of no member."""
    with store.transaction() as session:
        unionid = session.scalar(select(SandboxFollower.unionid).where(SandboxFollower.openid == openid))
        if unionid:
            known = session.scalar(select(SandboxCustomer.external_userid).where(SandboxCustomer.unionid == unionid)
                                   .order_by(SandboxCustomer.external_userid).limit(1))
            if known:
                return known
        external_userid = "wmSandbox" + hashlib.sha256(openid.encode()).hexdigest()[:23]  # 32, like WeCom's
        if not keep:
            return external_userid
        store.upsert(session, SandboxCustomer, {"external_userid": external_userid, "name": name or openid,
                                                "unionid": unionid or None, "transfers": []},
                     keys=("external_userid",), change=("name",))
        return external_userid
