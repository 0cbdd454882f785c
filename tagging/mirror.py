"""Our tags mirrored to WeChat, and WeChat's tag edits taken back (SPEC §5).

**When.** Whatever changes whether customers carry tags — a rule in the webhook's
transaction, a manager, an order's recomputation, a merge, the hourly lapse sweep, a group's
rescoring — calls :func:`customers_changed` inside its transaction. The ids are gathered in
the session and, when it commits, ONE job :func:`sync_customer_tags` is queued for all of
them (jobs of ``SYNC_BATCH`` customers for a big transaction); nothing if it rolls back, so a
callback WeChat retries (one effect) queues one sync. The nightly recompute of every customer
writes with SQL of its own and queues its changed customers per batch
(:func:`enqueue_sync`). Only customers WeChat knows (an MP or WeCom identity) are queued.

**What.** Every carried tag is mirrored, the computed groups too (RFM and lifecycle are what
mass sends by tag aim at): MP user tags on the customer's openids (at most 20, in
tagging/mirror_plan.py's order; tagging/mirror_mp.py) and WeCom corp tags on the pair with
one member (tagging/mirror_work.py). The job reads what WeChat has, takes back what WeCom
members changed by hand (tagging/mirror_inbound.py), then writes only the difference: it can
be retried from the start, and a sync with nothing to change writes nothing. A failing
channel does not hold up the other; its error fails the job, which the queue retries.

**Inbound.** ``edit_external_contact`` (a member edited the customer, tags included) queues
the customer's sync; ``change_external_tag`` queues :func:`refresh_corp_tags`; a new WeCom
contact of a customer who carries tags queues a sync to put them on the new pair.

Not mirrored: MP names after a rename in WeCom (the MP tag keeps its name), and the deletion
of one of our tags (its MP tag and corp tag stay in WeChat, no longer ours, left alone).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from scrm.customers.models import CustomerIdentity
from scrm.queue import enqueue_after_commit, gather_after_commit
from scrm.runtime import current
from tagging import mirror_inbound, mirror_mp, mirror_plan, mirror_work
from tagging.models import CustomerTag

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from handlers.events import ExternalTagChange
    from scrm.runtime import Runtime

log = logging.getLogger(__name__)

SYNC_BATCH = 200  # customers per sync job: ~2 WeChat reads each
_KNOWN = "scrm.tag_mirror.known"  # customers of this session known to have an identity
_QUIET = "scrm.tag_mirror.quiet"  # customers the running sync pushes itself


def customers_changed(db_session: Session, customer_ids: Iterable[int]) -> None:
    """These customers' tags changed in this transaction: sync them to WeChat once it commits."""
    ids = set(customer_ids) - db_session.info.get(_QUIET, set())
    if not ids:
        return
    known = db_session.info.setdefault(_KNOWN, set())
    if ids - known:
        query = select(CustomerIdentity.customer_id).where(CustomerIdentity.customer_id.in_(ids - known))
        known.update(db_session.scalars(query))
    if ids & known:
        gather_after_commit(db_session, sync_customer_tags, sorted(ids & known), chunk=SYNC_BATCH)


def contact_added(db_session: Session, customer_id: int, now: datetime) -> None:
    """A WeCom member has the customer as a new contact: the tags they carry go on that pair."""
    carries = db_session.scalar(
        select(CustomerTag.tag_id)
        .where(CustomerTag.customer_id == customer_id, CustomerTag.active_until > now)
        .limit(1)
    )
    if carries is not None:
        customers_changed(db_session, [customer_id])


def corp_tags_changed(db_session: Session, change: ExternalTagChange) -> None:
    """``change_external_tag``: the corp tag library changed in WeCom's admin."""
    if change.change_type != "shuffle":  # a new order of tags changes nothing of ours
        enqueue_after_commit(db_session, refresh_corp_tags)


def enqueue_sync(runtime: Runtime, customer_ids: list[int]) -> None:
    """Queue syncs for customers changed by a committed bulk write (no session to gather in)."""
    for start in range(0, len(customer_ids), SYNC_BATCH):
        runtime.queue.enqueue(sync_customer_tags, customer_ids[start : start + SYNC_BATCH])


# -- jobs ----------------------------------------------------------------------------------


def sync_customer_tags(customer_ids: list[int]) -> None:
    """The job: bring the customers' WeChat tags (MP and WeCom) in line with ours."""
    runtime = current()
    now = runtime.clock.now()
    with runtime.transaction() as db_session:
        targets = mirror_plan.targets(db_session=db_session, customer_ids=customer_ids)
    if not targets:
        return
    # WeChat is read and written outside any transaction: no row stays locked meanwhile.
    followers = mirror_mp.read(runtime, targets)
    pairs = mirror_work.read(runtime, targets)
    ids = [target.customer_id for target in targets]
    with runtime.transaction() as db_session:
        db_session.info[_QUIET] = set(ids)  # this job pushes what the members' edits change
        mirror_inbound.apply_member_edits(db_session=db_session, pairs=pairs, now=now)
        wanted = mirror_plan.wanted(db_session=db_session, customer_ids=ids, now=now)
    failure: BaseException | None = None
    for push in (
        lambda: mirror_mp.push(runtime, targets, followers, wanted, now),
        lambda: mirror_work.push(runtime, pairs, wanted, now),
    ):
        try:
            push()
        except Exception as exc:  # noqa: BLE001 - the other channel goes on; raised below
            failure = failure or exc
    if failure is not None:
        raise failure


def refresh_corp_tags() -> None:
    """The job for ``change_external_tag``: our tags after WeCom's corp tag library."""
    runtime = current()
    groups = runtime.work.corp_tags()
    with runtime.transaction() as db_session:
        mirror_inbound.reconcile_corp_tags(db_session=db_session, groups=groups)
