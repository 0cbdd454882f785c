"""A member's points history (积分明细, SPEC §13): the ledger's entries, newest first, a page
at a time.

Service functions take ``db_session`` and never commit; the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from scrm.members.ledger import NotAMember
from scrm.members.models import Member, PointEntry

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

MAX_PER_PAGE = 100


@dataclass(frozen=True)
class EntryPage:
    entries: list[PointEntry]
    page: int
    per_page: int
    total: int  # entries of the member in all

    @property
    def has_more(self) -> bool:
        return self.page * self.per_page < self.total


def entries_page(*, db_session: Session, customer_id: int, page: int, per_page: int) -> EntryPage:
    """Page ``page`` (from 1) of the member's entries, ``per_page`` (1-100) a page, newest
    first; :class:`NotAMember`."""
    if not 1 <= per_page <= MAX_PER_PAGE or page < 1:
        raise ValueError(f"page from 1, per_page 1-{MAX_PER_PAGE}")
    if db_session.get(Member, customer_id) is None:
        raise NotAMember(f"customer {customer_id} is not a member")
    total = db_session.scalar(select(func.count()).select_from(PointEntry).where(PointEntry.customer_id == customer_id))
    entries = list(db_session.scalars(
        select(PointEntry).where(PointEntry.customer_id == customer_id).order_by(PointEntry.id.desc())
        .offset((page - 1) * per_page).limit(per_page)))
    return EntryPage(entries, page, per_page, int(total or 0))
