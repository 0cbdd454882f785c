"""The callback ledger: one row per callback accepted, keyed by its dedupe key.

It is what makes WeChat's retries harmless: a retry finds the row, changes nothing, and
answers with the reply stored on it. Callbacks that concern no customer (group and tag
changes, send reports, unknown types) are recorded here too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column

from scrm.customers.models import BigId
from scrm.db import Base


class CallbackRecord(Base):
    __tablename__ = "callbacks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(8))
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The passive reply given (None: "success"), so every retry gets the same one.
    reply: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
