"""Our tags mirrored to WeChat, and WeChat's tag edits taken back (SPEC §5).

**When.** Whatever changes whether customers carry tags — a rule in the webhook's
transaction, a manager, an order's recomputation, a merge, the hourly lapse sweep, a group's
rescoring — calls ``mirror_queue.customers_changed`` inside its transaction. The ids are gathered in
the session and, when it commits, ONE job :func:`sync_customer_tags` is queued for all of
them (jobs of ``SYNC_BATCH`` customers for a big transaction); nothing if it rolls back, so a
callback WeChat retries (one effect) queues one sync. The nightly recompute of every customer
writes with SQL of its own and queues its changed customers per batch
(``mirror_queue.enqueue_sync``). Only customers WeChat knows (an MP or WeCom identity) are queued.

**What.** Every carried tag is mirrored, the computed groups too (RFM and lifecycle are what
mass sends by tag aim at): MP user tags on the customer's openids (at most 20, in
scrm/mirror/plan.py's order; scrm/mirror/mp.py) and WeCom corp tags on the pair with
one member (scrm/mirror/work.py). The job reads what WeChat has, takes back what WeCom
members changed by hand (scrm/mirror/inbound.py), then writes only the difference: it can
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
from typing import TYPE_CHECKING

from scrm.mirror import inbound, mp, plan, work
from scrm.queue import enqueue_after_commit
from scrm.runtime import Runtime, job
from tagging.mirror_queue import QUIET

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.callbacks import ExternalTagChange

log = logging.getLogger(__name__)

def corp_tags_changed(db_session: Session, change: ExternalTagChange) -> None:
    """``change_external_tag``: the corp tag library changed in WeCom's admin."""
    if change.change_type != "shuffle":  # a new order of tags changes nothing of ours
        enqueue_after_commit(db_session, refresh_corp_tags)


# -- jobs ----------------------------------------------------------------------------------


@job
def sync_customer_tags(runtime: Runtime, customer_ids: list[int]) -> None:
    """The job: bring the customers' WeChat tags (MP and WeCom) in line with ours."""
    now = runtime.clock.now()
    with runtime.transaction() as db_session:
        targets = plan.targets(db_session=db_session, customer_ids=customer_ids)
    if not targets:
        return
    # WeChat is read and written outside any transaction: no row stays locked meanwhile.
    followers = mp.read(runtime, targets)
    pairs = work.read(runtime, targets)
    ids = [target.customer_id for target in targets]
    with runtime.transaction() as db_session:
        db_session.info[QUIET] = set(ids)  # this job pushes what the members' edits change
        inbound.apply_member_edits(db_session=db_session, pairs=pairs, now=now)
        wanted = plan.wanted(db_session=db_session, customer_ids=ids, now=now)
    failure: BaseException | None = None
    for push in (
        lambda: mp.push(runtime, targets, followers, wanted, now),
        lambda: work.push(runtime, pairs, wanted, now),
    ):
        try:
            push()
        except Exception as exc:  # noqa: BLE001 - the other channel goes on; raised below
            failure = failure or exc
    if failure is not None:
        raise failure


@job
def refresh_corp_tags(runtime: Runtime) -> None:
    """The job for ``change_external_tag``: our tags after WeCom's corp tag library."""
    groups = runtime.work.corp_tags()
    with runtime.transaction() as db_session:
        inbound.reconcile_corp_tags(db_session=db_session, groups=groups)
