"""Churn alerts (流失提醒, SPEC §9): a customer who deleted their guide on WeCom
(``del_follow_user``) or quit a group the guide owns is shown to that guide, on the guide's
``/m/`` home and by one WeCom app message, with the customer's tags and last interaction.

An alert is written once per guide, customer, kind, group and local day (the unique key
absorbs WeCom's retries and the sync's re-reads); a new one queues :func:`notify_churn` after
the commit. That job sends the guide's unnotified alerts in one message and marks them
``notified_at``: several alerts arriving together make one message, and however often the job
runs each alert is told once. WeCom lets an app send a member 30 messages a minute: past that
the job is deferred to the next minute (:class:`scrm.errors.RetryLater`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from guides.models import Guide
from scrm.clock import local_day
from scrm.customers.models import ACTIVITY_KINDS, Customer, Interaction
from scrm.db import dialect_insert
from scrm.errors import RetryLater
from scrm.groups.models import ChurnAlert
from scrm.queue import enqueue_after_commit
from scrm.runtime import job
from scrm.texts import customer_name, kind_words, local_time, say
from scrm.wechat.errors import AnswerLost
from tagging.scores import carried_tags

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

log = logging.getLogger(__name__)

PER_MESSAGE = 10  # alerts written out in one app message; the rest counted ("另有 N 条")
PER_MINUTE = 30  # WeCom: an app sends a member at most 30 messages a minute
TAGS_SHOWN = 5
SHOWN_ON_HOME = 20


@dataclass(frozen=True)
class AlertView:
    """One alert as the guide reads it (on ``/m/`` and in the app message)."""

    id: int
    customer_id: int
    customer: str  # the nickname, else 顾客 #12
    kind: str  # deleted_guide | quit_group
    group_name: str
    occurred_at: datetime
    tags: tuple[str, ...]
    last_kind: str | None  # the customer's last own doing before the alert (ACTIVITY_KINDS)
    last_at: datetime | None


def record_churn(*, db_session: Session, config: object, guide_id: int, customer_id: int, kind: str,
                 at: datetime, chat_id: str = "", group_name: str = "") -> bool:
    """Write the alert unless that guide has it already today; a new one queues its app
    message after the commit. Returns whether it is new."""
    inserted = db_session.execute(dialect_insert(db_session, ChurnAlert.__table__).values(
        guide_id=guide_id, customer_id=customer_id, kind=kind, chat_id=chat_id, group_name=group_name[:128],
        day=local_day(config, at), occurred_at=at,
    ).on_conflict_do_nothing(index_elements=["guide_id", "customer_id", "kind", "chat_id", "day"])).rowcount
    if inserted:
        enqueue_after_commit(db_session, notify_churn, guide_id)
    return bool(inserted)


def customer_deleted_guide(*, db_session: Session, config: object, customer_id: int, member_userid: str,
                           at: datetime) -> bool:
    """``del_follow_user``: the customer deleted the member; an alert if the member is our guide."""
    guide_id = db_session.scalar(select(Guide.id).where(Guide.wecom_userid == member_userid)) if member_userid else None
    if guide_id is None:
        return False
    return record_churn(db_session=db_session, config=config, guide_id=guide_id, customer_id=customer_id,
                        kind="deleted_guide", at=at)


def unseen_alerts(*, db_session: Session, config: object, guide_id: int, now: datetime,
                  limit: int = SHOWN_ON_HOME) -> tuple[list[AlertView], int]:
    """The guide's alerts not yet marked seen, newest first (at most ``limit``), and how many."""
    where = (ChurnAlert.guide_id == guide_id, ChurnAlert.seen_at.is_(None))
    total = db_session.scalar(select(func.count()).select_from(ChurnAlert).where(*where)) or 0
    rows = list(db_session.scalars(select(ChurnAlert).where(*where)
                                   .order_by(ChurnAlert.occurred_at.desc(), ChurnAlert.id.desc()).limit(limit)))
    return describe(db_session=db_session, config=config, alerts=rows, now=now), total


def mark_seen(*, db_session: Session, guide_id: int, up_to_id: int, at: datetime) -> int:
    """The guide tapped 知道了: their unseen alerts up to the newest one the page showed are
    seen (one that arrived after the page was drawn stays). Returns how many."""
    return db_session.execute(update(ChurnAlert).where(
        ChurnAlert.guide_id == guide_id, ChurnAlert.seen_at.is_(None), ChurnAlert.id <= up_to_id,
    ).values(seen_at=at)).rowcount


def describe(*, db_session: Session, config: object, alerts: list[ChurnAlert], now: datetime) -> list[AlertView]:
    """Each alert with its customer's name, the tags they carry now, and their last interaction."""
    ids = {a.customer_id for a in alerts}
    names = dict(db_session.execute(select(Customer.id, Customer.nickname).where(Customer.id.in_(ids))).all())
    views = []
    for alert in alerts:
        tags = tuple(t["tag"] for t in carried_tags(db_session=db_session, customer_id=alert.customer_id, now=now))
        last = db_session.execute(
            select(Interaction.kind, Interaction.occurred_at)
            .where(Interaction.customer_id == alert.customer_id, Interaction.kind.in_(ACTIVITY_KINDS),
                   Interaction.occurred_at <= alert.occurred_at)
            .order_by(Interaction.occurred_at.desc(), Interaction.id.desc()).limit(1)).first()
        views.append(AlertView(alert.id, alert.customer_id, customer_name(config, alert.customer_id,
                                                                         names.get(alert.customer_id)),
                               alert.kind, alert.group_name, alert.occurred_at, tags[:TAGS_SHOWN],
                               last[0] if last else None, last[1] if last else None))
    return views


def alert_message(config: object, views: list[AlertView], more: int = 0) -> str:
    """The app message's text, in the brand's language: 【客户流失提醒】顾客「…」删除了您 · 标签：… · 最近互动：…"""
    zone = config.brand.zone
    lines = []
    for view in views:
        what = (say(config, "churn.quit_group", name=view.customer, group=view.group_name)
                if view.kind == "quit_group" else say(config, "churn.deleted_guide", name=view.customer))
        tags = say(config, "churn.tags", tags="、".join(view.tags) or say(config, "churn.no_tags"))
        last = (say(config, "churn.last", what=kind_words(config, view.last_kind), when=local_time(view.last_at, zone))
                if view.last_kind else say(config, "churn.never"))
        lines.append(f"{what} · {tags} · {last}")
    if more:
        lines.append(say(config, "churn.more", n=more))
    separator = "" if len(lines) == 1 else "\n"
    return say(config, "churn.title") + separator + "\n".join(lines)


@job
def notify_churn(runtime: Runtime, guide_id: int) -> int:
    """Job: the guide's alerts not yet told, in one WeCom app message (when app messages are
    configured); each marked ``notified_at``. Returns how many alerts the message told."""
    work = runtime.work
    if not work.can_send_app_messages:
        return 0
    now = runtime.clock.now()
    with runtime.transaction() as db_session:
        guide = db_session.get(Guide, guide_id)
        if guide is None or not guide.wecom_userid or not guide.active:
            return 0
        # Locked, and skipped by a second run of this job meanwhile (PostgreSQL): each told once.
        alerts = list(db_session.scalars(
            select(ChurnAlert).where(ChurnAlert.guide_id == guide_id, ChurnAlert.notified_at.is_(None))
            .order_by(ChurnAlert.occurred_at, ChurnAlert.id).with_for_update(skip_locked=True)))
        if not alerts:
            return 0
        _take_a_slot(runtime, guide.wecom_userid, now)
        views = describe(db_session=db_session, config=runtime.config, alerts=alerts[:PER_MESSAGE], now=now)
        try:
            work.send_app_message([guide.wecom_userid], alert_message(runtime.config, views, len(alerts) - len(views)))
        except AnswerLost as exc:  # it may have gone: told, not a second time
            log.warning("churn alerts of guide %s, answer lost: %s", guide_id, exc)
        for alert in alerts:
            alert.notified_at = now
        return len(alerts)


def _take_a_slot(runtime: Runtime, userid: str, now: datetime) -> None:
    """One of the member's 30 messages of this minute, or :class:`RetryLater` the next minute."""
    key = f"work:app_messages:{userid}:{int(now.timestamp()) // 60}"  # shared by every app message
    sent = runtime.redis.incr(key)
    if sent == 1:
        runtime.redis.expire(key, 120)
    if sent > PER_MINUTE:
        raise RetryLater(f"{PER_MINUTE} app messages a minute to {userid}", retry_after=60 - now.second)
