"""Planning a campaign run: its audience turned into deliveries, in batches, each batch
committed before its ids are queued (commit, then enqueue ids).

For each customer of the audience, in id order, ``PLAN_BATCH`` at a time:

1. the variant: a stable hash of (campaign, customer) puts the customer in the holdout group
   (``holdout_percent``) or in a variant by its weight, the same on every run;
2. the slot: the weekly cap and quiet hours (scrm/outreach/cap.py), deferred or skipped as the
   campaign says;
3. the delivery row, keyed ``<run>:<customer>`` (``ON CONFLICT DO NOTHING``): planning a run
   again after a crash adds nothing twice, and the cap's reservations carry the same key.

Deliveries due now are queued to the sender once their batch is committed; later ones are
queued by the sweep of due deliveries (scrm/outreach/sender.py), which also re-queues any a
lost worker left behind.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from scrm.customers.service import dialect_insert
from scrm.db import as_utc
from scrm.outreach.cap import FrequencyCap
from scrm.outreach.campaigns import audience_ids
from scrm.outreach.models import Campaign, CampaignRun, Delivery

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

PLAN_BATCH = 5000
SEND_CHUNK = 200  # deliveries per sender job
_deliveries = Delivery.__table__


def plan_run(run_id: int) -> int:
    """Job: plan every delivery of the run; returns how many it planned (skips included)."""
    from scrm.runtime import current

    runtime = current()
    with runtime.transaction() as db_session:
        run = db_session.get(CampaignRun, run_id)
        if run is None or run.status != "planning":
            return 0
        campaign = db_session.get(Campaign, run.campaign_id)
        settings = _Settings(campaign, as_utc(run.started_at))
    planned, after = 0, 0
    while True:
        with runtime.transaction() as db_session:
            ids = list(db_session.scalars(
                audience_ids(db_session=db_session, audience=settings.audience, now=settings.due)
                .where(_customer_id_column() > after).order_by(_customer_id_column()).limit(PLAN_BATCH)
            ))
            if not ids:
                db_session.execute(update(CampaignRun).where(CampaignRun.id == run_id)
                                   .values(status="planned", planned=planned, planned_at=runtime.clock.now()))
                break
            due_now = plan_batch(runtime=runtime, db_session=db_session, run_id=run_id, settings=settings,
                                 customer_ids=ids)
        enqueue_sends(runtime, due_now)
        planned += len(ids)
        after = ids[-1]
    return planned


class _Settings:
    """What planning needs of the campaign, read once."""

    def __init__(self, campaign: Campaign, due: datetime) -> None:
        self.campaign_id = campaign.id
        self.audience = campaign.audience
        self.channel = campaign.channel
        self.defer = campaign.when_capped == "defer"
        self.holdout = campaign.holdout_percent
        self.variants = [(v["name"], v["weight"]) for v in campaign.variants] or [("main", 100)]
        self.due = due


def plan_batch(*, runtime: Runtime, db_session: Session, run_id: int, settings: _Settings,
               customer_ids: list[int]) -> list[int]:
    """Insert one batch's deliveries; returns the ids of those due now, to send."""
    now = runtime.clock.now()
    variants = {c: variant_of(settings, c) for c in customer_ids}
    reaching = [c for c in customer_ids if variants[c] != "holdout"]
    slots = dict(zip(reaching, FrequencyCap(runtime.redis, runtime.config).reserve_many(
        [(c, _key(run_id, c)) for c in reaching], settings.due, now, defer=settings.defer), strict=True))
    rows = []
    for customer_id in customer_ids:
        slot = slots.get(customer_id)
        status = "holdout" if slot is None else "planned" if slot.due_at is not None else "skipped"
        rows.append({
            "campaign_id": settings.campaign_id, "run_id": run_id, "customer_id": customer_id,
            "idempotency_key": _key(run_id, customer_id), "variant": variants[customer_id],
            "channel": settings.channel, "status": status, "reason": slot.reason if slot else None,
            "due_at": slot.due_at if slot is not None and slot.due_at is not None else settings.due,
            "attempts": 0, "created_at": now,
        })
    insert = dialect_insert(db_session, _deliveries).on_conflict_do_nothing(index_elements=["idempotency_key"])
    db_session.execute(insert, rows)
    keys = [_key(run_id, c) for c, slot in slots.items() if slot.due_at is not None and slot.due_at <= now]
    if not keys:
        return []
    return list(db_session.scalars(select(Delivery.id).where(Delivery.idempotency_key.in_(keys),
                                                             Delivery.status == "planned")))


def variant_of(settings: _Settings, customer_id: int) -> str:
    """The customer's group in this campaign, stable across runs: ``holdout`` or a variant."""
    digest = hashlib.blake2b(f"{settings.campaign_id}:{customer_id}".encode(), digest_size=8).digest()
    point = int.from_bytes(digest[:4], "big") % 10_000 / 100  # 0.00-99.99
    if point < settings.holdout:
        return "holdout"
    pick = int.from_bytes(digest[4:], "big") % 100
    for name, weight in settings.variants:
        if pick < weight:
            return name
        pick -= weight
    return settings.variants[-1][0]


def enqueue_sends(runtime: Runtime, delivery_ids: list[int]) -> None:
    from scrm.outreach.sender import send_deliveries

    for start in range(0, len(delivery_ids), SEND_CHUNK):
        runtime.queue.enqueue(send_deliveries, delivery_ids[start:start + SEND_CHUNK], queue="outreach")


def _key(run_id: int, customer_id: int) -> str:
    return f"{run_id}:{customer_id}"


def _customer_id_column():  # noqa: ANN202
    from scrm.customers.models import Customer

    return Customer.id
