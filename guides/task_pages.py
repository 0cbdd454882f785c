"""The guide's WeCom tasks (群发任务) on the phone: what campaigns handed them to send.

A ``work_single`` campaign reaches a customer through their guide: WeCom holds the message as a
task until the guide sends it from 群发助手 (``work_group``: the group's owner). ``GET /m/tasks``
lists the signed-in guide's pending tasks, oldest first, each with its campaign, what it says and
the customers (or groups) it goes to, then the ones sent in the last two weeks. WeCom is asked
every five minutes whether a task was sent (scrm/outreach/wecom_tasks.py); ``POST
/m/tasks/check`` asks now, for this guide's pending tasks, and comes back to the list.
"""

from __future__ import annotations


from flask import Blueprint, redirect, render_template, request, url_for
from sqlalchemy import select

from guides import mobile as guide_mobile
from guides.mobile_views import ago
from scrm.clock import as_utc
from scrm.outreach import wecom_tasks
from scrm.outreach.models import WecomTask
from scrm.queue import enqueue_after_commit
from scrm.web.api import current_runtime
from scrm.web.auth import require_role

task_pages = Blueprint("task_pages", __name__, template_folder="templates")

guide_mobile.house_rules(task_pages)  # WeCom sign-in, no cache, guides only, as every /m/ page


@task_pages.get("/m/tasks")
@require_role("guide")
def tasks():  # noqa: ANN201
    runtime = current_runtime()
    now = runtime.clock.now()
    zone = runtime.config.brand.zone
    with runtime.transaction() as db_session:
        guide = guide_mobile._my_guide(db_session)  # noqa: SLF001
        entries = (wecom_tasks.tasks_of(db_session=db_session, sender=guide.wecom_userid, now=now)
                   if guide.wecom_userid else [])
    pending = [e for e in entries if e.status == "pending"]
    sent = [e for e in entries if e.status != "pending"]
    return render_template("guide/tasks.html", pending=pending, sent=sent, has_wecom=bool(guide.wecom_userid),
                           checking=request.args.get("checking") == "1", now=now, ago=ago, nav="home",
                           local=lambda at: as_utc(at).astimezone(zone).strftime("%m-%d %H:%M"))


@task_pages.post("/m/tasks/check")
@require_role("guide")
def check():  # noqa: ANN201
    """Ask WeCom now about this guide's pending tasks (a job: the page does not wait for WeCom)."""
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        guide = guide_mobile._my_guide(db_session)  # noqa: SLF001
        ids = list(db_session.scalars(select(WecomTask.id).where(
            WecomTask.sender == (guide.wecom_userid or ""), WecomTask.status == "pending").order_by(WecomTask.id)))
        for start in range(0, len(ids), wecom_tasks.CHECK_BATCH):
            enqueue_after_commit(db_session, wecom_tasks.check_tasks, ids[start:start + wecom_tasks.CHECK_BATCH])
    return redirect(url_for("task_pages.tasks", checking="1" if ids else None), code=303)
