"""Customers, their channel identities and the append-only interaction timeline."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON, BigInteger, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint, event, func,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from scrm.db import Base

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")

CHANNELS = ("mp", "work")


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    nickname: Mapped[str | None] = mapped_column(String(128))
    unionid: Mapped[str | None] = mapped_column(String(64), unique=True)
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    birthday: Mapped[date | None] = mapped_column(Date)  # for birthday journeys (scrm/outreach/triggers.py)
    # Set when this customer turned out to be another one (same unionid): the survivor.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    identities: Mapped[list[CustomerIdentity]] = relationship(back_populates="customer")


class CustomerIdentity(Base):
    """One way to reach a customer: an MP openid or a WeCom external_userid."""

    __tablename__ = "customer_identities"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(8))
    external_id: Mapped[str] = mapped_column(String(64))
    following: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    followed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    unfollowed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    customer: Mapped[Customer] = relationship(back_populates="identities")


# The timeline entries that are the customer's own doing (handlers/events.py kinds, WeCom adds,
# orders, redemptions, link opens, custom events), not our tags, coupons or messages: what the
# inactive trigger (scrm/outreach/daily_triggers.py) and ``interacted:30d`` (tagging/audience.py) read.
ACTIVITY_KINDS = ("text", "media", "location", "link", "unknown_message", "follow", "scan", "click", "view",
                  "add_external_contact", "add_half_external_contact", "purchase", "redemption", "link_open",
                  "custom_event")


class Interaction(Base):
    """One entry of a customer's timeline. Append-only: only ``customer_id`` may change,
    when two customers are merged."""

    __tablename__ = "interactions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("customer_identities.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str | None] = mapped_column(String(8))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # WeChat's retry of a callback carries the same key; the unique index makes it land once.
    dedupe_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    # The funnel's scans (scrm/dashboard/funnel.py) are a few kinds in a period: at scale the
    # kind narrows the rows before the date range does (migration 0017).
    __table_args__ = (Index("ix_interactions_kind_occurred_at", "kind", "occurred_at"),)


class TimelineIsAppendOnly(Exception):
    """An interaction was edited or deleted."""


_MOVABLE = {"customer_id"}


@event.listens_for(Session, "before_flush")
def _keep_timeline_append_only(session: Session, _context, _instances) -> None:  # noqa: ANN001
    from sqlalchemy import inspect

    for obj in session.deleted:
        if isinstance(obj, Interaction):
            raise TimelineIsAppendOnly(f"interaction {obj.id} cannot be deleted")
    for obj in session.dirty:
        if not isinstance(obj, Interaction):
            continue
        changed = {attr.key for attr in inspect(obj).attrs if attr.history.has_changes()}
        if changed - _MOVABLE:
            raise TimelineIsAppendOnly(f"interaction {obj.id} cannot change {sorted(changed - _MOVABLE)}")
