"""What the console's group pages show (scrm/groups/pages.py): the list with each group's owner
and the period's joins and quits, and one group with its owner and members by the names we know
them by. Read-only; the caller owns the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from guides.models import Guide
from scrm.customers.models import Customer
from scrm.groups import service
from scrm.groups.models import CustomerGroup, GroupDayStats

if TYPE_CHECKING:
    from datetime import date

    from sqlalchemy.orm import Session


@dataclass(frozen=True)
class GroupPage:
    group: dict[str, Any]  # service.group_detail's, each member with ``shown``: the name to show
    owner: dict[str, str] | None  # the owning guide's name and code


def group_rows(*, db_session: Session, first: date, last: date, include_dismissed: bool) -> list[dict[str, Any]]:
    """Each group as the API lists it, with ``owner`` (the guide's name, else the WeCom userid)
    and the ``joined`` and ``quit`` of the days ``first`` to ``last``."""
    listed = service.list_groups(db_session=db_session, include_dismissed=include_dismissed)
    owners = dict(db_session.execute(select(Guide.id, Guide.name)).all())
    moves = {row.chat_id: (int(row.joined or 0), int(row.quit or 0)) for row in db_session.execute(
        select(CustomerGroup.chat_id, func.sum(GroupDayStats.joined).label("joined"),
               func.sum(GroupDayStats.quit).label("quit"))
        .join(GroupDayStats, GroupDayStats.group_id == CustomerGroup.id)
        .where(GroupDayStats.day.between(first, last)).group_by(CustomerGroup.chat_id))}
    return [{**g, "owner": owners.get(g["owner_guide_id"]) or g["owner_userid"],
             "joined": moves.get(g["chat_id"], (0, 0))[0], "quit": moves.get(g["chat_id"], (0, 0))[1]}
            for g in listed]


def group_page(*, db_session: Session, chat_id: str, first: date, last: date) -> GroupPage:
    """One group, its owner, and its members each ``shown`` by the nickname of the customer
    they are linked to, else their WeCom name or userid; :class:`service.GroupNotFound` if none."""
    detail = service.group_detail(db_session=db_session, chat_id=chat_id, owner_guide_id=None,
                                  first=first, last=last)
    owner = db_session.scalar(select(Guide).where(Guide.id == detail["owner_guide_id"])) \
        if detail["owner_guide_id"] else None
    linked = [m["customer_id"] for m in detail["members"] if m["customer_id"]]
    nicknames = dict(db_session.execute(select(Customer.id, Customer.nickname).where(Customer.id.in_(linked))).all())
    for member in detail["members"]:
        member["shown"] = nicknames.get(member["customer_id"]) or member["name"] or member["userid"]
    return GroupPage(detail, {"name": owner.name, "code": owner.code} if owner else None)
