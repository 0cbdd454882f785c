"""Every customer, for the console's customer list (客户): search by name, phone, WeChat id or
customer id (``#42`` for that one alone), newest first, with their guide, channels, tags and last activity. Merged-away
customers are left out (their history is the survivor's)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import and_, func, or_, select

from guides.models import Binding, Guide
from guides.roster import carried_tag_names, last_interactions
from scrm.customers.models import Customer, CustomerIdentity

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

PAGE = 50


@dataclass(frozen=True)
class DirectoryEntry:
    customer_id: int
    nickname: str | None
    phone: str | None
    created_at: datetime
    guide: str | None  # "name (code)" of the current guide
    channels: tuple[tuple[str, bool], ...]  # (channel, following)
    last_seen_at: datetime | None
    last_kind: str | None
    tags: tuple[str, ...]


def find(*, db_session: Session, now: datetime, query: str | None = None, limit: int = PAGE,
         offset: int = 0) -> tuple[list[DirectoryEntry], int]:
    """A page of the customers matching ``query`` (all without one), newest first, and how many match."""
    where = [Customer.merged_into_id.is_(None)]
    if query and query.startswith("#") and query[1:].isascii() and query[1:].isdigit() and len(query) < 19:
        where.append(Customer.id == int(query[1:]))  # "#42": that customer only
    elif query:
        like = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        matches = [Customer.nickname.ilike(like, escape="\\"), Customer.phone.like(like, escape="\\"),
                   Customer.id.in_(select(CustomerIdentity.customer_id).where(CustomerIdentity.external_id == query))]
        if query.isascii() and query.isdigit() and len(query) < 19:
            matches.append(Customer.id == int(query))
        where.append(or_(*matches))
    total = db_session.scalar(select(func.count()).select_from(Customer).where(*where)) or 0
    rows = db_session.execute(
        select(Customer, Guide.name, Guide.code)
        .outerjoin(Binding, and_(Binding.customer_id == Customer.id, Binding.ended_at.is_(None)))
        .outerjoin(Guide, Guide.id == Binding.guide_id)
        .where(*where).order_by(Customer.id.desc()).limit(limit).offset(offset)).all()
    ids = [customer.id for customer, _, _ in rows]
    channels: dict[int, list[tuple[str, bool]]] = {}
    for customer_id, channel, following in db_session.execute(
            select(CustomerIdentity.customer_id, CustomerIdentity.channel, CustomerIdentity.following)
            .where(CustomerIdentity.customer_id.in_(ids)).order_by(CustomerIdentity.id)):
        channels.setdefault(customer_id, []).append((channel, bool(following)))
    last = last_interactions(db_session, ids)
    tags = carried_tag_names(db_session, ids, now)
    return [DirectoryEntry(c.id, c.nickname, c.phone, c.created_at, f"{name} ({code})" if code else None,
                           tuple(channels.get(c.id, ())), *last.get(c.id, (None, None)), tuple(tags.get(c.id, ())))
            for c, name, code in rows], total
