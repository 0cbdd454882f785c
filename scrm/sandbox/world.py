"""The world the sandbox plays, in Redis: MP followers (粉丝) and their inboxes, WeCom members
(成员), customers (外部联系人) and their members, group chats (客户群), welcome codes, QR codes
and mass-message tasks (企业群发) waiting for their members.

Seed it with these functions (re-exported by :mod:`scrm.sandbox.state`); the APIs read and
change it. A default world is seeded at first use: WeCom members ``zhangsan`` (张三),
``lisi`` (李四) and ``wangwu`` (王五). Times are the runtime clock's unless ``at`` is given.

Keys: ``sandbox:mp:follower:<openid>`` (hash) and ``…:tags`` (set), ``sandbox:mp:followers``;
``sandbox:<channel>:inbox:<user>`` (what the customer received, JSON list);
``sandbox:work:member:<userid>``; ``sandbox:work:customer:<external_userid>`` (hash),
``…:follow`` (userid → JSON) and ``…:tags:<userid>`` (set); ``sandbox:work:groupchat:<id>``
(JSON) with ``sandbox:work:groupchats``; ``sandbox:work:welcome:<code>``;
``sandbox:mp:qrcode:<ticket>`` with ``sandbox:mp:qrcode:urls`` (url → ticket);
``sandbox:work:contact_way:<config_id>``; ``sandbox:work:msgtask:<msgid>`` (JSON).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import redis as redis_lib

from scrm.runtime import current

SEEDED = "sandbox:seeded"
DEFAULT_MEMBERS = (("zhangsan", "张三"), ("lisi", "李四"), ("wangwu", "王五"))
WELCOME_CODE_SECONDS = 20
INBOX_LIMIT = 200
GC_SECONDS = 7 * 86400  # real-time expiry of short-lived keys, only to keep Redis tidy


def _now(at: datetime | None) -> datetime:
    if at is not None:
        return at

    return current().clock.now()


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def lock(redis: redis_lib.Redis, channel: str) -> AbstractContextManager[Any]:
    """Serialises the read-check-write steps of one channel's world across processes."""
    return redis.lock(f"sandbox:{channel}:lock", timeout=10, blocking_timeout=10)


def ensure_seeded(redis: redis_lib.Redis) -> None:
    """Seed the default world once (idempotent, so two first callers do no harm)."""
    if redis.exists(SEEDED):
        return
    for userid, name in DEFAULT_MEMBERS:
        _put_member(redis, userid, name, department=(1,), position="导购")
    redis.set(SEEDED, "1")


def _text(value: bytes | None) -> str | None:
    return value.decode() if value is not None else None


# ---- MP followers ----------------------------------------------------------------------


def follower_key(openid: str) -> str:
    return f"sandbox:mp:follower:{openid}"


def add_follower(
    redis: redis_lib.Redis,
    openid: str,
    *,
    nickname: str | None = None,
    unionid: str | None = None,
    last_message_at: datetime | None = None,
    at: datetime | None = None,
) -> None:
    """An MP follower (subscribed now, or again); ``last_message_at`` opens the 48 h window."""
    ensure_seeded(redis)
    fields: dict[str, Any] = {"openid": openid, "subscribe": 1, "subscribe_time": int(_now(at).timestamp())}
    if nickname is not None:
        fields["nickname"] = nickname
    if unionid is not None:
        fields["unionid"] = unionid
    if last_message_at is not None:
        fields.update(last_message_at=_ms(last_message_at), replies=0)
    redis.hset(follower_key(openid), mapping=fields)
    redis.sadd("sandbox:mp:followers", openid)


def touch_follower(redis: redis_lib.Redis, openid: str, at: datetime | None = None) -> None:
    """The follower sent a message: a new 48 h window with a fresh reply count. A message
    implies a follower, so an unknown openid is added."""
    if not redis.exists(follower_key(openid)):
        add_follower(redis, openid, at=at)
    redis.hset(follower_key(openid), mapping={"last_message_at": _ms(_now(at)), "replies": 0})


def unfollow(redis: redis_lib.Redis, openid: str) -> None:
    redis.hset(follower_key(openid), mapping={"openid": openid, "subscribe": 0})
    redis.sadd("sandbox:mp:followers", openid)


def get_follower(redis: redis_lib.Redis, openid: str) -> dict[str, str] | None:
    raw = redis.hgetall(follower_key(openid)) if openid else {}
    return {k.decode(): v.decode() for k, v in raw.items()} or None


def follower_tags(redis: redis_lib.Redis, openid: str) -> list[int]:
    return sorted(int(t) for t in redis.smembers(follower_key(openid) + ":tags"))


# ---- what customers received -------------------------------------------------------------


def deliver(redis: redis_lib.Redis, channel: str, users: Iterable[str], message: dict[str, Any]) -> None:
    pipe = redis.pipeline()
    queue_delivery(pipe, channel, users, message)
    pipe.execute()


def queue_delivery(pipe: redis_lib.client.Pipeline, channel: str, users: Iterable[str], message: dict[str, Any]) -> None:
    """:func:`deliver`'s writes, queued on the caller's pipeline to go with its own."""
    raw = json.dumps(message, ensure_ascii=False)
    for user in users:
        key = f"sandbox:{channel}:inbox:{user}"
        pipe.rpush(key, raw)
        pipe.ltrim(key, -INBOX_LIMIT, -1)


def list_messages(redis: redis_lib.Redis, user: str, *, channel: str = "mp") -> list[dict[str, Any]]:
    """What an MP follower (``openid``) or a WeCom customer (``external_userid``, with
    ``channel="work"``) received, oldest first: ``{"kind", "msgtype"?, "content", "at"}``."""
    return [json.loads(raw) for raw in redis.lrange(f"sandbox:{channel}:inbox:{user}", 0, -1)]


# ---- WeCom members and customers ---------------------------------------------------------


def _put_member(redis: redis_lib.Redis, userid: str, name: str, *, department: Iterable[int], position: str) -> None:
    fields = {"userid": userid, "name": name, "department": json.dumps(list(department)), "position": position}
    redis.hset(f"sandbox:work:member:{userid}", mapping=fields)


def add_member(
    redis: redis_lib.Redis, userid: str, name: str, *, department: Iterable[int] = (1,), position: str = ""
) -> None:
    """A WeCom member (a guide, usually)."""
    ensure_seeded(redis)
    _put_member(redis, userid, name, department=department, position=position)


def get_member(redis: redis_lib.Redis, userid: str) -> dict[str, Any] | None:
    raw = redis.hgetall(f"sandbox:work:member:{userid}") if userid else {}
    if not raw:
        return None
    member = {k.decode(): v.decode() for k, v in raw.items()}
    member["department"] = json.loads(member["department"])
    return member


def customer_key(external_userid: str) -> str:
    return f"sandbox:work:customer:{external_userid}"


def add_external_contact(
    redis: redis_lib.Redis,
    external_userid: str,
    *,
    userid: str,
    name: str | None = None,
    unionid: str | None = None,
    state: str = "",
    at: datetime | None = None,
) -> None:
    """A WeChat user who added member ``userid`` (客户): needed by ``mark_tag``,
    ``transfer_customer`` and ``externalcontact/get``. Call again to add another member."""
    ensure_seeded(redis)
    fields = {"external_userid": external_userid, "name": name or external_userid}
    if unionid:
        fields["unionid"] = unionid
    redis.hset(customer_key(external_userid), mapping=fields)
    follow = {"userid": userid, "remark": "", "createtime": int(_now(at).timestamp()), "state": state, "add_way": 1}
    redis.hset(customer_key(external_userid) + ":follow", userid, json.dumps(follow, ensure_ascii=False))


def get_customer(redis: redis_lib.Redis, external_userid: str) -> dict[str, str] | None:
    raw = redis.hgetall(customer_key(external_userid)) if external_userid else {}
    return {k.decode(): v.decode() for k, v in raw.items()} or None


def followers_of(redis: redis_lib.Redis, external_userid: str) -> dict[str, dict[str, Any]]:
    """The members a customer added: userid → relation."""
    raw = redis.hgetall(customer_key(external_userid) + ":follow")
    return {k.decode(): json.loads(v) for k, v in raw.items()}


def move_customer(redis: redis_lib.Redis, external_userid: str, *, handover: str, takeover: str, at: datetime) -> None:
    """In-service transfer (在职继承). WeCom moves the customer 24 h later; the sandbox at once."""
    key = customer_key(external_userid)
    relation = followers_of(redis, external_userid)[handover]
    relation.update(userid=takeover, createtime=int(at.timestamp()), add_way=0)
    tags = redis.smembers(f"{key}:tags:{handover}")
    pipe = redis.pipeline()
    pipe.hdel(key + ":follow", handover)
    pipe.hset(key + ":follow", takeover, json.dumps(relation, ensure_ascii=False))
    pipe.delete(f"{key}:tags:{handover}")
    if tags:
        pipe.sadd(f"{key}:tags:{takeover}", *tags)
    pipe.rpush(key + ":transfers", _ms(at))
    pipe.execute()


def transfer_times(redis: redis_lib.Redis, external_userid: str) -> list[int]:
    return [int(t) for t in redis.lrange(customer_key(external_userid) + ":transfers", 0, -1)]


def busy_transfer(redis: redis_lib.Redis, external_userid: str, *, errcode: int = -1, times: int = 1) -> None:
    """WeCom answers ``errcode`` for this customer in the next ``times`` hand-overs, as it
    does for one customer of a batch when busy (the batch's others go through)."""
    key = customer_key(external_userid) + ":busy"
    redis.delete(key)
    redis.rpush(key, *([errcode] * times))


def take_busy_answer(redis: redis_lib.Redis, external_userid: str) -> int | None:
    answer = redis.lpop(customer_key(external_userid) + ":busy")
    return None if answer is None else int(answer)


# ---- group chats -------------------------------------------------------------------------


def _group_key(chat_id: str) -> str:
    return f"sandbox:work:groupchat:{chat_id}"


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
    ensure_seeded(redis)
    at = _now(at)
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
    redis.set(_group_key(chat_id), json.dumps(chat, ensure_ascii=False))
    redis.sadd("sandbox:work:groupchats", chat_id)


def get_group_chat(redis: redis_lib.Redis, chat_id: str) -> dict[str, Any] | None:
    raw = redis.get(_group_key(chat_id)) if chat_id else None
    return json.loads(raw) if raw else None


def group_chat_ids(redis: redis_lib.Redis) -> list[str]:
    return sorted(c.decode() for c in redis.smembers("sandbox:work:groupchats"))


def _change_group(redis: redis_lib.Redis, chat_id: str, change: Any) -> None:
    with lock(redis, "work"):
        chat = get_group_chat(redis, chat_id)
        if chat is None:
            raise KeyError(f"no group chat {chat_id!r} in the sandbox")
        change(chat)
        redis.set(_group_key(chat_id), json.dumps(chat, ensure_ascii=False))


def add_group_chat_members(
    redis: redis_lib.Redis,
    chat_id: str,
    *,
    userids: Iterable[str] = (),
    external_userids: Iterable[str] = (),
    at: datetime | None = None,
) -> None:
    at = _now(at)

    def change(chat: dict[str, Any]) -> None:
        present = {m["userid"] for m in chat["member_list"]}
        chat["member_list"] += _member_entries([u for u in userids if u not in present], 1, at, chat["owner"])
        chat["member_list"] += _member_entries([u for u in external_userids if u not in present], 2, at, chat["owner"])

    _change_group(redis, chat_id, change)


def remove_group_chat_members(redis: redis_lib.Redis, chat_id: str, *, userids: Iterable[str]) -> None:
    gone = set(userids)

    def change(chat: dict[str, Any]) -> None:
        chat["member_list"] = [m for m in chat["member_list"] if m["userid"] not in gone]

    _change_group(redis, chat_id, change)


# ---- welcome codes -----------------------------------------------------------------------


def issue_welcome_code(
    redis: redis_lib.Redis, *, userid: str, external_userid: str, at: datetime | None = None
) -> str:
    """The ``WelcomeCode`` of an ``add_external_contact`` event: valid 20 s, usable once."""
    code = secrets.token_urlsafe(24)
    expires = _ms(_now(at)) + WELCOME_CODE_SECONDS * 1000
    key = f"sandbox:work:welcome:{code}"
    redis.hset(key, mapping={"userid": userid, "external_userid": external_userid, "expires_at": expires})
    redis.expire(key, GC_SECONDS)
    return code


def use_welcome_code(redis: redis_lib.Redis, code: str, *, now: datetime) -> tuple[str, dict[str, str] | None]:
    """``("ok", code)``, ``("used", code)`` or ``("invalid", None)``; at most one ``ok``."""
    key = f"sandbox:work:welcome:{code}"
    raw = redis.hgetall(key) if code else {}
    if not raw or int(raw[b"expires_at"]) <= _ms(now):
        return "invalid", None
    info = {k.decode(): v.decode() for k, v in raw.items()}
    return ("ok" if redis.hsetnx(key, "used", 1) else "used"), info


# ---- MP QR codes -------------------------------------------------------------------------


def save_qrcode(redis: redis_lib.Redis, qrcode: dict[str, Any]) -> None:
    redis.set(f"sandbox:mp:qrcode:{qrcode['ticket']}", json.dumps(qrcode, ensure_ascii=False))
    redis.hset("sandbox:mp:qrcode:urls", qrcode["url"], qrcode["ticket"])


def find_qrcode(
    redis: redis_lib.Redis, *, ticket: str | None = None, url: str | None = None
) -> dict[str, Any] | None:
    """A code made by ``qrcode/create``, by ticket or by the url it encodes (what a phone
    scans): ``{"ticket", "url", "action_name", "scene_id" | "scene_str", "expires_at"}``
    (``expires_at`` in epoch ms, None for a permanent code)."""
    if ticket is None and url is not None:
        ticket = _text(redis.hget("sandbox:mp:qrcode:urls", url))
    raw = redis.get(f"sandbox:mp:qrcode:{ticket}") if ticket else None
    return json.loads(raw) if raw else None


# ---- WeCom contact ways ------------------------------------------------------------------


def save_contact_way(redis: redis_lib.Redis, way: dict[str, Any]) -> None:
    redis.set(f"sandbox:work:contact_way:{way['config_id']}", json.dumps(way, ensure_ascii=False))


def find_contact_way(redis: redis_lib.Redis, config_id: str) -> dict[str, Any] | None:
    """A way made by ``add_contact_way``: ``{"config_id", "type", "scene", "state", "user",
    "qr_code"?, …}``; what a phone that scans its code reaches."""
    raw = redis.get(f"sandbox:work:contact_way:{config_id}") if config_id else None
    return json.loads(raw) if raw else None


# ---- WeCom mass-message tasks (企业群发) ----------------------------------------------------


def _msg_task_key(msgid: str) -> str:
    return f"sandbox:work:msgtask:{msgid}"


def save_msg_task(redis: redis_lib.Redis, task: dict[str, Any]) -> None:
    """An ``add_msg_template`` task: ``{"msgid", "chat_type", "content", "create_time",
    "members": {userid: {"status": 0|2, "send_time": 0|s, "targets": [external_userid or
    chat_id, …]}}}``; it waits until each member sends their part (:func:`send_msg_task`)."""
    redis.set(_msg_task_key(task["msgid"]), json.dumps(task, ensure_ascii=False), ex=5 * GC_SECONDS)


def get_msg_task(redis: redis_lib.Redis, msgid: str) -> dict[str, Any] | None:
    raw = redis.get(_msg_task_key(msgid)) if msgid else None
    return json.loads(raw) if raw else None


def send_msg_task(redis: redis_lib.Redis, msgid: str, *, userid: str | None = None,
                  at: datetime | None = None) -> dict[str, Any]:
    """The member confirms their part in WeCom (every member's, without ``userid``): it is
    marked sent (status 2) and its content lands in each target's ``work`` inbox, once.
    KeyError: no such task, or ``userid`` has no part in it."""
    at = _now(at)
    with lock(redis, "work"):
        task = get_msg_task(redis, msgid)
        if task is None:
            raise KeyError(f"no mass-message task {msgid!r} in the sandbox")
        if userid is not None and userid not in task["members"]:
            raise KeyError(f"{userid!r} has no part in task {msgid!r}")
        for member, part in task["members"].items():
            if (userid is None or member == userid) and part["status"] == 0:
                part.update(status=2, send_time=int(at.timestamp()))
                deliver(redis, "work", part["targets"], {"kind": "mass", "msgid": msgid, "from": member,
                                                        "content": task["content"], "at": _ms(at)})
        save_msg_task(redis, task)
    return task
