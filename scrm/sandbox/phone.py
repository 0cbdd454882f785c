"""The phone sandbox (SPEC §10): a page at ``/sandbox/phone`` that plays a customer's WeChat.

Choose or create a customer, follow or unfollow, scan a code by its scene, send text, tap the
menu (its "我的优惠券 My coupons" answers with the link to the customer's coupon page, "会员中心
Member center" with the member page's), and see the account's replies; a news reply's link
opens in a new tab. The SMS a customer asks for on the member page shows in the phone's 短信
(:mod:`scrm.sandbox.phone_members`). Every action goes through the real webhook exactly as
WeChat's would: the callback XML is built, sealed in safe mode (AES), signed, and POSTed over
HTTP to ``{server.public_base_url}/wechat/mp``; the passive reply is opened and shown.

The fake WeChat API learns of the customer too (``add_follower`` on a follow, ``unfollow``,
``touch_follower`` on what opens WeChat's 48-hour window), so later API calls such as
``user/info`` or ``message/custom/send`` know them.

What the phone shows is kept in the database with the rest of the sandbox's world (it survives
a restart), not read back from the customer timeline: the timeline records what the customer
did but not the passive replies they saw. The customers made here are documents of kind
``phone_customer`` (openid → nickname, created_at), the chat is ``sandbox_messages`` on channel
``phone`` (oldest first); only ``sandbox:phone:time:<openid>`` (the last ``CreateTime`` sent)
is in Redis. Messages the account sent later through the API (customer-service, template and
mass messages) are read from the fake WeChat's inbox and merged in by time.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from flask import Blueprint, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf

from guides.service import scannable_codes
from handlers import wire
from handlers.signed_callbacks import CallbackSender, mp_event_xml, mp_text_xml
from scrm.sandbox import menu_api, store, world
from scrm.web.api import current_runtime
from scrm.web.auth import require_role
from scrm.web.errors import error_body

if TYPE_CHECKING:
    import redis as redis_lib

    from scrm.config import Config
    from scrm.runtime import Runtime

phone_pages = Blueprint(
    "phone_pages", __name__, template_folder="../templates", static_folder="../static", static_url_path="/static"
)


@phone_pages.before_request
@require_role("admin")
def _admins_only() -> None:
    """The phone sandbox lists customers and their conversations (coupon links included) and
    acts as any of them: it needs the console's admin session (SPEC §12); its writes carry the
    page's CSRF token."""


@dataclass(frozen=True)
class MenuItem:
    kind: str  # "click" sends a CLICK event with ``value`` as its key; "view" a VIEW event with ``value`` as its url;
    label: str  # "sub" opens ``sub``, the item's sub-buttons
    value: str
    sub: tuple[MenuItem, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "label": self.label, "value": self.value, "sub": [s.as_json() for s in self.sub]}


# The account's custom menu (自定义菜单) as the phone shows it before the account sets one.
# Tag rules can react to these keys.
MENU = (
    MenuItem("click", "新品 New in", "MENU_NEW_ARRIVALS"),
    MenuItem("view", "商城 Shop", "https://shop.example.com/"),
)
COUPONS_LABEL = "我的优惠券 My coupons"
MEMBERS_LABEL = "会员 Members"
MEMBER_CENTER_LABEL = "会员中心 Member center"


def _item(button: dict[str, Any]) -> MenuItem:
    if button.get("sub_button"):
        return MenuItem("sub", button["name"], "", tuple(_item(b) for b in button["sub_button"]))
    kind = button.get("type", "")
    return MenuItem(kind, button["name"], button.get("key" if kind == "click" else "url", ""))


def menu(config: Config, redis: redis_lib.Redis | None = None) -> tuple[MenuItem, ...]:
    """The menu the account set last with ``menu/create`` (:mod:`scrm.sandbox.menu_api`); before
    it sets one, three slots: "my coupons" in the middle on the key the webhook answers with
    the customer's coupon link (``coupons.menu_key``), and "members" opening "member center"
    (``members.menu_key``: the member page's link) and the shop."""
    buttons = menu_api.current(redis) if redis is not None else None
    if buttons:
        return tuple(_item(b) for b in buttons)
    members = MenuItem("sub", MEMBERS_LABEL, "", (MenuItem("click", MEMBER_CENTER_LABEL, config.members.menu_key),
                                                   MENU[1]))
    return (MENU[0], MenuItem("click", COUPONS_LABEL, config.coupons.menu_key), members)


def _menu_label(config: Config, redis: redis_lib.Redis, key: str) -> str | None:
    for item in menu(config, redis):
        for leaf in item.sub or (item,):
            if leaf.kind == "click" and leaf.value == key:
                return leaf.label
    return None

ACTIONS = ("text", "follow", "unfollow", "scan", "click", "view")
NEEDS_FOLLOWING = ("text", "unfollow", "click", "view")  # WeChat offers these to followers only
OPENS_WINDOW = ("text", "click", "scan", "follow")  # what opens WeChat's 48 h customer-service window
NICKNAMES = ("小美", "阿杰", "王女士", "陈先生", "Lily", "小雨", "李阿姨", "Kevin", "张小姐", "老周")

OPENID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
TEXT_MAX_CHARS = 600
SCENE_MAX_CHARS = 64  # WeChat's scene_str
KEY_MAX_BYTES = 128  # WeChat's menu key
URL_MAX_CHARS = 1024
NICKNAME_MAX_CHARS = 32
CHAT_LIMIT = 200
LIST_LIMIT = 200
WEBHOOK_TIMEOUT_SECONDS = 10
CUSTOMERS = "phone_customer"  # their documents' kind
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")  # XML cannot carry them

# Two taps within one second would carry the same CreateTime, and the webhook would rightly
# take the second for WeChat's retry of the first (FromUserName + CreateTime + event). Each tap
# is a new delivery, so each gets a CreateTime after the customer's last one.
_NEXT_CREATE_TIME = """
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local now = math.max(tonumber(ARGV[1]), last + 1)
redis.call('SET', KEYS[1], now, 'EX', 86400)
return now
"""


class InvalidAction(Exception):
    """Input the phone refuses before anything is sent or stored."""


class FollowConflict(Exception):
    """An action WeChat offers only to followers (``not_following``) or only to others."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class WebhookFailed(Exception):
    """The webhook could not be reached or did not answer 200."""


@dataclass(frozen=True)
class PhoneAction:
    openid: str
    action: str
    value: str


# ---- input -------------------------------------------------------------------------------


def _check_openid(openid: Any) -> str:
    if not isinstance(openid, str) or not OPENID_PATTERN.fullmatch(openid):
        raise InvalidAction("openid must be 1-64 letters, digits, '_' or '-'")
    return openid


def _printable(value: str, what: str) -> str:
    if _CONTROL_CHARS.search(value):
        raise InvalidAction(f"{what} must not contain control characters")
    return value


def parse_action(body: Any) -> PhoneAction:
    """``{openid, action, value}`` checked as WeChat would bound it, or :class:`InvalidAction`."""
    if not isinstance(body, dict):
        raise InvalidAction("the body must be a JSON object {openid, action, value}")
    openid = _check_openid(body.get("openid"))
    action = body.get("action")
    if action not in ACTIONS:
        raise InvalidAction(f"action must be one of {', '.join(ACTIONS)}")
    value = body.get("value", "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidAction("value must be a string")
    value = _printable(value.strip(), "value")
    if action == "text" and not 1 <= len(value) <= TEXT_MAX_CHARS:
        raise InvalidAction(f"a text message needs 1-{TEXT_MAX_CHARS} characters")
    if action == "scan" and (not 1 <= len(value) <= SCENE_MAX_CHARS or any(c.isspace() for c in value)):
        raise InvalidAction(f"a scan needs the code's scene: 1-{SCENE_MAX_CHARS} characters, no spaces")
    if action == "click" and not 1 <= len(value.encode()) <= KEY_MAX_BYTES:
        raise InvalidAction(f"a menu click needs the item's key: 1-{KEY_MAX_BYTES} bytes")
    if action == "view":
        parts = urlsplit(value)
        if len(value) > URL_MAX_CHARS or parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidAction("a menu link needs an http:// or https:// URL")
    if action in ("follow", "unfollow"):
        value = ""
    return PhoneAction(openid, action, value)


# ---- customers ---------------------------------------------------------------------------


def new_customer(redis: redis_lib.Redis, *, nickname: Any, now: datetime) -> dict[str, Any]:
    """A customer who has not contacted the account yet: a fresh openid and a nickname."""
    if nickname is None or (isinstance(nickname, str) and not nickname.strip()):
        nickname = secrets.choice(NICKNAMES)
    if not isinstance(nickname, str) or len(nickname.strip()) > NICKNAME_MAX_CHARS:
        raise InvalidAction(f"nickname must be at most {NICKNAME_MAX_CHARS} characters")
    alphabet = string.ascii_letters + string.digits + "_-"
    openid = "oSandbox" + "".join(secrets.choice(alphabet) for _ in range(20))  # 28, like WeChat's
    made = {"nickname": _printable(nickname.strip(), "nickname"), "created_at": now.isoformat()}
    store.save_doc(CUSTOMERS, openid, made)
    return customer_state(redis, openid)


def customer_state(redis: redis_lib.Redis, openid: str, made: dict[str, Any] | None = None) -> dict[str, Any]:
    follower = world.get_follower(redis, openid) or {}
    made = made if made is not None else store.doc(CUSTOMERS, openid) or {}
    nickname = follower.get("nickname") or made.get("nickname") or ""
    return {"openid": openid, "nickname": nickname, "following": follower.get("subscribe") == "1"}


def is_wechat_user(redis: redis_lib.Redis, openid: str) -> bool:
    """Someone the sandbox's WeChat knows: a follower (now or once), or a customer made here who
    has not followed yet (WeChat's web sign-in knows them too)."""
    return bool(openid) and (world.get_follower(redis, openid) is not None or store.doc(CUSTOMERS, openid) is not None)


def list_customers(redis: redis_lib.Redis) -> list[dict[str, Any]]:
    """Customers made here (newest first), then the fake WeChat's other followers."""
    with store.transaction() as session:
        made = store.docs(session, CUSTOMERS)
    ordered = sorted(made, key=lambda openid: made[openid]["created_at"], reverse=True)
    # The fake WeChat's followers (see scrm.sandbox.world): openids seeded or followed.
    others = [o for o in world.follower_openids(redis, limit=LIST_LIMIT + len(made)) if o not in made]
    return [customer_state(redis, openid, made.get(openid, {})) for openid in (ordered + others)[:LIST_LIMIT]]


# ---- the conversation --------------------------------------------------------------------


def _entry(side: str, kind: str, at: datetime, *, text: str = "", articles: list | None = None) -> dict[str, Any]:
    return {"from": side, "kind": kind, "text": text, "articles": articles or [], "at": at.isoformat()}


def _remember(redis: redis_lib.Redis, openid: str, entries: list[dict[str, Any]]) -> None:
    with store.transaction() as session:
        for entry in entries:
            store.put_messages(session, "phone", [openid], entry)


def _from_inbox(message: dict[str, Any]) -> dict[str, Any]:
    """What the account sent through the API, as the phone shows it."""
    content, msgtype = message.get("content") or {}, message.get("msgtype", "")
    at = datetime.fromisoformat(message["at"])
    if msgtype == "text":
        return _entry("account", "text", at, text=str(content.get("content", "")))
    if msgtype == "news":
        return _entry("account", "news", at, articles=list(content.get("articles", [])))
    if msgtype == "template":
        values = [str(v.get("value", "")) for v in (content.get("data") or {}).values() if isinstance(v, dict)]
        return _entry("account", "text", at, text=_("[模板消息]") + " " + " · ".join(values))
    return _entry("account", "text", at, text=f"[{msgtype or message.get('kind', 'message')}]")


def conversation(redis: redis_lib.Redis, openid: str) -> list[dict[str, Any]]:
    """What the phone saw, oldest first: its own log merged with what arrived later by API."""
    own = world.list_messages(redis, openid, channel="phone")[-CHAT_LIMIT:]
    arrived = [_from_inbox(m) for m in world.list_messages(redis, openid)]
    return sorted(own + arrived, key=lambda e: datetime.fromisoformat(e["at"]))  # stable: own first on a tie


# ---- playing WeChat ----------------------------------------------------------------------


def _note(runtime: Runtime, action: PhoneAction, following: bool) -> str:
    """The phone's line for what the customer did, in the admin's language when they did it
    (kept with the chat as written, like the rest of it)."""
    if action.action == "follow":
        return _("你关注了公众号")
    if action.action == "unfollow":
        return _("你取消了关注")
    if action.action == "scan":
        if following:
            return _("扫描二维码「%(scene)s」", scene=action.value)
        return _("扫描二维码「%(scene)s」，并关注", scene=action.value)
    if action.action == "click":
        label = _menu_label(runtime.config, runtime.redis, action.value) or action.value
        return _("点击菜单「%(label)s」", label=label)
    return _("打开链接 %(url)s", url=action.value)


def _callback_xml(runtime: Runtime, action: PhoneAction, *, following: bool, create_time: int) -> str:
    to = runtime.config.wechat.mp.original_id
    common = {"to": to, "openid": action.openid, "create_time": create_time}
    if action.action == "text":
        msg_id = str(secrets.randbits(62))  # WeChat's MsgIds are 64-bit numbers
        return mp_text_xml(**common, content=action.value, msg_id=msg_id)
    if action.action == "scan":
        # A non-follower who scans a parametric code follows with it (subscribe + qrscene_).
        if following:
            return mp_event_xml(**common, event="SCAN", key=action.value)
        return mp_event_xml(**common, event="subscribe", key=f"qrscene_{action.value}")
    event = {"follow": "subscribe", "unfollow": "unsubscribe", "click": "CLICK", "view": "VIEW"}[action.action]
    return mp_event_xml(**common, event=event, key=action.value or None)


def post_callback(runtime: Runtime, xml: str) -> dict[str, Any] | None:
    """POST ``xml`` to the webhook sealed and signed as WeChat does; the reply it gave."""
    sender = CallbackSender.from_config(runtime.config, "mp", encrypt=True)
    signed = sender.sign(xml, timestamp=int(runtime.clock.timestamp()))
    url = runtime.config.server.public_base_url + signed.path
    try:
        response = requests.post(
            url, data=signed.body, headers={"Content-Type": "text/xml"}, timeout=WEBHOOK_TIMEOUT_SECONDS
        )
    except requests.RequestException as exc:
        raise WebhookFailed(f"could not reach the webhook at {url.split('?')[0]}: {exc}") from None
    if response.status_code != 200:
        raise WebhookFailed(f"the webhook answered {response.status_code}: {response.text[:200]}")
    try:
        return parse_reply(sender.open_reply(response.content))
    except (ValueError, wire.Rejected) as exc:
        raise WebhookFailed(f"the webhook's reply could not be opened: {exc}") from None


def parse_reply(xml: str) -> dict[str, Any] | None:
    """A passive reply as ``{kind, text, articles}``; None for ``success`` (no reply)."""
    if xml.strip() in ("", "success"):
        return None
    fields = wire.parse_xml(xml)
    kind = fields.get("MsgType") or ""
    if kind == "text":
        return {"kind": "text", "text": fields.get("Content") or "", "articles": []}
    if kind == "news":
        items = (fields.get("Articles") or {}).get("item") or []
        items = [items] if isinstance(items, dict) else items
        articles = [
            {
                "title": item.get("Title") or "",
                "description": item.get("Description") or "",
                "url": item.get("Url") or "",
                "picurl": item.get("PicUrl") or "",
            }
            for item in items
        ]
        return {"kind": "news", "text": "", "articles": articles}
    return {"kind": kind, "text": f"[{kind}]", "articles": []}


def _register_with_fake_wechat(redis: redis_lib.Redis, action: PhoneAction, *, following: bool, now: datetime) -> None:
    """Tell the fake WeChat API what the customer did, before the webhook hears of it (its
    jobs call ``user/info`` and may answer within the 48 h window)."""
    if action.action == "unfollow":
        world.unfollow(redis, action.openid)
    elif not following and action.action in ("follow", "scan"):
        nickname = customer_state(redis, action.openid)["nickname"] or None
        world.add_follower(redis, action.openid, nickname=nickname, last_message_at=now, at=now)
    elif action.action in OPENS_WINDOW:
        world.touch_follower(redis, action.openid, at=now)


def _undo_follow_change(redis: redis_lib.Redis, action: PhoneAction, *, following: bool, now: datetime) -> None:
    """The webhook never heard of it, so the customer may try again from where they were."""
    if action.action == "unfollow":
        world.add_follower(redis, action.openid, nickname=customer_state(redis, action.openid)["nickname"] or None, at=now)
    elif not following and action.action in ("follow", "scan"):
        world.unfollow(redis, action.openid)


def play(runtime: Runtime, action: PhoneAction) -> dict[str, Any]:
    """Do ``action`` as the customer: the fake WeChat, then the webhook, then the phone's log."""
    redis, now = runtime.redis, runtime.clock.now()
    following = customer_state(redis, action.openid)["following"]
    if action.action in NEEDS_FOLLOWING and not following:
        raise FollowConflict("not_following", "follow the account first: WeChat offers this to followers only")
    if action.action == "follow" and following:
        raise FollowConflict("already_following", "this customer already follows the account")
    create_time = int(redis.eval(_NEXT_CREATE_TIME, 1, f"sandbox:phone:time:{action.openid}", int(now.timestamp())))
    xml = _callback_xml(runtime, action, following=following, create_time=create_time)
    _register_with_fake_wechat(redis, action, following=following, now=now)
    try:
        reply = post_callback(runtime, xml)
    except WebhookFailed:
        _undo_follow_change(redis, action, following=following, now=now)
        raise
    sent = (
        _entry("me", "text", now, text=action.value)
        if action.action == "text"
        else _entry("note", "note", now, text=_note(runtime, action, following))
    )
    entries = [sent]
    if reply is not None:
        entries.append(_entry("account", reply["kind"], now, text=reply["text"], articles=reply["articles"]))
    _remember(redis, action.openid, entries)
    return {"reply": reply, "messages": entries, "customer": customer_state(redis, action.openid)}


# ---- routes ------------------------------------------------------------------------------



def _json_body() -> Any:
    return request.get_json(silent=True)


@phone_pages.errorhandler(InvalidAction)
@phone_pages.errorhandler(FollowConflict)
@phone_pages.errorhandler(WebhookFailed)
def _refused(exc: Exception):  # noqa: ANN202
    if isinstance(exc, FollowConflict):
        return jsonify(error_body(exc.code, str(exc))), 409
    code, status = ("invalid_action", 400) if isinstance(exc, InvalidAction) else ("webhook_failed", 502)
    return jsonify(error_body(code, str(exc))), status


@phone_pages.get("/")
@phone_pages.get("")  # registered first, so url_for gives /sandbox/phone
def page():  # noqa: ANN201
    runtime = current_runtime()
    boot = {
        "customers": list_customers(runtime.redis),
        "menu": [m.as_json() for m in menu(runtime.config, runtime.redis)],
        "urls": {
            "send": url_for(".send"),
            "customers": url_for(".customers"),
            "conversation": url_for(".show_conversation"),
            **{name: url_for(f".{name}") for name in ("list_join_ways", "groups", "join_group", "leave_group",
                                                      "owner_send")},  # scrm.sandbox.phone_groups
            "sms": url_for(".sms"),  # scrm.sandbox.phone_members
            "product_batches": url_for(".product_batches"),  # scrm.sandbox.phone_products
            "scan_product": url_for(".scan_product_code"),
        },
        "csrf_token": generate_csrf(),  # sent back as X-CSRFToken on the page's writes
    }

    with runtime.transaction() as db_session:
        codes = scannable_codes(db_session=db_session)
    return render_template("phone.html", boot=boot, account=runtime.config.wechat.mp.original_id, codes=codes)


@phone_pages.get("/api/customers")
def customers():  # noqa: ANN201
    return jsonify(customers=list_customers(current_runtime().redis))


@phone_pages.post("/api/customers")
def create_customer():  # noqa: ANN201
    body = _json_body()
    if body is not None and not isinstance(body, dict):
        raise InvalidAction("the body must be a JSON object {nickname}")
    runtime = current_runtime()
    made = new_customer(runtime.redis, nickname=(body or {}).get("nickname"), now=runtime.clock.now())
    return jsonify(made), 201


@phone_pages.get("/api/conversation")
def show_conversation():  # noqa: ANN201
    openid = _check_openid(request.args.get("openid"))
    redis = current_runtime().redis
    return jsonify(customer=customer_state(redis, openid), messages=conversation(redis, openid))


@phone_pages.post("/api/send")
def send():  # noqa: ANN201
    return jsonify(play(current_runtime(), parse_action(_json_body())))
