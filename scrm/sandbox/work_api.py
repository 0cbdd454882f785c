"""The WeCom (企业微信) api the sandbox plays, under ``/sandbox/wechat/work/cgi-bin/``.

``gettoken``, ``user/get``, ``externalcontact/{get,add_contact_way,update_contact_way,
send_welcome_msg,mark_tag,get_corp_tag_list,add_corp_tag,add_msg_template,get_groupmsg_task,
transfer_customer}``,
``externalcontact/groupchat/{list,get}``, ``auth/getuserinfo`` (the code comes from the
authorize page, ``/sandbox/wechat/work/connect/oauth2/authorize``), ``get_jsapi_ticket``.
Every answer carries ``errcode``/``errmsg``. Error codes: see :mod:`scrm.sandbox.errors`.

As on WeCom, ``gettoken`` hands back the same token until it expires. Corp tags hang on the
member–customer pair. ``add_msg_template`` puts customers with no relation to the sender (or
to anyone, without a sender) in ``fail_list``; a ``group`` one's ``chat_id_list`` must name
groups the sender owns (else 40050). Each member's part waits (``get_groupmsg_task`` status
0) until the member sends it: ``state.send_msg_task``, or ``POST
/api/sandbox/work/msg_tasks/<msgid>/send``, puts it in the targets' ``work`` inboxes (status
2). The monthly limit is not played. ``transfer_customer`` moves a customer at once (WeCom: after 24 h) and
refuses one already transferred twice in 90 days. Welcome messages are kept in the
customer's inbox (``state.list_messages(redis, external_userid, channel="work")``).
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime
from typing import Any

from scrm.sandbox import world
from scrm.sandbox.apis import Call, api
from scrm.sandbox.errors import WeChatError, invalid
from scrm.sandbox.state import issue_token, ms

MAX_STATE = 30
AGENT_TOKENS = "work_agent"  # the token family of wechat.work.agent_secret (message/send)
MAX_TAG_NAME = 30
MAX_ATTACHMENTS = 9
ATTACHMENT_TYPES = ("image", "link", "miniprogram", "video", "file")
MAX_TRANSFER = 100
TRANSFERS_PER_90_DAYS = 2
NINETY_DAYS_MS = 90 * 86400 * 1000
MAX_TEMPLATE_CUSTOMERS = 10000
MAX_TEMPLATE_CHATS = 2000
MAX_TASK_PAGE = 1000


def _str(body: dict[str, Any], field: str, *, missing: int | None = None) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value:
        raise WeChatError(missing) if missing else invalid(field, "is required")
    return value


def _str_list(body: dict[str, Any], field: str, *, most: int, least: int = 1) -> list[str]:
    values = body.get(field, [] if least == 0 else None)
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise invalid(field, "must be a list of strings")
    if not least <= len(values) <= most:
        raise invalid(field, f"must hold {least} to {most} items")
    return values


def _member(call: Call, userid: str) -> dict[str, Any]:
    member = world.get_member(call.redis, userid)
    if member is None:
        raise WeChatError(60111, f"no member {userid!r}")
    return member


def _content(body: dict[str, Any]) -> dict[str, Any]:
    """``text`` and/or ``attachments``, as welcome messages and msg templates take them."""
    text = body.get("text")
    attachments = body.get("attachments", [])
    if text is not None and not isinstance(text, dict):
        raise invalid("text", "must be an object")
    if not isinstance(attachments, list) or len(attachments) > MAX_ATTACHMENTS:
        raise invalid("attachments", f"must be a list of at most {MAX_ATTACHMENTS}")
    for i, item in enumerate(attachments):
        if not isinstance(item, dict) or item.get("msgtype") not in ATTACHMENT_TYPES:
            raise invalid(f"attachments[{i}].msgtype", f"must be one of {', '.join(ATTACHMENT_TYPES)}")
    content = (text or {}).get("content")
    if not (isinstance(content, str) and content) and not attachments:
        raise invalid("text.content", "is required when there are no attachments")
    return {"text": text, "attachments": attachments}


@api("work", "gettoken", method="GET", needs_token=False)
def get_token(call: Call) -> dict[str, Any]:
    work = call.config.wechat.work
    corpid, secret = call.query.get("corpid"), call.query.get("corpsecret")
    if not corpid:
        raise WeChatError(41002, errmsg="corpid missing")
    if not hmac.compare_digest(corpid.encode(), work.corp_id.encode()):
        raise WeChatError(40013, errmsg="invalid corpid")
    if not secret:
        raise WeChatError(41004, errmsg="corpsecret missing")
    # The self-built app's secret has tokens of its own, good for app messages only.
    agent_secret = call.config.work_agent_secret
    agent = bool(agent_secret) and hmac.compare_digest(secret.encode(), (agent_secret or "").encode())
    if not agent and not hmac.compare_digest(secret.encode(), work.secret.encode()):
        raise WeChatError(40001, errmsg="invalid secret")
    access_token, expires_in = issue_token(call.redis, AGENT_TOKENS if agent else "work", now=call.now, reuse=True)
    return {"access_token": access_token, "expires_in": expires_in}


@api("work", "user/get", method="GET")
def get_user(call: Call) -> dict[str, Any]:
    member = _member(call, _str(call.query, "userid", missing=41009))
    return {
        **member,
        "main_department": member["department"][0] if member["department"] else 1,
        "order": [0] * len(member["department"]),
        "is_leader_in_dept": [0] * len(member["department"]),
        "status": 1,
        "enable": 1,
        "alias": "",
    }


# ---- OAuth (网页授权) ----------------------------------------------------------------------

OAUTH_CODE_SECONDS = 300


def _oauth_key(code: str) -> str:
    return f"sandbox:work:oauth:{code}"


def issue_oauth_code(redis: Any, *, userid: str, now: datetime) -> str:
    """The ``code`` the authorize page hands to ``redirect_uri``: good for 5 minutes, once."""
    code = secrets.token_urlsafe(24)
    redis.hset(_oauth_key(code), mapping={"userid": userid, "expires_at": ms(now) + OAUTH_CODE_SECONDS * 1000})
    redis.expire(_oauth_key(code), 86400)  # only to keep Redis tidy
    return code


@api("work", "auth/getuserinfo", method="GET")
def get_oauth_user(call: Call) -> dict[str, Any]:
    code = call.query.get("code")
    if not code:
        raise WeChatError(41008, errmsg="missing code")
    raw = call.redis.hgetall(_oauth_key(code))
    if not raw or int(raw[b"expires_at"]) <= call.now_ms or not call.redis.hsetnx(_oauth_key(code), "used", 1):
        raise WeChatError(40029, errmsg="invalid code")
    return {"userid": raw[b"userid"].decode()}


# ---- JS-SDK ------------------------------------------------------------------------------

JSAPI_TICKET = "sandbox:work:jsapi_ticket"
JSAPI_TICKET_SECONDS = 7200


@api("work", "get_jsapi_ticket", method="GET")
def get_jsapi_ticket(call: Call) -> dict[str, Any]:
    """As on WeCom, the same ticket until it runs out."""
    call.redis.set(JSAPI_TICKET, secrets.token_urlsafe(64), nx=True, ex=JSAPI_TICKET_SECONDS)
    ticket, left = call.redis.get(JSAPI_TICKET), call.redis.ttl(JSAPI_TICKET)
    return {"ticket": ticket.decode(), "expires_in": max(1, int(left))}


# ---- customers -------------------------------------------------------------------------


def _tag_index(call: Call) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """tag id → (its group, the tag)."""
    return {tag["id"]: (group, tag) for group in _corp_tags(call) for tag in group["tag"]}


@api("work", "externalcontact/get", method="GET")
def get_external_contact(call: Call) -> dict[str, Any]:
    external_userid = _str(call.query, "external_userid", missing=41035)
    customer = world.get_customer(call.redis, external_userid)
    if customer is None:
        raise WeChatError(40096, f"no customer {external_userid!r}")
    index = _tag_index(call)
    follow_user = []
    for userid, relation in sorted(world.followers_of(call.redis, external_userid).items()):
        tag_ids = world.pair_tags(call.redis, external_userid, userid)
        tags = [
            {"group_name": index[t][0]["group_name"], "tag_name": index[t][1]["name"], "tag_id": t, "type": 1}
            for t in tag_ids
            if t in index
        ]
        follow_user.append({**relation, "description": "", "tags": tags})
    contact = {"type": 1, "avatar": "", "gender": 0, **customer}
    return {"external_contact": contact, "follow_user": follow_user}


@api("work", "externalcontact/add_contact_way")
def add_contact_way(call: Call) -> dict[str, Any]:
    body = call.body
    for field, missing, wrong in (("type", 41037, 41039), ("scene", 41038, 41040)):
        if field not in body:
            raise WeChatError(missing)
        if body[field] not in (1, 2) or isinstance(body[field], bool):
            raise WeChatError(wrong, f"{field} must be 1 or 2")
    state = body.get("state", "")
    if not isinstance(state, str) or len(state) > MAX_STATE:
        raise invalid("state", f"must be a string of at most {MAX_STATE} characters")
    single = body["type"] == 1
    users = _str_list(body, "user", most=1 if single else 100, least=1 if single else 0)
    parties = body.get("party", [])
    if not single and not users and not parties:
        raise invalid("user", "a multi-person way needs user or party")
    for userid in users:
        _member(call, userid)
    config_id = secrets.token_hex(16)
    way = {"config_id": config_id, "type": body["type"], "scene": body["scene"], "state": state, "user": users,
           "party": parties, "remark": body.get("remark", ""), "skip_verify": body.get("skip_verify", True)}
    if body["scene"] == 2:
        way["qr_code"] = call.public_url(f"work/contact_way/{config_id}.png")
    world.save_contact_way(call.redis, way)
    return {"config_id": config_id, **({"qr_code": way["qr_code"]} if "qr_code" in way else {})}


@api("work", "externalcontact/update_contact_way")
def update_contact_way(call: Call) -> dict[str, Any]:
    config_id = _str(call.body, "config_id")
    way = world.find_contact_way(call.redis, config_id)
    if way is None:
        raise invalid("config_id", "no such contact way")
    if "user" in call.body:
        users = _str_list(call.body, "user", most=1 if way["type"] == 1 else 100, least=1 if way["type"] == 1 else 0)
        for userid in users:
            _member(call, userid)
        way["user"] = users
    if isinstance(call.body.get("remark"), str):
        way["remark"] = call.body["remark"]
    world.save_contact_way(call.redis, way)
    return {}


@api("work", "externalcontact/send_welcome_msg")
def send_welcome_message(call: Call) -> dict[str, Any]:
    code = _str(call.body, "welcome_code", missing=41049)
    content = _content(call.body)
    outcome, info = world.use_welcome_code(call.redis, code, now=call.now)
    if outcome == "invalid":
        raise WeChatError(41050, "unknown or expired (a code lives 20 seconds)")
    if outcome == "used":
        raise WeChatError(41051, "this welcome_code was used")
    message = {"kind": "welcome", "from": info["userid"], "content": content, "at": call.now.isoformat()}
    world.deliver(call.redis, "work", [info["external_userid"]], message)
    return {}


@api("work", "externalcontact/mark_tag")
def mark_tag(call: Call) -> dict[str, Any]:
    userid = _str(call.body, "userid", missing=41009)
    external_userid = _str(call.body, "external_userid", missing=41035)
    add = _str_list(call.body, "add_tag", most=1000, least=0)
    remove = _str_list(call.body, "remove_tag", most=1000, least=0)
    if not add and not remove:
        raise invalid("add_tag", "add_tag and remove_tag cannot both be empty")
    _member(call, userid)
    if userid not in world.followers_of(call.redis, external_userid):
        raise WeChatError(84061, f"{external_userid} is not a customer of {userid}")
    known = _tag_index(call)
    unknown = [t for t in add + remove if t not in known]
    if unknown:
        raise WeChatError(40068, f"unknown tag ids {', '.join(unknown)}")
    world.change_pair_tags(call.redis, external_userid, userid, add=add, remove=remove)
    return {}


# ---- corp tags ---------------------------------------------------------------------------


def _corp_tags(call: Call) -> list[dict[str, Any]]:
    return world.corp_tags(call.redis)


@api("work", "externalcontact/get_corp_tag_list")
def get_corp_tags(call: Call) -> dict[str, Any]:
    tag_ids = set(_str_list(call.body, "tag_id", most=10000, least=0))
    group_ids = set(_str_list(call.body, "group_id", most=10000, least=0))
    groups = _corp_tags(call)
    if group_ids:  # as on WeCom, group_id wins over tag_id
        return {"tag_group": [g for g in groups if g["group_id"] in group_ids]}
    if tag_ids:
        picked = [{**g, "tag": [t for t in g["tag"] if t["id"] in tag_ids]} for g in groups]
        return {"tag_group": [g for g in picked if g["tag"]]}
    return {"tag_group": groups}


@api("work", "externalcontact/add_corp_tag")
def add_corp_tag(call: Call) -> dict[str, Any]:
    body = call.body
    tags = body.get("tag")
    if not isinstance(tags, list) or not tags or not all(isinstance(t, dict) for t in tags):
        raise invalid("tag", "must be a non-empty list of {name, order}")
    names = []
    for i, tag in enumerate(tags):
        name = tag.get("name")
        if not isinstance(name, str) or not name.strip():
            raise invalid(f"tag[{i}].name", "is required")
        if len(name) > MAX_TAG_NAME:
            raise WeChatError(40072, f"tag[{i}].name must be at most {MAX_TAG_NAME} characters")
        names.append(name)
    group_id, group_name = body.get("group_id"), body.get("group_name")
    if not group_id and not (isinstance(group_name, str) and group_name.strip()):
        raise invalid("group_id", "group_id or group_name is required")
    if isinstance(group_name, str) and len(group_name) > MAX_TAG_NAME:
        raise WeChatError(40072, f"group_name must be at most {MAX_TAG_NAME} characters")
    created = int(call.now.timestamp())
    with world.lock(call.redis, "work"):
        groups = _corp_tags(call)
        if group_id:
            group = next((g for g in groups if g["group_id"] == group_id), None)
            if group is None:
                raise WeChatError(40068, f"no tag group {group_id!r}")
        else:  # an existing name gets the new tags, as on WeCom
            group = next((g for g in groups if g["group_name"] == group_name), None)
            if group is None:
                group = {"group_id": "et" + secrets.token_hex(11), "group_name": group_name,
                         "create_time": created, "order": body.get("order", 0), "deleted": False, "tag": []}
                groups.append(group)
        existing = {t["name"] for t in group["tag"]}
        clash = [n for n in names if n in existing] or [n for n in names if names.count(n) > 1]
        if clash:
            raise WeChatError(40071, f"tag {clash[0]!r} exists in group {group['group_name']!r}")
        new = [{"id": "et" + secrets.token_hex(11), "name": name, "create_time": created,
                "order": tag.get("order", 0), "deleted": False} for name, tag in zip(names, tags)]
        group["tag"] += new
        world.save_corp_tags(call.redis, groups)
    return {"tag_group": {**group, "tag": new}}


# ---- messages and transfers ---------------------------------------------------------------


@api("work", "externalcontact/add_msg_template")
def add_msg_template(call: Call) -> dict[str, Any]:
    body = call.body
    chat_type = body.get("chat_type", "single")
    if chat_type not in ("single", "group"):
        raise invalid("chat_type", "must be single or group")
    sender = body.get("sender")
    if sender is not None or chat_type == "group":
        _member(call, _str(body, "sender"))
    _content(body)
    fail_list: list[str] = []
    parts: dict[str, list[str]] = {}  # each member's targets: customers, or groups
    if chat_type == "single":
        customers = _str_list(body, "external_userid", most=MAX_TEMPLATE_CUSTOMERS)
        for external_userid in customers:
            members = world.followers_of(call.redis, external_userid)
            if not members or (sender is not None and sender not in members):
                fail_list.append(external_userid)
                continue
            for member in [sender] if sender is not None else members:
                parts.setdefault(member, []).append(external_userid)
        if len(fail_list) == len(customers):
            raise WeChatError(41048, "none of external_userid can be sent to", fail_list=fail_list)
    elif body.get("chat_id_list") is not None:
        parts[sender] = _str_list(body, "chat_id_list", most=MAX_TEMPLATE_CHATS)
        _owned_chats(call, sender, parts[sender])
    else:  # the owner picks among their groups: all of them, here
        parts[sender] = [c for c, chat in world.group_chats(call.redis).items() if chat.get("owner") == sender]
    msgid = "msg" + secrets.token_urlsafe(21)
    content = {k: body[k] for k in ("text", "attachments") if k in body}
    world.save_msg_task(call.redis, {
        "msgid": msgid, "chat_type": chat_type, "content": content, "create_time": int(call.now.timestamp()),
        "members": {member: {"status": 0, "send_time": 0, "targets": targets} for member, targets in parts.items()},
    })
    return {"fail_list": fail_list, "msgid": msgid}


@api("work", "externalcontact/get_groupmsg_task")
def get_msg_task(call: Call) -> dict[str, Any]:
    """Each member's part of a task: status 0 until they send it (``state.send_msg_task``), then 2."""
    task = world.get_msg_task(call.redis, _str(call.body, "msgid"))
    if task is None:
        raise invalid("msgid", "no such mass message")
    limit = call.body.get("limit", MAX_TASK_PAGE)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_TASK_PAGE:
        raise invalid("limit", f"must be 1 to {MAX_TASK_PAGE}")
    cursor = call.body.get("cursor") or ""
    if not isinstance(cursor, str):
        raise invalid("cursor", "must be a string")
    members = sorted(m for m in task["members"] if m > cursor)  # the cursor is the last userid given
    page = members[:limit]
    return {"task_list": [{"userid": m, "status": task["members"][m]["status"],
                           "send_time": task["members"][m]["send_time"]} for m in page],
            "next_cursor": page[-1] if len(members) > limit else ""}


def _owned_chats(call: Call, owner: str, chat_ids: list[str]) -> None:
    """Every group of ``chat_id_list`` exists and is the sender's: else 40050 naming them
    (the sandbox's choice: WeCom documents no per-group fail list)."""
    strangers = []
    for chat_id in chat_ids:
        chat = world.get_group_chat(call.redis, chat_id)
        if chat is None or chat["owner"] != owner:
            strangers.append(chat_id)
    if strangers:
        raise WeChatError(40050, f"not groups of {owner}: {', '.join(strangers)}")


@api("work", "externalcontact/transfer_customer")
def transfer_customer(call: Call) -> dict[str, Any]:
    handover = _str(call.body, "handover_userid")
    takeover = _str(call.body, "takeover_userid")
    customers = _str_list(call.body, "external_userid", most=MAX_TRANSFER)
    message = call.body.get("transfer_success_msg", "")
    if not isinstance(message, str) or len(message) > 200:
        raise invalid("transfer_success_msg", "must be a string of at most 200 characters")
    _member(call, handover)
    _member(call, takeover)
    if handover == takeover:
        raise WeChatError(40130)
    with world.lock(call.redis, "work"):
        answers = world.transfer_customers(call.redis, customers, handover=handover, takeover=takeover, at=call.now,
                                           window_ms=NINETY_DAYS_MS, most=TRANSFERS_PER_90_DAYS)
    return {"customer": [{"external_userid": c, "errcode": e} for c, e in zip(customers, answers)]}


# ---- group chats ---------------------------------------------------------------------------


@api("work", "externalcontact/groupchat/list")
def list_group_chats(call: Call) -> dict[str, Any]:
    body = call.body
    limit = body.get("limit")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000:
        raise invalid("limit", "must be 1 to 1000")
    status = body.get("status_filter", 0)
    if status not in (0, 1, 2, 3) or isinstance(status, bool):
        raise invalid("status_filter", "must be 0, 1, 2 or 3")
    cursor = body.get("cursor") or ""
    if not isinstance(cursor, str):
        raise invalid("cursor", "must be a string")
    owners = None
    if body.get("owner_filter") is not None:
        if not isinstance(body["owner_filter"], dict):
            raise invalid("owner_filter", "must be an object with userid_list")
        owners = set(_str_list(body["owner_filter"], "userid_list", most=100))
    chats = []
    for chat_id, chat in world.group_chats(call.redis).items():
        if chat_id <= cursor:  # the cursor is the last chat_id of the previous page
            continue
        if chat and (not status or chat["status"] == status) and (owners is None or chat["owner"] in owners):
            chats.append({"chat_id": chat_id, "status": chat["status"]})
    page = chats[:limit]
    return {"group_chat_list": page, "next_cursor": page[-1]["chat_id"] if len(chats) > limit else ""}


@api("work", "externalcontact/groupchat/get")
def get_group_chat(call: Call) -> dict[str, Any]:
    chat_id = call.body.get("chat_id")
    chat = world.get_group_chat(call.redis, chat_id) if isinstance(chat_id, str) else None
    if chat is None:
        raise WeChatError(40050, f"no group chat {chat_id!r}")
    need_name = call.body.get("need_name") == 1
    people = world.group_chat_people(call.redis, chat)  # two reads, not one per member
    members = []
    for entry in chat.pop("member_list"):
        member = dict(entry)
        person = people.get(entry["userid"], {})
        if person.get("unionid"):
            member["unionid"] = person["unionid"]
        if need_name:
            member.update(name=person.get("name", entry["userid"]), group_nickname="")
        members.append(member)
    chat.pop("status", None)
    chat.pop("welcome_template_id", None)  # the sandbox's record of the owner's welcome: WeCom does not report it
    return {"group_chat": {**chat, "member_list": members}}
