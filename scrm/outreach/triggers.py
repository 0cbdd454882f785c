"""Triggered campaigns (SPEC §8): a launched campaign (``scheduled`` or ``running``) whose
schedule is ``{"kind": "trigger", "event": …}`` fires for ONE customer when the event
happens to them.

Firing is one :class:`~scrm.outreach.models.CampaignRun` whose ``cause`` names the occurrence,
``<event>:<customer>[:<ref>]``, and the one delivery the planner makes for that customer
(variant, holdout, weekly cap and quiet hours as for any run); after the commit the delivery,
if due now, is queued to the sender. A partial unique index on ``(campaign_id, cause)``
(every cause but ``schedule``) makes an occurrence fire once per campaign, whoever tries twice.
The occurrences, and so what "once" means:

- ``follow:<customer>`` — the first follow (MP subscribe or WeCom add_external_contact): once;
- ``binding:<customer>`` — the first new binding to a guide: once;
- ``purchase:<customer>:<order id>`` — each new order;
- ``custom:<customer>:<event id>`` — each custom event of the campaign's ``name`` (POST /api/events);
- ``level_up:<customer>:<level id>`` — a member reaching a higher level (an order, a check-in,
  the nightly review: scrm/flows.py ``level_changed``): once per member and level;
- ``birthday:<customer>:<year>``, ``inactive:<customer>:<last activity day>``,
  ``coupon_expiring:<customer>:<coupon id>`` — found by the daily scans (scrm/outreach/daily_triggers.py).

A customer outside the campaign's audience (tag expression, store, guide) does not fire it;
group campaigns (``work_group``) are never triggered per customer.

The hooks sit on hot paths (the webhook, binding, orders), so they do not query campaigns:
each process keeps the list of live triggered campaigns per event for :data:`CACHE_SECONDS`
(real time). With none for the event the hook does nothing; otherwise it queues one job after
the caller's commit, which reads the campaigns afresh and fires. A campaign launched in
another process is seen by the hooks within that time; one paused or cancelled is seen at once
(the job checks).
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from scrm.customers.models import Customer
from scrm.customers.service import resolve
from scrm.db import dialect_insert
from scrm.outreach import planner
from scrm.outreach.campaigns import audience_ids
from scrm.outreach.models import Campaign, CampaignRun
from scrm.queue import enqueue_after_commit
from scrm.runtime import Runtime, job

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

LIVE = ("scheduled", "running")
HOOKED = ("follow", "binding", "purchase", "custom", "level_up")  # fired by hooks; the others by daily scans
CACHE_SECONDS = 15.0

_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # runtime → {event: (expires, [(id, name)])}


@dataclass(frozen=True)
class Trigger:
    """A live triggered campaign, as the hooks and scans need it."""

    campaign_id: int
    event: str
    days: int | None
    name: str | None  # a custom event's name


def cause_of(event: str, customer_id: int, ref: str | None = None) -> str:
    return f"{event}:{customer_id}" if ref is None else f"{event}:{customer_id}:{ref}"


def live_triggers(*, db_session: Session, event: str, name: str | None = None) -> list[Trigger]:
    """Launched campaigns triggered by ``event`` (and, for ``custom``, named ``name``)."""
    rows = db_session.execute(select(Campaign.id, Campaign.schedule, Campaign.audience)
                              .where(Campaign.status.in_(LIVE)).order_by(Campaign.id))
    found = []
    for campaign_id, schedule, audience in rows:
        if (schedule or {}).get("kind") != "trigger" or schedule.get("event") != event:
            continue
        if (audience or {}).get("groups") or (name is not None and schedule.get("name") != name):
            continue
        found.append(Trigger(campaign_id, event, schedule.get("days"), schedule.get("name")))
    return found


def forget_cached_triggers(runtime: Runtime) -> None:
    """Drop this process's cached lists (after a launch here, they are read again)."""
    _cache.pop(runtime, None)


def _wanted(runtime: Runtime, db_session: Session, event: str, name: str | None) -> bool:
    cached = _cache.setdefault(runtime, {})
    expires, triggers = cached.get(event, (0.0, []))
    if expires <= time.monotonic():
        triggers = live_triggers(db_session=db_session, event=event)
        cached[event] = (time.monotonic() + CACHE_SECONDS, triggers)
    return any(name is None or t.name == name for t in triggers)


def event_happened(runtime: Runtime, db_session: Session, *, event: str, customer_id: int,
                   ref: str | None = None, name: str | None = None) -> None:
    """The hook: when a live campaign waits for ``event``, fire it after the caller's commit."""
    if _wanted(runtime, db_session, event, name):
        enqueue_after_commit(db_session, fire_event, event, customer_id, ref, name, queue="outreach")


@job
def fire_event(runtime: Runtime, event: str, customer_id: int, ref: str | None = None, name: str | None = None) -> list[int]:
    """Job: fire every live campaign triggered by the event for the customer; returns the new
    runs' ids (none for campaigns that fired for this occurrence before)."""

    with runtime.transaction() as db_session:
        triggers = live_triggers(db_session=db_session, event=event, name=name if event == "custom" else None)
    runs = []
    for trigger in triggers:
        run_id = fire(runtime, trigger.campaign_id, customer_id, cause_of(event, customer_id, ref))
        if run_id is not None:
            runs.append(run_id)
    return runs


def fire(runtime: Runtime, campaign_id: int, customer_id: int, cause: str) -> int | None:
    """One firing in its own transaction, the delivery queued after the commit."""
    with runtime.transaction() as db_session:
        fired = fire_in(runtime=runtime, db_session=db_session, campaign_id=campaign_id, customer_id=customer_id,
                        cause=cause)
    if fired is None:
        return None
    run_id, due_now = fired
    planner.enqueue_sends(runtime, due_now)
    return run_id


def fire_in(*, runtime: Runtime, db_session: Session, campaign_id: int, customer_id: int,
            cause: str) -> tuple[int, list[int]] | None:
    """The run and the customer's delivery, in the caller's transaction: ``(run id, ids of
    deliveries due now)`` to queue after the commit, or None when the campaign is not live,
    the customer not in its audience, or this occurrence fired it before."""
    campaign = db_session.get(Campaign, campaign_id)
    customer = resolve(db_session=db_session, customer_id=customer_id)
    if campaign is None or campaign.status not in LIVE or customer is None:
        return None
    now = runtime.clock.now()
    inside = audience_ids(db_session=db_session, audience=campaign.audience, now=now).where(Customer.id == customer.id)
    if db_session.scalar(inside) is None:
        return None
    run_id = _new_run(db_session, campaign_id, cause, now)
    if run_id is None:
        return None
    due_now = planner.plan_batch(runtime=runtime, db_session=db_session, run_id=run_id,
                                 settings=planner._Settings(campaign, now), customer_ids=[customer.id])
    db_session.execute(update(CampaignRun).where(CampaignRun.id == run_id)
                       .values(status="planned", planned=1, planned_at=now))
    return run_id, due_now


def _new_run(db_session: Session, campaign_id: int, cause: str, at: datetime) -> int | None:
    table = CampaignRun.__table__
    insert = dialect_insert(db_session, table).values(
        campaign_id=campaign_id, cause=cause, status="planning", planned=0, started_at=at,
    ).on_conflict_do_nothing(index_elements=["campaign_id", "cause"], index_where=table.c.cause != "schedule")
    return db_session.execute(insert.returning(table.c.id)).scalar()
