"""Stores, shopping guides (导购) and the binding of customers to guides (SPEC §6).

A binding is one row per (customer, guide, period): the row with ``ended_at`` null is the
customer's current guide, and a partial unique index makes sure there is at most one. Ended
rows are the history (taken by another guide, transferred when a guide left, merged).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scrm.customers.models import BigId
from scrm.db import Base

GUIDE_STATUSES = ("active", "left")
END_REASONS = ("taken", "transferred", "merged")


class Store(Base):
    __tablename__ = "stores"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    guides: Mapped[list[Guide]] = relationship(back_populates="store", order_by="Guide.id")


class Guide(Base):
    """A shopping guide: a WeCom member (``wecom_userid``) working in one store."""

    __tablename__ = "guides"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), index=True)
    wecom_userid: Mapped[str] = mapped_column(String(64), unique=True)
    photo_url: Mapped[str | None] = mapped_column(String(500))
    # The guide's own welcome text; None: binding.welcome_text.
    welcome_text: Mapped[str | None] = mapped_column(Text)
    # Store-code routing: duty hours by weekday ({"mon": ["10-14", "18-22"], …}; empty: always
    # on duty), the most customers a store code gives the guide in a day, backups.
    schedule: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    daily_cap: Mapped[int | None] = mapped_column(Integer)
    backup: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    status: Mapped[str] = mapped_column(String(8), default="active", server_default="active")
    left_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    store: Mapped[Store] = relationship(back_populates="guides")

    @property
    def active(self) -> bool:
        return self.status == "active"


class Binding(Base):
    """A customer bound to a guide, and how: the code scanned (None: a transfer)."""

    __tablename__ = "guide_bindings"
    __table_args__ = (
        Index(
            "uq_guide_bindings_current",
            "customer_id",
            unique=True,
            postgresql_where=text("ended_at IS NULL"),
            sqlite_where=text("ended_at IS NULL"),
        ),
        Index("ix_guide_bindings_guide_current", "guide_id", "ended_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    guide_id: Mapped[int] = mapped_column(ForeignKey("guides.id"))
    code_id: Mapped[int | None] = mapped_column(ForeignKey("channel_codes.id", ondelete="SET NULL"))
    channel: Mapped[str | None] = mapped_column(String(8))
    bound_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # None: never protected (binding.protect_days = 0).
    protected_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_reason: Mapped[str | None] = mapped_column(String(16))


class GuideTransfer(Base):
    """One WeCom customer handed from a leaving guide to another (在职继承): WeCom answers per
    customer, and some answers mean "later"."""

    __tablename__ = "guide_transfers"
    __table_args__ = (Index("ix_guide_transfers_due", "status", "next_try_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    external_userid: Mapped[str] = mapped_column(String(64))
    from_guide_id: Mapped[int] = mapped_column(ForeignKey("guides.id"), index=True)
    to_guide_id: Mapped[int] = mapped_column(ForeignKey("guides.id"))
    # pending → done | failed (WeCom refused for good) | waiting (try again at next_try_at)
    status: Mapped[str] = mapped_column(String(8), default="pending", server_default="pending")
    errcode: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_try_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UsedLoginLink(Base):
    """A guide's sign-in link once used (SPEC §12): kept in the database, so that a restart or a
    Redis flush does not make it work again. Its nonce is unique; rows older than the links'
    lifetime mean nothing any more."""

    __tablename__ = "used_login_links"

    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    guide_code: Mapped[str] = mapped_column(String(32))
    used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
