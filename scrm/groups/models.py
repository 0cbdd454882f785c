"""Customer groups (客户群) as WeCom reports them, their members, and joins/quits per day.

A group is read back whole from WeCom (``groupchat/get``) by the hourly sync and after every
``change_external_chat`` callback; its members are kept one row per person and group: a
member who leaves gets ``left_at``, one who comes back has it cleared and a new ``join_time``.
Joins and quits are counted as they are noticed in :class:`GroupDayStats` (per group and
local day, ``brand.timezone``): a join on the day WeCom says the member joined, a quit on
the day we learnt of it (the callback's time, or the sync's).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from scrm.customers.models import BigId
from scrm.db import Base

GROUP_STATUSES = ("normal", "handover", "dismissed")  # handover: WeCom's status 1-3 (owner left)
MEMBER = 1  # a corp member (成员): a guide, a colleague
EXTERNAL = 2  # an external contact: a customer, maybe one of ours


class CustomerGroup(Base):
    __tablename__ = "customer_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    owner_userid: Mapped[str] = mapped_column(String(64), default="")
    owner_guide_id: Mapped[int | None] = mapped_column(ForeignKey("guides.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="normal", server_default="normal")
    member_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    external_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    notice: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # WeCom's create_time
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # last read from WeCom
    dismissed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class GroupMember(Base):
    __tablename__ = "group_members"
    __table_args__ = (UniqueConstraint("group_id", "userid"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("customer_groups.id", ondelete="CASCADE"))
    userid: Mapped[str] = mapped_column(String(64))  # a member's userid or a customer's external_userid
    kind: Mapped[int] = mapped_column(SmallInteger)  # MEMBER or EXTERNAL
    # Linked when the external member is one of our customers (their WeCom identity).
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), index=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    join_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    join_scene: Mapped[int | None] = mapped_column(SmallInteger)  # 1 invited, 2 by link, 3 by QR code
    left_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class GroupDayStats(Base):
    """Joins and quits of one group on one local day."""

    __tablename__ = "group_day_stats"

    group_id: Mapped[int] = mapped_column(ForeignKey("customer_groups.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    joined: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    quit: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


CHURN_KINDS = ("deleted_guide", "quit_group")


class ChurnAlert(Base):
    """A customer the guide is losing (流失提醒 = churn alert): they deleted the guide on WeCom
    (``deleted_guide``, from ``del_follow_user``) or quit a group the guide owns (``quit_group``).
    One per guide, customer, kind, group and local day, however often WeCom repeats itself;
    ``chat_id`` is ``""`` for a deletion (a NULL would not collide in the unique key)."""

    __tablename__ = "churn_alerts"
    __table_args__ = (UniqueConstraint("guide_id", "customer_id", "kind", "chat_id", "day"),
                      Index("ix_churn_alerts_guide_id_seen_at", "guide_id", "seen_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    guide_id: Mapped[int] = mapped_column(ForeignKey("guides.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # CHURN_KINDS
    chat_id: Mapped[str] = mapped_column(String(64), default="", server_default="")
    group_name: Mapped[str] = mapped_column(String(128), default="", server_default="")
    day: Mapped[date] = mapped_column(Date)  # occurred_at's local day (brand.timezone)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # the guide tapped 知道了
    notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # the WeCom app message went
