"""WeCom mass-message tasks (企业群发任务): what a guide still has to send.

A ``work_single`` or ``work_group`` send is not a message yet: ``add_msg_template`` hands a
task to the member (the customer's guide, the group's owner), who confirms it in WeCom's
群发助手. The sender records each task it created (:func:`record`, in the same transaction
that marks its deliveries sent), ``pending``. The scheduler's ``outreach-wecom-tasks`` job
queues the pending ones of the last :data:`WATCH_DAYS` days that were not asked about for
:data:`CHECK_EVERY`; :func:`check_tasks` asks WeCom (``get_groupmsg_task``) and marks those the
member has sent ``sent``, with WeCom's send time. The guide's page (/m/tasks,
guides/phone_pages.py) lists their pending tasks first, with each task's customers or groups.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select, update

from scrm.customers.models import Customer
from scrm.db import dialect_insert
from scrm.groups.models import CustomerGroup
from scrm.outreach.models import Campaign, Delivery, WecomTask
from scrm.queue import enqueue_after_commit
from scrm.runtime import Runtime, job
from scrm.texts import customer_name
from scrm.wechat.errors import WeChatError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

WATCH_DAYS = 30  # a task not sent by then is neither asked about nor listed again
CHECK_EVERY = timedelta(minutes=5)
CHECK_BATCH = 50
SHOWN_SENT_DAYS = 14  # sent tasks stay on the guide's page this long
SHOWN_TARGETS = 50


def task_row(*, msgid: str, chat_type: str, sender: str, attempts: list[Any], now: datetime) -> dict[str, Any]:
    """The row of a task just created for ``attempts`` (one campaign run and variant)."""
    first = attempts[0]
    return {"msgid": msgid[:64], "chat_type": chat_type, "sender": sender, "campaign_id": first.campaign_id,
            "run_id": first.run_id, "variant": first.variant, "targets": len(attempts), "status": "pending",
            "created_at": now}


def record(*, db_session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert the tasks; one already there (its deliveries written by a retried flush) is kept."""
    if rows:
        insert = dialect_insert(db_session, WecomTask.__table__).on_conflict_do_nothing(index_elements=["msgid"])
        db_session.execute(insert, rows)


# --- Asking WeCom ----------------------------------------------------------------------------


@job
def enqueue_checks(runtime: Runtime) -> int:
    """The scheduler's sweep: queue the pending tasks due a look; returns how many."""

    now = runtime.clock.now()
    with runtime.transaction() as db_session:
        ids = list(db_session.scalars(
            select(WecomTask.id)
            .where(WecomTask.status == "pending", WecomTask.created_at >= now - timedelta(days=WATCH_DAYS),
                   or_(WecomTask.checked_at.is_(None), WecomTask.checked_at <= now - CHECK_EVERY))
            .order_by(WecomTask.id)))
        for start in range(0, len(ids), CHECK_BATCH):
            enqueue_after_commit(db_session, check_tasks, ids[start:start + CHECK_BATCH])
    return len(ids)


@job
def check_tasks(runtime: Runtime, task_ids: list[int]) -> dict[str, int]:
    """Job: ask WeCom about each pending task; a count of those now sent and still pending.
    A task WeCom will not answer for stays pending (logged) and is asked again later."""

    with runtime.transaction() as db_session:
        tasks = db_session.execute(
            select(WecomTask.id, WecomTask.msgid, WecomTask.sender)
            .where(WecomTask.id.in_(task_ids), WecomTask.status == "pending")).all()
    counts = {"sent": 0, "pending": 0}
    for task_id, msgid, sender in tasks:
        try:
            parts = runtime.work.msg_tasks(msgid)
        except WeChatError as exc:
            log.warning("get_groupmsg_task %s: %s", msgid, exc)
            parts = None
        mine = next((p for p in parts or () if p.userid == sender), None)
        now = runtime.clock.now()
        values: dict[str, Any] = {"checked_at": now}
        if mine is not None and mine.sent:
            sent_at = datetime.fromtimestamp(mine.send_time, UTC) if mine.send_time else now
            values.update(status="sent", sent_at=sent_at)
        counts["sent" if "status" in values else "pending"] += 1
        with runtime.transaction() as db_session:
            db_session.execute(update(WecomTask).where(WecomTask.id == task_id, WecomTask.status == "pending")
                               .values(**values))
    return counts


# --- The guide's list ----------------------------------------------------------------------


@dataclass(frozen=True)
class TaskEntry:
    id: int
    msgid: str
    chat_type: str
    campaign: str
    text: str  # what the message says (or what it carries)
    targets: int
    status: str
    created_at: datetime
    sent_at: datetime | None
    checked_at: datetime | None
    names: tuple[str, ...]  # the first customers' or groups' names


def tasks_of(*, db_session: Session, sender: str, now: datetime, locale: str = "zh_CN") -> list[TaskEntry]:
    """The member's pending tasks of the last :data:`WATCH_DAYS` days (oldest first: they have
    waited longest), then those sent in the last :data:`SHOWN_SENT_DAYS` days (newest first)."""
    rows = db_session.execute(
        select(WecomTask, Campaign.name, Campaign.content, Campaign.variants)
        .join(Campaign, Campaign.id == WecomTask.campaign_id)
        .where(WecomTask.sender == sender,
               or_(and_(WecomTask.status == "pending", WecomTask.created_at >= now - timedelta(days=WATCH_DAYS)),
                   WecomTask.sent_at >= now - timedelta(days=SHOWN_SENT_DAYS)))
        .order_by(WecomTask.id)).all()
    pending = [r for r in rows if r.WecomTask.status == "pending"]
    sent = sorted((r for r in rows if r.WecomTask.status != "pending"), key=lambda r: r.WecomTask.sent_at,
                  reverse=True)
    return [_entry(db_session, r, locale) for r in pending + sent]


def pending_count(*, db_session: Session, sender: str, now: datetime) -> int:
    return db_session.scalar(select(func.count()).select_from(WecomTask).where(
        WecomTask.sender == sender, WecomTask.status == "pending",
        WecomTask.created_at >= now - timedelta(days=WATCH_DAYS))) or 0


def _entry(db_session: Session, row: Any, locale: str) -> TaskEntry:  # noqa: ANN401
    task = row.WecomTask
    content = next((v["content"] for v in row.variants or () if v.get("name") == task.variant), row.content)
    return TaskEntry(id=task.id, msgid=task.msgid, chat_type=task.chat_type, campaign=row.name,
                     text=describe(content), targets=task.targets, status=task.status, created_at=task.created_at,
                     sent_at=task.sent_at, checked_at=task.checked_at, names=_names(db_session, task, locale))


def _names(db_session: Session, task: WecomTask, locale: str) -> tuple[str, ...]:
    """The first targets by name: a group's name, a customer's nickname or 顾客 #id."""
    if task.chat_type == "group":
        query = (select(CustomerGroup.id, CustomerGroup.name).join(Delivery, Delivery.chat_id == CustomerGroup.chat_id))
    else:
        query = (select(Customer.id, Customer.nickname).join(Delivery, Delivery.customer_id == Customer.id))
    rows = db_session.execute(query.where(Delivery.wechat_ref == task.msgid, Delivery.run_id == task.run_id)
                              .order_by(Delivery.id).limit(SHOWN_TARGETS))
    if task.chat_type == "group":
        return tuple(name or "—" for _id, name in rows)
    return tuple(customer_name(locale, customer_id, nickname) for customer_id, nickname in rows)


def describe(content: dict[str, Any]) -> str:
    """A line for what a campaign's content sends."""
    kind = content.get("kind")
    if kind == "text":
        return content.get("text", "")
    if kind == "invite":
        return f"{content.get('text', '')} · 群二维码 group QR"
    if kind == "news":
        return f"图文 link: {content.get('title', '')}"
    if kind == "miniprogram":
        return f"小程序 mini-program: {content.get('title', '')}"
    if kind == "image":
        return "图片 image"
    return str(kind or "")
