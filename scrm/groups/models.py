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
from typing import Any

from sqlalchemy import (
    Boolean,
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
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
    state: Mapped[str | None] = mapped_column(String(30))  # the join way's state they came by (群活码)
    left_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class GroupDayStats(Base):
    """Joins and quits of one group on one local day."""

    __tablename__ = "group_day_stats"

    group_id: Mapped[int] = mapped_column(ForeignKey("customer_groups.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    joined: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    quit: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


# ---- group live codes (群活码) ------------------------------------------------------------

CODE_STATUSES = ("active", "retired")
REMOVED_REASONS = ("full", "dismissed", "manual")  # why a group was taken off a code
WAY_SOURCES = ("code", "guide", "campaign")  # who hands the code out (its join way's state)
DEFAULT_MEMBER_LIMIT, MAX_MEMBER_LIMIT = 200, 500  # 500: WeCom's most members in a group
MAX_CODE_CHATS = 5  # WeCom's most chats on one join way


class GroupCode(Base):
    """A group live code (群活码): one printed code, WeCom join ways (``add_join_way``) that send
    whoever scans to a group of the code with room. ``version`` counts changes of its group
    list (a rotation, a manager's edit); ``pushed_version`` is the last version every way of
    the code was told (``update_join_way``), so each version is pushed once."""

    __tablename__ = "group_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    member_limit: Mapped[int] = mapped_column(Integer, default=DEFAULT_MEMBER_LIMIT,
                                              server_default=str(DEFAULT_MEMBER_LIMIT))
    auto_create: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    room_base_name: Mapped[str] = mapped_column(String(40), default="", server_default="")
    room_base_id: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # WeCom's next number
    # The group welcome (入群欢迎语) template; no foreign key: that table is another part's.
    welcome_template_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="active", server_default="active")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    pushed_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class GroupCodeChat(Base):
    """A group on a code, in order: the rows with no ``removed_at`` are the code's groups now;
    the others say when and why a group was taken off (a group added again gets a new row)."""

    __tablename__ = "group_code_chats"
    __table_args__ = (Index("ix_group_code_chats_code_id_removed_at", "code_id", "removed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code_id: Mapped[int] = mapped_column(ForeignKey("group_codes.id", ondelete="CASCADE"))
    group_id: Mapped[int] = mapped_column(ForeignKey("customer_groups.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    removed_reason: Mapped[str | None] = mapped_column(String(10))  # REMOVED_REASONS
    # The welcome template (入群欢迎语) the group's owner was asked to apply for this code, and
    # when (scrm/groups/code_welcome.py): asked once per group on the code and template.
    welcome_asked_template_id: Mapped[int | None] = mapped_column(Integer)
    welcome_asked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class GroupCodeWay(Base):
    """One WeCom join way of a code, each with its own ``state`` (≤ 30 chars) so a join says who
    brought it: ``gc{code}`` the code itself, ``gc{code}g{guide}`` a guide handing it out,
    ``gc{code}c{campaign}`` a campaign. ``config_id`` is WeCom's; ``deleted_at`` once
    ``del_join_way`` removed it (the code retired)."""

    __tablename__ = "group_code_ways"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_id: Mapped[int] = mapped_column(ForeignKey("group_codes.id", ondelete="CASCADE"), index=True)
    config_id: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(30), unique=True)
    source: Mapped[str] = mapped_column(String(10))  # WAY_SOURCES
    source_id: Mapped[int | None] = mapped_column(Integer)  # the guide's or the campaign's id
    qr_code: Mapped[str] = mapped_column(String(512), default="", server_default="")
    pushed_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class GroupCodeDayStats(Base):
    """Joins through one way of a code into one group on one local day (``brand.timezone``):
    counted when a member whose ``state`` is the way's joins (scrm/groups/sync.py)."""

    __tablename__ = "group_code_day_stats"
    __table_args__ = (Index("ix_group_code_day_stats_code_id_day", "code_id", "day"),)

    way_id: Mapped[int] = mapped_column(ForeignKey("group_code_ways.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("customer_groups.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    code_id: Mapped[int] = mapped_column(ForeignKey("group_codes.id", ondelete="CASCADE"))
    joined: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
class GroupWelcomeTemplate(Base):
    """A group welcome template (入群欢迎语): ``template_id`` is WeCom's, ``name`` ours (for the
    console). A deleted one keeps its row with ``deleted_at`` (WeCom no longer has it)."""

    __tablename__ = "group_welcome_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text, default="")  # may hold %NICKNAME%
    image_media_id: Mapped[str | None] = mapped_column(String(255))  # an API caller's WeCom media_id
    image_pic_url: Mapped[str | None] = mapped_column(String(1024))  # WeCom's media/uploadimg URL
    link_title: Mapped[str | None] = mapped_column(String(128))
    link_url: Mapped[str | None] = mapped_column(String(1024))
    link_desc: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
# ---- Group SOP (群SOP, scrm/groups/sop.py) ---------------------------------------------------

SOP_STATUSES = ("active", "paused", "archived")
SOP_TASK_STATUSES = ("pending", "sent", "missed")


class GroupSop(Base):
    """A plan of steps applied to the groups its selector picks: ``owner`` (guide codes,
    comma-separated), ``store`` (a store code: its guides' groups), ``name`` (a pattern, ``*``
    any characters)."""

    __tablename__ = "group_sops"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), default="active", server_default="active")
    selector_kind: Mapped[str] = mapped_column(String(8))
    selector_value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class GroupSopStep(Base):
    """One step: on ``day_offset`` days after the group came into the plan (its creation, or
    the plan's when the group is older), or every ``weekday`` (1 Monday … 7 Sunday), at
    ``at_time`` (local HH:MM). ``content``: ``{"text", "link": {title, url, description?} | None,
    "image_media_id": str | None}``."""

    __tablename__ = "group_sop_steps"
    __table_args__ = (UniqueConstraint("sop_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sop_id: Mapped[int] = mapped_column(ForeignKey("group_sops.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(SmallInteger)
    day_offset: Mapped[int | None] = mapped_column(SmallInteger)
    weekday: Mapped[int | None] = mapped_column(SmallInteger)
    at_time: Mapped[str] = mapped_column(String(5))  # "HH:MM" in brand.timezone
    content: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    deadline_minutes: Mapped[int] = mapped_column(Integer, default=120, server_default="120")


class GroupSopTask(Base):
    """One step's task for one group owner at one due moment: the owner's groups in
    ``chat_ids``, WeCom's ``msgid`` once ``add_msg_template`` answered. ``claimed_at``: the
    moment a job began the WeCom call (a claimed row without msgid is not called again)."""

    __tablename__ = "group_sop_tasks"
    __table_args__ = (UniqueConstraint("step_id", "owner_userid", "due_at"),
                      Index("ix_group_sop_tasks_owner", "owner_userid", "status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("group_sop_steps.id", ondelete="CASCADE"))
    owner_userid: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deadline_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    chat_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    msgid: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(8), default="pending", server_default="pending")
    error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
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
