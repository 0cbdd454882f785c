"""Claiming a product code (领取, SPEC §14): exactly once, within the daily limit, credited.

:func:`check_code` says whether a code is genuine: the MAC first (no I/O at all: a code typed
in or edited never reaches the database), then its batch (one row by its prefix) for an
unknown batch, a serial beyond the batch, or a batch past its ``valid_until``.

:func:`claim_code` gives the code's reward to the first customer who claims it:

1. the customer's row is locked (their claims queue, so the daily limit is exact);
2. the claim row is inserted unless one exists (``ON CONFLICT DO NOTHING`` on the unique
   ``(batch_id, serial)``): of any number of concurrent claims exactly one inserts, and the
   others read the winner's claim and are told "already yours" or "claimed on …";
3. the guide credited: the customer's bound guide (whose protection is renewed), else a guide
   of the batch's store by its routing (a new binding), else none;
4. the reward: points (ledger; a customer who is not a member yet has them kept until they
   join: :func:`credit_pending_points`) or a coupon (§7). A coupon that cannot be issued (paused,
   out of stock, the customer's limit) undoes the whole claim: the code stays unclaimed.

Every scan that gives no reward is recorded with its reason (ProductScan) for the statistics.
Service functions take ``db_session`` and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from guides.binding import bind, current_binding, guide_card, renew_protection
from guides.duty_routing import route
from qrcodes.models import ChannelCode
from scrm.clock import as_utc, local_day
from scrm.coupons.issuing import NotIssued, issue
from scrm.customers.models import Customer, Interaction
from scrm.db import dialect_insert
from scrm.members import ledger
from scrm.members.models import Member
from scrm.products.batches import BatchRef, batch_by_prefix
from scrm.products.codes import ProductCodec
from scrm.products.models import ProductClaim, ProductScan

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.config import Config
    from scrm.runtime import Runtime


@dataclass(frozen=True)
class Checked:
    """A scanned code: its batch and serial when genuine, else why not (``refused``:
    ``not_genuine`` or ``expired``; ``batch`` is known for an expired one)."""

    code: str
    batch: BatchRef | None
    serial: int | None
    refused: str | None = None


@dataclass(frozen=True)
class ClaimView:
    """A claim as the pages show it."""

    id: int
    customer_id: int
    claimed_at: datetime
    points: int | None
    points_pending: bool
    coupon_id: int | None
    guide_id: int | None


@dataclass(frozen=True)
class Claimed:
    """What a claim came to. ``result``: ``claimed`` (this call gave the reward),
    ``already_yours``, ``claimed_by_other``, ``daily_limit`` or ``reward_unavailable``;
    ``claim``: the code's claim, when there is one; ``new_binding``: the claim bound the
    customer to a guide of the batch's store (scrm.flows sets off what a binding does)."""

    result: str
    claim: ClaimView | None
    new_binding: bool = False
    reason: str | None = None  # reward_unavailable: why the coupon could not be issued


def check_code(*, runtime: Runtime, db_session: Session, code: str) -> Checked:
    """Genuine (batch and serial), or refused: the MAC is checked before anything is read."""
    decoded = ProductCodec.from_config(runtime.config).decode(code)
    if decoded is None:
        return Checked(code, None, None, "not_genuine")
    batch = batch_by_prefix(db_session=db_session, prefix=decoded.prefix)
    if batch is None or decoded.serial > batch.quantity:
        return Checked(code, None, None, "not_genuine")
    if batch.expired(local_day(runtime.config, runtime.clock.now())):
        return Checked(code.lower(), batch, decoded.serial, "expired")
    return Checked(code.lower(), batch, decoded.serial)


def claim_of(*, db_session: Session, batch_id: int, serial: int) -> ClaimView | None:
    row = db_session.execute(
        select(ProductClaim.id, ProductClaim.customer_id, ProductClaim.claimed_at, ProductClaim.points,
               ProductClaim.points_pending, ProductClaim.coupon_id, ProductClaim.guide_id)
        .where(ProductClaim.batch_id == batch_id, ProductClaim.serial == serial)
    ).first()
    return None if row is None else ClaimView(*row)


def claim_code(
    *, runtime: Runtime, db_session: Session, batch: BatchRef, serial: int, customer_id: int, at: datetime,
    via: str = "page", new_follower: bool = False,
) -> Claimed:
    """The reward of the code for the customer, exactly once (see the module's steps)."""
    at = as_utc(at)
    existing = claim_of(db_session=db_session, batch_id=batch.id, serial=serial)
    if existing is not None:
        return _seen(db_session, runtime.config, batch, serial, customer_id, existing, at)
    _lock_customer(db_session, customer_id)
    # The member before the customer, as orders lock them; None: not a member (points wait).
    member = _lock_member(db_session, customer_id) if batch.reward_points is not None else None
    binding = current_binding(db_session=db_session, customer_id=customer_id, lock=True)
    day = local_day(runtime.config, at)
    today = db_session.scalar(select(func.count()).select_from(ProductClaim)
                              .where(ProductClaim.customer_id == customer_id, ProductClaim.day == day))
    if today >= runtime.config.products.daily_claims:
        existing = claim_of(db_session=db_session, batch_id=batch.id, serial=serial)
        if existing is not None:
            return _seen(db_session, runtime.config, batch, serial, customer_id, existing, at)
        record_scan(db_session=db_session, config=runtime.config, result="daily_limit", at=at, batch_id=batch.id,
                    serial=serial, customer_id=customer_id)
        return Claimed("daily_limit", None)
    # A coupon that cannot be issued undoes the claim; points always can be given (or kept).
    attempt = db_session.begin_nested() if batch.reward_template_id is not None else None
    claim_id = db_session.execute(
        dialect_insert(db_session, ProductClaim.__table__).values(
            batch_id=batch.id, serial=serial, customer_id=customer_id, claimed_at=at, day=day, via=via,
            new_follower=new_follower, store_id=batch.store_id, attribution="none", points_pending=False,
        ).on_conflict_do_nothing().returning(ProductClaim.__table__.c.id)
    ).scalar()
    if claim_id is None:  # another claim won while this one waited
        if attempt is not None:
            attempt.rollback()
        existing = claim_of(db_session=db_session, batch_id=batch.id, serial=serial)
        return _seen(db_session, runtime.config, batch, serial, customer_id, existing, at)
    guide_id, attribution = _credit(runtime, db_session, batch, customer_id, binding, at)
    try:
        reward = _reward(runtime, db_session, batch, claim_id, customer_id, member, at)
    except NotIssued as refused:
        attempt.rollback()
        record_scan(db_session=db_session, config=runtime.config, result="reward_unavailable", at=at,
                    batch_id=batch.id, serial=serial, customer_id=customer_id)
        return Claimed("reward_unavailable", None, reason=refused.reason)
    db_session.execute(update(ProductClaim).where(ProductClaim.id == claim_id).values(
        guide_id=guide_id, attribution=attribution, **reward))
    db_session.add(Interaction(customer_id=customer_id, kind="product_claimed", occurred_at=at, payload={
        "claim_id": claim_id, "batch_id": batch.id, "product": batch.product, "sku": batch.sku, "serial": serial,
        "via": via, "guide_id": guide_id, **reward,
    }))
    if attempt is not None:
        attempt.commit()
    claim = ClaimView(claim_id, customer_id, at, reward.get("points"), reward.get("points_pending", False),
                      reward.get("coupon_id"), guide_id)
    return Claimed("claimed", claim, new_binding=attribution == "routed")


def record_scan(*, db_session: Session, config: Config, result: str, at: datetime, batch_id: int | None = None,
                serial: int | None = None, customer_id: int | None = None) -> None:
    """A scan that gave no reward, for the statistics."""
    at = as_utc(at)
    db_session.add(ProductScan(at=at, day=local_day(config, at), result=result, batch_id=batch_id, serial=serial,
                               customer_id=customer_id))


def credit_pending_points(*, runtime: Runtime, db_session: Session, customer_id: int, at: datetime) -> int:
    """The customer just joined: the points their claims kept for them are added now (once:
    each claim's ledger key). Returns the points added."""
    pending = db_session.execute(
        select(ProductClaim.id, ProductClaim.points).where(ProductClaim.customer_id == customer_id,
                                                           ProductClaim.points_pending.is_(True))
    ).all()
    added = 0
    for claim_id, points in pending:
        ledger.earn(db_session=db_session, config=runtime.config, customer_id=customer_id, amount=points,
                    kind="product", source="product_claim", source_id=str(claim_id), key=f"product-claim:{claim_id}",
                    at=at)
        db_session.execute(update(ProductClaim).where(ProductClaim.id == claim_id).values(points_pending=False))
        added += points
    return added


def merge_claims(*, db_session: Session, keep_id: int, drop_id: int) -> None:
    """Two customers are one: the claims and scans of the merged-away one are the survivor's."""
    db_session.execute(update(ProductClaim).where(ProductClaim.customer_id == drop_id).values(customer_id=keep_id))
    db_session.execute(update(ProductScan).where(ProductScan.customer_id == drop_id).values(customer_id=keep_id))


def _lock_customer(db_session: Session, customer_id: int) -> None:
    """The customer's claims queue from here to the commit. PostgreSQL: the row lock that
    ``current_binding(lock=True)`` takes next. SQLite has no row locks and starts a transaction
    only at its first write: this write takes the database's write lock, so that the day's
    count below is read inside it."""
    if db_session.get_bind().dialect.name == "sqlite":
        db_session.execute(update(Customer).where(Customer.id == customer_id).values(updated_at=Customer.updated_at))


def _lock_member(db_session: Session, customer_id: int) -> Member | None:
    """The member's row locked and read, when the customer is one (no read first: the lock is the read)."""
    try:
        return ledger.lock_member(db_session, customer_id)
    except ledger.NotAMember:
        return None


def _seen(db_session: Session, config: Config, batch: BatchRef, serial: int, customer_id: int, claim: ClaimView,
          at: datetime) -> Claimed:
    result = "already_yours" if claim.customer_id == customer_id else "claimed_by_other"
    record_scan(db_session=db_session, config=config, result=result, at=at, batch_id=batch.id, serial=serial,
                customer_id=customer_id)
    return Claimed(result, claim)


def _credit(runtime: Runtime, db_session: Session, batch: BatchRef, customer_id: int, binding, at: datetime):  # noqa: ANN001, ANN202
    """(guide id, attribution): the bound guide (protection renewed), else the store's routing."""
    if binding is not None:
        renew_protection(runtime=runtime, binding=binding, at=at)
        return binding.guide_id, "bound"
    if batch.store_id is None:
        return None, "none"
    guide_id = route(db_session=db_session, config=runtime.config, store_id=batch.store_id, at=at)
    if guide_id is None:
        return None, "none"
    # The store's own code, when it has one: the routing's daily caps count this customer.
    code_id = db_session.scalar(select(ChannelCode.id).where(
        ChannelCode.store_id == batch.store_id, ChannelCode.kind == "store", ChannelCode.channel == "mp"))
    bind(runtime=runtime, db_session=db_session, customer_id=customer_id,
         guide=guide_card(db_session=db_session, guide_id=guide_id), code_id=code_id, channel="mp", at=at,
         previous_guide_id=None, via="product_code")
    return guide_id, "routed"


def _reward(runtime: Runtime, db_session: Session, batch: BatchRef, claim_id: int, customer_id: int,
            member: Member | None, at: datetime) -> dict:
    """The claim's reward columns: points given (to ``member``, locked by the claim) or kept for
    joining, or the coupon issued."""
    if batch.reward_points is not None:
        if member is None:
            return {"points": batch.reward_points, "points_pending": True}
        ledger.earn(db_session=db_session, config=runtime.config, customer_id=customer_id, amount=batch.reward_points,
                    kind="product", source="product_claim", source_id=str(claim_id), key=f"product-claim:{claim_id}",
                    at=at, locked=member)
        return {"points": batch.reward_points, "points_pending": False}
    coupon = issue(runtime=runtime, db_session=db_session, template_id=batch.reward_template_id,
                   customer_id=customer_id, source="product", source_ref=str(claim_id), at=at)
    return {"coupon_id": coupon.id}
