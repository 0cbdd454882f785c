"""What each callback does to our data, and the reply it gets. No HTTP, no WeChat calls:
those are queued after the commit (``enqueue_after_commit``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from guides import welcome
from guides.binding import Touch
from guides.leaving import transfer_failed
from scrm import callbacks as ev
from scrm.coupons.links import coupons_reply
from scrm.customers import service as customers
from scrm.customers.jobs import fetch_profile
from scrm.flows import claim_product_code, contact_ended, touch_code
from scrm.members.links import asks_for_member_page, member_reply
from scrm.groups.sync import chat_changed
from scrm.mirror.jobs import corp_tags_changed
from scrm.outreach.triggers import event_happened
from scrm.products import claiming, follow
from scrm.queue import enqueue_after_commit
from scrm.replies import service as replies
from tagging import mirror_queue
from tagging.apply import apply_rules

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.customers.service import IdentityRef
    from scrm.runtime import Runtime


@dataclass(frozen=True)
class Outcome:
    customer_id: int | None
    reply: dict[str, Any] | None


def react(runtime: Runtime, db_session: Session, callback: ev.Callback) -> Outcome:
    external_id = callback.customer_external_id
    if not external_id:
        # Group and tag changes, send reports, member messages: kept in the ledger for
        # the domains that own them.
        if isinstance(callback, ev.ExternalTagChange):
            corp_tags_changed(db_session, callback)  # WeCom's corp tags, re-read by a job
        elif isinstance(callback, ev.ExternalChatChange):
            chat_changed(runtime, db_session, callback)  # the group, re-read by a job
        return Outcome(None, None)
    now = runtime.clock.now()
    identity, first_contact = customers.contact(
        db_session=db_session, channel=callback.channel, external_id=external_id, at=now
    )
    customers.record_interaction(
        db_session=db_session,
        identity=identity,
        kind=_timeline_kind(callback),
        occurred_at=now,
        payload=_timeline_payload(callback),
    )
    apply_rules(runtime, db_session, callback, identity.customer_id)  # from memory; SQL only on a match
    reply = _react_as_customer(runtime, db_session, callback, identity)
    reply = _claim_by_follow(runtime, db_session, callback, identity) or reply
    binding = _touch_code(runtime, db_session, callback, identity, first_contact)
    if binding is not None and binding.guide_id is not None:
        reply = _welcome(runtime, db_session, callback, identity, binding, first_contact) or reply
    if first_contact:
        enqueue_after_commit(db_session, fetch_profile, identity.id)
    return Outcome(identity.customer_id, None if reply is None else _as_dict(reply))


def _react_as_customer(runtime: Runtime, db_session: Session, callback: ev.Callback, identity: IdentityRef):  # noqa: ANN202
    now = runtime.clock.now()
    if isinstance(callback, ev.Subscribe):
        customers.set_following(db_session=db_session, identity=identity, following=True, at=now)
        event_happened(runtime, db_session, event="follow", customer_id=identity.customer_id)
        return replies.follow_greeting(runtime)
    if isinstance(callback, ev.Unsubscribe):
        customers.set_following(db_session=db_session, identity=identity, following=False, at=now)
        return None
    if isinstance(callback, ev.ExternalContactChange):
        if callback.change_type == "transfer_fail":
            transfer_failed(db_session=db_session, external_userid=callback.external_userid,
                            takeover_userid=callback.userid, reason=callback.fail_reason)
        elif callback.starts_contact:
            customers.set_following(db_session=db_session, identity=identity, following=True, at=now)
            event_happened(runtime, db_session, event="follow", customer_id=identity.customer_id)
            mirror_queue.contact_added(db_session, identity.customer_id, now)  # their tags go on the new pair
        elif callback.ends_contact:
            customers.set_following(db_session=db_session, identity=identity, following=False, at=now)
            contact_ended(runtime=runtime, db_session=db_session, customer_id=identity.customer_id,
                          change_type=callback.change_type, member_userid=callback.userid, at=now)
        elif callback.change_type == "edit_external_contact":
            mirror_queue.customers_changed(db_session, [identity.customer_id])  # tags a member edited, read back
        return None  # WeCom welcomes with send_welcome_msg, not a passive reply
    if identity.channel == "mp" and _asks_for_coupons(runtime, callback):
        return coupons_reply(runtime, identity.customer_id)
    if identity.channel == "mp" and _asks_for_member_page(runtime, callback):
        return member_reply(runtime, identity.customer_id)
    if isinstance(callback, ev.TextMessage):
        return replies.reply_for_text(runtime, callback.content)
    if isinstance(callback, ev.Message):
        return replies.default_reply(runtime)
    return None  # menu clicks, views and scans: tagging and binding react to these


def _claim_by_follow(runtime: Runtime, db_session: Session, callback: ev.Callback, identity: IdentityRef):  # noqa: ANN202
    """A follow by, or a scan of, a product code's follow QR (scene ``pc_<code>``,
    scrm/products/follow.py) claims the code the customer could not claim on /p/<code> before
    following. Its reply, instead of the follow greeting, says how it went. WeChat's retry of
    the follow is answered from the ledger (handlers/dispatch.py); a later follow or scan finds
    the claim made and says "already yours": one reward."""
    if not isinstance(callback, ev.Subscribe | ev.Scan) or identity.channel != "mp":
        return None
    code = follow.code_in_scene(callback.scene)
    if code is None:
        return None
    checked = claiming.check_code(runtime=runtime, db_session=db_session, code=code)
    if checked.refused is not None:
        claiming.record_scan(db_session=db_session, config=runtime.config, result=checked.refused,
                             at=runtime.clock.now(), batch_id=checked.batch.id if checked.batch else None,
                             serial=checked.serial, customer_id=identity.customer_id)
        return follow.refusal_reply(runtime, checked.refused)
    claimed = claim_product_code(runtime=runtime, db_session=db_session, batch=checked.batch, serial=checked.serial,
                                 customer_id=identity.customer_id, via="follow",
                                 new_follower=isinstance(callback, ev.Subscribe))
    return follow.claim_reply(runtime, db_session, batch=checked.batch, claimed=claimed)


def _touch_code(runtime: Runtime, db_session: Session, callback: ev.Callback, identity: IdentityRef,  # noqa: ANN202
                first_contact: bool):
    """A scan of one of our codes (follow with a scene, SCAN, WeCom add with a state) binds."""

    if isinstance(callback, ev.Subscribe | ev.Scan) and callback.scene:
        scene, new_follow, member = callback.scene, isinstance(callback, ev.Subscribe), None
    elif isinstance(callback, ev.ExternalContactChange) and callback.starts_contact and callback.state:
        scene, new_follow, member = callback.state, True, callback.userid or None
    else:
        return None
    touch = Touch(identity.customer_id, callback.channel, scene, new_follow, runtime.clock.now(), member, first_contact)
    return touch_code(runtime=runtime, db_session=db_session, touch=touch)


def _welcome(runtime: Runtime, db_session: Session, callback: ev.Callback, identity: IdentityRef, binding,  # noqa: ANN001, ANN202
             first_contact: bool):
    """MP: the guide's card as the passive reply. WeCom: the welcome message, queued first in
    line, from the member the customer added."""

    if callback.channel == "mp":
        nickname = None  # WeChat tells a new customer's name later (fetch_profile)
        if not first_contact and welcome.needs_nickname(runtime, binding.card):
            nickname = customers.nickname_of(db_session=db_session, customer_id=identity.customer_id)
        return welcome.mp_card(runtime=runtime, card=binding.card, nickname=nickname)
    if getattr(callback, "welcome_code", None) and binding.touched_guide_id is not None:
        enqueue_after_commit(db_session, welcome.send_welcome, callback.welcome_code, binding.touched_guide_id,
                             identity.customer_id, runtime.clock.now().isoformat(), queue="urgent")
    return None


def _asks_for_coupons(runtime: Runtime, callback: ev.Callback) -> bool:
    """The customer's menu click or words for "my coupons" (coupons.menu_key, coupons.keywords)."""
    settings = runtime.config.coupons
    if isinstance(callback, ev.MenuClick):
        return callback.key == settings.menu_key
    return isinstance(callback, ev.TextMessage) and callback.content.strip() in settings.keywords


def _asks_for_member_page(runtime: Runtime, callback: ev.Callback) -> bool:
    """The customer's menu click or words for the member page (members.menu_key, members.keywords)."""
    if isinstance(callback, ev.MenuClick):
        return asks_for_member_page(runtime, menu_key=callback.key)
    return isinstance(callback, ev.TextMessage) and asks_for_member_page(runtime, text=callback.content)


def _timeline_kind(callback: ev.Callback) -> str:
    if isinstance(callback, ev.ExternalContactChange):
        return callback.change_type or callback.kind
    return callback.kind


def _timeline_payload(callback: ev.Callback) -> dict[str, Any]:
    """The callback's own fields, minus what every callback has."""
    payload = {k: v for k, v in asdict(callback).items() if k not in ("channel", "to_user", "from_user", "raw")}
    if isinstance(callback, ev.UnknownEvent | ev.UnknownMessage):
        payload["raw"] = dict(callback.raw)
    return payload


def _as_dict(reply: Any) -> dict[str, Any]:
    return asdict(reply)
