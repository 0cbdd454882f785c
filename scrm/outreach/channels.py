"""The channels a delivery goes by (触达渠道), the rule that says whether one reaches a customer
now, and the calls that send a delivery's content on each (WECHAT-NOTES "Outbound limits").

- ``mp_custom``: an MP customer-service message (客服消息), to a follower who wrote, clicked,
  scanned or followed in the last 48 h (the window of scrm/coupons/announce.py). Text, an
  article (its link tracked), an image or a mini-program card.
- ``mp_template``: a template message (模板消息) to a following MP identity; only a campaign
  whose content is a template sends one (and a template goes by no other channel).
- ``mp_mass``: an MP mass send (群发) by tag. WeChat has no mass send to a list of openids, so
  the sender groups a job's ``mp_mass`` deliveries into ONE ``message/mass/sendall``: under a
  Redis lock, the chunk's openids are tagged ``campaign-<run>`` (50 a ``batchtagging`` call),
  the tag is sent to with ``clientmsgid`` ``run-<run>-<first delivery id>`` (a retried chunk is
  not sent twice) and the openids are untagged again, so the next chunk of the run reaches only
  its own. One tag per run, not per chunk: an account holds at most 100 tags. A follower gets
  at most 4 mass sends a month (WeChat drops the rest silently): we count them per customer in
  Redis (``scrm:outreach:mass:<yyyy-mm>:<customer>``, local month) and a customer at 4 is not
  reachable on this channel. Text and images only (an article goes as text with its link).
- ``work_single``: a WeCom private message through the customer's current guide
  (``add_msg_template`` ``single``, sender = the guide). The sender makes one WeCom task per
  guide per job; the guide confirms it in WeCom, so "sent" here means "handed to the guide".
- ``work_group``: a WeCom group message (``add_msg_template`` ``group``) to customer groups,
  sent by each group's owner, one task per owner, run and variant naming its groups in
  ``chat_id_list``. A group is no customer: its deliveries name a ``chat_id`` and are planned
  and checked by scrm/outreach/group_messages.py. WeCom lets a group receive at most as many
  such messages a month as the month has days: we count them per group in Redis
  (``scrm:outreach:group:<yyyy-mm>:<chat_id>``, local month), like the mass-send quota.
  It is never a fallback, and nothing falls back from it.
- ``work_group_invite``: an invitation to a group live code (标签拉群, scrm/outreach/group_invites.py),
  sent as ``work_single`` is (one task per guide, run and variant, to the guide's customers):
  the content's text and a link card showing the campaign's own join way QR. It carries only
  ``invite`` content, which nothing else carries; never a fallback, and no fallbacks.

A customer the campaign's channel cannot reach is tried on its ``fallbacks``, in order;
:func:`choose` returns the first that reaches, or the reasons none did.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from guides.models import Binding, Guide
from scrm.coupons.announce import OPENS_WINDOW, WINDOW
from scrm.customers.models import CustomerIdentity, Interaction
from scrm.wechat.errors import WeChatError
from tagging.links import make_link

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime
    from scrm.wechat.values import MsgTemplate

MASS_PER_MONTH = 4
MASS_LOCK = "scrm:outreach:mass:lock"
SENDABLE = ("mp_custom", "mp_template", "mp_mass", "work_single", "work_group", "work_group_invite")
INVITE = "work_group_invite"


@dataclass
class Reach:
    """How a customer can be reached now, read once for a job's deliveries."""

    openid: str | None = None  # a following MP identity
    in_window: bool = False  # wrote, clicked, scanned or followed in the last 48 h
    mass_this_month: int = 0
    external_userid: str | None = None  # a WeCom customer
    guide_userid: str | None = None  # their current guide's WeCom member id


def reach_of(*, runtime: Runtime, db_session: Session, customer_ids: list[int], now: datetime) -> dict[int, Reach]:
    """Each customer's :class:`Reach`, in four queries whatever their number."""
    reach = {c: Reach() for c in customer_ids}
    identities = db_session.execute(select(
        CustomerIdentity.customer_id, CustomerIdentity.channel, CustomerIdentity.external_id,
        CustomerIdentity.following, CustomerIdentity.unfollowed_at,
    ).where(CustomerIdentity.customer_id.in_(customer_ids)).order_by(CustomerIdentity.id))
    for customer_id, channel, external_id, following, unfollowed_at in identities:
        if channel == "mp" and (following or unfollowed_at is None):
            reach[customer_id].openid = reach[customer_id].openid or external_id
        elif channel == "work":
            reach[customer_id].external_userid = reach[customer_id].external_userid or external_id
    recent = db_session.scalars(select(Interaction.customer_id).distinct().where(
        Interaction.customer_id.in_(customer_ids), Interaction.channel == "mp",
        Interaction.kind.in_(OPENS_WINDOW), Interaction.occurred_at > now - WINDOW))
    for customer_id in recent:
        reach[customer_id].in_window = True
    guides = db_session.execute(select(Binding.customer_id, Guide.wecom_userid)
                                .join(Guide, Guide.id == Binding.guide_id).where(Binding.customer_id.in_(customer_ids), Binding.ended_at.is_(None),
                                       Guide.status == "active"))
    for customer_id, userid in guides:
        reach[customer_id].guide_userid = userid
    counts = runtime.redis.mget([mass_key(runtime, c, now) for c in customer_ids]) if customer_ids else []
    for customer_id, count in zip(customer_ids, counts, strict=True):
        reach[customer_id].mass_this_month = int(count or 0)
    return reach


def unreachable(channel: str, reach: Reach, content: dict[str, Any]) -> str | None:
    """Why ``channel`` cannot carry ``content`` to the customer now; None when it can."""
    is_template = content.get("kind") == "template"
    if (channel == INVITE) != (content.get("kind") == "invite"):
        return f"{channel} cannot carry {'a group invitation' if channel != INVITE else 'anything but invitations'}"
    if channel == "mp_template":
        if not is_template:
            return "mp_template needs template content"
        return None if reach.openid else "mp_template not following"
    if is_template:
        return f"{channel} cannot carry a template"
    if channel == "mp_custom":
        if not reach.openid:
            return "mp_custom not following"
        return None if reach.in_window else "mp_custom outside 48h window"
    if channel == "mp_mass":
        if content.get("kind") == "miniprogram":
            return "mp_mass cannot carry a mini-program"
        if not reach.openid:
            return "mp_mass not following"
        return None if reach.mass_this_month < MASS_PER_MONTH else "mp_mass quota used"
    if channel in ("work_single", INVITE):
        if not reach.external_userid:
            return f"{channel} no WeCom"
        return None if reach.guide_userid else f"{channel} no guide"
    return f"{channel} reaches groups, not customers"


def choose(channels: list[str], reach: Reach, content: dict[str, Any]) -> tuple[str | None, list[str]]:
    """The first of ``channels`` that reaches the customer, and why the ones before did not."""
    reasons = []
    for channel in channels:
        reason = unreachable(channel, reach, content)
        if reason is None:
            return channel, reasons
        reasons.append(reason)
    return None, reasons


# --- Sending --------------------------------------------------------------------------------


def send_mp_custom(runtime: Runtime, openid: str, content: dict[str, Any]) -> str:
    """One customer-service message; returns a reference (WeChat gives no msgid for it)."""
    kind = content["kind"]
    if kind == "text":
        runtime.mp.send_custom_message(openid, "text", {"content": content["text"]})
    elif kind == "news":
        runtime.mp.send_custom_message(openid, "news", {"articles": [_article(runtime, content, openid)]})
    elif kind == "image":
        runtime.mp.send_custom_message(openid, "image", {"media_id": content["media_id"]})
    else:
        runtime.mp.send_custom_message(openid, "miniprogrampage", {
            "title": content["title"], "appid": content["appid"], "pagepath": content["pagepath"],
            "thumb_media_id": content.get("thumb_media_id") or ""})
    return "custom"


def send_mp_template(runtime: Runtime, openid: str, content: dict[str, Any]) -> str:
    url = content.get("url")
    msgid = runtime.mp.send_template(openid, content["template_id"], content["data"],
                                     url=_tracked(runtime, url, openid) if url else None)
    return str(msgid)


def send_work_single(runtime: Runtime, guide_userid: str, external_userids: list[str],
                     content: dict[str, Any]) -> MsgTemplate:
    """One WeCom task for the guide, to all of ``external_userids``."""
    text, attachments = _work_message(runtime, content)
    return runtime.work.add_msg_template("single", guide_userid, external_userids, text, attachments)


def send_work_group(runtime: Runtime, owner_userid: str, chat_ids: list[str], content: dict[str, Any]) -> MsgTemplate:
    """One WeCom group task for the owner, to the groups of ``chat_ids`` (all theirs)."""
    text, attachments = _work_message(runtime, content)
    return runtime.work.add_msg_template("group", owner_userid, [], text, attachments, chat_ids=chat_ids)


def group_sends_this_month(runtime: Runtime, chat_ids: list[str], now: datetime) -> dict[str, int]:
    counts = runtime.redis.mget([group_key(runtime, c, now) for c in chat_ids]) if chat_ids else []
    return {chat_id: int(count or 0) for chat_id, count in zip(chat_ids, counts, strict=True)}


def count_group_sends(runtime: Runtime, chat_ids: list[str], now: datetime) -> None:
    """Count a group message against each group's month (kept 32 days)."""
    pipe = runtime.redis.pipeline(transaction=False)
    for chat_id in chat_ids:
        pipe.incr(group_key(runtime, chat_id, now))
        pipe.expire(group_key(runtime, chat_id, now), 32 * 86400)
    pipe.execute()


def group_key(runtime: Runtime, chat_id: str, now: datetime) -> str:
    month = now.astimezone(runtime.config.brand.zone).strftime("%Y-%m")
    return f"scrm:outreach:group:{month}:{chat_id}"


def send_mp_mass(runtime: Runtime, *, run_id: int, chunk: int, openids: list[str], content: dict[str, Any]) -> str:
    """One mass send to ``openids`` through the run's tag; returns WeChat's msg_id."""
    msgtype, body = _mass_message(runtime, content)
    with runtime.redis.lock(MASS_LOCK, timeout=300, blocking_timeout=120, thread_local=False):
        tag_id = _run_tag(runtime, run_id)
        runtime.mp.tag_users(tag_id, openids)
        try:
            sent = runtime.mp.mass_send_by_tag(tag_id, msgtype, body, clientmsgid=f"run-{run_id}-{chunk}")
        finally:
            runtime.mp.untag_users(tag_id, openids)
    return str(sent.msg_id)


def count_mass_sends(runtime: Runtime, customer_ids: list[int], now: datetime) -> None:
    """Count a mass send against each customer's month (kept 32 days)."""
    pipe = runtime.redis.pipeline(transaction=False)
    for customer_id in customer_ids:
        key = mass_key(runtime, customer_id, now)
        pipe.incr(key)
        pipe.expire(key, 32 * 86400)
    pipe.execute()


def mass_key(runtime: Runtime, customer_id: int, now: datetime) -> str:
    month = now.astimezone(runtime.config.brand.zone).strftime("%Y-%m")
    return f"scrm:outreach:mass:{month}:{customer_id}"


def _run_tag(runtime: Runtime, run_id: int) -> int:
    key = f"scrm:outreach:mass:tag:{run_id}"
    known = runtime.redis.get(key)
    if known is not None:
        return int(known)
    name = f"campaign-{run_id}"
    try:
        tag_id = runtime.mp.create_tag(name).id
    except WeChatError:  # made by an earlier try whose answer was lost (45157: name taken)
        tag_id = next((t.id for t in runtime.mp.list_tags() if t.name == name), None)
        if tag_id is None:
            raise
    runtime.redis.set(key, tag_id, ex=30 * 86400)
    return tag_id


def _tracked(runtime: Runtime, url: str, openid: str | None) -> str:
    return make_link(runtime, url, openid=openid)


def _article(runtime: Runtime, content: dict[str, Any], openid: str | None) -> dict[str, Any]:
    article = {"title": content["title"], "description": content.get("description") or "",
               "url": _tracked(runtime, content["url"], openid)}
    if content.get("picurl"):
        article["picurl"] = content["picurl"]
    return article


def _mass_message(runtime: Runtime, content: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if content["kind"] == "image":
        return "image", {"media_id": content["media_id"]}
    if content["kind"] == "news":  # mpnews needs uploaded material: the link goes as text
        text = "\n".join(p for p in (content["title"], content.get("description"),
                                     _tracked(runtime, content["url"], None)) if p)
        return "text", {"content": text}
    return "text", {"content": content["text"]}


def _work_message(runtime: Runtime, content: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    kind = content["kind"]
    if kind == "text":
        return content["text"], []
    if kind == "invite":  # resolved by group_invites.prepare: the way's QR as a card
        return content["text"], [{"msgtype": "link", "link": {
            "title": content["title"], "picurl": content["qr_code"], "url": content["qr_code"],
            "desc": content.get("description") or ""}}]
    if kind == "image":
        return "", [{"msgtype": "image", "image": {"media_id": content["media_id"]}}]
    if kind == "news":
        link = {"title": content["title"], "url": _tracked(runtime, content["url"], None),
                "desc": content.get("description") or ""}
        if content.get("picurl"):
            link["picurl"] = content["picurl"]
        return "", [{"msgtype": "link", "link": link}]
    return "", [{"msgtype": "miniprogram", "miniprogram": {
        "title": content["title"], "appid": content["appid"], "page": content["pagepath"],
        "pic_media_id": content.get("thumb_media_id") or ""}}]


def group_by(items: list[Any], key: Any) -> dict[Any, list[Any]]:  # noqa: ANN401
    groups: dict[Any, list[Any]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return groups
