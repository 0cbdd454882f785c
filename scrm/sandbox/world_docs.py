"""The parts of the sandbox's world WeChat answers as a whole, each one JSON document in
``sandbox_documents`` (kind → key): group chats (``work_groupchat`` → chat_id), MP QR codes
(``mp_qrcode`` → ticket, with ``mp_qrcode_url`` → url and ``mp_qrcode_scene`` →
"action:scene" pointing at the ticket), contact ways (``work_contact_way`` → config_id), group
join ways (``work_join_way`` → config_id) and mass-message tasks (``work_msgtask`` → msgid). Re-exported by :mod:`scrm.sandbox.world`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import redis as redis_lib
from sqlalchemy import select

from scrm.sandbox import store
from scrm.sandbox.models import SandboxCustomer, SandboxMember

GROUP_CHAT = "work_groupchat"
QRCODE = "mp_qrcode"
QRCODE_URL = "mp_qrcode_url"
QRCODE_SCENE = "mp_qrcode_scene"
CONTACT_WAY = "work_contact_way"
JOIN_WAY = "work_join_way"
MSG_TASK = "work_msgtask"


# ---- group chats -------------------------------------------------------------------------


def _member_entries(userids: Iterable[str], kind: int, at: datetime, invitor: str) -> list[dict[str, Any]]:
    entries = []
    for userid in userids:
        entry = {"userid": userid, "type": kind, "join_time": int(at.timestamp()), "join_scene": 1}
        if kind == 2:
            entry["invitor"] = {"userid": invitor}
        entries.append(entry)
    return entries


def add_group_chat(
    redis: redis_lib.Redis,
    chat_id: str,
    *,
    owner: str,
    name: str,
    member_userids: Iterable[str] = (),
    external_userids: Iterable[str] = (),
    notice: str = "",
    status: int = 0,
    at: datetime | None = None,
) -> None:
    """A customer group (客户群) owned by member ``owner``, who is always one of its members."""
    from scrm.sandbox.world import ensure_seeded

    ensure_seeded(redis)
    at = store.now(at)
    internal = [owner] + [u for u in dict.fromkeys(member_userids) if u != owner]
    chat = {
        "chat_id": chat_id,
        "name": name,
        "owner": owner,
        "create_time": int(at.timestamp()),
        "notice": notice,
        "status": status,
        "member_list": _member_entries(internal, 1, at, owner)
        + _member_entries(dict.fromkeys(external_userids), 2, at, owner),
        "admin_list": [],
    }
    store.save_doc(GROUP_CHAT, chat_id, chat)


def get_group_chat(redis: redis_lib.Redis, chat_id: str) -> dict[str, Any] | None:
    return store.doc(GROUP_CHAT, chat_id)


def group_chat_people(redis: redis_lib.Redis, chat: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The chat's members (成员) and customers by userid, each ``{"name"}`` and its
    ``"unionid"`` when it has one, in two reads whatever the chat's size; those the world
    does not know are left out."""
    userids = {m["userid"] for m in chat["member_list"] if m["type"] == 1}
    external = {m["userid"] for m in chat["member_list"] if m["type"] != 1}
    people: dict[str, dict[str, str]] = {}
    with store.reading() as conn:
        if userids:
            for userid, name in conn.execute(select(SandboxMember.userid, SandboxMember.name)
                                             .where(SandboxMember.userid.in_(userids))):
                people[userid] = {"name": name}
        if external:
            for userid, name, unionid in conn.execute(
                select(SandboxCustomer.external_userid, SandboxCustomer.name, SandboxCustomer.unionid)
                .where(SandboxCustomer.external_userid.in_(external))
            ):
                people[userid] = {"name": name, **({"unionid": unionid} if unionid else {})}
    return people


def group_chat_ids(redis: redis_lib.Redis) -> list[str]:
    with store.transaction() as session:
        return store.doc_keys(session, GROUP_CHAT)


def group_chats(redis: redis_lib.Redis) -> dict[str, dict[str, Any]]:
    """chat_id → group chat, every one, in one read."""
    with store.transaction() as session:
        return dict(sorted(store.docs(session, GROUP_CHAT).items()))


def remove_group_chat(redis: redis_lib.Redis, chat_id: str) -> None:
    """The group is gone from WeCom (dismissed in WeCom's admin: no api plays it)."""
    with store.transaction() as session:
        store.drop_doc(session, GROUP_CHAT, chat_id)


def _change_group(redis: redis_lib.Redis, chat_id: str, change: Callable[[dict[str, Any]], None]) -> None:
    with store.lock(redis, "work"), store.transaction() as session:
        chat = store.get_doc(session, GROUP_CHAT, chat_id) if chat_id else None
        if chat is None:
            raise KeyError(f"no group chat {chat_id!r} in the sandbox")
        change(chat)
        store.put_doc(session, GROUP_CHAT, chat_id, chat)


def add_group_chat_members(
    redis: redis_lib.Redis,
    chat_id: str,
    *,
    userids: Iterable[str] = (),
    external_userids: Iterable[str] = (),
    at: datetime | None = None,
    state: str | None = None,
    join_scene: int | None = None,
) -> None:
    """New members (invited, ``join_scene`` 1, unless told); ``state``: the join way's they came
    through (``join_scene`` 3), which ``groupchat/get`` reports on each of them."""
    at = store.now(at)

    def change(chat: dict[str, Any]) -> None:
        present = {m["userid"] for m in chat["member_list"]}
        added = _member_entries([u for u in userids if u not in present], 1, at, chat["owner"])
        added += _member_entries([u for u in external_userids if u not in present], 2, at, chat["owner"])
        for entry in added:
            entry.update({"join_scene": join_scene} if join_scene is not None else {})
            entry.update({"state": state} if state else {})
        chat["member_list"] += added

    _change_group(redis, chat_id, change)


def remove_group_chat_members(redis: redis_lib.Redis, chat_id: str, *, userids: Iterable[str]) -> None:
    gone = set(userids)

    def change(chat: dict[str, Any]) -> None:
        chat["member_list"] = [m for m in chat["member_list"] if m["userid"] not in gone]

    _change_group(redis, chat_id, change)


# ---- MP QR codes -------------------------------------------------------------------------


def save_qrcode(redis: redis_lib.Redis, qrcode: dict[str, Any]) -> None:
    with store.transaction() as session:
        store.put_doc(session, QRCODE, qrcode["ticket"], qrcode)
        store.put_doc(session, QRCODE_URL, qrcode["url"], qrcode["ticket"])


def claim_permanent_qrcode(redis: redis_lib.Redis, scene: str, ticket: str) -> str | None:
    """The ticket of the permanent code already made for ``scene`` ("action:value"), or None
    when ``ticket`` is now that code's."""
    with store.transaction() as session:
        if store.claim_doc(session, QRCODE_SCENE, scene, ticket):
            return None
        return store.get_doc(session, QRCODE_SCENE, scene)


def find_qrcode(
    redis: redis_lib.Redis, *, ticket: str | None = None, url: str | None = None
) -> dict[str, Any] | None:
    """A code made by ``qrcode/create``, by ticket or by the url it encodes (what a phone
    scans): ``{"ticket", "url", "action_name", "scene_id" | "scene_str", "expires_at"}``
    (``expires_at`` in epoch ms, None for a permanent code)."""
    with store.transaction() as session:
        if ticket is None and url is not None:
            ticket = store.get_doc(session, QRCODE_URL, url)
        return store.get_doc(session, QRCODE, ticket) if ticket else None


# ---- WeCom contact ways ------------------------------------------------------------------


def save_contact_way(redis: redis_lib.Redis, way: dict[str, Any]) -> None:
    store.save_doc(CONTACT_WAY, way["config_id"], way)


def find_contact_way(redis: redis_lib.Redis, config_id: str) -> dict[str, Any] | None:
    """A way made by ``add_contact_way``: ``{"config_id", "type", "scene", "state", "user",
    "qr_code"?, …}``; what a phone that scans its code reaches."""
    return store.doc(CONTACT_WAY, config_id)


# ---- WeCom group join ways (群活码) --------------------------------------------------------


def save_join_way(redis: redis_lib.Redis, way: dict[str, Any]) -> None:
    """A way made by ``groupchat/add_join_way``: ``{"config_id", "scene", "remark",
    "auto_create_room" (0|1), "room_base_name", "room_base_id", "chat_id_list", "state",
    "qr_code"}``; a phone that scans its code joins the first of its chats with room."""
    store.save_doc(JOIN_WAY, way["config_id"], way)


def get_join_way(redis: redis_lib.Redis, config_id: str) -> dict[str, Any] | None:
    return store.doc(JOIN_WAY, config_id)


def join_ways(redis: redis_lib.Redis) -> dict[str, dict[str, Any]]:
    """config_id → join way, every one, in one read."""
    with store.transaction() as session:
        return dict(sorted(store.docs(session, JOIN_WAY).items()))


def remove_join_way(redis: redis_lib.Redis, config_id: str) -> None:
    with store.transaction() as session:
        store.drop_doc(session, JOIN_WAY, config_id)


# ---- WeCom mass-message tasks (企业群发) ----------------------------------------------------


def save_msg_task(redis: redis_lib.Redis, task: dict[str, Any]) -> None:
    """An ``add_msg_template`` task: ``{"msgid", "chat_type", "content", "create_time",
    "members": {userid: {"status": 0|2, "send_time": 0|s, "targets": [external_userid or
    chat_id, …]}}}``; it waits until each member sends their part (:func:`send_msg_task`)."""
    store.save_doc(MSG_TASK, task["msgid"], task)


def get_msg_task(redis: redis_lib.Redis, msgid: str) -> dict[str, Any] | None:
    return store.doc(MSG_TASK, msgid)


def send_msg_task(redis: redis_lib.Redis, msgid: str, *, userid: str | None = None,
                  at: datetime | None = None) -> dict[str, Any]:
    """The member confirms their part in WeCom (every member's, without ``userid``): it is
    marked sent (status 2) and its content lands in each target's ``work`` inbox, once.
    KeyError: no such task, or ``userid`` has no part in it."""
    at = store.now(at)
    with store.lock(redis, "work"), store.transaction() as session:
        task = store.get_doc(session, MSG_TASK, msgid) if msgid else None
        if task is None:
            raise KeyError(f"no mass-message task {msgid!r} in the sandbox")
        if userid is not None and userid not in task["members"]:
            raise KeyError(f"{userid!r} has no part in task {msgid!r}")
        for member, part in task["members"].items():
            if (userid is None or member == userid) and part["status"] == 0:
                part.update(status=2, send_time=int(at.timestamp()))
                store.put_messages(session, "work", part["targets"], {"kind": "mass", "msgid": msgid, "from": member,
                                                                     "content": task["content"], "at": store.ms(at)})
        store.put_doc(session, MSG_TASK, msgid, task)
    return task
