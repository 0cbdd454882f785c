"""A coupon attached to a campaign (活动发券): each customer a delivery reaches gets one coupon
of the campaign's ``coupon_template_id`` (source ``campaign``, ``source_ref`` the campaign's
id, which the results count), and the message carries their "my coupons" link.

**When.** The coupon is issued after WeChat accepted the message, in the transaction that marks
the delivery ``sent`` (scrm/outreach/sender.py, ``_Outcomes.flush``): nothing to undo when the
call fails, and a skipped, failed or dead delivery never issues one. The cost: a worker killed
between WeChat's answer and that commit leaves a sent message without its coupon (the delivery
is later found sent by its Redis key, by the recovery sweep or a second claim, and neither
issues one). A rare, visible gap (no ``coupons_issued`` for that send) rather than issuing a
coupon for a message that may never have left.

**Cannot.** Before the send, the template is checked (active, dates, stock) and so is each
customer's per-customer limit; a delivery that cannot have a coupon is sent without the link,
and ``last_error`` says ``coupon not issued: <reason>``. Stock taken by others between the
check and the commit gives the same note, the message having gone with the link (the page
shows the customer's other coupons). The message is never held back for its coupon.

**The link.** Appended as a line to text content; a template message without a URL of its own
opens it. Article cards, images and mini-program cards keep their own target: the coupon waits
on the customer's page ("优惠券" in the chat). A message to one customer carries their signed
link (scrm/coupons/links.py); one WeCom task or mass send shared by several customers carries
the page's plain address, which signs in by the Official Account's web sign-in when
``coupons.mp_oauth`` is on.

**Announcement.** The campaign's message is the announcement: the coupon is marked
``announce_state = 'sent'`` in the same transaction, so ``announce_coupon`` (queued by
``issue`` after the commit) finds nothing to send.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select, update

from scrm.coupons.issuing import NotIssued, issue
from scrm.coupons.links import PATH, coupons_link
from scrm.coupons.models import Coupon, CouponHolding, CouponTemplate
from scrm.clock import as_utc
from scrm.outreach.models import Delivery
from scrm.texts import say

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

    from scrm.outreach.models import Campaign
    from scrm.outreach.sender import _Attempt
    from scrm.runtime import Runtime

SOURCE = "campaign"


def check(*, db_session: Session, campaigns: dict[int, Campaign], attempts: list[_Attempt], now: datetime) -> None:
    """Mark each attempt whose campaign attaches a coupon: ``coupon_template_id`` when one can be
    issued to its customer now, else ``coupon_note`` with the reason."""
    wanted = [a for a in attempts if campaigns[a.campaign_id].coupon_template_id and a.customer_id is not None]
    if not wanted:
        return
    template_ids = {campaigns[a.campaign_id].coupon_template_id for a in wanted}
    templates = {t.id: t for t in db_session.scalars(select(CouponTemplate).where(CouponTemplate.id.in_(template_ids)))}
    held = {(h.template_id, h.customer_id): h.issued for h in db_session.scalars(select(CouponHolding).where(
        CouponHolding.template_id.in_(template_ids), CouponHolding.customer_id.in_({a.customer_id for a in wanted})))}
    for attempt in wanted:
        template = templates.get(campaigns[attempt.campaign_id].coupon_template_id)
        reason = _why_not(template, held, attempt.customer_id, now)
        if reason is None:
            attempt.coupon_template_id = template.id
        else:
            attempt.coupon_note = f"coupon not issued: {reason}"


def _why_not(template: CouponTemplate | None, held: dict, customer_id: int, now: datetime) -> str | None:
    if template is None:
        return "not_found"
    if template.status != "active":
        return "paused"
    if template.valid_until is not None and as_utc(template.valid_until) <= now:
        return "ended"
    if template.stock is not None and template.issued_count >= template.stock:
        return "out_of_stock"
    limit = template.per_customer_limit
    if limit is not None and held.get((template.id, customer_id), 0) >= limit:
        return "limit_reached"
    return None


def content_for(runtime: Runtime, attempts: list[_Attempt]) -> dict[str, Any]:
    """The content of one send to ``attempts`` (one customer, or the share of one task), with
    the "my coupons" link when any of them gets a coupon."""
    content = attempts[0].content
    if not any(a.coupon_template_id for a in attempts):
        return content
    if len(attempts) == 1:
        link = coupons_link(runtime, attempts[0].customer_id)
    else:
        link = runtime.config.server.public_base_url + PATH
    if content.get("kind") == "text":
        return {**content, "text": content["text"] + "\n\n" + say(runtime.config, "coupons.campaign_line", link=link)}
    if content.get("kind") == "template" and not content.get("url"):
        return {**content, "url": link}
    return content


def issue_for_sent(*, runtime: Runtime, db_session: Session, sent: list[_Attempt]) -> None:
    """Issue the coupons of deliveries this transaction marks sent (those still ``sending``,
    locked), and note on those that get none why (``last_error``)."""
    notes = {a.id: a.coupon_note for a in sent if a.coupon_note}
    due = [a for a in sent if a.coupon_template_id]
    if due:
        _issue(runtime, db_session, due, notes)
    if notes:
        deliveries = Delivery.__table__
        db_session.connection().execute(
            deliveries.update().where(deliveries.c.id == bindparam("b_id")).values(last_error=bindparam("v_note")),
            [{"b_id": d, "v_note": note} for d, note in notes.items()])


def _issue(runtime: Runtime, db_session: Session, due: list[_Attempt], notes: dict[int, str]) -> None:
    ours = set(db_session.scalars(select(Delivery.id).where(
        Delivery.id.in_([a.id for a in due]), Delivery.status == "sending").with_for_update()))
    now = runtime.clock.now()
    issued = []
    for attempt in due:
        if attempt.id not in ours:
            continue
        try:
            coupon = issue(runtime=runtime, db_session=db_session, template_id=attempt.coupon_template_id,
                           customer_id=attempt.customer_id, source=SOURCE, source_ref=str(attempt.campaign_id), at=now)
        except NotIssued as exc:
            notes[attempt.id] = f"coupon not issued: {exc.reason}"
            continue
        issued.append(coupon.id)
    if issued:  # the campaign's message announced them
        db_session.execute(update(Coupon).where(Coupon.id.in_(issued)).values(announce_state="sent", announced_at=now))
