"""Issuing coupons (发券): by hand, by rules (a new binding, a first order, an order over an
amount), and later by campaigns.

Stock and the per-customer limit hold whatever the concurrency, in the database:

1. ``UPDATE coupon_templates SET issued_count = issued_count + 1 WHERE … issued_count < stock``
   — the row lock it takes makes issuers of one template queue, and the condition stops the
   101st of a stock of 100;
2. an upsert of the customer's holding, ``… DO UPDATE SET issued = issued + 1 WHERE issued <
   limit`` — a second issuer for the same customer cannot pass the limit either. When it
   refuses, the stock taken in step 1 is given back in the same transaction.

Each coupon issued is on the customer's timeline and announced to them by a job after the
commit (scrm/coupons/announce.py). Service functions take ``db_session`` and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import and_, or_, select, update

from guides.binding import current_binding
from guides.models import Guide
from scrm.clock import as_utc
from scrm.coupons.announce import announce_coupon
from scrm.coupons.codes import CouponCodec
from scrm.coupons.models import Coupon, CouponHolding, CouponReminder, CouponRule, CouponTemplate
from scrm.customers.models import Interaction
from scrm.db import dialect_insert
from scrm.errors import ConflictError, DomainError, NotFoundError
from scrm.queue import enqueue_after_commit

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

_templates = CouponTemplate.__table__
_holdings = CouponHolding.__table__


class NotIssued(DomainError):
    """The template cannot give this customer a coupon now; ``reason`` is one of
    ``not_found``, ``paused``, ``ended`` (its fixed dates are over), ``out_of_stock``,
    ``limit_reached``, and is the error's code. Raised as one of the two kinds below: no
    such template is a 404, every other reason a 409."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message, code=reason)
        self.reason = reason


class TemplateMissing(NotIssued, NotFoundError):
    """Nothing issued: there is no such template."""


class IssueConflict(NotIssued, ConflictError):
    """Nothing issued: the template is paused, over, out of stock, or the customer at the limit."""


@dataclass(frozen=True)
class Occasion:
    """What made a rule fire: the trigger and, for orders, the order."""

    trigger: str  # binding, order
    at: datetime
    order_no: str | None = None
    amount: Decimal | None = None
    first_order: bool = False


def issue(
    *, runtime: Runtime, db_session: Session, template_id: int, customer_id: int, source: str,
    source_ref: str | None, at: datetime,
) -> Coupon:
    """Give the customer one coupon of the template, or :class:`NotIssued` (nothing written)."""
    at = as_utc(at)
    taken = db_session.execute(
        update(_templates)
        .where(_templates.c.id == template_id, _templates.c.status == "active",
               or_(_templates.c.valid_until.is_(None), _templates.c.valid_until > at),
               or_(_templates.c.stock.is_(None), _templates.c.issued_count < _templates.c.stock))
        .values(issued_count=_templates.c.issued_count + 1)
        .returning(_templates.c.per_customer_limit, _templates.c.valid_from, _templates.c.valid_until,
                   _templates.c.valid_days, _templates.c.name)
    ).first()
    if taken is None:
        raise _why_not(db_session, template_id, at)
    if not _hold_one_more(db_session, template_id, customer_id, taken.per_customer_limit):
        db_session.execute(update(_templates).where(_templates.c.id == template_id)
                           .values(issued_count=_templates.c.issued_count - 1))
        raise IssueConflict("limit_reached", f"the customer has had the most coupons of this template "
                                             f"({taken.per_customer_limit}) already")
    valid_from, valid_until = _validity(taken, at)
    guide_id, store_id = _customer_guide(db_session, customer_id)
    coupon = Coupon(template_id=template_id, customer_id=customer_id, status="issued", source=source,
                    source_ref=source_ref, issued_at=at, valid_from=valid_from, valid_until=valid_until,
                    issued_guide_id=guide_id, issued_store_id=store_id, announce_state="pending")
    db_session.add(coupon)
    db_session.flush()
    coupon.code = CouponCodec.from_config(runtime.config).encode(coupon.id)
    db_session.add(Interaction(customer_id=customer_id, kind="coupon_issued", occurred_at=at, payload={
        "coupon_id": coupon.id, "template_id": template_id, "template": taken.name, "source": source,
        "source_ref": source_ref, "valid_until": valid_until.isoformat(),
    }))
    db_session.flush()

    enqueue_after_commit(db_session, announce_coupon, coupon.id)
    return coupon


def list_coupons(*, db_session: Session, customer_id: int, limit: int) -> list[Coupon]:
    """The customer's coupons, newest first."""
    return list(db_session.scalars(select(Coupon).where(Coupon.customer_id == customer_id)
                                   .order_by(Coupon.id.desc()).limit(limit)))


def get_coupon(*, db_session: Session, coupon_id: int) -> Coupon | None:
    return db_session.get(Coupon, coupon_id)


def issue_by_rules(*, runtime: Runtime, db_session: Session, customer_id: int, occasion: Occasion) -> list[Coupon]:
    """Every active rule the occasion meets gives its coupon; a rule that cannot (stock gone,
    the customer at the limit) is noted on the customer's timeline instead."""
    issued = []
    for rule in _rules_for(db_session, occasion):
        try:
            issued.append(issue(runtime=runtime, db_session=db_session, template_id=rule.template_id,
                                customer_id=customer_id, source="rule", source_ref=str(rule.id), at=occasion.at))
        except NotIssued as exc:
            db_session.add(Interaction(customer_id=customer_id, kind="coupon_not_issued", occurred_at=occasion.at,
                                       payload={"rule_id": rule.id, "template_id": rule.template_id,
                                                "reason": exc.reason, "order_no": occasion.order_no}))
    return issued


def _rules_for(db_session: Session, occasion: Occasion) -> list[CouponRule]:
    if occasion.trigger == "binding":
        wanted = CouponRule.trigger == "binding"
    else:
        wanted = or_(
            and_(CouponRule.trigger == "first_order", occasion.first_order),
            and_(CouponRule.trigger == "order_over", CouponRule.min_amount <= (occasion.amount or 0)),
        )
    return list(db_session.scalars(
        select(CouponRule).join(CouponTemplate, CouponTemplate.id == CouponRule.template_id)
        .where(CouponRule.active, CouponTemplate.status == "active", wanted).order_by(CouponRule.template_id,
                                                                                      CouponRule.id)
    ))


def _hold_one_more(db_session: Session, template_id: int, customer_id: int, limit: int | None) -> bool:
    insert = dialect_insert(db_session, _holdings).values(template_id=template_id, customer_id=customer_id, issued=1)
    insert = insert.on_conflict_do_update(
        index_elements=["template_id", "customer_id"],
        set_={"issued": _holdings.c.issued + 1},
        where=(_holdings.c.issued < limit) if limit is not None else None,
    ).returning(_holdings.c.issued)
    return db_session.execute(insert).first() is not None


def _validity(template, at: datetime) -> tuple[datetime, datetime]:  # noqa: ANN001 - a result row
    if template.valid_days is not None:
        return at, at + timedelta(days=template.valid_days)
    return as_utc(template.valid_from), as_utc(template.valid_until)


def _customer_guide(db_session: Session, customer_id: int) -> tuple[int | None, int | None]:
    binding = current_binding(db_session=db_session, customer_id=customer_id)
    if binding is None:
        return None, None
    return binding.guide_id, db_session.scalar(select(Guide.store_id).where(Guide.id == binding.guide_id))


def _why_not(db_session: Session, template_id: int, at: datetime) -> NotIssued:
    template = db_session.get(CouponTemplate, template_id)
    if template is None:
        return TemplateMissing("not_found", f"no coupon template {template_id}")
    if template.status != "active":
        return IssueConflict("paused", f"coupon template {template_id} is paused")
    if template.valid_until is not None and as_utc(template.valid_until) <= at:
        return IssueConflict("ended", f"coupon template {template_id}'s dates are over")
    return IssueConflict("out_of_stock", f"coupon template {template_id} has no stock left "
                                         f"({template.issued_count} of {template.stock} issued)")


def merge_coupons(*, db_session: Session, keep_id: int, drop_id: int) -> None:
    """Two customers found to be one: the coupons, their reminders and the per-customer counts
    go to the survivor (counts added, so the limit still counts both)."""

    db_session.execute(update(Coupon).where(Coupon.customer_id == drop_id).values(customer_id=keep_id))
    db_session.execute(update(CouponReminder).where(CouponReminder.customer_id == drop_id)
                       .values(customer_id=keep_id))
    dropped = db_session.execute(select(CouponHolding.template_id, CouponHolding.issued)
                                 .where(CouponHolding.customer_id == drop_id)).all()
    for template_id, count in dropped:
        insert = dialect_insert(db_session, _holdings).values(template_id=template_id, customer_id=keep_id,
                                                              issued=count)
        db_session.execute(insert.on_conflict_do_update(index_elements=["template_id", "customer_id"],
                                                        set_={"issued": _holdings.c.issued + count}))
    db_session.execute(_holdings.delete().where(_holdings.c.customer_id == drop_id))
