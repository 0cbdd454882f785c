"""Which customers' tags to mirror to WeChat once a transaction commits (scrm/mirror/jobs.py).

Anything that changes which tags customers carry calls :func:`customers_changed` inside its
transaction; the ids are gathered in the session and one sync job is queued at the commit.
This module sits below the tag services (tagging/scores.py calls it) and names the job by
its path, so that the services never import the mirror, whose modules use them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from scrm.customers.models import CustomerIdentity
from scrm.queue import gather_after_commit
from tagging.models import CustomerTag

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

SYNC_JOB = "scrm.mirror.jobs.sync_customer_tags"
SYNC_BATCH = 200  # customers per sync job: ~2 WeChat reads each
_KNOWN = "scrm.tag_mirror.known"  # customers of this session known to have an identity
QUIET = "scrm.tag_mirror.quiet"  # customers the running sync pushes itself


def customers_changed(db_session: Session, customer_ids: Iterable[int]) -> None:
    """These customers' tags changed in this transaction: sync them to WeChat once it commits."""
    ids = set(customer_ids) - db_session.info.get(QUIET, set())
    if not ids:
        return
    known = db_session.info.setdefault(_KNOWN, set())
    if ids - known:
        query = select(CustomerIdentity.customer_id).where(CustomerIdentity.customer_id.in_(ids - known))
        known.update(db_session.scalars(query))
    if ids & known:
        gather_after_commit(db_session, SYNC_JOB, sorted(ids & known), chunk=SYNC_BATCH)


def contact_added(db_session: Session, customer_id: int, now: datetime) -> None:
    """A WeCom member has the customer as a new contact: the tags they carry go on that pair."""
    carries = db_session.scalar(
        select(CustomerTag.tag_id)
        .where(CustomerTag.customer_id == customer_id, CustomerTag.active_until > now)
        .limit(1)
    )
    if carries is not None:
        customers_changed(db_session, [customer_id])


def enqueue_sync(runtime: Runtime, customer_ids: list[int]) -> None:
    """Queue syncs for customers changed by a committed bulk write (no session to gather in)."""
    for start in range(0, len(customer_ids), SYNC_BATCH):
        runtime.queue.enqueue(SYNC_JOB, customer_ids[start : start + SYNC_BATCH])
