"""Outreach (触达, SPEC §8): campaigns, their runs, one delivery per customer (or customer group)
and run, and the custom events that trigger campaigns.

A campaign moves ``draft`` → ``scheduled`` (launched) → ``running`` (a run is being planned
or sent) → ``done``; ``paused`` and ``cancelled`` from any of the live ones. A run is one
firing (the one time of a ``once`` campaign, each time of a ``cron`` one, each event of a
triggered one). Its deliveries are planned, committed, then their ids queued; a worker sends
each at most once, checking its idempotency key first.

Delivery states: ``planned`` (waiting for its ``due_at``) → ``sending`` → ``sent`` |
``failed`` (WeChat refused it for good) | ``dead`` (transient errors until the last retry);
or ``skipped`` with a reason (no channel reaches the customer, capped, quiet hours);
``holdout`` (the control group: counted, never sent).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from scrm.customers.models import BigId
from scrm.db import Base

CAMPAIGN_STATUSES = ("draft", "scheduled", "running", "paused", "done", "cancelled")
CHANNELS = ("mp_custom", "mp_template", "mp_mass", "work_single", "work_group", "work_group_invite")
CHANNEL_LENGTH = 24  # work_group_invite is 17 characters
DELIVERY_STATUSES = ("planned", "sending", "sent", "failed", "dead", "skipped", "holdout")


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_due", "status", "next_run_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), default="draft", server_default="draft")
    # {"expr": tag expression | null, "store": code | null, "guide": code | null, "groups": [chat_id]}
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    channel: Mapped[str] = mapped_column(String(CHANNEL_LENGTH))
    fallbacks: Mapped[list[str]] = mapped_column(JSON, default=list)  # tried in order when unreachable
    # {"kind": "text" | "news" | "image" | "miniprogram" | "template", …} (scrm/outreach/schemas.py)
    content: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    coupon_template_id: Mapped[int | None] = mapped_column(ForeignKey("coupon_templates.id"))
    # {"kind": "once", "at": iso} | {"kind": "cron", "cron": "0 10 * * 1"} |
    # {"kind": "trigger", "event": "follow" | "binding" | "purchase" | "coupon_expiring" |
    #  "birthday" | "inactive" | "custom", "days": N, "name": custom event name}
    schedule: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    when_capped: Mapped[str] = mapped_column(String(8), default="defer", server_default="defer")  # or skip
    # [{"name": "A", "weight": 50, "content": {…}}]; empty: one variant, the campaign's content
    variants: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    holdout_percent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    launched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CampaignRun(Base):
    __tablename__ = "campaign_runs"
    # A trigger fires once per campaign and occurrence ("birthday:12:2026"): scheduled runs
    # all say "schedule" and are not constrained.
    __table_args__ = (Index("uq_campaign_runs_trigger", "campaign_id", "cause", unique=True,
                            postgresql_where=text("cause <> 'schedule'"), sqlite_where=text("cause <> 'schedule'")),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    # What fired it: "schedule", or the trigger and its subject ("follow:123").
    cause: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), default="planning")  # planning, planned, done
    planned: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    planned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_due", "status", "due_at"),
        Index("ix_deliveries_campaign", "campaign_id", "status"),
        CheckConstraint("customer_id IS NOT NULL OR chat_id IS NOT NULL", name="to_someone"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    run_id: Mapped[int] = mapped_column(ForeignKey("campaign_runs.id", ondelete="CASCADE"), index=True)
    # A delivery goes to a customer, or (channel work_group) to a customer group: one of the two.
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    chat_id: Mapped[str | None] = mapped_column(String(64))  # the group's WeCom chat_id
    # One delivery per customer (or group) and run, whoever plans it twice: "<run>:<customer>",
    # "<run>:g:<chat_id>".
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    variant: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str | None] = mapped_column(String(CHANNEL_LENGTH))
    status: Mapped[str] = mapped_column(String(10), default="planned")
    reason: Mapped[str | None] = mapped_column(String(64))  # why skipped, failed or dead
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    wechat_ref: Mapped[str | None] = mapped_column(String(64))  # msgid, template msgid
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When a worker took it (status sending): one left sending by a lost worker is looked at again.
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OutreachEvent(Base):
    """A custom event posted to ``POST /api/events`` (cart abandoned, membership renewed…)."""

    __tablename__ = "outreach_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    # The poster's own id for the event: posted twice, recorded once.
    event_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class WecomTask(Base):
    """A WeCom mass message (企业群发) handed to a member, who sends it from WeCom's 群发助手:
    a ``work_single`` task to the guide's customers, or a ``work_group`` one to the owner's
    groups. ``pending`` until ``get_groupmsg_task`` says the member sent it (``sent``, with
    WeCom's ``send_time``); the guide's page (/m/tasks) lists them (scrm/outreach/wecom_tasks.py)."""

    __tablename__ = "wecom_tasks"
    __table_args__ = (Index("ix_wecom_tasks_sender", "sender", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    msgid: Mapped[str] = mapped_column(String(64), unique=True)
    chat_type: Mapped[str] = mapped_column(String(8))  # single or group
    sender: Mapped[str] = mapped_column(String(64))  # the member's WeCom userid
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("campaign_runs.id", ondelete="CASCADE"))
    variant: Mapped[str] = mapped_column(String(16))
    targets: Mapped[int] = mapped_column(Integer)  # customers or groups handed to the member
    status: Mapped[str] = mapped_column(String(8), default="pending")  # pending, sent
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # last asked WeCom
