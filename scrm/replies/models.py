"""The reply rule table. One row is a keyword rule, the follow greeting or the default reply."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, DateTime, Index, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from scrm.db import Base

# At most one enabled follow greeting and one enabled default reply. The service refuses a
# second one with a clear error; this index settles the race of two concurrent writers.
_ONE_ENABLED_SINGLETON = {
    "postgresql_where": text("enabled AND \"match\" IN ('follow', 'default')"),
    "sqlite_where": text("enabled = 1 AND \"match\" IN ('follow', 'default')"),
}


class ReplyRule(Base):
    __tablename__ = "reply_rules"
    __table_args__ = (
        CheckConstraint("\"match\" IN ('exact', 'contains', 'follow', 'default')", name="match_known"),
        CheckConstraint("reply_kind IN ('text', 'news')", name="reply_kind_known"),
        Index("ix_reply_rules_match", "match", unique=True, **_ONE_ENABLED_SINGLETON),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    match: Mapped[str] = mapped_column(String(16))
    keyword: Mapped[str | None] = mapped_column(String(64))
    reply_kind: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text, default="")
    # [{title, description, url, picurl}]; the url is the article's own link, not a tracked one.
    articles: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


MENU_STATUSES = ("saved", "publishing", "published", "failed", "superseded")


class MPMenu(Base):
    """One saved version of the Official Account's custom menu (自定义菜单); the newest row is
    the menu. ``buttons`` is WeChat's own ``button`` list, as ``menu/create`` takes it.
    ``status`` follows publishing: saved → publishing → published | failed (``error`` holds
    WeChat's errcode and errmsg); an older version whose publishing was overtaken is superseded."""

    __tablename__ = "mp_menus"
    __table_args__ = (
        CheckConstraint("status IN ('saved', 'publishing', 'published', 'failed', 'superseded')",
                        name="status_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    buttons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="saved", server_default="saved")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
