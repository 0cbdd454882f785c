"""The world the sandbox plays, kept in the database (SPEC §10; tables in
:mod:`scrm.sandbox.models`): MP followers (粉丝), their tags and their inboxes, WeCom members
(成员), customers (外部联系人) and their members, group chats (客户群), QR codes, contact ways
and mass-message tasks (企业群发) waiting for their members (the last four in
:mod:`scrm.sandbox.world_docs`, re-exported here), and joining or quitting a group through a
join way (:mod:`scrm.sandbox.world_joins`, re-exported here). A restart keeps all of it.

Seed it with these functions (re-exported by :mod:`scrm.sandbox.state`); the APIs read and
change it. They take the sandbox's Redis, which keeps what is ephemeral (welcome codes, the
locks that serialise a channel's read-check-write steps, the "seeded" mark), and reach the
database through the installed runtime. A default world is seeded at first use: WeCom members
``zhangsan`` (张三), ``lisi`` (李四) and ``wangwu`` (王五). Times are the runtime clock's
unless ``at`` is given.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import redis as redis_lib
from sqlalchemy import delete, func, select, update

from scrm.sandbox import store
from scrm.sandbox.store import lock  # noqa: F401 - re-exported
from scrm.sandbox.models import (
    SandboxCustomer,
    SandboxFollower,
    SandboxFollowerTag,
    SandboxMember,
    SandboxMessage,
    SandboxRelation,
    SandboxRelationTag,
)
from scrm.sandbox.world_docs import (  # noqa: F401 - re-exported: the world's one import
    add_group_chat,
    add_group_chat_members,
    find_contact_way,
    claim_permanent_qrcode,
    find_qrcode,
    get_group_chat,
    get_join_way,
    group_chats,
    get_msg_task,
    group_chat_ids,
    group_chat_people,
    join_ways,
    remove_group_chat,
    remove_group_chat_members,
    remove_join_way,
    save_contact_way,
    save_join_way,
    save_msg_task,
    save_qrcode,
    send_msg_task,
)
from scrm.sandbox.world_joins import (  # noqa: F401 - re-exported
    JoinRefused,
    JoinResult,
    chats_of,
    join_via_way,
    quit_group,
    wecom_identity,
)
from scrm.sandbox.world_tags import (  # noqa: F401 - re-exported
    add_mp_tags,
    corp_tags,
    create_mp_tag,
    delete_mp_tag,
    mp_tag_counts,
    mp_tags,
    next_mass_msgid,
    rename_mp_tag,
    save_corp_tags,
    subscribed_openids,
    tags_of_followers,
    tag_followers,
)
from scrm.sandbox.world_welcome import (  # noqa: F401 - re-exported
    apply_group_welcome,
    get_group_welcome,
    group_welcome_text,
    group_welcomes,
    remove_group_welcome,
    save_group_welcome,
)

SEEDED = "sandbox:seeded"
DEFAULT_MEMBERS = (("zhangsan", "张三"), ("lisi", "李四"), ("wangwu", "王五"))
WELCOME_CODE_SECONDS = 20
INBOX_LIMIT = 200
GC_SECONDS = 7 * 86400  # real-time expiry of short-lived keys, only to keep Redis tidy


_now, _ms = store.now, store.ms


def ensure_seeded(redis: redis_lib.Redis) -> None:
    """Seed the default world once (idempotent: members already there are left as they are)."""
    if redis.exists(SEEDED):
        return
    with store.transaction() as session:
        store.upsert(session, SandboxMember, [{"userid": userid, "name": name, "department": [1], "position": "导购"}
                                              for userid, name in DEFAULT_MEMBERS], keys=("userid",))
    redis.set(SEEDED, "1")


# ---- MP followers ----------------------------------------------------------------------


def _follower_row(openid: str, *, nickname: str | None, unionid: str | None, last_message_at: datetime | None,
                  at: datetime | None) -> dict[str, Any]:
    row: dict[str, Any] = {"openid": openid, "subscribe": 1, "subscribe_time": int(_now(at).timestamp()),
                           "nickname": nickname, "unionid": unionid, "last_message_at": None, "replies": 0}
    if last_message_at is not None:
        row["last_message_at"] = _ms(last_message_at)
    return row


def add_followers(redis: redis_lib.Redis, openids: Iterable[str], *, last_message_at: datetime | None = None,
                  at: datetime | None = None, batch: int = 5000) -> None:
    """Many followers at once (subscribed ``at``), in batches: as :func:`add_follower`."""
    ensure_seeded(redis)
    rows = [_follower_row(o, nickname=None, unionid=None, last_message_at=last_message_at, at=at) for o in openids]
    change = ["subscribe", "subscribe_time"] + (["last_message_at", "replies"] if last_message_at else [])
    with store.transaction() as session:
        for start in range(0, len(rows), batch):
            store.upsert(session, SandboxFollower, rows[start:start + batch], keys=("openid",), change=change)


def add_follower(
    redis: redis_lib.Redis,
    openid: str,
    *,
    nickname: str | None = None,
    unionid: str | None = None,
    last_message_at: datetime | None = None,
    at: datetime | None = None,
) -> None:
    """An MP follower (subscribed now, or again); ``last_message_at`` opens the 48 h window.
    A nickname or unionid not given keeps the one known."""
    ensure_seeded(redis)
    row = _follower_row(openid, nickname=nickname, unionid=unionid, last_message_at=last_message_at, at=at)
    change = ["subscribe", "subscribe_time"] + [f for f in ("nickname", "unionid") if row[f] is not None]
    if last_message_at is not None:
        change += ["last_message_at", "replies"]
    with store.transaction() as session:
        store.upsert(session, SandboxFollower, row, keys=("openid",), change=change)


def touch_follower(redis: redis_lib.Redis, openid: str, at: datetime | None = None) -> None:
    """The follower sent a message: a new 48 h window with a fresh reply count. A message
    implies a follower, so an unknown openid is added."""
    ensure_seeded(redis)
    at = _now(at)
    row = _follower_row(openid, nickname=None, unionid=None, last_message_at=at, at=at)
    with store.transaction() as session:
        store.upsert(session, SandboxFollower, row, keys=("openid",), change=("last_message_at", "replies"))


def unfollow(redis: redis_lib.Redis, openid: str) -> None:
    row = {"openid": openid, "subscribe": 0, "replies": 0}
    with store.transaction() as session:
        store.upsert(session, SandboxFollower, row, keys=("openid",), change=("subscribe",))


_FOLLOWER_FIELDS = ("openid", "subscribe", "subscribe_time", "nickname", "unionid", "last_message_at", "replies")
_READ_FOLLOWER = select(*(getattr(SandboxFollower, f) for f in _FOLLOWER_FIELDS))


def get_follower(redis: redis_lib.Redis, openid: str) -> dict[str, str] | None:
    """As Redis kept it (and the APIs read it): strings, only the fields known, and the reply
    count only with a window."""
    if not openid:
        return None
    with store.reading() as conn:
        row = conn.execute(_READ_FOLLOWER.where(SandboxFollower.openid == openid)).first()
    if row is None:
        return None
    known = dict(zip(_FOLLOWER_FIELDS, row))
    if known["last_message_at"] is None:
        del known["replies"]
    return {k: str(v) for k, v in known.items() if v is not None}


def follower_openids(redis: redis_lib.Redis, *, subscribed: bool = False, limit: int | None = None) -> list[str]:
    """Every follower's openid (ever seen, or ``subscribed`` now), in order."""
    query = select(SandboxFollower.openid).order_by(SandboxFollower.openid).limit(limit)
    if subscribed:
        query = query.where(SandboxFollower.subscribe == 1)
    with store.transaction() as session:
        return list(session.scalars(query))


def follower_tags(redis: redis_lib.Redis, openid: str) -> list[int]:
    with store.reading() as conn:
        return list(conn.scalars(select(SandboxFollowerTag.tag_id).where(SandboxFollowerTag.openid == openid)
                                    .order_by(SandboxFollowerTag.tag_id)))


# ---- what customers received -------------------------------------------------------------


def deliver(redis: redis_lib.Redis, channel: str, users: Iterable[str], message: dict[str, Any]) -> int | None:
    """Put ``message`` in each user's inbox; the message's id when it went to one user."""
    with store.writing() as conn:
        return store.put_messages(conn, channel, users, message)


def deliver_reply(redis: redis_lib.Redis, openid: str, message: dict[str, Any], *, most: int,
                  window_from_ms: int) -> bool:
    """A customer-service message to ``openid``, counted in their window, if they follow, wrote
    since ``window_from_ms`` and were sent fewer than ``most`` in it (else False, nothing
    delivered)."""
    with store.writing() as conn:
        counted = conn.execute(update(SandboxFollower).where(SandboxFollower.openid == openid,
                                                             SandboxFollower.subscribe == 1,
                                                             SandboxFollower.last_message_at >= window_from_ms,
                                                             SandboxFollower.replies < most)
                               .values(replies=SandboxFollower.replies + 1))
        if counted.rowcount != 1:
            return False
        store.put_messages(conn, "mp", [openid], message)
    return True


def deliver_to_subscribed(redis: redis_lib.Redis, openid: str, message: dict[str, Any]) -> int | None:
    """``message`` to ``openid`` if they follow now: the message's id (None: nothing delivered)."""
    with store.writing() as conn:
        if conn.scalar(select(SandboxFollower.subscribe).where(SandboxFollower.openid == openid)) != 1:
            return None
        return store.put_messages(conn, "mp", [openid], message)


def list_messages(redis: redis_lib.Redis, user: str, *, channel: str = "mp") -> list[dict[str, Any]]:
    """What an MP follower (``openid``) or a WeCom customer (``external_userid``, with
    ``channel="work"``) received, oldest first, the last 200: ``{"kind", "msgtype"?, "content",
    "at"}``."""
    with store.transaction() as session:
        bodies = list(session.scalars(select(SandboxMessage.body).where(
            SandboxMessage.channel == channel, SandboxMessage.recipient == user)
            .order_by(SandboxMessage.id.desc()).limit(INBOX_LIMIT)))
    return bodies[::-1]


def count_messages(redis: redis_lib.Redis, users: Iterable[str], *, channel: str = "mp") -> dict[str, int]:
    """How many messages each of ``users`` received (those with none are left out)."""
    users = list(users)
    counts: dict[str, int] = {}
    with store.transaction() as session:
        for start in range(0, len(users), 5000):
            rows = session.execute(select(SandboxMessage.recipient, func.count()).where(
                SandboxMessage.channel == channel, SandboxMessage.recipient.in_(users[start:start + 5000]))
                .group_by(SandboxMessage.recipient))
            counts.update({k: v for k, v in rows})
    return counts


# ---- WeCom members and customers ---------------------------------------------------------


def add_member(
    redis: redis_lib.Redis, userid: str, name: str, *, department: Iterable[int] = (1,), position: str = ""
) -> None:
    """A WeCom member (a guide, usually)."""
    ensure_seeded(redis)
    row = {"userid": userid, "name": name, "department": list(department), "position": position}
    with store.transaction() as session:
        store.upsert(session, SandboxMember, row, keys=("userid",), change=("name", "department", "position"))


def get_member(redis: redis_lib.Redis, userid: str) -> dict[str, Any] | None:
    if not userid:
        return None
    with store.reading() as conn:
        member = conn.execute(select(SandboxMember.userid, SandboxMember.name, SandboxMember.department,
                                     SandboxMember.position).where(SandboxMember.userid == userid)).first()
    if member is None:
        return None
    return {"userid": member.userid, "name": member.name, "department": list(member.department),
            "position": member.position}


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
    customer = {"external_userid": external_userid, "name": name or external_userid, "unionid": unionid or None,
                "transfers": []}
    follow = {"userid": userid, "remark": "", "createtime": int(_now(at).timestamp()), "state": state, "add_way": 1}
    with store.transaction() as session:
        store.upsert(session, SandboxCustomer, customer, keys=("external_userid",),
                     change=("name", "unionid") if unionid else ("name",))
        store.upsert(session, SandboxRelation, {"external_userid": external_userid, "userid": userid,
                                                "relation": follow}, keys=("external_userid", "userid"),
                     change=("relation",))


def get_customer(redis: redis_lib.Redis, external_userid: str) -> dict[str, str] | None:
    if not external_userid:
        return None
    with store.transaction() as session:
        customer = session.get(SandboxCustomer, external_userid)
        if customer is None:
            return None
        found = {"external_userid": customer.external_userid, "name": customer.name}
        if customer.unionid:
            found["unionid"] = customer.unionid
        return found


def followers_of(redis: redis_lib.Redis, external_userid: str) -> dict[str, dict[str, Any]]:
    """The members a customer added: userid → relation."""
    with store.transaction() as session:
        rows = session.execute(select(SandboxRelation.userid, SandboxRelation.relation)
                               .where(SandboxRelation.external_userid == external_userid))
        return {k: v for k, v in rows}


def pair_tags(redis: redis_lib.Redis, external_userid: str, userid: str) -> list[str]:
    """The corp tag ids on one member–customer pair, in order."""
    with store.transaction() as session:
        return list(session.scalars(select(SandboxRelationTag.tag_id).where(
            SandboxRelationTag.external_userid == external_userid, SandboxRelationTag.userid == userid)
            .order_by(SandboxRelationTag.tag_id)))


def change_pair_tags(redis: redis_lib.Redis, external_userid: str, userid: str, *, add: Iterable[str] = (),
                     remove: Iterable[str] = ()) -> None:
    add, remove = list(dict.fromkeys(add)), list(remove)
    with store.transaction() as session:
        if add:
            store.upsert(session, SandboxRelationTag, [{"external_userid": external_userid, "userid": userid,
                                                        "tag_id": t} for t in add],
                         keys=("external_userid", "userid", "tag_id"))
        if remove:
            session.execute(delete(SandboxRelationTag).where(
                SandboxRelationTag.external_userid == external_userid, SandboxRelationTag.userid == userid,
                SandboxRelationTag.tag_id.in_(remove)))


def move_customer(redis: redis_lib.Redis, external_userid: str, *, handover: str, takeover: str, at: datetime) -> None:
    """In-service transfer (在职继承). WeCom moves the customer 24 h later; the sandbox at once."""
    with store.transaction() as session:
        _move(session, external_userid, handover=handover, takeover=takeover, at=at)


def transfer_customers(redis: redis_lib.Redis, external_userids: Iterable[str], *, handover: str, takeover: str,
                       at: datetime, window_ms: int, most: int) -> list[int]:
    """``transfer_customer``'s answer for each customer, in one transaction: 40096 unknown, a
    busy answer (:func:`busy_transfer`), 40131 not the handover's, 40128 moved ``most`` times
    within ``window_ms``; else 0, and moved (:func:`move_customer`)."""
    answers = []
    with store.transaction() as session:
        for external_userid in external_userids:
            customer = session.get(SandboxCustomer, external_userid)
            busy = None if customer is None else take_busy_answer(redis, external_userid)
            if customer is None or busy is not None:
                answers.append(40096 if customer is None else busy)
            elif session.get(SandboxRelation, (external_userid, handover)) is None:
                answers.append(40131)
            elif sum(1 for t in customer.transfers if _ms(at) - t < window_ms) >= most:
                answers.append(40128)
            else:
                _move(session, external_userid, handover=handover, takeover=takeover, at=at)
                answers.append(0)
    return answers


def _move(session: Any, external_userid: str, *, handover: str, takeover: str, at: datetime) -> None:
    old = session.get(SandboxRelation, (external_userid, handover))
    if old is None:
        raise KeyError(handover)
    relation = {**old.relation, "userid": takeover, "createtime": int(at.timestamp()), "add_way": 0}
    session.delete(old)
    tags = list(session.scalars(select(SandboxRelationTag.tag_id).where(
        SandboxRelationTag.external_userid == external_userid, SandboxRelationTag.userid == handover)))
    session.execute(delete(SandboxRelationTag).where(SandboxRelationTag.external_userid == external_userid,
                                                     SandboxRelationTag.userid == handover))
    session.flush()
    store.upsert(session, SandboxRelation, {"external_userid": external_userid, "userid": takeover,
                                            "relation": relation}, keys=("external_userid", "userid"),
                 change=("relation",))
    if tags:
        store.upsert(session, SandboxRelationTag, [{"external_userid": external_userid, "userid": takeover,
                                                    "tag_id": t} for t in tags],
                     keys=("external_userid", "userid", "tag_id"))
    customer = session.get(SandboxCustomer, external_userid)
    if customer is not None:
        customer.transfers = [*customer.transfers, _ms(at)]


def transfer_times(redis: redis_lib.Redis, external_userid: str) -> list[int]:
    with store.transaction() as session:
        customer = session.get(SandboxCustomer, external_userid)
        return list(customer.transfers) if customer is not None else []


def _busy_key(external_userid: str) -> str:
    return f"sandbox:work:customer:{external_userid}:busy"


def busy_transfer(redis: redis_lib.Redis, external_userid: str, *, errcode: int = -1, times: int = 1) -> None:
    """WeCom answers ``errcode`` for this customer in the next ``times`` hand-overs, as it
    does for one customer of a batch when busy (the batch's others go through). A fault, so
    kept in Redis."""
    redis.delete(_busy_key(external_userid))
    redis.rpush(_busy_key(external_userid), *([errcode] * times))


def take_busy_answer(redis: redis_lib.Redis, external_userid: str) -> int | None:
    answer = redis.lpop(_busy_key(external_userid))
    return None if answer is None else int(answer)


# ---- welcome codes (Redis: each lives 20 seconds) -----------------------------------------


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
