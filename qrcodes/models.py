"""Channel codes (渠道码) and their statistics (SPEC §6).

One row per code and channel: a guide has an MP code (``QR_LIMIT_STR_SCENE``) and a WeCom
contact way (联系我), both carrying the same scene. Rows are created ``pending`` and a job
asks WeChat for the code (``ready``); a code whose owner left is ``retired`` but still
recognised, so a scan of a printed poster still lands somewhere (the store code).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    Numeric,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from scrm.db import Base

CODE_KINDS = ("guide", "store", "campaign", "group")
CODE_STATUSES = ("pending", "ready", "failed", "retired")


class ChannelCode(Base):
    __tablename__ = "channel_codes"
    __table_args__ = (UniqueConstraint("scene", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(8))
    scene: Mapped[str] = mapped_column(String(64))
    guide_id: Mapped[int | None] = mapped_column(ForeignKey("guides.id"), index=True)
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"), index=True)
    status: Mapped[str] = mapped_column(String(8), default="pending", server_default="pending")
    # MP: the ticket and the URL the code encodes. WeCom: the contact way and its image.
    ticket: Mapped[str | None] = mapped_column(String(200))
    content: Mapped[str | None] = mapped_column(String(500))
    config_id: Mapped[str | None] = mapped_column(String(64))
    image_url: Mapped[str | None] = mapped_column(String(500))
    image: Mapped[bytes | None] = mapped_column(LargeBinary)
    error: Mapped[str | None] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    ready_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CodeDayStats(Base):
    """Per code and local day: scans, new follows, bindings, and what the customers it
    brought did later (orders, redemptions) credited to the code's guide."""

    __tablename__ = "code_day_stats"

    code_id: Mapped[int] = mapped_column(ForeignKey("channel_codes.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    scans: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    follows: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    bindings: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    orders: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    order_amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=0, server_default="0")
    redemptions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
