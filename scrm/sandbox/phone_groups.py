"""The phone sandbox's customer groups (SPEC §10: "a customer can join and quit groups"):
scan a group live code (a WeCom join way), see "my groups" with what their owners sent, quit.

Routes on the phone's blueprint (admin session, CSRF like the rest of the phone):
``GET api/join-ways`` (the sandbox's join ways to scan), ``GET api/groups?openid=`` (the
customer's groups), ``POST api/groups/join`` ``{openid, config_id | url}``, ``POST
api/groups/quit`` ``{openid, chat_id}``, ``POST api/groups/owner-send`` ``{chat_id, msgid}``
(the group's owner sends a waiting group message task in WeCom, as they would by hand).

A join or quit changes the sandbox's WeCom (:mod:`scrm.sandbox.world_joins`) and then sends
the product the ``change_external_chat`` callbacks WeCom would (:mod:`scrm.sandbox.group_callbacks`).
If the webhook cannot be reached the change stays made, as in WeCom: the product catches up at
its hourly sync. The phone's chat keeps "你已加入群「…」" and the welcome text the group's owner
applied (``world.apply_group_welcome``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import jsonify, request
from flask_babel import gettext as _

from scrm.sandbox import group_callbacks, store, world
from scrm.sandbox.phone import (
    _NEXT_CREATE_TIME,
    InvalidAction,
    _check_openid,
    _entry,
    _json_body,
    _remember,
    customer_state,
    phone_pages,
)
from scrm.sandbox.world_docs import MSG_TASK
from scrm.web.api import current_runtime
from scrm.web.errors import error_body

if TYPE_CHECKING:
    import redis as redis_lib

    from scrm.runtime import Runtime

# What the code of a join way holds: its qr_code's url without ".png" (the foundation's).
JOIN_WAY_URL = re.compile(r"/sandbox/wechat/work/join_way/([A-Za-z0-9_-]{1,64})(?:\.png)?/?$")
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value.strip()):
        raise InvalidAction(f"{what} must be 1-64 letters, digits, '_' or '-'")
    return value.strip()


def join_ways(redis: redis_lib.Redis) -> list[dict[str, Any]]:
    """The sandbox's join ways, as the phone offers them to scan."""
    ways = world.join_ways(redis)
    listed = [{"config_id": config_id, "remark": way.get("remark") or "", "state": way.get("state") or "",
               "url": (way.get("qr_code") or "").removesuffix(".png"), "chats": len(way.get("chat_id_list") or ()),
               "auto_create_room": bool(int(way.get("auto_create_room") or 0))} for config_id, way in ways.items()]
    return sorted(listed, key=lambda w: (w["remark"], w["config_id"]))


def config_id_of(body: dict[str, Any]) -> str:
    """The way a scan names: ``config_id``, or ``url``, the content of the way's QR code."""
    if body.get("config_id"):
        return _id(body["config_id"], "config_id")
    url = body.get("url")
    found = JOIN_WAY_URL.search(url.strip()) if isinstance(url, str) else None
    if found is None:
        raise InvalidAction("give config_id, or url: a join way's code (…/sandbox/wechat/work/join_way/<config_id>)")
    return found[1]


def _welcome_text(redis: redis_lib.Redis, chat: dict[str, Any], nickname: str) -> str:
    """The welcome (入群欢迎语) the owner applied to the group the customer landed in (WeCom's
    join way has none), ``%NICKNAME%`` replaced; "" when the owner applied none."""
    template_id = chat.get("welcome_template_id")
    return (world.group_welcome_text(redis, template_id, nickname) or "") if template_id else ""


def _create_time(runtime: Runtime, chat_id: str) -> int:
    """A CreateTime after the group's last one: a join and a quit within one second are two
    deliveries, not WeCom's retry of one (the webhook's ledger keys on CreateTime)."""
    key = f"sandbox:phone:time:chat:{chat_id}"
    return int(runtime.redis.eval(_NEXT_CREATE_TIME, 1, key, int(runtime.clock.timestamp())))


def join(runtime: Runtime, openid: str, config_id: str) -> dict[str, Any]:
    """The customer scans the way's code and joins; WeCom's callbacks go to the product."""
    redis, now = runtime.redis, runtime.clock.now()
    nickname = customer_state(redis, openid)["nickname"]
    external_userid = world.wecom_identity(redis, openid, name=nickname)
    joined = world.join_via_way(redis, config_id, external_userid, at=now)
    chat = world.get_group_chat(redis, joined.chat_id) or {"member_list": []}
    entries = [_entry("note", "note", now, text=_("你已加入群「%(name)s」", name=joined.name))]
    welcome = _welcome_text(redis, chat, nickname)
    if welcome:
        entries.append({**_entry("group", "text", now, text=welcome), "group": joined.name})
    _remember(redis, openid, entries)
    group_callbacks.announce_join(runtime, chat_id=joined.chat_id, external_userid=external_userid,
                                  members_now=[m["userid"] for m in chat["member_list"]], created=joined.created,
                                  create_time=_create_time(runtime, joined.chat_id))
    return {"joined": {"chat_id": joined.chat_id, "name": joined.name, "created": joined.created,
                       "member_count": joined.member_count, "state": joined.state},
            "messages": entries, "groups": groups_of(redis, openid)}


def leave(runtime: Runtime, openid: str, chat_id: str) -> dict[str, Any]:
    """The customer leaves the group by themselves (QuitScene 0)."""
    redis, now = runtime.redis, runtime.clock.now()
    external_userid = world.wecom_identity(redis, openid, keep=False)
    name = (world.get_group_chat(redis, chat_id) or {}).get("name", "")
    world.quit_group(redis, chat_id, external_userid, at=now)
    entries = [_entry("note", "note", now, text=_("你已退出群「%(name)s」", name=name))]
    _remember(redis, openid, entries)
    chat = world.get_group_chat(redis, chat_id) or {"member_list": []}
    group_callbacks.announce_quit(runtime, chat_id=chat_id, external_userid=external_userid,
                                  members_now=[m["userid"] for m in chat["member_list"]],
                                  create_time=_create_time(runtime, chat_id))
    return {"messages": entries, "groups": groups_of(redis, openid)}


def _text_of(content: dict[str, Any]) -> str:
    text = str((content.get("text") or {}).get("content") or "")
    extras = [f"[{a.get('msgtype', 'attachment')}]" for a in content.get("attachments") or () if isinstance(a, dict)]
    return " ".join([text, *extras]).strip()


def groups_of(redis: redis_lib.Redis, openid: str) -> list[dict[str, Any]]:
    """The customer's groups: what owners sent there since they joined, and the group message
    tasks waiting for the owner to send (the owner's button)."""
    external_userid = world.wecom_identity(redis, openid, keep=False)
    chats = world.chats_of(redis, external_userid)
    with store.transaction() as session:
        tasks = store.docs(session, MSG_TASK) if chats else {}
    groups = []
    for chat in chats:
        since_ms = int(chat["me"].get("join_time") or 0) * 1000
        sent = [{"at": datetime.fromtimestamp(m["at"] / 1000, UTC).isoformat(), "from": m.get("from", ""),
                 "text": _text_of(m.get("content") or {})}
                for m in world.list_messages(redis, chat["chat_id"], channel="work")
                if m.get("kind") == "mass" and int(m.get("at") or 0) >= since_ms]
        waiting = [{"msgid": msgid, "text": _text_of(task.get("content") or {})}
                   for msgid, task in sorted(tasks.items(), key=lambda t: t[1].get("create_time", 0))
                   if task.get("chat_type") == "group"
                   and (task["members"].get(chat["owner"]) or {}).get("status") == 0
                   and chat["chat_id"] in task["members"][chat["owner"]].get("targets", ())]
        groups.append({"chat_id": chat["chat_id"], "name": chat["name"], "owner": chat["owner"],
                       "member_count": len(chat["member_list"]), "state": chat["me"].get("state", ""),
                       "joined_at": datetime.fromtimestamp(chat["me"].get("join_time") or 0, UTC).isoformat(),
                       "messages": sent, "waiting": waiting})
    return groups


def owner_sends(runtime: Runtime, chat_id: str, msgid: str) -> None:
    """The group's owner sends their part of a group message task, as in WeCom's 群发助手."""
    chat = world.get_group_chat(runtime.redis, chat_id)
    task = world.get_msg_task(runtime.redis, msgid)
    part = (task or {}).get("members", {}).get((chat or {}).get("owner", ""))
    if chat is None or part is None or chat_id not in part.get("targets", ()):
        raise world.JoinRefused("unknown_task", f"no group message task {msgid!r} for the owner of {chat_id!r}")
    world.send_msg_task(runtime.redis, msgid, userid=chat["owner"], at=runtime.clock.now())


# ---- routes ------------------------------------------------------------------------------

REFUSALS = {  # code → HTTP status
    "unknown_way": 404, "unknown_chat": 404, "unknown_task": 404,
    "group_full": 409, "already_member": 409, "not_a_member": 409,
}


def _refusal_words(exc: world.JoinRefused) -> str:
    words = {
        "unknown_way": _("群活码不存在或已删除"), "unknown_chat": _("群不存在或已解散"),
        "unknown_task": _("没有这条待发送的群发"), "group_full": _("群已满"),
        "already_member": _("你已在群「%(name)s」中", name=exc.name), "not_a_member": _("你不在这个群里"),
    }
    return words.get(exc.code, str(exc))


@phone_pages.errorhandler(world.JoinRefused)
def _join_refused(exc: world.JoinRefused):  # noqa: ANN202
    body = error_body(exc.code, _refusal_words(exc))
    if exc.chat_id:
        body["chat_id"] = exc.chat_id
    return jsonify(body), REFUSALS.get(exc.code, 409)


@phone_pages.errorhandler(group_callbacks.CallbackFailed)
def _callback_failed(exc: Exception):  # noqa: ANN202
    return jsonify(error_body("webhook_failed", str(exc))), 502


def _object() -> dict[str, Any]:
    body = _json_body()
    if not isinstance(body, dict):
        raise InvalidAction("the body must be a JSON object")
    return body


@phone_pages.get("/api/join-ways")
def list_join_ways():  # noqa: ANN201
    return jsonify(join_ways=join_ways(current_runtime().redis))


@phone_pages.get("/api/groups")
def groups():  # noqa: ANN201
    openid = _check_openid(request.args.get("openid"))
    return jsonify(groups=groups_of(current_runtime().redis, openid))


@phone_pages.post("/api/groups/join")
def join_group():  # noqa: ANN201
    body = _object()
    openid = _check_openid(body.get("openid"))
    return jsonify(join(current_runtime(), openid, config_id_of(body)))


@phone_pages.post("/api/groups/quit")
def leave_group():  # noqa: ANN201
    body = _object()
    openid = _check_openid(body.get("openid"))
    return jsonify(leave(current_runtime(), openid, _id(body.get("chat_id"), "chat_id")))


@phone_pages.post("/api/groups/owner-send")
def owner_send():  # noqa: ANN201
    body = _object()
    chat_id, msgid = _id(body.get("chat_id"), "chat_id"), _id(body.get("msgid"), "msgid")
    runtime = current_runtime()
    owner_sends(runtime, chat_id, msgid)
    openid = body.get("openid")
    return jsonify(groups=groups_of(runtime.redis, _check_openid(openid)) if openid else [])
