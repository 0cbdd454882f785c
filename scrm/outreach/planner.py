"""Planning a campaign run: its audience turned into deliveries, in batches, each batch
committed before its ids are queued (commit, then enqueue ids).

For each customer of the audience, in id order, ``PLAN_BATCH`` at a time:

1. the variant: a stable hash of (campaign, customer) puts the customer in the holdout group
   (``holdout_percent``) or in a variant by its weight, the same on every run;
2. the slot: the weekly cap and quiet hours (scrm/outreach/cap.py), deferred or skipped as the
   campaign says;
3. the delivery row, keyed ``<run>:<customer>`` (``ON CONFLICT DO NOTHING``): planning a run
   again after a crash adds nothing twice, and the cap's reservations carry the same key.

Deliveries due now are queued to the sender once their batch is committed (``SEND_CHUNK`` a
job); later ones are queued by the sweep of due deliveries (scrm/outreach/sweeps.py), which also
re-queues any a lost worker left behind.

At scale (bench/outreach.py: 500,000 of 1,000,000 customers), on PostgreSQL: the audience is
read by one statement through a server-side cursor, the cap takes a batch in a few script calls
(scrm/outreach/cap.py), and a batch's rows go in one ``INSERT … SELECT FROM unnest(…)`` that
returns the ids due now; elsewhere (SQLite) a query per batch and a multi-row insert.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, text, update

from scrm.clock import as_utc
from scrm.customers.models import Customer
from scrm.db import dialect_insert
from scrm.outreach import finishing
from scrm.outreach.campaigns import audience_ids
from scrm.outreach.cap import FrequencyCap, QuietHours
from scrm.outreach.models import Campaign, CampaignRun, Delivery
from scrm.runtime import Runtime, job

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime

    from sqlalchemy.orm import Session

    from scrm.outreach.cap import Slot


PLAN_BATCH = 5000
SEND_CHUNK = 500  # deliveries per sender job
_deliveries = Delivery.__table__


@job
def plan_run(runtime: Runtime, run_id: int) -> int:
    """Job: plan every delivery of the run; returns how many it planned (skips included)."""
    with runtime.transaction() as db_session:
        run = db_session.get(CampaignRun, run_id)
        if run is None or run.status != "planning":
            return 0
        campaign = db_session.get(Campaign, run.campaign_id)
        settings = _Settings(campaign, as_utc(run.started_at))
    if settings.audience.get("groups"):  # a group message: one delivery per group, no customers
        from scrm.outreach.group_messages import plan_group_run  # here, not at the top: it imports this module

        return plan_group_run(runtime, run_id, settings)
    planned = 0
    for ids in _audience(runtime, settings):
        with runtime.transaction() as db_session:
            due_now = plan_batch(runtime=runtime, db_session=db_session, run_id=run_id, settings=settings,
                                 customer_ids=ids)
        enqueue_sends(runtime, due_now)
        planned += len(ids)
    with runtime.transaction() as db_session:
        db_session.execute(update(CampaignRun).where(CampaignRun.id == run_id)
                           .values(status="planned", planned=planned, planned_at=runtime.clock.now()))
        finishing.finish(db_session=db_session, run_ids=[run_id])  # all skipped or held out: done now
    return planned


def _audience(runtime: Runtime, settings: _Settings) -> Iterator[list[int]]:
    """The audience's ids in id order, ``PLAN_BATCH`` at a time. PostgreSQL: one statement read
    through a server-side cursor on a connection of its own (a tag expression's join cannot
    start at a given id: re-running it per batch rescans what came before, quadratic in the
    audience). Elsewhere: a query per batch, from the last id on."""
    column = _customer_id_column()
    if runtime.engine.dialect.name == "postgresql":
        with runtime.session_factory() as db_session, db_session.begin():
            query = audience_ids(db_session=db_session, audience=settings.audience, now=settings.due)
            result = db_session.connection().execute(query.order_by(column),  # Core: no ORM rows
                                                      execution_options={"yield_per": PLAN_BATCH})
            for ids in result.scalars().partitions(PLAN_BATCH):
                yield list(ids)
        return
    after = 0
    while True:
        with runtime.transaction() as db_session:
            ids = list(db_session.scalars(
                audience_ids(db_session=db_session, audience=settings.audience, now=settings.due)
                .where(column > after).order_by(column).limit(PLAN_BATCH)))
        if not ids:
            return
        yield ids
        after = ids[-1]


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
    variants = variants_of(settings, customer_ids)
    reaching = [c for c, v in zip(customer_ids, variants, strict=True) if v != "holdout"]
    slots = dict(zip(reaching, FrequencyCap(runtime.redis, runtime.config).reserve_many(
        [(c, _key(run_id, c)) for c in reaching], settings.due, now, defer=settings.defer), strict=True))
    statuses, reasons, dues = [], [], []
    quiet_end = QuietHours.parse(runtime.config.outreach.quiet_hours, runtime.config.brand.timezone).next_open(
        settings.due)
    for customer_id in customer_ids:
        slot = slots.get(customer_id)
        statuses.append("holdout" if slot is None else "planned" if slot.due_at is not None else "skipped")
        reasons.append(_why(slot, settings.due, quiet_end))
        dues.append(slot.due_at if slot is not None and slot.due_at is not None else settings.due)
    if db_session.get_bind().dialect.name == "postgresql":
        due_now, inserted = _insert_unnest(db_session, run_id, settings, now, customer_ids, variants, statuses,
                                           reasons, dues)
        if inserted == len(customer_ids):  # all new: no earlier planning of this batch to queue again
            return due_now
    else:
        rows = [{"campaign_id": settings.campaign_id, "run_id": run_id, "customer_id": customer_id,
                 "idempotency_key": _key(run_id, customer_id), "variant": variant, "channel": settings.channel,
                 "status": status, "reason": reason, "due_at": due, "attempts": 0, "created_at": now}
                for customer_id, variant, status, reason, due in zip(customer_ids, variants, statuses, reasons, dues,
                                                                      strict=True)]
        insert = dialect_insert(db_session, _deliveries).on_conflict_do_nothing(index_elements=["idempotency_key"])
        db_session.execute(insert, rows)
    keys = [_key(run_id, c) for c, slot in slots.items() if slot.due_at is not None and slot.due_at <= now]
    if not keys:
        return []
    return list(db_session.scalars(select(Delivery.id).where(Delivery.idempotency_key.in_(keys),
                                                             Delivery.status == "planned")))


# One statement per batch. The rows go as comma-separated text, one per column, turned into
# arrays and unnested by PostgreSQL (dumping 5,000 datetimes one by one costs more than the
# insert): the customer ids; per row an index into the few (variant, status, reason) there are;
# the due moment as microseconds after the run's. The constant columns are bound once.
_INSERT_UNNEST = text("""
WITH inserted AS (
  INSERT INTO deliveries (campaign_id, run_id, customer_id, idempotency_key, variant, channel, status, reason,
                          due_at, attempts, created_at)
  SELECT :campaign_id, :run_id, u.customer_id, CAST(:prefix AS text) || u.customer_id,
         (CAST(:variants AS text[]))[u.kind], :channel, (CAST(:statuses AS text[]))[u.kind],
         (CAST(:reasons AS text[]))[u.kind], CAST(:due AS timestamptz) + u.after_us * interval '1 microsecond',
         0, :now
  FROM unnest(CAST(string_to_array(:customer_ids, ',') AS bigint[]), CAST(string_to_array(:kinds, ',') AS int[]),
              CAST(string_to_array(:after_us, ',') AS bigint[])) AS u(customer_id, kind, after_us)
  ON CONFLICT (idempotency_key) DO NOTHING
  RETURNING id, status, due_at
)
SELECT id, status = 'planned' AND due_at <= :now AS due FROM inserted ORDER BY id
""")
_MICROSECOND = timedelta(microseconds=1)


def _insert_unnest(db_session: Session, run_id: int, settings: _Settings, now: datetime, customer_ids: list[int],
                   variants: list[str], statuses: list[str], reasons: list[str | None],
                   dues: list[datetime]) -> tuple[list[int], int]:
    """(ids of the new deliveries due now, how many were new)."""
    kinds: dict[tuple[str, str, str | None], int] = {}
    afters: dict[datetime, int] = {}
    kind_of, after_of = [], []
    for variant, status, reason, due in zip(variants, statuses, reasons, dues, strict=True):
        kind = kinds.get((variant, status, reason))
        if kind is None:
            kind = kinds[(variant, status, reason)] = len(kinds) + 1  # PostgreSQL arrays count from 1
        kind_of.append(kind)
        after = afters.get(due)
        if after is None:
            after = afters[due] = (due - settings.due) // _MICROSECOND
        after_of.append(after)
    rows = db_session.execute(_INSERT_UNNEST, {
        "campaign_id": settings.campaign_id, "run_id": run_id, "prefix": f"{run_id}:", "channel": settings.channel,
        "now": now, "due": settings.due, "variants": [k[0] for k in kinds], "statuses": [k[1] for k in kinds],
        "reasons": [k[2] for k in kinds], "customer_ids": ",".join(map(str, customer_ids)),
        "kinds": ",".join(map(str, kind_of)), "after_us": ",".join(map(str, after_of))}).all()
    return [row.id for row in rows if row.due], len(rows)


def _why(slot: Slot | None, due: datetime, quiet_end: datetime) -> str | None:
    """Why a delivery is skipped (the cap's reason), or why it waits past the run's moment:
    ``quiet_hours`` when it goes when they end, else ``capped`` (deferred by the weekly cap)."""
    if slot is None:
        return None
    if slot.due_at is None or slot.due_at == due:
        return slot.reason
    return "quiet_hours" if slot.due_at == quiet_end else "capped"


def variants_of(settings: _Settings, customer_ids: list[int]) -> list[str]:
    """Each customer's group in this campaign, stable across runs (``holdout`` or a variant):
    a hash of ``"<campaign>:<customer>"`` (blake2b, 8 bytes),
    its first 4 bytes placing the customer in the holdout (per 10,000), the last 4 in a variant
    by weight (per 100)."""
    prefix = f"{settings.campaign_id}:"
    holdout = settings.holdout * 100  # point < holdout, in 1/100 of a percent
    # The variant of each pick 0-99, looked up instead of walking the weights every time.
    table: list[str] = []
    for name, weight in settings.variants:
        table += [name] * max(weight, 0)
    table = (table + [settings.variants[-1][0]] * 100)[:100]
    blake2b, from_bytes = hashlib.blake2b, int.from_bytes
    out = []
    for customer_id in customer_ids:
        digest = blake2b(f"{prefix}{customer_id}".encode(), digest_size=8).digest()
        if from_bytes(digest[:4], "big") % 10_000 < holdout:
            out.append("holdout")
        else:
            out.append(table[from_bytes(digest[4:], "big") % 100])
    return out


def enqueue_sends(runtime: Runtime, delivery_ids: list[int]) -> None:
    from scrm.outreach.sender import send_deliveries  # here, not at the top: sender → group_messages → planner

    for start in range(0, len(delivery_ids), SEND_CHUNK):
        runtime.queue.enqueue(send_deliveries, delivery_ids[start:start + SEND_CHUNK], queue="outreach")


def _key(run_id: int, customer_id: int) -> str:
    return f"{run_id}:{customer_id}"


def _customer_id_column():  # noqa: ANN202
    return Customer.id
