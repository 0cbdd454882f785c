"""Binding customers to guides (绑定) when they scan a guide's or a store's code (SPEC §6).

A customer has at most one current guide. Whether another guide's code takes them:

- while the binding is **protected** (``binding.protect_days`` after binding, renewed by a
  purchase from or a redemption by the bound guide) it never does: the refusal is written to
  the timeline;
- once protection lapsed, the next guide's code takes the customer, under either policy;
- ``protect_days = 0`` is where the policies differ most: under ``first_touch`` the first
  guide keeps the customer for ever, under ``last_touch`` the latest guide's code always wins;
- scanning one's own guide's code again renews protection under ``last_touch`` (a touch is a
  touch) and changes nothing under ``first_touch``.

A store code only gives a guide to a customer who has none; it never takes a customer from a
guide. A retired code (its guide left) works as its store's code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from guides.channel_tags import tag_channel
from guides.duty_routing import route
from guides.models import Binding, Guide, Store
from guides.store_duty import refresh_store_contact_way
from qrcodes import service as codes
from qrcodes import stats
from qrcodes.models import ChannelCode
from scrm.clock import as_utc, local_day
from scrm.customers.models import Customer, Interaction
from scrm.queue import enqueue_after_commit

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

RESULTS = ("bound", "rebound", "kept", "renewed", "refused", "unrouted", "counted")


# Outcomes that start a binding: counted as bindings; scrm.flows.touch_code sets off the binding
# coupons and trigger.
NEW_BINDING = ("bound", "rebound")


@dataclass(frozen=True)
class CodeRef:
    """A scanned code as binding needs it (read once per callback, no ORM object kept)."""

    id: int
    kind: str
    channel: str
    guide_id: int | None
    store_id: int | None
    retired: bool
    guide_active: bool = False  # a guide code's guide still works here
    owner_store_id: int | None = None  # the store of the code, or of its guide


@dataclass(frozen=True)
class Touch:
    """A customer reached one of our codes (a callback's scene)."""

    customer_id: int
    channel: str
    scene: str | None
    new_follow: bool  # subscribe / add_external_contact, not a SCAN by a follower
    at: datetime
    member_userid: str | None = None  # WeCom: the member the customer added
    first_contact: bool = False  # the customer was created by this callback: no binding yet


@dataclass(frozen=True)
class GuideCard:
    """What a welcome shows of a guide, read in one query."""

    id: int
    code: str
    name: str
    store_code: str
    store_name: str
    photo_url: str | None
    welcome_text: str | None


@dataclass(frozen=True)
class BindingOutcome:
    result: str
    code: CodeRef
    guide_id: int | None  # the customer's guide after the touch
    touched_guide_id: int | None  # the guide whose code (or WeCom member) the customer reached
    card: GuideCard | None = None  # the card of ``guide_id``


def touch_code(*, runtime: Runtime, db_session: Session, touch: Touch) -> BindingOutcome | None:
    """Count the scan and bind under the policy; ``None`` when the scene is not one of ours."""
    code = find_code(runtime=runtime, db_session=db_session, scene=touch.scene, channel=touch.channel)
    if code is None:
        return None
    outcome = _bind_by_code(runtime, db_session, code, touch)
    stats.count(db_session=db_session, code_id=code.id, day=local_day(runtime.config, touch.at), scans=1,
                follows=int(touch.new_follow), bindings=int(outcome.result in NEW_BINDING))
    return outcome


def find_code(*, runtime: Runtime, db_session: Session, scene: str | None, channel: str) -> CodeRef | None:
    """The code a callback's scene names on ``channel``; ``None`` when the scene is not one
    of ours (or was tampered with, or names a code that does not exist)."""
    if codes.codec(runtime).decode(scene) is None:
        return None

    row = db_session.execute(
        select(
            ChannelCode.id, ChannelCode.kind, ChannelCode.channel, ChannelCode.guide_id, ChannelCode.store_id,
            ChannelCode.status, Guide.status.label("guide_status"), Guide.store_id.label("guide_store_id"),
        )
        .outerjoin(Guide, Guide.id == ChannelCode.guide_id)
        .where(ChannelCode.scene == scene, ChannelCode.channel == channel)
    ).first()
    if row is None:
        return None
    return CodeRef(row.id, row.kind, row.channel, row.guide_id, row.store_id, row.status == "retired",
                   row.guide_status == "active", row.store_id if row.store_id is not None else row.guide_store_id)


def _bind_by_code(runtime: Runtime, db_session: Session, code: CodeRef, touch: Touch) -> BindingOutcome:
    if code.kind not in ("guide", "store"):
        return BindingOutcome("counted", code, None, None)
    current = None if touch.first_contact else current_binding(db_session=db_session, customer_id=touch.customer_id,
                                                                 lock=True)
    touched = _touched_guide(db_session, code, touch)
    if touched is None:  # a store code, or a retired guide code: the store's routing
        if current is not None:
            return _outcome(db_session, "kept", code, current.guide_id, current.guide_id)

        touched = route(db_session=db_session, config=runtime.config, store_id=code.owner_store_id, at=touch.at)
        if touched is None:
            _note(db_session, touch, "guide_unrouted", {"code_id": code.id, "reason": "no guide on duty under the cap"})
            return BindingOutcome("unrouted", code, None, None)
    result = _decide(runtime, current, touched, touch.at)
    if result == "refused":
        _note(db_session, touch, "guide_binding_refused", {
            "code_id": code.id, "guide": _guide_code(db_session, touched),
            "bound_guide": _guide_code(db_session, current.guide_id), "protected_until": _iso(current.protected_until),
        })
        return _outcome(db_session, result, code, current.guide_id, touched)
    if result == "renewed":
        current.protected_until = _protect_from(runtime, touch.at, current.protected_until)
    if result in ("kept", "renewed"):
        return _outcome(db_session, result, code, touched, touched)
    previous = None
    if current is not None:
        previous = current.guide_id
        current.ended_at, current.end_reason = touch.at, "taken"
        db_session.flush()  # the old binding ends before the new one starts (one current each)
    card = guide_card(db_session=db_session, guide_id=touched)
    bind(runtime=runtime, db_session=db_session, customer_id=touch.customer_id, guide=card, code_id=code.id,
         channel=touch.channel, at=touch.at, previous_guide_id=previous)
    if code.kind == "store" or code.retired:  # a daily cap may have been reached

        enqueue_after_commit(db_session, refresh_store_contact_way, code.owner_store_id)
    tag_channel(runtime=runtime, db_session=db_session, customer_id=touch.customer_id, kind=code.kind,
                channel=touch.channel, at=touch.at)
    return BindingOutcome(result, code, touched, touched, card)


def _outcome(db_session: Session, result: str, code: CodeRef, guide_id: int, touched: int) -> BindingOutcome:
    return BindingOutcome(result, code, guide_id, touched, guide_card(db_session=db_session, guide_id=guide_id))


def guide_card(*, db_session: Session, guide_id: int) -> GuideCard:
    row = db_session.execute(
        select(Guide.id, Guide.code, Guide.name, Store.code, Store.name, Guide.photo_url, Guide.welcome_text)
        .join(Store, Store.id == Guide.store_id).where(Guide.id == guide_id)
    ).one()
    return GuideCard(*row)


def bind(
    *, runtime: Runtime, db_session: Session, customer_id: int, guide: GuideCard, code_id: int | None,
    channel: str | None, at: datetime, previous_guide_id: int | None, via: str = "code",
) -> Binding:
    """Start a binding (the caller ended any current one) and write it to the timeline."""
    binding = Binding(customer_id=customer_id, guide_id=guide.id, code_id=code_id, channel=channel, bound_at=at,
                      protected_until=_protect_from(runtime, at, None))
    db_session.add(binding)
    db_session.add(Interaction(customer_id=customer_id, kind="guide_bound", channel=channel, occurred_at=at, payload={
        "guide": guide.code, "guide_name": guide.name, "store": guide.store_code, "via": via, "code_id": code_id,
        "previous_guide": _guide_code(db_session, previous_guide_id), "protected_until": _iso(binding.protected_until),
    }))
    db_session.flush()
    return binding


def current_binding(*, db_session: Session, customer_id: int, lock: bool = False) -> Binding | None:
    """``lock``: the caller decides on the customer's binding; until it commits, anyone else
    deciding waits. The customer's row is locked, not only the binding's: a customer with no
    guide has no binding row to lock, and two scans at once would both start one (the second
    failing on the one-current-binding index). FOR NO KEY UPDATE: it waits for another such
    lock but not for the key-share locks that this callback's own timeline rows (their foreign
    key to the customer) took in the other transactions, which would deadlock."""
    if lock:
        db_session.execute(select(Customer.id).where(Customer.id == customer_id).with_for_update(key_share=True))
    query = select(Binding).where(Binding.customer_id == customer_id, Binding.ended_at.is_(None))
    if lock:
        query = query.with_for_update()
    return db_session.scalar(query)


def is_protected(runtime: Runtime, binding: Binding, at: datetime) -> bool:
    if runtime.config.binding.protect_days == 0:
        return runtime.config.binding.policy == "first_touch"
    return binding.protected_until is not None and as_utc(binding.protected_until) > at


def renew_protection(*, runtime: Runtime, binding: Binding, at: datetime) -> None:
    """A purchase from, or a redemption by, the bound guide."""
    binding.protected_until = _protect_from(runtime, at, binding.protected_until)


def merge_bindings(*, db_session: Session, keep_id: int, drop_id: int, at: datetime) -> None:
    """Two customers turned out to be one: the survivor keeps its own guide if it has one
    (the other's binding ends, reason ``merged``), else takes the other's; history moves."""
    mine = current_binding(db_session=db_session, customer_id=keep_id, lock=True)
    theirs = current_binding(db_session=db_session, customer_id=drop_id, lock=True)
    if mine is not None and theirs is not None:
        theirs.ended_at, theirs.end_reason = at, "merged"
        db_session.flush()
    db_session.execute(update(Binding).where(Binding.customer_id == drop_id).values(customer_id=keep_id))


def _decide(runtime: Runtime, current: Binding | None, touched: int, at: datetime) -> str:
    if current is None:
        return "bound"
    if current.guide_id == touched:
        return "renewed" if runtime.config.binding.policy == "last_touch" else "kept"
    return "refused" if is_protected(runtime, current, at) else "rebound"


def _touched_guide(db_session: Session, code: CodeRef, touch: Touch) -> int | None:
    """The guide a code names, or None when the store must route (store code, retired code)."""
    if code.kind == "guide":
        return code.guide_id if code.guide_active and not code.retired else None
    if touch.member_userid:
        # A WeCom store contact way: WeCom already chose the member the customer added.
        return db_session.scalar(select(Guide.id).where(
            Guide.wecom_userid == touch.member_userid, Guide.store_id == code.store_id, Guide.status == "active"))
    return None


def _guide_code(db_session: Session, guide_id: int | None) -> str | None:
    return None if guide_id is None else db_session.scalar(select(Guide.code).where(Guide.id == guide_id))


def _protect_from(runtime: Runtime, at: datetime, until: datetime | None) -> datetime | None:
    days = runtime.config.binding.protect_days
    if not days:
        return None
    renewed = as_utc(at) + timedelta(days=days)
    return renewed if until is None or as_utc(until) < renewed else until


def _note(db_session: Session, touch: Touch, kind: str, payload: dict[str, Any]) -> None:
    db_session.add(Interaction(customer_id=touch.customer_id, kind=kind, channel=touch.channel, occurred_at=touch.at,
                               payload=payload))


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else as_utc(moment).isoformat()

