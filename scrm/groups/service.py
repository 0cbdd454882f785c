"""Reading customer groups for the API: the list (a guide sees the groups they own) and one
group with its members and joins/quits per local day, as scrm/groups/schemas.py writes them.
Plain functions; no commits."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from guides.models import Guide
from scrm.errors import NotFoundError
from scrm.groups.models import CustomerGroup, GroupDayStats, GroupMember
from scrm.groups.schemas import group_json, member_json

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

LIST_LIMIT = 500


class GroupNotFound(NotFoundError):
    """No group has that chat id (or the guide does not own it)."""


def owner_filter(*, db_session: Session, guide_code: str | None) -> int | None:
    """The guide id a guide's view is narrowed to (-1: a guide code that matches no guide)."""
    if guide_code is None:
        return None
    return db_session.scalar(select(Guide.id).where(Guide.code == guide_code)) or -1


def list_groups(*, db_session: Session, owner_guide_id: int | None = None,
                include_dismissed: bool = False) -> list[dict[str, Any]]:
    query = select(CustomerGroup).order_by(CustomerGroup.id).limit(LIST_LIMIT)
    if owner_guide_id is not None:
        query = query.where(CustomerGroup.owner_guide_id == owner_guide_id)
    if not include_dismissed:
        query = query.where(CustomerGroup.status != "dismissed")
    return [group_json(g) for g in db_session.scalars(query)]


def group_detail(*, db_session: Session, chat_id: str, owner_guide_id: int | None, first: date,
                 last: date) -> dict[str, Any]:
    """The group, its members (those who left too, with ``left_at``) and ``days`` from
    ``first`` to ``last``: every local day with its joins and quits (0 when none)."""
    group = db_session.scalar(select(CustomerGroup).where(CustomerGroup.chat_id == chat_id))
    if group is None or (owner_guide_id is not None and group.owner_guide_id != owner_guide_id):
        raise GroupNotFound(f"no group {chat_id}")
    members = db_session.scalars(select(GroupMember).where(GroupMember.group_id == group.id)
                                 .order_by(GroupMember.left_at.is_not(None), GroupMember.id))
    stats = {row.day: row for row in db_session.scalars(
        select(GroupDayStats).where(GroupDayStats.group_id == group.id, GroupDayStats.day.between(first, last)))}
    days = []
    for offset in range((last - first).days + 1):
        day = date.fromordinal(first.toordinal() + offset)
        row = stats.get(day)
        days.append({"day": day.isoformat(), "joined": row.joined if row else 0, "quit": row.quit if row else 0})
    return {**group_json(group), "members": [member_json(m) for m in members], "days": days,
            "joined": sum(d["joined"] for d in days), "quit": sum(d["quit"] for d in days)}
