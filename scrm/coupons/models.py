"""Coupons (优惠券, SPEC §7): templates, the coupons issued from them, issuing rules, the
audit log of every redemption attempt, and the reminders recorded for outreach.

A coupon moves ``issued`` → ``redeemed`` (核销) | ``voided`` | ``expired``; a manager may take
a redemption back (``redeemed`` → ``issued``). Each move is one conditional UPDATE, so the
database, not Python, decides which of two racing requests wins.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scrm.customers.models import BigId
from scrm.db import Base

KINDS = ("cash", "discount", "gift")  # 减, 折, 赠品
STATUSES = ("issued", "redeemed", "voided", "expired")
SOURCES = ("rule", "campaign", "manual", "exchange", "member")  # exchange: the points mall (scrm/members/mall.py); member: level benefits (scrm/members/gifts.py)
TRIGGERS = ("binding", "first_order", "order_over")
TEMPLATE_STATUSES = ("active", "paused")


class CouponTemplate(Base):
    __tablename__ = "coupon_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))  # cash: yuan off
    discount: Mapped[Decimal | None] = mapped_column(Numeric(3, 1))  # discount: 折, 8.5 = pay 85 %
    gift: Mapped[str | None] = mapped_column(String(64))  # gift: what is given
    min_spend: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))  # 满 N 可用
    description: Mapped[str | None] = mapped_column(Text)
    # Validity: fixed dates (valid_from, valid_until) or valid_days from the moment of issue.
    valid_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    valid_days: Mapped[int | None] = mapped_column(Integer)
    stock: Mapped[int | None] = mapped_column(Integer)  # None: no limit
    issued_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    per_customer_limit: Mapped[int | None] = mapped_column(Integer)  # None: no limit
    remind_days_before: Mapped[int | None] = mapped_column(Integer)  # None: coupons.remind_days_before
    status: Mapped[str] = mapped_column(String(8), default="active", server_default="active")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    stores: Mapped[list[CouponTemplateStore]] = relationship(cascade="all, delete-orphan")


class CouponTemplateStore(Base):
    """A store where a template's coupons may be redeemed; a template with none: every store."""

    __tablename__ = "coupon_template_stores"

    template_id: Mapped[int] = mapped_column(ForeignKey("coupon_templates.id", ondelete="CASCADE"),
                                             primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), primary_key=True)


class Coupon(Base):
    __tablename__ = "coupons"
    __table_args__ = (
        Index("ix_coupons_due", "status", "valid_until"),
        Index("ix_coupons_customer", "customer_id", "status"),
        Index("ix_coupons_template_issued", "template_id", "issued_at"),
        Index("ix_coupons_redeemed_at", "redeemed_at"),
        Index("ix_coupons_announce", "announce_state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str | None] = mapped_column(String(20), unique=True)  # set right after the insert
    template_id: Mapped[int] = mapped_column(ForeignKey("coupon_templates.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10), default="issued", server_default="issued")
    source: Mapped[str] = mapped_column(String(10))
    source_ref: Mapped[str | None] = mapped_column(String(64))  # rule id, campaign id, the issuing user
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The customer's guide when it was issued (statistics by guide and store).
    issued_guide_id: Mapped[int | None] = mapped_column(ForeignKey("guides.id"))
    issued_store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    redeemed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    redeemed_guide_id: Mapped[int | None] = mapped_column(ForeignKey("guides.id"))
    redeemed_store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    redeemed_user_id: Mapped[int | None] = mapped_column(Integer)
    voided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    void_reason: Mapped[str | None] = mapped_column(String(200))
    expired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Telling the customer: pending → sent | waiting (outside the 48 h window: sent at the
    # customer's next message) | none (no Official Account identity to tell).
    announce_state: Mapped[str | None] = mapped_column(String(8))
    announced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    template: Mapped[CouponTemplate] = relationship(lazy="joined")


class CouponHolding(Base):
    """How many coupons of a template a customer has been given: the per-customer limit,
    counted in one upsert so two issuers racing for the same customer cannot both pass."""

    __tablename__ = "coupon_holdings"

    template_id: Mapped[int] = mapped_column(ForeignKey("coupon_templates.id", ondelete="CASCADE"),
                                             primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    issued: Mapped[int] = mapped_column(Integer, default=0)


class CouponRule(Base):
    """Issue a template when something happens: a new binding, a first order, an order of at
    least ``min_amount`` (the 英氏 "buy one, get a gift")."""

    __tablename__ = "coupon_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("coupon_templates.id", ondelete="CASCADE"), index=True)
    trigger: Mapped[str] = mapped_column(String(16))
    min_amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CouponAttempt(Base):
    """The audit log: every redemption attempt, success or not, and every void and un-redeem."""

    __tablename__ = "coupon_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    action: Mapped[str] = mapped_column(String(10))  # redeem, void, unredeem
    result: Mapped[str] = mapped_column(String(24))  # ok, or the refusal's code
    code: Mapped[str] = mapped_column(String(40))  # as given (normalised, cut to 40)
    coupon_id: Mapped[int | None] = mapped_column(ForeignKey("coupons.id", ondelete="SET NULL"), index=True)
    user_id: Mapped[int | None] = mapped_column(Integer)
    guide_id: Mapped[int | None] = mapped_column(ForeignKey("guides.id"))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    reason: Mapped[str | None] = mapped_column(String(200))  # a void's or un-redeem's reason
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CouponReminder(Base):
    """A coupon about to expire whose customer should be reminded; outreach sends it."""

    __tablename__ = "coupon_reminders"
    __table_args__ = (Index("ix_coupon_reminders_due", "state", "due_at"),)

    coupon_id: Mapped[int] = mapped_column(ForeignKey("coupons.id", ondelete="CASCADE"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(10), default="pending")  # pending, sent, dropped
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def stock_left(stock: int | None, issued: int | None) -> int | None:
    """The coupons a template can still issue: its stock less those issued; None: no limit."""
    return None if stock is None else max(0, stock - (issued or 0))
