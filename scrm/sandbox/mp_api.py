"""The Official Account (公众号, MP) api the sandbox plays, under ``/sandbox/wechat/mp/cgi-bin/``.

``token``, ``qrcode/create``, ``showqrcode``, ``tags/{create,get,update,delete,getidlist}``,
``tags/members/{batchtagging,batchuntagging}``, ``user/info``, ``message/custom/send``,
``message/template/send``, ``message/mass/sendall`` (web sign-in: :mod:`scrm.sandbox.mp_oauth`;
permanent material: :mod:`scrm.sandbox.material_api`).
Error codes: see
:mod:`scrm.sandbox.errors`. Limits played: 100 tags an account, 30-character tag names, 20
tags a follower, 50 openids a batch, the 48 h customer-service window with 5 messages in it,
``clientmsgid`` deduplication for 24 h. Not played: the 4 mass sends a month per follower and
the 100,000 permanent codes an account. A permanent code asked again for the same scene gets
the same ticket. What a follower receives is kept (``state.list_messages``).
"""

from __future__ import annotations

import base64
import hmac
import secrets
from typing import Any

from scrm.sandbox import world
from scrm.sandbox.apis import Call, api, png
from scrm.sandbox.errors import WeChatError
from scrm.sandbox.state import issue_token

OK = {"errcode": 0, "errmsg": "ok"}
MAX_TAGS = 100
MAX_TAG_NAME = 30
MAX_TAGS_PER_FOLLOWER = 20
MAX_BATCH = 50
SYSTEM_TAGS = (0, 1, 2)
FIRST_TAG_ID = 100
WINDOW_MS = 48 * 3600 * 1000
REPLIES_PER_WINDOW = 5
CLIENTMSGID_MS = 24 * 3600 * 1000
MAX_EXPIRE_SECONDS = 2592000
DEFAULT_EXPIRE_SECONDS = 60
MSGID_BASE = 1_000_000_000

# msgtype → (the field its object must carry, the errcode when it does not)
CONTENT_FIELDS = {
    "text": ("content", 44004),
    "image": ("media_id", 40007),
    "voice": ("media_id", 40007),
    "video": ("media_id", 40007),
    "mpvideo": ("media_id", 40007),
    "music": ("thumb_media_id", 40007),
    "news": ("articles", 44003),
    "mpnews": ("media_id", 40007),
    "msgmenu": ("list", 47001),
    "wxcard": ("card_id", 40073),
    "miniprogrampage": ("pagepath", 40165),
}
CUSTOM_TYPES = ("text", "image", "voice", "video", "music", "news", "mpnews", "msgmenu", "wxcard", "miniprogrampage")
MASS_TYPES = ("mpnews", "text", "voice", "image", "mpvideo", "wxcard")

# action_name → (permanent, the scene field, largest scene_id)
QR_ACTIONS = {
    "QR_SCENE": (False, "scene_id", 2**32 - 1),
    "QR_STR_SCENE": (False, "scene_str", 0),
    "QR_LIMIT_SCENE": (True, "scene_id", 100_000),
    "QR_LIMIT_STR_SCENE": (True, "scene_str", 0),
}


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WeChatError(47001, f"{field} must be an object")
    return value


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@api("mp", "token", method="GET", needs_token=False)
def token(call: Call) -> dict[str, Any]:
    query, mp = call.query, call.config.wechat.mp
    if query.get("grant_type") != "client_credential":
        raise WeChatError(40002)
    if not query.get("appid"):
        raise WeChatError(41002)
    if not _same(query["appid"], mp.app_id):
        raise WeChatError(40013)
    if not query.get("secret"):
        raise WeChatError(41004)
    if not _same(query["secret"], mp.app_secret):
        raise WeChatError(40125)
    access_token, expires_in = issue_token(call.redis, "mp", now=call.now)
    return {"access_token": access_token, "expires_in": expires_in}


# ---- QR codes ----------------------------------------------------------------------------


@api("mp", "qrcode/create")
def create_qrcode(call: Call) -> dict[str, Any]:
    action = call.body.get("action_name")
    if action not in QR_ACTIONS:
        raise WeChatError(40052, f"action_name must be one of {', '.join(QR_ACTIONS)}")
    permanent, field, largest = QR_ACTIONS[action]
    info = call.body.get("action_info")
    scene = info.get("scene") if isinstance(info, dict) else None
    value = scene.get(field) if isinstance(scene, dict) else None
    if field == "scene_str":
        if not isinstance(value, str) or not 1 <= len(value) <= 64:
            raise WeChatError(40053, "action_info.scene.scene_str must be 1 to 64 characters")
    elif _int(value) is None or not 1 <= value <= largest:
        raise WeChatError(40053, f"action_info.scene.scene_id must be 1 to {largest}")
    expires_at = None
    if not permanent:
        seconds = call.body.get("expire_seconds", DEFAULT_EXPIRE_SECONDS)
        if _int(seconds) is None or not 1 <= seconds <= MAX_EXPIRE_SECONDS:
            raise WeChatError(40053, f"expire_seconds must be 1 to {MAX_EXPIRE_SECONDS}")
        expires_at = call.now_ms + seconds * 1000
    ticket = base64.b64encode(secrets.token_bytes(40)).decode()  # has + / = like WeChat's
    qrcode = {
        "ticket": ticket,
        "url": call.public_url(f"mp/q/{secrets.token_urlsafe(16)}"),
        "action_name": action,
        field: value,
        "expires_at": expires_at,
    }
    if permanent:
        made = world.claim_permanent_qrcode(call.redis, f"{action}:{value}", ticket)
        if made is not None:
            qrcode = world.find_qrcode(call.redis, ticket=made) or qrcode
            return {"ticket": qrcode["ticket"], "url": qrcode["url"]}
    world.save_qrcode(call.redis, qrcode)
    if permanent:
        return {"ticket": ticket, "url": qrcode["url"]}
    return {"ticket": ticket, "expire_seconds": seconds, "url": qrcode["url"]}


@api("mp", "showqrcode", method="GET", needs_token=False)
def show_qrcode(call: Call) -> Any:
    qrcode = world.find_qrcode(call.redis, ticket=call.query.get("ticket") or "")
    if qrcode is None or (qrcode["expires_at"] is not None and qrcode["expires_at"] <= call.now_ms):
        raise WeChatError(404, "unknown or expired ticket", http_status=404)
    return png(qrcode["url"])


# ---- tags --------------------------------------------------------------------------------


def _tags(call: Call) -> dict[int, str]:
    return world.mp_tags(call.redis)


def _tag_name(tag: dict[str, Any]) -> str:
    name = tag.get("name")
    if not isinstance(name, str) or not name.strip():
        raise WeChatError(45157, "tag.name is required")
    if len(name) > MAX_TAG_NAME:
        raise WeChatError(45158, f"tag.name must be at most {MAX_TAG_NAME} characters")
    return name


def _tag_id(call: Call, tags: dict[int, str], tag_id: Any) -> int:
    if tag_id in SYSTEM_TAGS:
        raise WeChatError(45058)
    if _int(tag_id) is None or tag_id not in tags:
        raise WeChatError(45159, f"no tag {tag_id!r}")
    return tag_id


@api("mp", "tags/create")
def create_tag(call: Call) -> dict[str, Any]:
    name = _tag_name(_object(call.body.get("tag"), "tag"))
    with world.lock(call.redis, "mp"):
        tags = _tags(call)
        if len(tags) >= MAX_TAGS:
            raise WeChatError(45056)
        if name in tags.values():
            raise WeChatError(45157, f"a tag named {name!r} exists")
        tag_id = world.create_mp_tag(call.redis, name, first_id=FIRST_TAG_ID)
    return {"tag": {"id": tag_id, "name": name}}


@api("mp", "tags/get", method="GET")
def get_tags(call: Call) -> dict[str, Any]:
    counts = world.mp_tag_counts(call.redis)
    return {
        "tags": [
            {"id": tag_id, "name": name, "count": counts.get(tag_id, 0)}
            for tag_id, name in sorted(_tags(call).items())
        ]
    }


@api("mp", "tags/update")
def update_tag(call: Call) -> dict[str, Any]:
    tag = _object(call.body.get("tag"), "tag")
    with world.lock(call.redis, "mp"):
        tags = _tags(call)
        tag_id = _tag_id(call, tags, tag.get("id"))
        name = _tag_name(tag)
        if any(other == name and other_id != tag_id for other_id, other in tags.items()):
            raise WeChatError(45157, f"a tag named {name!r} exists")
        world.rename_mp_tag(call.redis, tag_id, name)
    return OK


@api("mp", "tags/delete")
def delete_tag(call: Call) -> dict[str, Any]:
    tag = _object(call.body.get("tag"), "tag")
    with world.lock(call.redis, "mp"):
        tag_id = _tag_id(call, _tags(call), tag.get("id"))
        world.delete_mp_tag(call.redis, tag_id)
    return OK


def _batch_tagging(call: Call, *, tagging: bool) -> dict[str, Any]:
    openids = call.body.get("openid_list")
    if not isinstance(openids, list) or not 1 <= len(openids) <= MAX_BATCH:
        raise WeChatError(40032, f"openid_list must hold 1 to {MAX_BATCH} openids")
    with world.lock(call.redis, "mp"):
        tag_id = _tag_id(call, _tags(call), call.body.get("tagid"))
        carried = world.tags_of_followers(call.redis, [o for o in openids if isinstance(o, str)])
        for openid in openids:
            if not isinstance(openid, str) or carried[openid] is None:
                raise WeChatError(40003, f"unknown openid {openid!r}")
            if tagging and tag_id not in carried[openid] and len(carried[openid]) >= MAX_TAGS_PER_FOLLOWER:
                raise WeChatError(45059, f"{openid} already has {MAX_TAGS_PER_FOLLOWER} tags")
        world.tag_followers(call.redis, tag_id, openids, tagging=tagging)
    return OK


@api("mp", "tags/members/batchtagging")
def tag_followers(call: Call) -> dict[str, Any]:
    return _batch_tagging(call, tagging=True)


@api("mp", "tags/members/batchuntagging")
def untag_followers(call: Call) -> dict[str, Any]:
    return _batch_tagging(call, tagging=False)


@api("mp", "tags/getidlist")
def tag_ids_of_follower(call: Call) -> dict[str, Any]:
    openid = call.body.get("openid")
    if not isinstance(openid, str) or world.get_follower(call.redis, openid) is None:
        raise WeChatError(40003, f"unknown openid {openid!r}")
    return {"tagid_list": world.follower_tags(call.redis, openid)}


# ---- followers and messages --------------------------------------------------------------


def _follower(call: Call, openid: Any) -> dict[str, str]:
    follower = world.get_follower(call.redis, openid) if isinstance(openid, str) else None
    if follower is None:
        raise WeChatError(40003, f"unknown openid {openid!r}")
    return follower


@api("mp", "user/info", method="GET")
def user_info(call: Call) -> dict[str, Any]:
    follower = _follower(call, call.query.get("openid"))
    info: dict[str, Any] = {"subscribe": int(follower["subscribe"]), "openid": follower["openid"]}
    if "unionid" in follower:
        info["unionid"] = follower["unionid"]
    if info["subscribe"]:
        info.update(
            nickname=follower.get("nickname", ""),
            headimgurl="",
            language="zh_CN",
            subscribe_time=int(follower["subscribe_time"]),
            remark="",
            groupid=0,
            tagid_list=world.follower_tags(call.redis, follower["openid"]),
            subscribe_scene="ADD_SCENE_QR_CODE",
            qr_scene=0,
            qr_scene_str="",
        )
    return info


def _content(body: dict[str, Any], allowed: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    msgtype = body.get("msgtype")
    if msgtype not in allowed:
        raise WeChatError(40008, f"msgtype must be one of {', '.join(allowed)}")
    section = body.get(msgtype)
    if not isinstance(section, dict):
        raise WeChatError(47001, f"a {msgtype} message needs a {msgtype} object")
    field, errcode = CONTENT_FIELDS[msgtype]
    if not section.get(field):
        raise WeChatError(errcode, f"{msgtype}.{field} is required")
    if msgtype == "news" and (not isinstance(section["articles"], list) or len(section["articles"]) > 1):
        raise WeChatError(45008, "news.articles holds one article")
    return msgtype, section


def _message(call: Call, kind: str, msgtype: str, content: Any) -> dict[str, Any]:
    return {"kind": kind, "msgtype": msgtype, "content": content, "at": call.now.isoformat()}


@api("mp", "message/custom/send")
def send_custom_message(call: Call) -> dict[str, Any]:
    """The usual case first, in one transaction (a follower in their window with replies
    left); any refusal is then explained by the checks below, in WeChat's order."""
    touser = call.body.get("touser")
    try:
        msgtype, content = _content(call.body, CUSTOM_TYPES)
    except WeChatError:
        msgtype = content = None
    if msgtype is not None and isinstance(touser, str) and world.deliver_reply(
            call.redis, touser, _message(call, "custom", msgtype, content), most=REPLIES_PER_WINDOW,
            window_from_ms=call.now_ms - WINDOW_MS):
        return OK
    follower = _follower(call, touser)
    msgtype, content = _content(call.body, CUSTOM_TYPES)
    last = follower.get("last_message_at")
    if follower["subscribe"] != "1":
        raise WeChatError(45015, "the follower has unsubscribed")
    if not last or call.now_ms - int(last) > WINDOW_MS:
        raise WeChatError(45015, "no message from the follower in the last 48 hours")
    message = _message(call, "custom", msgtype, content)
    if not world.deliver_reply(call.redis, follower["openid"], message, most=REPLIES_PER_WINDOW,
                               window_from_ms=call.now_ms - WINDOW_MS):
        raise WeChatError(45047, f"{REPLIES_PER_WINDOW} messages already sent since the follower's last message")
    return OK


@api("mp", "message/template/send")
def send_template_message(call: Call) -> dict[str, Any]:
    """The usual case (a valid body to a subscribed follower) in one transaction; a refusal is
    explained by the checks below, in WeChat's order."""
    touser, template_id, data = call.body.get("touser"), call.body.get("template_id"), call.body.get("data", {})
    if isinstance(touser, str) and isinstance(template_id, str) and template_id and isinstance(data, dict):
        content = {"template_id": template_id, "data": data, "url": call.body.get("url")}
        message_id = world.deliver_to_subscribed(call.redis, touser, _message(call, "template", "template", content))
        if message_id is not None:  # the message's own id: unique, in order, durable, no counter to contend on
            return {**OK, "msgid": MSGID_BASE + message_id}
    follower = _follower(call, touser)
    template_id = call.body.get("template_id")
    if not isinstance(template_id, str) or not template_id:
        raise WeChatError(40037, "template_id is required")
    data = call.body.get("data", {})
    if not isinstance(data, dict):
        raise WeChatError(47001, "data must be an object")
    if follower["subscribe"] != "1":
        raise WeChatError(43004)
    content = {"template_id": template_id, "data": data, "url": call.body.get("url")}
    message_id = world.deliver_to_subscribed(call.redis, follower["openid"],
                                             _message(call, "template", "template", content))
    if message_id is None:  # unfollowed meanwhile
        raise WeChatError(43004)
    return {**OK, "msgid": MSGID_BASE + message_id}


@api("mp", "message/mass/sendall")
def send_mass_message(call: Call) -> dict[str, Any]:
    target = _object(call.body.get("filter"), "filter")
    msgtype, content = _content(call.body, MASS_TYPES)
    tag_id = None
    if target.get("is_to_all") is not True:
        tag_id = target.get("tag_id")
        if _int(tag_id) is None or tag_id not in _tags(call):
            raise WeChatError(40003, f"unknown filter.tag_id {tag_id!r}")
    msg_id = MSGID_BASE + world.next_mass_msgid(call.redis)
    clientmsgid = call.body.get("clientmsgid")
    if clientmsgid is not None:
        if not isinstance(clientmsgid, str) or not 1 <= len(clientmsgid) <= 64:
            raise WeChatError(47001, "clientmsgid must be 1 to 64 characters")
        _claim_clientmsgid(call, clientmsgid, msg_id)
    subscribed = world.subscribed_openids(call.redis, tag_id=tag_id)
    world.deliver(call.redis, "mp", subscribed, _message(call, "mass", msgtype, content))
    return {"errcode": 0, "errmsg": "send job submission success", "msg_id": msg_id, "msg_data_id": msg_id + 1}


def _claim_clientmsgid(call: Call, clientmsgid: str, msg_id: int) -> None:
    key = f"sandbox:mp:clientmsgid:{clientmsgid}"
    with world.lock(call.redis, "mp"):
        previous = call.redis.hgetall(key)
        if previous and call.now_ms - int(previous[b"at"]) < CLIENTMSGID_MS:
            raise WeChatError(45065, f"clientmsgid {clientmsgid!r} was used", msg_id=int(previous[b"msg_id"]))
        call.redis.hset(key, mapping={"at": call.now_ms, "msg_id": msg_id})
        call.redis.expire(key, world.GC_SECONDS)
