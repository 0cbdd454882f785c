"""A membership follows a merge of two customers (SPEC §4: the same ``unionid``, or a verified
phone; scrm/flows.py ``merge_customers``).

- Only the dropped customer was a member: the membership moves to the kept one whole (member
  number, phone, level, growth, points and their whole history).
- Both were members: the kept one's membership stays (its number, phone, level, streak) and
  takes in the other's: its points (every lot with what is left of it, so FIFO spending and
  expiry go on as before), its growth (the level may rise), its history (ledger, growth,
  check-ins, exchanges). A check-in of the same local day on both sides is kept once (the
  points it gave stay in the ledger). The dropped membership is removed: one person, one card.
- Only the kept customer was a member, or neither: nothing to do.

Both balances' invariants hold after it (``scrm members audit``): the kept balance is the sum
of the entries now its, and of its lots' remaining.

Service functions take ``db_session`` and never commit; the caller owns the transaction.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select, update

from scrm.clock import as_utc
from scrm.members.growth import LevelChange, raise_level
from scrm.members.ledger import lock_member
from scrm.members.models import Checkin, GrowthEntry, MallExchange, Member, PointEntry

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.config import Config

_HISTORY = (PointEntry, GrowthEntry, Checkin, MallExchange)  # everything keyed by the member


def merge_members(*, db_session: Session, config: Config, keep_id: int, drop_id: int,
                  at: datetime) -> LevelChange | None:
    """``drop_id``'s membership, if any, becomes ``keep_id``'s (see the module's docstring);
    the level change it made, if it raised the kept member's level."""
    if keep_id == drop_id or db_session.get(Member, drop_id) is None:
        return None
    at = as_utc(at)
    for customer_id in sorted((keep_id, drop_id)):  # one order for every merge: no deadlock
        if db_session.get(Member, customer_id) is not None:
            lock_member(db_session, customer_id)
    dropped = db_session.get(Member, drop_id)
    kept = db_session.get(Member, keep_id)
    if kept is None:
        _move(db_session, dropped, keep_id, at)
        return None
    same_days = select(Checkin.day).where(Checkin.customer_id == keep_id).scalar_subquery()
    db_session.execute(delete(Checkin).where(Checkin.customer_id == drop_id, Checkin.day.in_(same_days)))
    kept.points_balance += dropped.points_balance
    kept.growth += dropped.growth
    kept.updated_at = at
    db_session.flush()
    _move_history(db_session, drop_id, keep_id)
    db_session.execute(delete(Member).where(Member.customer_id == drop_id))
    db_session.expire_all()
    kept = db_session.get(Member, keep_id)
    return raise_level(db_session=db_session, config=config, member=kept, at=at)


def _move(db_session: Session, dropped: Member, keep_id: int, at: datetime) -> None:
    """The membership, row and history, from the dropped customer to the kept one. The row's
    unique number and phone are freed first, so that the new row can take them."""
    row = {column.name: getattr(dropped, column.key) for column in Member.__table__.columns}
    drop_id = dropped.customer_id
    db_session.execute(update(Member).where(Member.customer_id == drop_id)
                       .values(member_no="~" + secrets.token_hex(7), phone=f"~{drop_id}"))
    db_session.execute(insert(Member).values({**row, "customer_id": keep_id, "updated_at": at}))
    _move_history(db_session, drop_id, keep_id)
    db_session.execute(delete(Member).where(Member.customer_id == drop_id))
    db_session.flush()
    db_session.expire_all()


def _move_history(db_session: Session, drop_id: int, keep_id: int) -> None:
    for model in _HISTORY:
        db_session.execute(update(model).where(model.customer_id == drop_id).values(customer_id=keep_id))
