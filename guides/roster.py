"""A guide's own customers (我的客户) and numbers, for the guide's pages and the API.

A guide sees only the customers currently bound to them (SPEC §11): :func:`may_see` is the one
check every guide-facing read goes through.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, or_, select

from guides.models import Binding, Guide
from scrm.customers.models import Customer, CustomerIdentity, Interaction
from tagging.models import CustomerTag, Tag

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.web.auth import Caller

PAGE = 30


@dataclass(frozen=True)
class RosterEntry:
    customer_id: int
    nickname: str | None
    phone: str | None  # unmasked: the view masks it for guides
    channel: str | None
    bound_at: datetime
    last_seen_at: datetime | None
    last_kind: str | None
    tags: tuple[str, ...]


def may_see(*, db_session: Session, caller: Caller, customer_id: int) -> bool:
    """Admins and managers see every customer; a guide only those bound to them now."""
    if caller.role in ("admin", "manager"):
        return True
    if caller.role != "guide" or not caller.guide_code:
        return False
    bound = db_session.scalar(
        select(Guide.code).join(Binding, Binding.guide_id == Guide.id)
        .where(Binding.customer_id == customer_id, Binding.ended_at.is_(None))
    )
    return bound == caller.guide_code


def customers_of(
    *, db_session: Session, guide_id: int, now: datetime, query: str | None = None, limit: int = PAGE, offset: int = 0
) -> tuple[list[RosterEntry], int]:
    """The guide's current customers, most recently bound first, and how many match."""
    where = [Binding.guide_id == guide_id, Binding.ended_at.is_(None)]
    if query:
        like = f"%{_escape(query.strip())}%"
        where.append(or_(
            Customer.nickname.ilike(like, escape="\\"),
            Customer.phone.like(like, escape="\\"),
            Customer.id.in_(select(CustomerIdentity.customer_id).where(CustomerIdentity.external_id == query.strip())),
        ))
    base = select(Binding, Customer).join(Customer, Customer.id == Binding.customer_id).where(*where)
    total = db_session.scalar(select(func.count()).select_from(base.subquery()))
    rows = db_session.execute(base.order_by(Binding.bound_at.desc(), Binding.id.desc()).limit(limit).offset(offset)).all()
    ids = [customer.id for _binding, customer in rows]
    last = last_interactions(db_session, ids)
    tags = carried_tag_names(db_session, ids, now)
    entries = [
        RosterEntry(customer.id, customer.nickname, customer.phone, binding.channel, binding.bound_at,
                    *last.get(customer.id, (None, None)), tuple(tags.get(customer.id, ())))
        for binding, customer in rows
    ]
    return entries, total or 0


def last_interactions(db_session: Session, ids: list[int]) -> dict[int, tuple[datetime, str]]:
    """Each customer's newest timeline entry: (when, kind)."""
    if not ids:
        return {}
    newest = (
        select(Interaction.customer_id, func.max(Interaction.id).label("id"))
        .where(Interaction.customer_id.in_(ids)).group_by(Interaction.customer_id).subquery()
    )
    rows = db_session.execute(
        select(Interaction.customer_id, Interaction.occurred_at, Interaction.kind).join(newest, newest.c.id == Interaction.id)
    )
    return {customer_id: (at, kind) for customer_id, at, kind in rows}


def carried_tag_names(db_session: Session, ids: list[int], now: datetime) -> dict[int, list[str]]:
    """The names of the tags each customer carries now, alphabetically."""
    if not ids:
        return {}
    rows = db_session.execute(
        select(CustomerTag.customer_id, Tag.name).join(Tag, Tag.id == CustomerTag.tag_id)
        .where(CustomerTag.customer_id.in_(ids), CustomerTag.active_until > now).order_by(Tag.name)
    )
    found: dict[int, list[str]] = {}
    for customer_id, name in rows:
        found.setdefault(customer_id, []).append(name)
    return found


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
