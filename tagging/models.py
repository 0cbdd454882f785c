"""Tag groups, tags, customers' scored tags, tag rules, and orders (SPEC §5).

A customer's tag has a score that decays with its group's half-life. Rather than sweeping
decayed scores, each row stores ``active_until``: the moment its decayed score falls below
the group's threshold (computed when the score changes). "Carries the tag" is then one
comparison in SQL, ``active_until > now``, which audience expressions compile to. Manual
tags (a manager's), computed tags (RFM, lifecycle) and scores in a group without decay hold
until changed: their ``active_until`` is :data:`tagging.scores.HELD` (far in the future), and
``manual``/``computed`` says why.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from scrm.customers.models import BigId
from scrm.db import Base

RULE_KINDS = ("keyword", "click", "view", "scene", "event")
TAG_SOURCES = ("rule", "manual", "computed")


class TagGroup(Base):
    """A dimension (兴趣, 消费能力, 行为, 渠道, 生命周期, RFM…)."""

    __tablename__ = "tag_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(30), unique=True)
    # Days for a rule score to halve; None: scores never decay.
    half_life_days: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float, default=1.0, server_default="1")
    # Computed groups (RFM, lifecycle) are written by the recompute job only: one tag each.
    computed: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("group_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("tag_groups.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(30))
    # WeChat's ids once mirrored: the MP user tag and the WeCom corp tag (scrm/mirror/jobs.py).
    mp_tag_id: Mapped[int | None] = mapped_column()
    work_tag_id: Mapped[str | None] = mapped_column(String(64))
    # Why WeChat refused to make the MP tag (the account's 100 tags are used), and when: shown
    # with the tag, tried again a day later rather than by every sync.
    mp_error: Mapped[str | None] = mapped_column(String(200))
    mp_failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CustomerTag(Base):
    __tablename__ = "customer_tags"
    __table_args__ = (
        Index("ix_customer_tags_tag_id_active_until", "tag_id", "active_until"),
        # The recompute's search for computed rows that changed, by customer range: without it
        # every row of the range is read (several interest rows per customer).
        Index("ix_customer_tags_computed", "customer_id", postgresql_where=text("computed"),
              sqlite_where=text("computed")),
    )

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    score: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    scored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # When the decayed score drops below the threshold (past: not carried; HELD: held).
    active_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    manual: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    computed: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class WeComPairTags(Base):
    """The corp tags one member–customer pair carried in WeCom when the mirror last read or
    wrote them: what tells a member's own edit in WeCom (to take back) from ours."""

    __tablename__ = "wecom_pair_tags"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    userid: Mapped[str] = mapped_column(String(64), primary_key=True)
    tag_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TagRule(Base):
    """Turns an interaction into score for a tag: a keyword said, a menu key clicked, a URL
    viewed, a QR scene scanned, or an event (follow, unfollow, purchase…)."""

    __tablename__ = "tag_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    pattern: Mapped[str] = mapped_column(String(255))
    # keyword rules: other words that count as the keyword (奶粉 ← 配方奶, 牛奶粉)
    synonyms: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # keyword rules: False (default) = whole words only; True = also inside longer words
    substring: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), index=True)
    weight: Mapped[float] = mapped_column(Float, default=1.0, server_default="1")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Order(Base):
    """A purchase, posted by the brand's systems (``POST /api/orders``, idempotent on order_no)."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_no: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    ordered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    store_code: Mapped[str | None] = mapped_column(String(32))
    guide_code: Mapped[str | None] = mapped_column(String(32))
    # The guide the order is credited to: the one it names, else the customer's bound guide.
    credited_guide_id: Mapped[int | None] = mapped_column(ForeignKey("guides.id"), index=True)
    # Points the customer paid with (a member's, SPEC §13), and what was refunded since.
    points_used: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    refunded_amount: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"), server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class OrderRefund(Base):
    """A refund of (part of) an order (``POST /api/orders/<order_no>/refund``), idempotent on
    ``refund_no`` within the order."""

    __tablename__ = "order_refunds"
    __table_args__ = (UniqueConstraint("order_id", "refund_no"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    refund_no: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    refunded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Segment(Base):
    """A saved, named audience (人群, SPEC §11): a tag expression, usable in another as
    ``segment:名字``. Only the text is stored: it is resolved when used, so changing a segment
    changes every audience and campaign that names it (tagging/segments/service.py)."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    expr: Mapped[str] = mapped_column(String(2000))
    created_by: Mapped[str] = mapped_column(String(64))
    updated_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# Names are one case-insensitively (奶粉VIP and 奶粉vip would be one segment:名字): the service
# says so first (tagging/segments/service.py); this index holds against two writers at once.
Index("uq_segments_lower_name", func.lower(Segment.name), unique=True)
