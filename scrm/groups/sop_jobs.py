"""Group SOP (群SOP) at work: tasks made when steps fall due, handed to WeCom, tracked, reminded.

The scheduler's ``groups-sop`` job (:func:`sweep`, every minute) only finds work and queues ids:

1. **Due steps → tasks.** For each active plan, each step due now (scrm/groups/sop.py says
   when) makes one row per group owner and due moment with the owner's groups, inserted
   ``ON CONFLICT DO NOTHING`` on (step, owner, due moment): however often the sweep runs, a
   step's moment makes one task per owner. Rows without a msgid are queued to :func:`send_tasks`.
2. **Handing to WeCom.** :func:`send_tasks` claims a row (``claimed_at``, committed) before it
   calls ``add_msg_template`` ``group`` with the owner's ``chat_id_list``, then stores the msgid.
   A call WeCom refused leaves no task there: the claim is lifted and the next sweep tries again
   until the deadline. A claimed row with no msgid (the process died during the call) is never
   called again: WeCom may hold the task, and a group message sent twice is worse than a
   missing one; it shows on the plan's page without a msgid.
3. **Tracking.** Handed tasks not sent yet are asked about (``get_groupmsg_task``) every
   :data:`CHECK_EVERY` for :data:`WATCH_DAYS` days; the owner's part sent → ``sent`` with
   WeCom's send time. Sent on time: ``sent_at`` ≤ ``deadline_at`` (due + deadline_minutes).
4. **Reminders.** At its deadline a task not sent is asked about once more, and if still not
   sent its owner gets ONE WeCom app message (``reminded_at`` is set, committed, before it is
   sent), when ``runtime.work.can_send_app_messages``.
5. **Missed.** A day after its deadline a task not sent is ``missed`` (still checked, and shown:
   sent later it becomes ``sent``, not on time).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update

from scrm.db import dialect_insert
from scrm.groups import sop
from scrm.groups.models import GroupSop, GroupSopStep, GroupSopTask
from scrm.queue import enqueue_after_commit
from scrm.runtime import Runtime, job
from scrm.wechat.errors import AnswerLost, WeChatError

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from sqlalchemy.orm import Session

    from scrm.groups.models import CustomerGroup

log = logging.getLogger(__name__)

MAX_CHATS = 2000  # add_msg_template's chat_id_list
BATCH = 50
CHECK_EVERY = timedelta(minutes=5)
WATCH_DAYS = 7
MISSED_AFTER = timedelta(days=1)
REMINDER = "【群SOP提醒】您有一条群发任务「{task}」尚未发送，请在企业微信「客户群群发」中发送。"


@job
def sweep(runtime: Runtime) -> dict[str, int]:
    """The scheduler's minute: new tasks of due steps, and the queued work of 2–5 above."""
    now = runtime.clock.now()
    with runtime.transaction() as db_session:
        made = plan_due_tasks(db_session, now, runtime.config.brand.zone)
        to_send = list(db_session.scalars(select(GroupSopTask.id).where(
            GroupSopTask.msgid.is_(None), GroupSopTask.claimed_at.is_(None), GroupSopTask.status == "pending",
            GroupSopTask.deadline_at > now).order_by(GroupSopTask.id)))
        to_remind = list(db_session.scalars(select(GroupSopTask.id).where(
            GroupSopTask.msgid.is_not(None), GroupSopTask.status == "pending", GroupSopTask.reminded_at.is_(None),
            GroupSopTask.deadline_at <= now, GroupSopTask.deadline_at > now - MISSED_AFTER).order_by(GroupSopTask.id)))
        to_check = list(db_session.scalars(select(GroupSopTask.id).where(
            GroupSopTask.msgid.is_not(None), GroupSopTask.status != "sent",
            GroupSopTask.due_at >= now - timedelta(days=WATCH_DAYS), GroupSopTask.id.not_in(to_remind or [0]),
            or_(GroupSopTask.checked_at.is_(None), GroupSopTask.checked_at <= now - CHECK_EVERY))
            .order_by(GroupSopTask.id)))
        missed = db_session.execute(update(GroupSopTask).where(
            GroupSopTask.status == "pending", GroupSopTask.deadline_at <= now - MISSED_AFTER).values(status="missed"))
        for work, ids in ((send_tasks, to_send), (remind_owners, to_remind), (check_tasks, to_check)):
            for start in range(0, len(ids), BATCH):
                enqueue_after_commit(db_session, work, ids[start:start + BATCH])
    return {"made": made, "send": len(to_send), "remind": len(to_remind), "check": len(to_check),
            "missed": missed.rowcount or 0}


def plan_due_tasks(db_session: Session, now: datetime, zone: ZoneInfo) -> int:
    """Insert the tasks of every active plan's steps due at ``now``; how many rows were new."""
    rows: list[dict[str, Any]] = []
    for plan in db_session.scalars(select(GroupSop).where(GroupSop.status == "active").order_by(GroupSop.id)):
        steps = sop.steps_of(db_session, plan.id)
        groups = sop.matching_groups(db_session=db_session, sop=plan) if steps else []
        for step in steps:
            for (due_at, owner), chat_ids in due_occurrences(step, plan, groups, now, zone).items():
                rows.append({"step_id": step.id, "owner_userid": owner, "due_at": due_at,
                             "deadline_at": due_at + timedelta(minutes=step.deadline_minutes),
                             "chat_ids": chat_ids[:MAX_CHATS], "status": "pending", "created_at": now})
    if not rows:
        return 0
    table = GroupSopTask.__table__
    insert = dialect_insert(db_session, table).on_conflict_do_nothing(
        index_elements=["step_id", "owner_userid", "due_at"]).returning(table.c.id)
    return sum(len(db_session.execute(insert.values(row)).all()) for row in rows)


def due_occurrences(step: GroupSopStep, plan: GroupSop, groups: list[CustomerGroup], now: datetime,
                    zone: ZoneInfo) -> dict[tuple[datetime, str], list[str]]:
    """(due moment, owner) → the owner's chat ids, for the step's moments due at ``now``: from
    the moment until its deadline, not before the group came into the plan."""
    hour, minute = (int(part) for part in step.at_time.split(":"))
    window = timedelta(minutes=step.deadline_minutes)
    first_day, last_day = (now - window).astimezone(zone).date(), now.astimezone(zone).date()
    found: dict[tuple[datetime, str], list[str]] = {}
    for offset in range((last_day - first_day).days + 1):
        day = date.fromordinal(first_day.toordinal() + offset)
        due = datetime.combine(day, time(hour, minute), zone).astimezone(UTC)
        if not due <= now < due + window or (step.weekday is not None and day.isoweekday() != step.weekday):
            continue
        for group in groups:
            start = sop.group_start(group, plan)
            if start > due:
                continue
            if step.day_offset is not None and start.astimezone(zone).date() != day - timedelta(days=step.day_offset):
                continue
            found.setdefault((due, group.owner_userid), []).append(group.chat_id)
    return found


@job
def send_tasks(runtime: Runtime, task_ids: list[int]) -> dict[str, int]:
    """Hand each unclaimed task to WeCom: one ``add_msg_template`` ``group`` for its owner."""
    counts = {"sent": 0, "failed": 0}
    values: dict[str, Any]
    for task_id in task_ids:
        now = runtime.clock.now()
        with runtime.transaction() as db_session:
            claimed = db_session.execute(update(GroupSopTask).where(
                GroupSopTask.id == task_id, GroupSopTask.msgid.is_(None), GroupSopTask.claimed_at.is_(None),
                GroupSopTask.status == "pending", GroupSopTask.deadline_at > now).values(claimed_at=now)).rowcount
            task = db_session.get(GroupSopTask, task_id) if claimed else None
            if task is None:
                continue
            owner, chat_ids = task.owner_userid, list(task.chat_ids)
            content = dict(db_session.get(GroupSopStep, task.step_id).content or {})
        try:
            template = runtime.work.add_msg_template("group", owner, [], content.get("text", ""),
                                                     attachments(content), chat_ids=chat_ids)
        except AnswerLost as exc:  # WeCom may have made the task: kept claimed, never handed over twice
            log.warning("SOP task %s: add_msg_template for %s, answer lost: %s", task_id, owner, exc)
            values = {"error": str(exc)[:200]}
            counts["failed"] += 1
        except WeChatError as exc:  # WeCom made no task: the next sweep tries again
            log.warning("SOP task %s: add_msg_template for %s: %s", task_id, owner, exc)
            values = {"claimed_at": None, "error": str(exc)[:200]}
            counts["failed"] += 1
        else:
            values = {"msgid": template.msgid[:64], "error": None}
            counts["sent"] += 1
        with runtime.transaction() as db_session:
            db_session.execute(update(GroupSopTask).where(GroupSopTask.id == task_id).values(**values))
    return counts


def attachments(content: dict[str, Any]) -> list[dict[str, Any]]:
    """A step's link and image as WeCom's message attachments."""
    found: list[dict[str, Any]] = []
    if content.get("image_media_id"):
        found.append({"msgtype": "image", "image": {"media_id": content["image_media_id"]}})
    link = content.get("link")
    if link:
        found.append({"msgtype": "link", "link": {"title": link["title"], "url": link["url"],
                                                  "desc": link.get("description") or ""}})
    return found


def _ask(runtime: Runtime, task_id: int) -> GroupSopTask | None:
    """Ask WeCom whether the task's owner has sent it; mark it sent if so. The task as it is
    now, or None if it is gone."""
    with runtime.transaction() as db_session:
        task = db_session.get(GroupSopTask, task_id)
        if task is None or task.msgid is None or task.status == "sent":
            if task is not None:
                db_session.expunge(task)
            return task
        msgid, owner = task.msgid, task.owner_userid
    try:
        parts = runtime.work.msg_tasks(msgid)
    except WeChatError as exc:
        log.warning("get_groupmsg_task %s: %s", msgid, exc)
        parts = []
    mine = next((p for p in parts if p.userid == owner), None)
    now = runtime.clock.now()
    values: dict[str, Any] = {"checked_at": now}
    if mine is not None and mine.sent:
        values.update(status="sent", sent_at=datetime.fromtimestamp(mine.send_time, UTC) if mine.send_time else now)
    with runtime.transaction() as db_session:
        db_session.execute(update(GroupSopTask).where(GroupSopTask.id == task_id, GroupSopTask.status != "sent")
                           .values(**values))
        task = db_session.get(GroupSopTask, task_id)
        db_session.expunge(task)
    return task


@job
def check_tasks(runtime: Runtime, task_ids: list[int]) -> dict[str, int]:
    """Ask WeCom about each task; a count of those now sent and not."""
    counts = {"sent": 0, "pending": 0}
    for task_id in task_ids:
        task = _ask(runtime, task_id)
        if task is not None:
            counts["sent" if task.status == "sent" else "pending"] += 1
    return counts


@job
def remind_owners(runtime: Runtime, task_ids: list[int]) -> int:
    """At the deadline: each task's owner who has still not sent it gets one app message."""
    if not runtime.work.can_send_app_messages:
        return 0
    reminded = 0
    for task_id in task_ids:
        task = _ask(runtime, task_id)
        if task is None or task.status == "sent" or task.reminded_at is not None:
            continue
        now = runtime.clock.now()
        with runtime.transaction() as db_session:
            claimed = db_session.execute(update(GroupSopTask).where(
                GroupSopTask.id == task_id, GroupSopTask.reminded_at.is_(None), GroupSopTask.status != "sent")
                .values(reminded_at=now)).rowcount
            step = db_session.get(GroupSopStep, task.step_id)
            plan = db_session.get(GroupSop, step.sop_id)
            label = f"{plan.name} · 第{step.position}步"
        if not claimed:
            continue
        try:
            runtime.work.send_app_message([task.owner_userid], REMINDER.format(task=label))
            reminded += 1
        except WeChatError as exc:  # reminded at most once: not tried again
            log.warning("SOP reminder to %s: %s", task.owner_userid, exc)
    return reminded
