"""Membership (会员体系, SPEC §13): levels, members, the points ledger (积分) and its lots,
growth (成长值), check-ins, the points mall and SMS verification codes.

**The ledger is append-only.** A :class:`PointEntry` is never updated in place, except a
lot's ``remaining``: an earning entry (amount > 0) is a *lot* that can be spent from
``available_at`` (orders' points are frozen for the return window) until ``expires_at``;
spending takes the oldest available lots first (FIFO) and records which lots it took
(:class:`PointAllocation`), so that a refund can give back what an order spent, and expiry
takes exactly what is left of an expired lot. ``Member.points_balance`` is the sum of the
member's entries (``scrm members audit`` checks it) and each entry carries the balance after
it. Every entry has a unique ``idempotency_key``: the same request retried writes nothing.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Index, Integer, Numeric, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from scrm.customers.models import BigId
from scrm.db import Base

# Ledger entry kinds: what moved the points.
EARN_KINDS = ("order", "checkin", "grant", "refund_return", "product")  # amount > 0: lots
SPEND_KINDS = ("exchange", "order_spend", "refund_reverse", "expire", "deduct")  # amount < 0
ENTRY_KINDS = EARN_KINDS + SPEND_KINDS
ITEM_STATUSES = ("active", "paused")


class MemberLevel(Base):
    """A level (会员等级): reached at ``threshold`` growth; ``rank`` orders levels (0 lowest)."""

    __tablename__ = "member_levels"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(16), unique=True)
    rank: Mapped[int] = mapped_column(Integer, unique=True)
    threshold: Mapped[int] = mapped_column(Integer)
    discount: Mapped[Decimal] = mapped_column(Numeric(3, 2), default=Decimal("1.00"), server_default="1.00")
    points_multiplier: Mapped[Decimal] = mapped_column(Numeric(4, 2), default=Decimal("1.00"), server_default="1.00")
    benefits: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Coupons the level gives: once on reaching it, and each year before the birthday.
    level_up_template_id: Mapped[int | None] = mapped_column(ForeignKey("coupon_templates.id", ondelete="SET NULL"))
    birthday_template_id: Mapped[int | None] = mapped_column(ForeignKey("coupon_templates.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Member(Base):
    """A customer who joined with a verified phone. The row is the lock every change of the
    member's points and growth takes first, so concurrent changes queue on it."""

    __tablename__ = "members"
    __table_args__ = (Index("ix_members_level_id", "level_id"), Index("ix_members_joined_at", "joined_at"))

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    member_no: Mapped[str] = mapped_column(String(16), unique=True)
    phone: Mapped[str] = mapped_column(String(32), unique=True)
    birthday: Mapped[date | None] = mapped_column(Date)
    level_id: Mapped[int] = mapped_column(ForeignKey("member_levels.id"))
    # All growth ever earned (never spent; refunds take back what an order gave).
    growth: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The sum of the member's ledger entries: available + frozen (expired lots are taken out).
    points_balance: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    checkin_streak: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_checkin_day: Mapped[date | None] = mapped_column(Date)
    # Where the member joined: the page, a product code, a guide's invitation…
    joined_via: Mapped[str | None] = mapped_column(String(32))
    joined_guide_id: Mapped[int | None] = mapped_column(ForeignKey("guides.id", ondelete="SET NULL"))
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    level_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PointEntry(Base):
    """One change of a member's points. Only ``remaining`` (of a lot) ever changes."""

    __tablename__ = "point_entries"
    __table_args__ = (
        Index("ix_point_entries_customer_id_id", "customer_id", "id"),
        # The lots still holding points, in FIFO order: what spending and balances read.
        Index("ix_point_entries_open_lots", "customer_id", "expires_at", "id",
              postgresql_where=text("remaining > 0"), sqlite_where=text("remaining > 0")),
        # What the nightly expiry and the reminders look for.
        Index("ix_point_entries_expiring", "expires_at",
              postgresql_where=text("remaining > 0"), sqlite_where=text("remaining > 0")),
        Index("ix_point_entries_source", "source", "source_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("members.customer_id", ondelete="CASCADE"))
    amount: Mapped[int] = mapped_column(Integer)  # > 0 earned (a lot), < 0 spent
    kind: Mapped[str] = mapped_column(String(16))
    # What it came from: "order" + order_no, "exchange" + exchange id, "checkin" + day, "grant" + key…
    source: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    balance_after: Mapped[int] = mapped_column(Integer)
    # Lots only: when the points can be spent, when they expire, what is left of them.
    available_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    remaining: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reason: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PointAllocation(Base):
    """How much of which lot a spending entry (or expiry) took."""

    __tablename__ = "point_allocations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("point_entries.id", ondelete="CASCADE"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("point_entries.id", ondelete="CASCADE"), index=True)
    amount: Mapped[int] = mapped_column(Integer)


class GrowthEntry(Base):
    """One change of a member's growth value (成长值): orders, check-ins, refunds, tasks."""

    __tablename__ = "growth_entries"
    __table_args__ = (Index("ix_growth_entries_customer_id_created_at", "customer_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("members.customer_id", ondelete="CASCADE"))
    amount: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Checkin(Base):
    """A member's check-in (签到), one per local day."""

    __tablename__ = "member_checkins"
    __table_args__ = (UniqueConstraint("customer_id", "day"), Index("ix_member_checkins_day", "day"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("members.customer_id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    streak: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MallItem(Base):
    """An item of the points mall (积分商城): a coupon template for ``points``."""

    __tablename__ = "mall_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(String(500))
    template_id: Mapped[int] = mapped_column(ForeignKey("coupon_templates.id"))
    points: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int | None] = mapped_column(Integer)  # None: no limit
    exchanged_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    per_member_limit: Mapped[int | None] = mapped_column(Integer)  # None: no limit
    # Reserved to members of this level or higher (a level benefit); None: every member.
    min_level_id: Mapped[int | None] = mapped_column(ForeignKey("member_levels.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(8), default="active", server_default="active")
    sort: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MallExchange(Base):
    """One exchange of points for an item: the ledger entry and the coupon it gave."""

    __tablename__ = "mall_exchanges"
    __table_args__ = (Index("ix_mall_exchanges_item_id_customer_id", "item_id", "customer_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("mall_items.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("members.customer_id", ondelete="CASCADE"))
    points: Mapped[int] = mapped_column(Integer)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("point_entries.id"))
    coupon_id: Mapped[int | None] = mapped_column(ForeignKey("coupons.id"))
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SmsCode(Base):
    """A verification code sent to a phone (only its hash is kept)."""

    __tablename__ = "sms_codes"
    __table_args__ = (Index("ix_sms_codes_phone_created_at", "phone", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    phone: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(16))  # join
    code_hash: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
