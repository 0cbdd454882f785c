"""A run, and a one-off campaign, finishing (完成): a planned run with no delivery left
``planned`` or ``sending`` is ``done``; a ``once`` campaign that is ``running``, has no next run
and whose runs are all done is ``done``.

:func:`finish` is called in the transaction that makes deliveries final (the sender's flush,
the recovery sweep) or that ends planning (a run whose deliveries were all skipped or held out
at planning is done at once), so a campaign is done the moment its last delivery is; the
scheduler's sweep calls it too, as a safety net.

**Race-free.** Two workers finishing a run's last two deliveries each see the other's as still
``sending`` (neither has committed): checked naively, both would leave the run open. So the
check comes after the deliveries are written and after the run's row is locked (``FOR NO KEY
UPDATE``, in id order): the second worker waits for the first to commit, then its check (a new
statement: a new snapshot under READ COMMITTED) sees both rows final. Only the tail of a run
pays for the lock: a run that still has ``planned`` deliveries (which no flush is finishing) is
passed over without one. SQLite writes one transaction at a time, which serialises the same.
The campaign moves with ``WHERE status = 'running'`` under its row's lock: done exactly once.

**Recurring and triggered campaigns** are not one-offs: their runs are done as they finish,
the campaign itself stays ``running`` (more runs will come) until it is paused or cancelled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import exists, select, update

from scrm.outreach.models import Campaign, CampaignRun, Delivery

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

UNSENT = ("planned", "sending")


@dataclass(frozen=True)
class Finished:
    runs: tuple[int, ...] = ()
    campaigns: tuple[int, ...] = ()  # moved to done by this call


def finish(*, db_session: Session, run_ids: Iterable[int]) -> Finished:
    """Close the given runs that have nothing left to send, and their once campaigns; call it
    after the deliveries' new states are written, in the same transaction."""
    wanted = sorted(set(run_ids))
    if not wanted:
        return Finished()
    runs = db_session.execute(select(CampaignRun.id, CampaignRun.campaign_id).where(
        CampaignRun.id.in_(wanted), CampaignRun.status == "planned").order_by(CampaignRun.id)).all()
    # Unlocked first look: a run with planned deliveries is not finishing in this transaction.
    tail = [(r, c) for r, c in runs if not _left(db_session, r, c, ("planned",))]
    if not tail:
        return Finished()
    db_session.execute(select(CampaignRun.id).where(CampaignRun.id.in_([r for r, _ in tail]))
                       .order_by(CampaignRun.id).with_for_update(key_share=True))
    # Locked, and a new statement: under READ COMMITTED it sees what the other finishers committed.
    ended = [(r, c) for r, c in tail if not _left(db_session, r, c, UNSENT)]
    if not ended:
        return Finished()
    done = db_session.scalars(update(CampaignRun).where(CampaignRun.id.in_([r for r, _ in ended]),
                                                        CampaignRun.status == "planned")
                              .values(status="done").returning(CampaignRun.id)
                              .execution_options(synchronize_session=False)).all()
    if not done:
        return Finished()
    return Finished(tuple(sorted(done)), _finish_campaigns(db_session, sorted({c for r, c in ended if r in done})))


def _left(db_session: Session, run_id: int, campaign_id: int, statuses: tuple[str, ...]) -> bool:
    """Whether the run has a delivery in one of ``statuses``: one row looked up by the
    (campaign, status) index, however many the run holds (an EXISTS here became a semi-join
    that read every planned row of a large run: 16 ms a flush at 300,000)."""
    return db_session.scalar(select(Delivery.id).where(
        Delivery.campaign_id == campaign_id, Delivery.status.in_(statuses), Delivery.run_id == run_id).limit(1)
    ) is not None


def _finish_campaigns(db_session: Session, campaign_ids: list[int]) -> tuple[int, ...]:
    rows = db_session.execute(select(Campaign.id, Campaign.schedule).where(Campaign.id.in_(campaign_ids))
                              .order_by(Campaign.id).with_for_update(key_share=True)).all()
    once = [campaign_id for campaign_id, schedule in rows if (schedule or {}).get("kind") == "once"]
    if not once:
        return ()
    open_runs = exists().where(CampaignRun.campaign_id == Campaign.id, CampaignRun.status != "done")
    moved = db_session.scalars(update(Campaign).where(
        Campaign.id.in_(once), Campaign.status == "running", Campaign.next_run_at.is_(None), ~open_runs)
        .values(status="done").returning(Campaign.id).execution_options(synchronize_session=False)).all()
    for campaign_id in moved:
        log.info("campaign %d done: every delivery is final", campaign_id)
    return tuple(sorted(moved))


def open_runs(db_session: Session, limit: int = 1000) -> list[int]:
    """Planned runs that look finished (nothing planned or sending), unlocked: the sweep's safety
    net hands these to :func:`finish`, which looks again under the lock."""
    unsent = exists().where(Delivery.run_id == CampaignRun.id, Delivery.status.in_(UNSENT))
    return list(db_session.scalars(select(CampaignRun.id).where(CampaignRun.status == "planned", ~unsent)
                                   .order_by(CampaignRun.id).limit(limit)))
