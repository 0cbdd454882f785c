"""Group messages (社群群发, SPEC §8, §9): a ``work_group`` campaign's audience is a set of
customer groups (``{"groups": [chat_id, …]}``), not customers. A group SOP (群SOP) is such a
campaign on a cron schedule.

**Planning.** One delivery per group and run, ``customer_id`` empty, ``chat_id`` the group's,
keyed ``<run>:g:<chat_id>`` (a chat_id too long for the key's 64 characters goes by its hash),
inserted ``ON CONFLICT DO NOTHING`` so a run planned twice adds nothing. The weekly cap is per
customer and does not apply; quiet hours do (deferred to their end, or skipped, as the campaign
says). Variants and the holdout split the groups by a stable hash of (campaign, chat_id).

**Sending** (by scrm/outreach/sender.py, after the claim): each group is looked up in the
groups synced from WeCom (scrm/groups): one we do not know, or dismissed, or whose owner has
left (``handover``), is skipped with the reason; so is one that has had as many group messages
this month as the month has days (WECHAT-NOTES; counted per group in Redis after each send, as
the mass-send quota is: two jobs sending to one group at the same moment may pass the limit by
one). The others go as ONE ``add_msg_template`` ``group`` task per owner, run and variant, with
their ``chat_id_list``; the owner confirms it in WeCom, so "sent" means "handed to the owner".
"""

from __future__ import annotations

import calendar
import hashlib
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from scrm.db import dialect_insert
from scrm.groups.models import CustomerGroup
from scrm.outreach import channels, finishing, planner
from scrm.outreach.cap import QuietHours
from scrm.outreach.models import Campaign, CampaignRun, Delivery

if TYPE_CHECKING:
    from datetime import datetime

    from scrm.outreach.planner import _Settings
    from scrm.outreach.sender import _Attempt, _Outcomes
    from scrm.runtime import Runtime

CHANNEL = "work_group"
KEY_LENGTH = 64


def plan_group_run(runtime: Runtime, run_id: int, settings: _Settings) -> int:
    """Plan one delivery per group of the run's audience, mark the run planned, and queue the
    ones due now; returns how many it planned (holdout and skipped included)."""

    now = runtime.clock.now()
    quiet = QuietHours.parse(runtime.config.outreach.quiet_hours, runtime.config.brand.timezone)
    due = quiet.next_open(settings.due)
    skip_quiet = due != settings.due and not settings.defer
    rows = []
    for chat_id in dict.fromkeys(settings.audience.get("groups") or ()):
        variant = group_variant(settings, chat_id)
        status = "holdout" if variant == "holdout" else "skipped" if skip_quiet else "planned"
        rows.append({
            "campaign_id": settings.campaign_id, "run_id": run_id, "customer_id": None, "chat_id": chat_id,
            "idempotency_key": group_key(run_id, chat_id), "variant": variant, "channel": CHANNEL,
            "status": status, "reason": "quiet_hours" if status != "holdout" and due != settings.due else None,
            "due_at": settings.due if skip_quiet else due, "attempts": 0, "created_at": now,
        })
    with runtime.transaction() as db_session:
        if rows:
            insert = dialect_insert(db_session, Delivery.__table__).on_conflict_do_nothing(
                index_elements=["idempotency_key"])
            db_session.execute(insert, rows)
        db_session.execute(update(CampaignRun).where(CampaignRun.id == run_id)
                           .values(status="planned", planned=len(rows), planned_at=now))
        finishing.finish(db_session=db_session, run_ids=[run_id])
        due_now = list(db_session.scalars(select(Delivery.id).where(
            Delivery.run_id == run_id, Delivery.status == "planned", Delivery.due_at <= now).order_by(Delivery.id)))
    planner.enqueue_sends(runtime, due_now)
    return len(rows)


def group_key(run_id: int, chat_id: str) -> str:
    key = f"{run_id}:g:{chat_id}"
    if len(key) <= KEY_LENGTH:
        return key
    return f"{run_id}:g:#" + hashlib.blake2b(chat_id.encode(), digest_size=16).hexdigest()


def group_variant(settings: _Settings, chat_id: str) -> str:
    """The group's variant in this campaign (or ``holdout``), stable across runs."""
    digest = hashlib.blake2b(f"{settings.campaign_id}:g:{chat_id}".encode(), digest_size=8).digest()
    if int.from_bytes(digest[:4], "big") % 10_000 / 100 < settings.holdout:
        return "holdout"
    pick = int.from_bytes(digest[4:], "big") % 100
    for name, weight in settings.variants:
        if pick < weight:
            return name
        pick -= weight
    return settings.variants[-1][0]


def prepare(runtime: Runtime, outcomes: _Outcomes, attempts: list[_Attempt]) -> list[_Attempt]:
    """The claimed group deliveries that may go now, each with its content and its owner (as
    ``reach.guide_userid``: the member who sends); the others ended as skipped with the reason."""
    if not attempts:
        return []
    now = runtime.clock.now()
    chat_ids = list({a.chat_id for a in attempts})
    with runtime.transaction() as db_session:
        campaigns = {c.id: c for c in db_session.scalars(
            select(Campaign).where(Campaign.id.in_({a.campaign_id for a in attempts})))}
        groups = {g.chat_id: (g.status, g.owner_userid) for g in db_session.scalars(
            select(CustomerGroup).where(CustomerGroup.chat_id.in_(chat_ids)))}
    used = channels.group_sends_this_month(runtime, chat_ids, now)
    ready = []
    for attempt in attempts:
        campaign = campaigns[attempt.campaign_id]
        attempt.content = next((v["content"] for v in campaign.variants if v["name"] == attempt.variant),
                               campaign.content)
        attempt.channel = CHANNEL
        reason = unreachable(groups.get(attempt.chat_id), used[attempt.chat_id], monthly_limit(runtime, now),
                             attempt.content)
        if reason is not None:
            outcomes.ended(attempt, "skipped", reason)
            continue
        attempt.reach.guide_userid = groups[attempt.chat_id][1]
        ready.append(attempt)
    return ready


def unreachable(group: tuple[str, str] | None, used: int, limit: int, content: dict) -> str | None:
    """Why a group message cannot go to the group now (``group``: its status and owner)."""
    if content.get("kind") == "template":
        return f"{CHANNEL} cannot carry a template"
    if group is None:
        return f"{CHANNEL} unknown group"
    status, owner = group
    if status == "dismissed":
        return f"{CHANNEL} group dismissed"
    if status == "handover" or not owner:
        return f"{CHANNEL} owner left"
    return None if used < limit else f"{CHANNEL} monthly limit"


def monthly_limit(runtime: Runtime, now: datetime) -> int:
    """As many group messages a month as the (local) month has days."""
    local = now.astimezone(runtime.config.brand.zone)
    return calendar.monthrange(local.year, local.month)[1]


def send_task(runtime: Runtime, outcomes: _Outcomes, owner_userid: str,
              attempts: list[_Attempt]) -> list[tuple[_Attempt, str]]:
    """One owner's task to the attempts' groups; all sent, counted against their month."""
    chat_ids = [a.chat_id for a in attempts]
    task = channels.send_work_group(runtime, owner_userid, chat_ids, attempts[0].content)
    outcomes.task(task.msgid, "group", owner_userid, attempts)  # recorded with the first flush of its rows
    for attempt in attempts:  # the sent keys first: the window for a double send stays short
        outcomes.sent(attempt, task.msgid)
    channels.count_group_sends(runtime, chat_ids, runtime.clock.now())
    return []
