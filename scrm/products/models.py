"""Product codes (一物一码, SPEC §14): batches of signed codes, and what happened to them.

**Nothing is stored per code until it is claimed.** A batch of 10,000,000 codes is one
:class:`CodeBatch` row: each code is the batch's ``prefix``, its serial enciphered and a MAC
(scrm/products/codes.py), checked without reading any table. A :class:`ProductClaim` row is
written when a customer claims a code; its unique ``(batch_id, serial)`` makes the claim
exactly-once whatever the concurrency. A :class:`ProductScan` row records a scan that gave no
reward (a repeat, a refusal and its reason) for the statistics and the suspicious patterns.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from scrm.customers.models import BigId
from scrm.db import Base

MAX_QUANTITY = 100_000_000  # codes in one batch; the enciphered serial has room for 2^40
# Why a scan gave no reward (ProductScan.result).
SCAN_RESULTS = (
    "already_yours",     # the customer's own code again
    "claimed_by_other",  # claimed by someone else: the package may be used or counterfeit
    "not_genuine",       # the MAC does not check, or an unknown batch or serial
    "expired",           # the batch's valid_until is past
    "daily_limit",       # the customer claimed products.daily_claims today
    "not_following",     # shown the follow QR: the claim waits for the follow
    "reward_unavailable",  # the coupon template cannot issue (paused, out of stock, limit)
)
CLAIM_VIAS = ("page", "follow")  # claimed on /p/<code>, or completed by following the account
# How the guide of a claim was found: the customer's bound guide, a guide of the batch's
# store given by its routing (a new binding), or none.
ATTRIBUTIONS = ("bound", "routed", "none")


class CodeBatch(Base):
    """A batch (批次) of ``quantity`` codes for one product, serials 1…quantity, and the reward
    each gives once: ``reward_points`` or a coupon of ``reward_template_id``."""

    __tablename__ = "code_batches"
    __table_args__ = (
        CheckConstraint("(reward_points IS NULL) <> (reward_template_id IS NULL)", name="one_reward"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The batch part of every code: random, so codes reveal nothing about how many batches exist.
    prefix: Mapped[str] = mapped_column(String(5), unique=True)
    product: Mapped[str] = mapped_column(String(64))
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    reward_points: Mapped[int | None] = mapped_column(Integer)
    reward_template_id: Mapped[int | None] = mapped_column(ForeignKey("coupon_templates.id", ondelete="RESTRICT"))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id", ondelete="SET NULL"))
    # The last local day (brand.timezone) its codes can be claimed; None: no end.
    valid_until: Mapped[date | None] = mapped_column(Date)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ProductClaim(Base):
    """A code claimed: who, when, the reward given, and who is credited."""

    __tablename__ = "product_claims"
    __table_args__ = (
        UniqueConstraint("batch_id", "serial"),
        Index("ix_product_claims_customer_id_day", "customer_id", "day"),
        Index("ix_product_claims_day", "day"),
        Index("ix_product_claims_guide_id_day", "guide_id", "day"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("code_batches.id", ondelete="CASCADE"))
    serial: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    day: Mapped[date] = mapped_column(Date)  # local day of claimed_at: the daily limit, the statistics
    via: Mapped[str] = mapped_column(String(8))  # CLAIM_VIAS
    new_follower: Mapped[bool] = mapped_column(Boolean, default=False)  # followed the account to claim
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id", ondelete="SET NULL"))
    guide_id: Mapped[int | None] = mapped_column(ForeignKey("guides.id", ondelete="SET NULL"))
    attribution: Mapped[str] = mapped_column(String(8))  # ATTRIBUTIONS
    points: Mapped[int | None] = mapped_column(Integer)
    # A points reward for a customer who is not a member yet waits here until they join.
    points_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    coupon_id: Mapped[int | None] = mapped_column(ForeignKey("coupons.id", ondelete="SET NULL"))


class ProductScan(Base):
    """A scan that gave no reward, and why (``result``: SCAN_RESULTS). A code that is not
    genuine has no batch or serial; a scan before the customer is known has no customer."""

    __tablename__ = "product_scans"
    __table_args__ = (
        Index("ix_product_scans_day_result", "day", "result"),
        Index("ix_product_scans_batch_id_serial", "batch_id", "serial"),
        Index("ix_product_scans_customer_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    day: Mapped[date] = mapped_column(Date)
    result: Mapped[str] = mapped_column(String(24))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("code_batches.id", ondelete="CASCADE"))
    serial: Mapped[int | None] = mapped_column(Integer)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
