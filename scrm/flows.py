"""Follow-on work across domains (SPEC §15): what one domain's event sets off in others.

A domain service does its own part and returns what happened; the entry points (webhook
reactions, jobs, routes) call these flows, which hand the event on to the domains above it.
So no lower domain reaches up into a higher one: customers know nothing of bindings or
coupons, guides nothing of coupons or campaigns, tagging nothing of guides. Each flow runs
inside the caller's transaction (one owner) and commits nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from guides import binding
from guides.credit import credit_guide
from scrm.coupons.issuing import Occasion, issue_by_rules, merge_coupons
from scrm.customers import service as customers
from scrm.customers.models import Customer, CustomerIdentity
from scrm.groups.churn import customer_deleted_guide
from scrm.members import checkin, gifts, joining
from scrm.members import orders as member_orders
from scrm.members.merging import merge_members
from scrm.members.models import Member
from scrm.members.service import PhoneTaken, create_member
from scrm.outreach.triggers import event_happened
from scrm.products import claiming
from tagging import orders, refunds
from tagging.models import Order
from tagging.scores import merge_customer_tags

if TYPE_CHECKING:
    from datetime import date, datetime

    from sqlalchemy.orm import Session

    from scrm.members.growth import LevelChange
    from scrm.products.batches import BatchRef
    from scrm.runtime import Runtime
    from tagging.schemas import OrderIn, RefundIn


def touch_code(*, runtime: Runtime, db_session: Session, touch: binding.Touch) -> binding.BindingOutcome | None:
    """A customer reached one of our codes: the scan is counted and the customer bound
    (guides); a new binding issues the binding coupons and fires the ``binding`` trigger."""
    outcome = binding.touch_code(runtime=runtime, db_session=db_session, touch=touch)
    if outcome is not None and outcome.result in binding.NEW_BINDING:
        issue_by_rules(runtime=runtime, db_session=db_session, customer_id=touch.customer_id,
                       occasion=Occasion("binding", touch.at))
        event_happened(runtime, db_session, event="binding", customer_id=touch.customer_id)
    return outcome


def contact_ended(*, runtime: Runtime, db_session: Session, customer_id: int, change_type: str, member_userid: str,
                  at: datetime) -> None:
    """A WeCom contact ended (the customer is no longer following, customers' part done by the
    caller): when the customer deleted the guide (``del_follow_user``), the guide gets a churn
    alert (groups' 流失提醒)."""
    if change_type == "del_follow_user":
        customer_deleted_guide(db_session=db_session, config=runtime.config, customer_id=customer_id,
                               member_userid=member_userid, at=at)


def attach_profile(
    *, runtime: Runtime, db_session: Session, identity_id: int, unionid: str | None, nickname: str | None = None
) -> Customer:
    """What WeChat told us of a customer (customers); when its ``unionid`` makes two customers
    one, what every other domain holds of the merged-away one follows (:func:`merge_customers`)."""
    identity = db_session.get(CustomerIdentity, identity_id)
    before = identity.customer_id if identity is not None else None
    customer = customers.attach_profile(db_session=db_session, identity_id=identity_id, unionid=unionid,
                                        nickname=nickname)
    if before is not None and customer.id != before:
        _move_domain_data(runtime, db_session, keep_id=customer.id, drop_id=before)
    return customer


def merge_customers(*, runtime: Runtime, db_session: Session, keep: Customer, drop: Customer) -> Customer:
    """``drop`` becomes ``keep`` (SPEC §4): identities and timeline (customers), then tags,
    bindings, orders and coupons."""
    if keep.id == drop.id:
        return keep
    drop_id = drop.id
    survivor = customers.merge_customers(db_session=db_session, keep=keep, drop=drop)
    _move_domain_data(runtime, db_session, keep_id=survivor.id, drop_id=drop_id)
    return survivor


def _move_domain_data(runtime: Runtime, db_session: Session, *, keep_id: int, drop_id: int) -> None:
    merge_customer_tags(db_session=db_session, keep_id=keep_id, drop_id=drop_id)
    binding.merge_bindings(db_session=db_session, keep_id=keep_id, drop_id=drop_id, at=runtime.clock.now())
    db_session.execute(update(Order).where(Order.customer_id == drop_id).values(customer_id=keep_id))
    merge_coupons(db_session=db_session, keep_id=keep_id, drop_id=drop_id)
    claiming.merge_claims(db_session=db_session, keep_id=keep_id, drop_id=drop_id)
    rise = merge_members(db_session=db_session, config=runtime.config, keep_id=keep_id, drop_id=drop_id,
                         at=runtime.clock.now())
    if rise is not None:  # the kept member rose on the growth the other membership brought
        level_changed(runtime=runtime, db_session=db_session, change=rise)
    db_session.flush()
    db_session.expire_all()


@dataclass(frozen=True)
class Joined:
    """What joining came to: the member (``created`` False: had joined before), or the reason
    the code was refused (``refused``: joining.CodeCheck), and the customers merged in."""

    member: Member | None
    created: bool
    refused: joining.CodeCheck | None = None
    merged: tuple[int, ...] = ()


def join_member(*, runtime: Runtime, db_session: Session, customer_id: int, phone: str, code: str, at: datetime,
                birthday: date | None = None, joined_via: str = "page") -> Joined:
    """The customer proves ``phone`` (11 digits) with the SMS code and joins (SPEC §13): other
    customers with that phone are merged into them (§4, :func:`merge_customers`), the phone
    and birthday are set on the customer, and the membership is created, credited to the
    customer's guide (guides: the binding now). A refused code
    returns ``refused`` with nothing else changed but the try it spent, which the caller
    commits. :class:`joining.AlreadyMember` or :class:`PhoneTaken` before any try."""
    customer = customers.resolve(db_session=db_session, customer_id=customer_id)
    if customer is None:
        raise LookupError(f"no customer {customer_id}")
    customer_id = customer.id
    if db_session.get(Member, customer_id) is not None:
        raise joining.AlreadyMember(f"customer {customer_id} is a member already")
    if db_session.scalar(select(Member.customer_id).where(Member.phone == phone)) is not None:
        raise PhoneTaken("another member has this phone number")
    check = joining.check_code(db_session=db_session, config=runtime.config, customer_id=customer_id, phone=phone,
                               code=code, at=at)
    if not check.ok:
        return Joined(None, False, check)
    merged = []
    for other_id in db_session.scalars(select(Customer.id).where(Customer.phone == phone, Customer.id != customer_id,
                                                                 Customer.merged_into_id.is_(None))).all():
        merge_customers(runtime=runtime, db_session=db_session, keep=db_session.get(Customer, customer_id),
                        drop=db_session.get(Customer, other_id))
        merged.append(other_id)
    customer = db_session.get(Customer, customer_id)
    customer.phone = phone
    if birthday is not None:
        customer.birthday = birthday
    bound = binding.current_binding(db_session=db_session, customer_id=customer_id)
    member, created = create_member(db_session=db_session, config=runtime.config, customer_id=customer_id,
                                    phone=phone, at=at, birthday=birthday, joined_via=joined_via,
                                    joined_guide_id=bound.guide_id if bound is not None else None)
    if created:  # points that product codes claimed before joining kept for the member (products)
        claiming.credit_pending_points(runtime=runtime, db_session=db_session, customer_id=customer_id, at=at)
    return Joined(member, created, None, tuple(merged))


def claim_product_code(
    *, runtime: Runtime, db_session: Session, batch: BatchRef, serial: int, customer_id: int, via: str = "page",
    new_follower: bool = False,
) -> claiming.Claimed:
    """A customer claims a product code (products: the claim, its reward, the guide credited);
    when the claim bound the customer to a guide of the batch's store, what a new binding does
    follows: the binding coupons (coupons) and the ``binding`` trigger (outreach)."""
    now = runtime.clock.now()
    claimed = claiming.claim_code(runtime=runtime, db_session=db_session, batch=batch, serial=serial,
                                  customer_id=customer_id, at=now, via=via, new_follower=new_follower)
    if claimed.new_binding:
        issue_by_rules(runtime=runtime, db_session=db_session, customer_id=customer_id,
                       occasion=Occasion("binding", now))
        event_happened(runtime, db_session, event="binding", customer_id=customer_id)
    return claimed


def record_order(*, runtime: Runtime, db_session: Session, order_in: OrderIn) -> tuple[Order, bool]:
    """An order (tagging: the purchase, its tag rules, RFM); a new one is credited to the
    customer's guide (guides), pays with and earns a member's points and growth (members; a
    level it raises has its effects, :func:`level_changed`), meets the order coupon rules
    (coupons) and fires the ``purchase`` trigger (outreach). A repeated order number changes
    nothing; an order whose points cannot be paid is not recorded at all (the caller rolls
    back on the error)."""
    order, created = orders.record_order(runtime=runtime, db_session=db_session, order_in=order_in)
    if not created:
        return order, False
    now = runtime.clock.now()
    member_orders.spend_for_order(db_session=db_session, customer_id=order.customer_id, order_no=order.order_no,
                                  points=order.points_used, at=now)
    earned = member_orders.earn_for_order(db_session=db_session, config=runtime.config, customer_id=order.customer_id,
                                          order_no=order.order_no, amount=Decimal(order.amount),
                                          ordered_at=order.ordered_at, at=now)
    if earned is not None and earned.level_change is not None:
        level_changed(runtime=runtime, db_session=db_session, change=earned.level_change)
    order.credited_guide_id = credit_guide(
        runtime=runtime, db_session=db_session, customer_id=order.customer_id, guide_code=order.guide_code,
        at=order.ordered_at, kind="order", amount=order.amount)
    first = db_session.scalar(select(func.count()).where(Order.customer_id == order.customer_id)) == 1
    occasion = Occasion("order", runtime.clock.now(), order_no=order.order_no, amount=Decimal(order.amount),
                        first_order=first)
    issue_by_rules(runtime=runtime, db_session=db_session, customer_id=order.customer_id, occasion=occasion)
    event_happened(runtime, db_session, event="purchase", customer_id=order.customer_id, ref=str(order.id))
    return order, True


def check_in(*, runtime: Runtime, db_session: Session, customer_id: int, at: datetime) -> checkin.CheckedIn:
    """A member's daily check-in (members); a level its growth raised has its effects
    (:func:`level_changed`)."""
    done = checkin.check_in(runtime=runtime, db_session=db_session, customer_id=customer_id, at=at)
    if done.level_change is not None:
        level_changed(runtime=runtime, db_session=db_session, change=done.level_change)
    return done


def level_changed(*, runtime: Runtime, db_session: Session, change: LevelChange) -> None:
    """A member's level moved (members: the level and its tag, already): a rise gives the
    level's level-up coupon, once per member and level (members), and fires the ``level_up``
    trigger (outreach), once per campaign, member and level."""
    if not change.up:
        return
    gifts.level_up_gift(runtime=runtime, db_session=db_session, customer_id=change.customer_id,
                        level_id=change.new_level_id, at=change.at)
    fire_level_up(runtime=runtime, db_session=db_session, change=change)


def fire_level_up(*, runtime: Runtime, db_session: Session, change: LevelChange) -> None:
    """The ``level_up`` trigger (outreach) for a rise: its occurrence is the member and level."""
    event_happened(runtime, db_session, event="level_up", customer_id=change.customer_id, ref=str(change.new_level_id))


@dataclass(frozen=True)
class Refund:
    """A refund (tagging) and what it reversed of a member's points and growth (members)."""

    refunded: refunds.Refunded
    reversal: member_orders.Reversal


def refund_order(*, runtime: Runtime, db_session: Session, order_no: str, refund_in: RefundIn) -> Refund:
    """A refund of (part of) an order (tagging: the refund, the order's refunded total, the
    timeline), and what it reversed of a member's points and growth (members), in proportion.
    The same refund retried changes nothing and answers as the first time."""
    refunded = refunds.refund_order(db_session=db_session, order_no=order_no, refund_in=refund_in,
                                    at=runtime.clock.now())
    if not refunded.created:
        return Refund(refunded, member_orders.refund_reversal(db_session=db_session, refund_id=refunded.refund.id))
    reversal = member_orders.reverse_for_refund(
        db_session=db_session, config=runtime.config, order_no=refunded.order.order_no,
        order_amount=Decimal(refunded.order.amount), before=refunded.before, after=refunded.after,
        refund_id=refunded.refund.id, at=runtime.clock.now())
    return Refund(refunded, reversal)
