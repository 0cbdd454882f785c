"""A guide leaves (离职/调岗): their customers go to another guide of the store (SPEC §6).

In our data at once: each current binding ends (``transferred``) and a new one starts with
the other guide, so history is kept and the customer is never without a guide. The leaving
guide's codes are retired: a scan of a printed one now goes through the store's routing.

On WeCom the customers who are the leaving guide's external contacts must be handed over too
(``transfer_customer``, 在职继承, ≤ 100 a call). WeCom answers per customer:

- 0: handed over (WeCom completes it after 24 h, or reports ``transfer_fail``);
- 40128 (moved twice in 90 days), 40129 (already being moved), 40130 (same member),
  40131/40096 (not this member's customer, unknown customer): WeCom's rules say no; recorded
  as ``failed`` with the code, for a person to see — trying again would be refused again;
- anything else (system busy, no answer for that customer): ``waiting``, tried again after
  ``RETRY_MINUTES`` by the scheduler's sweep, at most ``MAX_ATTEMPTS`` times.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from guides.binding import bind, guide_card
from guides.models import Binding, Guide, GuideTransfer
from guides.service import ConflictError, get_guide, refresh_store_way_after_commit
from qrcodes.service import retire_guide_codes
from scrm.customers.models import CustomerIdentity
from scrm.queue import enqueue_after_commit
from scrm.runtime import Runtime, job
from scrm.users.models import User
from scrm.users.service import forget_signed_in_after_commit

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

log = logging.getLogger(__name__)

BATCH = 100
RETRY_MINUTES = 30
MAX_ATTEMPTS = 5
REFUSED_ERRCODES = {
    40096: "WeCom does not know this customer",
    40128: "WeCom allows two hand-overs of a customer in 90 days",
    40129: "the customer is being handed over already",
    40130: "handover and takeover are the same member",
    40131: "the customer is not the leaving guide's contact",
}


@dataclass(frozen=True)
class LeaveResult:
    guide: str
    to: str
    moved: int  # bindings moved in our data
    wecom_transfers: int  # customers queued for WeCom's transfer_customer


def leave(*, runtime: Runtime, db_session: Session, code: str, to: str) -> LeaveResult:
    guide, heir = get_guide(db_session=db_session, code=code), get_guide(db_session=db_session, code=to)
    if guide.id == heir.id:
        raise ConflictError("a guide cannot hand customers to themselves")
    if not guide.active:
        raise ConflictError(f"guide {code} has left already")
    if not heir.active:
        raise ConflictError(f"guide {to} has left; choose an active guide of the store")
    if heir.store_id != guide.store_id:
        raise ConflictError(f"guide {to} works in another store; customers stay in their store")
    now = runtime.clock.now()
    guide.status, guide.left_at = "left", now
    # Their sign-ins end with them (a login session lives only while its user is active).
    db_session.execute(update(User).where(User.role == "guide", User.guide_code == guide.code).values(active=False))
    forget_signed_in_after_commit(db_session)
    retire_guide_codes(db_session=db_session, guide_id=guide.id, at=now)
    bindings = db_session.scalars(
        select(Binding).where(Binding.guide_id == guide.id, Binding.ended_at.is_(None)).with_for_update()
    ).all()
    for binding in bindings:
        binding.ended_at, binding.end_reason = now, "transferred"
    db_session.flush()
    card = guide_card(db_session=db_session, guide_id=heir.id)
    for binding in bindings:
        bind(runtime=runtime, db_session=db_session, customer_id=binding.customer_id, guide=card, code_id=None,
             channel=binding.channel, at=now, previous_guide_id=guide.id, via="transfer")
    transfers = _queue_wecom_transfers(db_session, [b.customer_id for b in bindings], guide, heir, now)
    refresh_store_way_after_commit(db_session=db_session, store_id=guide.store_id)
    return LeaveResult(guide.code, heir.code, len(bindings), transfers)


def transfers_of(*, db_session: Session, code: str) -> list[GuideTransfer]:
    """The WeCom hand-overs of a guide's customers, in the order they were queued."""
    guide = get_guide(db_session=db_session, code=code)
    return list(db_session.scalars(
        select(GuideTransfer).where(GuideTransfer.from_guide_id == guide.id).order_by(GuideTransfer.id)
    ))


def _queue_wecom_transfers(db_session: Session, customer_ids: list[int], guide: Guide, heir: Guide, now: datetime) -> int:
    """A transfer row for each moved customer who is a WeCom contact, then a job per batch."""
    rows = db_session.execute(
        select(CustomerIdentity.customer_id, CustomerIdentity.external_id)
        .where(CustomerIdentity.customer_id.in_(customer_ids), CustomerIdentity.channel == "work")
        .order_by(CustomerIdentity.id)
    ).all() if customer_ids else []
    transfers = [
        GuideTransfer(customer_id=customer_id, external_userid=external_id, from_guide_id=guide.id,
                      to_guide_id=heir.id, created_at=now)
        for customer_id, external_id in rows
    ]
    db_session.add_all(transfers)
    db_session.flush()
    ids = [t.id for t in transfers]
    for start in range(0, len(ids), BATCH):
        enqueue_after_commit(db_session, transfer_customers, ids[start:start + BATCH])
    return len(ids)


@job
def transfer_customers(runtime: Runtime, transfer_ids: list[int]) -> None:
    """Ask WeCom to hand over one batch (same guides); record each customer's answer."""
    with runtime.transaction() as db_session:
        transfers = db_session.scalars(
            select(GuideTransfer).where(GuideTransfer.id.in_(transfer_ids), GuideTransfer.status.in_(("pending", "waiting")))
        ).all()
        if not transfers:
            return
        handover = db_session.get(Guide, transfers[0].from_guide_id).wecom_userid
        takeover = db_session.get(Guide, transfers[0].to_guide_id).wecom_userid
        wanted = {t.external_userid: t.id for t in transfers}
    # Outside the transaction: no row is locked while WeCom thinks. A failure of the whole
    # call (network, rate limit) raises and the queue tries the batch again.
    results = runtime.work.transfer_customer(handover, takeover, list(wanted))
    now = runtime.clock.now()
    with runtime.transaction() as db_session:
        for result in results:
            transfer = db_session.get(GuideTransfer, wanted[result.external_userid])
            transfer.attempts += 1
            transfer.errcode = result.errcode
            if result.ok:
                transfer.status, transfer.done_at, transfer.reason = "done", now, None
            elif result.errcode in REFUSED_ERRCODES:
                transfer.status, transfer.reason = "failed", REFUSED_ERRCODES[result.errcode]
            elif transfer.attempts >= MAX_ATTEMPTS:
                transfer.status, transfer.reason = "failed", f"WeCom kept answering {result.errcode}"
            else:
                transfer.status, transfer.next_try_at = "waiting", now + timedelta(minutes=RETRY_MINUTES)
                transfer.reason = f"WeCom answered {result.errcode}; trying again"


@job
def retry_waiting_transfers(runtime: Runtime) -> int:
    """The scheduler's sweep: queue again the transfers whose next try is due."""
    now = runtime.clock.now()
    with runtime.transaction() as db_session:
        due = db_session.execute(
            select(GuideTransfer.id, GuideTransfer.from_guide_id, GuideTransfer.to_guide_id)
            .where(GuideTransfer.status == "waiting", GuideTransfer.next_try_at <= now)
            .order_by(GuideTransfer.id)
        ).all()
        batches: dict[tuple[int, int], list[int]] = {}
        for transfer_id, from_id, to_id in due:
            batches.setdefault((from_id, to_id), []).append(transfer_id)
        for ids in batches.values():
            for start in range(0, len(ids), BATCH):
                enqueue_after_commit(db_session, transfer_customers, ids[start:start + BATCH])
    return len(due)


def transfer_failed(*, db_session: Session, external_userid: str, takeover_userid: str, reason: str | None) -> None:
    """WeCom's ``transfer_fail`` event: the customer refused, or the takeover is full."""
    transfer = db_session.scalar(
        select(GuideTransfer)
        .join(Guide, Guide.id == GuideTransfer.to_guide_id)
        .where(GuideTransfer.external_userid == external_userid, Guide.wecom_userid == takeover_userid,
               GuideTransfer.status == "done")
        .order_by(GuideTransfer.id.desc())
    )
    if transfer is None:
        log.info("transfer_fail for %s with no transfer of ours", external_userid)
        return
    transfer.status = "failed"
    transfer.reason = {"customer_refused": "the customer refused the hand-over",
                       "customer_limit_exceed": "the takeover guide has too many customers"}.get(reason or "", reason)
