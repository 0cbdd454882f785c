"""Telling a customer about a coupon they were given (发券通知), where WeChat allows it.

An MP customer-service message may only go to a follower who wrote to us (or clicked, scanned,
followed) in the last 48 hours. The job sends one when the customer is inside that window;
outside it the coupon waits (``announce_state = 'waiting'``) and :func:`announce_waiting`, run
by the scheduler, sends it after the customer's next interaction. A customer with no Official
Account identity (WeCom only) is marked ``none``: their guide tells them, or outreach does.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import exists, select, update

from scrm.clock import as_utc
from scrm.coupons.links import coupons_link
from scrm.coupons.models import Coupon, CouponTemplate
from scrm.customers.models import CustomerIdentity, Interaction
from scrm.runtime import Runtime, job
from scrm.texts import local_time, say
from scrm.wechat.errors import AnswerLost, WeChatError

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=48)
# What a customer does that opens WeChat's 48 h window (our timeline's kinds).
OPENS_WINDOW = ("text", "media", "location", "link", "unknown_message", "follow", "scan", "click", "view")
OUTSIDE_WINDOW = (45015, 45047)  # out of the window, or its 5 messages used
SWEEP_BATCH = 1000


@job
def announce_coupon(runtime: Runtime, coupon_id: int) -> None:
    """Job: send the coupon's announcement, or note why it waits."""

    with runtime.transaction() as db_session:
        target = _target(runtime, db_session, coupon_id)
    if target is None:
        return
    openid, text = target
    try:
        runtime.mp.send_custom_message(openid, "text", {"content": text})
    except AnswerLost:  # it may have gone: announced, not sent a second time
        log.warning("coupon %s: announcement sent, its answer lost", coupon_id)
    except WeChatError as exc:
        if exc.errcode not in OUTSIDE_WINDOW:
            raise  # the queue retries it
        _mark(runtime, coupon_id, "waiting")
        return
    _mark(runtime, coupon_id, "sent")


@job
def announce_waiting(runtime: Runtime) -> int:
    """Scheduled: enqueue the announcements of waiting coupons whose customer has interacted
    since the coupon was issued (and so is inside the window now). Returns how many."""

    now = runtime.clock.now()
    interacted = exists().where(
        Interaction.customer_id == Coupon.customer_id, Interaction.channel == "mp",
        Interaction.kind.in_(OPENS_WINDOW), Interaction.occurred_at > Coupon.issued_at,
        Interaction.occurred_at > now - WINDOW,
    )
    with runtime.transaction() as db_session:
        ids = list(db_session.scalars(
            select(Coupon.id).where(Coupon.announce_state == "waiting", Coupon.status == "issued",
                                    Coupon.valid_until > now, interacted).limit(SWEEP_BATCH)
        ))
        if ids:
            db_session.execute(update(Coupon).where(Coupon.id.in_(ids)).values(announce_state="pending"))
    for coupon_id in ids:
        runtime.queue.enqueue(announce_coupon, coupon_id)
    return len(ids)


def _target(runtime: Runtime, db_session: Session, coupon_id: int) -> tuple[str, str] | None:
    row = db_session.execute(
        select(Coupon.customer_id, Coupon.announce_state, Coupon.valid_until, CouponTemplate.name)
        .join(CouponTemplate, CouponTemplate.id == Coupon.template_id).where(Coupon.id == coupon_id)
    ).first()
    if row is None or row.announce_state != "pending":
        return None
    # Not "following" alone: a follower from before we were installed writes without a follow
    # event. One who unfollowed cannot be told.
    openid = db_session.scalar(select(CustomerIdentity.external_id).where(
        CustomerIdentity.customer_id == row.customer_id, CustomerIdentity.channel == "mp",
        CustomerIdentity.following | CustomerIdentity.unfollowed_at.is_(None)))
    now = runtime.clock.now()
    state = None
    if openid is None:
        state = "none"
    elif not _inside_window(db_session, row.customer_id, now):
        state = "waiting"
    if state is not None:
        _set_state(db_session, coupon_id, state, now)
        return None
    return openid, announcement(runtime, row.customer_id, row.name, as_utc(row.valid_until))


def announcement(runtime: Runtime, customer_id: int, template_name: str, valid_until: datetime) -> str:
    return say(runtime.config, "coupons.announcement", name=template_name,
               until=local_time(valid_until, runtime.config.brand.zone), link=coupons_link(runtime, customer_id))


def _inside_window(db_session: Session, customer_id: int, now: datetime) -> bool:
    return db_session.scalar(select(exists().where(
        Interaction.customer_id == customer_id, Interaction.channel == "mp", Interaction.kind.in_(OPENS_WINDOW),
        Interaction.occurred_at > now - WINDOW))) or False


def _mark(runtime: Runtime, coupon_id: int, state: str) -> None:
    with runtime.transaction() as db_session:
        _set_state(db_session, coupon_id, state, runtime.clock.now())


def _set_state(db_session: Session, coupon_id: int, state: str, now: datetime) -> None:
    values = {"announce_state": state, "announced_at": now if state == "sent" else None}
    db_session.execute(update(Coupon).where(Coupon.id == coupon_id).values(**values))
    log.info("coupon %s announcement %s", coupon_id, state)
