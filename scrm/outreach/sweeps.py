"""The scheduler's outreach sweeps: campaigns whose time has come started (each run planned by
a job after the commit), due deliveries queued to the senders (scrm/outreach/sender.py),
deliveries a lost worker left ``sending`` recovered, and finished runs closed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, exists, func, select, update

from scrm.outreach import finishing, planner
from scrm.outreach.campaigns import start_due_runs
from scrm.outreach.models import Campaign, Delivery
from scrm.outreach.sender import SWEEP_LIMIT, queued_key, recorded, sent_key, stuck_after
from scrm.runtime import Runtime, job

if TYPE_CHECKING:
    from scrm.runtime import Runtime

log = logging.getLogger(__name__)

_deliveries = Delivery.__table__


@job
def sweep_due_deliveries(runtime: Runtime) -> int:
    """Scheduled: recover deliveries lost in ``sending``, then queue the planned ones due now
    (oldest first, in chunks); returns how many it queued."""

    recover_stuck(runtime)
    finish_runs(runtime)
    with runtime.transaction() as db_session:
        ids = list(db_session.scalars(select(Delivery.id).where(
            Delivery.status == "planned", Delivery.due_at <= runtime.clock.now(),
            exists().where(Campaign.id == Delivery.campaign_id, Campaign.status != "paused"))
            .order_by(Delivery.due_at, Delivery.id).limit(SWEEP_LIMIT)))
    pipe = runtime.redis.pipeline(transaction=False)
    for delivery_id in ids:
        pipe.set(queued_key(delivery_id), 1, nx=True, ex=runtime.config.outreach.stuck_after_seconds)
    fresh = [d for d, newly in zip(ids, pipe.execute() if ids else [], strict=True) if newly]
    planner.enqueue_sends(runtime, fresh)
    return len(fresh)


def recover_stuck(runtime: Runtime) -> tuple[int, int]:
    """Deliveries ``sending`` for longer than ``outreach.stuck_after_seconds``: sent if their
    idempotency key says so, else back to ``planned`` (due now). Returns (marked sent, put back)."""
    now = runtime.clock.now()
    with runtime.transaction() as db_session:
        stuck = db_session.execute(select(Delivery.id, Delivery.idempotency_key, Delivery.run_id).where(
            Delivery.status == "sending", Delivery.claimed_at < now - stuck_after(runtime)).limit(SWEEP_LIMIT)).all()
        if not stuck:
            return 0, 0
        refs = runtime.redis.mget([sent_key(key) for _, key, _ in stuck])
        done = [{"b_id": d, "b_channel": recorded(ref)[0], "b_ref": recorded(ref)[1]}
                for (d, _, _), ref in zip(stuck, refs, strict=True) if ref is not None]
        lost = [d for (d, _, _), ref in zip(stuck, refs, strict=True) if ref is None]
        if done:
            db_session.connection().execute(
                _deliveries.update().where(_deliveries.c.id == bindparam("b_id"), _deliveries.c.status == "sending")
                .values(status="sent", wechat_ref=bindparam("b_ref"), sent_at=now,
                        channel=func.coalesce(bindparam("b_channel"), _deliveries.c.channel)), done)
            finishing.finish(db_session=db_session, run_ids={r for _, _, r in stuck})
        if lost:
            db_session.execute(update(Delivery).where(Delivery.id.in_(lost), Delivery.status == "sending")
                               .values(status="planned", due_at=now, last_error="lost while sending"))
    if lost:
        runtime.redis.delete(*[queued_key(d) for d in lost])
    log.info("outreach recovery: %d found sent, %d put back", len(done), len(lost))
    return len(done), len(lost)


def finish_runs(runtime: Runtime) -> list[int]:
    """The safety net: planned runs with nothing left to send are ``done``, and so is a
    ``once`` campaign whose runs all are (the sender does this as it goes: scrm/outreach/finishing.py).
    Returns the runs finished."""
    with runtime.transaction() as db_session:
        return list(finishing.finish(db_session=db_session, run_ids=finishing.open_runs(db_session)).runs)


@job
def start_campaign_runs(runtime: Runtime) -> list[int]:
    """Scheduled: fire the campaigns whose time has come; plan each run after the commit."""

    with runtime.transaction() as db_session:
        run_ids = start_due_runs(runtime=runtime, db_session=db_session)
    for run_id in run_ids:
        runtime.queue.enqueue(planner.plan_run, run_id, queue="outreach")
    return run_ids
