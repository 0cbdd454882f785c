"""Group statistics (社群数据, SPEC §9): per day, group, owner and live code, for a period of
local days (``brand.timezone``): members, joins, quits, net growth, customers of ours in the
group, and SOP tasks sent on time.

Joins and quits are the sync's counts (:class:`GroupDayStats`: a join on the day WeCom says the
member joined, a quit on the day we learnt of it). Members at the end of the period are the
member rows present then (joined before its end, not left by it); members at the end of each
earlier day are walked back from there with that day's joins and quits, so the day figures and
the period's add up. A dismissed group has no members from the day it was dismissed.

Joins through live codes are :func:`scrm.groups.code_stats.code_joins` (the joins WeCom
attributed to a code's ways, by local day, with the groups on each code now); SOP tasks sent on
time are :func:`scrm.groups.sop.sop_on_time` (the tasks due in the period, sent by their
deadline). Read-only; the caller owns the transaction.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import and_, func, or_, select

from guides.models import Guide
from scrm.clock import local_day, utc_bounds
from scrm.groups.code_stats import CodeJoins, code_joins
from scrm.groups.models import CustomerGroup, GroupDayStats, GroupMember
from scrm.groups.sop import sop_on_time

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.config import Config

BY = ("day", "group", "owner", "code")


class SopOnTime(NamedTuple):
    """One owner's SOP tasks due in the period: how many were sent by their deadline, of how many."""

    on_time: int
    tasks: int


@dataclass(frozen=True)
class DayRow:
    day: date
    joined: int
    quit: int
    members: int  # at the end of the day

    @property
    def net(self) -> int:
        return self.joined - self.quit


@dataclass(frozen=True)
class GroupRow:
    chat_id: str
    name: str
    owner: str  # the guide's name, else the owner's WeCom userid
    status: str
    members: int  # at the end of the period
    ours: int  # of them, customers of ours
    joined: int
    quit: int

    @property
    def net(self) -> int:
        return self.joined - self.quit


@dataclass(frozen=True)
class OwnerRow:
    owner_userid: str
    owner: str
    groups: int  # not dismissed by the end of the period
    members: int
    ours: int
    joined: int
    quit: int
    sop: SopOnTime

    @property
    def net(self) -> int:
        return self.joined - self.quit


@dataclass
class _Group:
    group: CustomerGroup
    owner: str
    dismissed_on: date | None
    members: int = 0  # at the end of the period, dismissal aside
    ours: int = 0
    days: dict[date, tuple[int, int]] = field(default_factory=dict)

    def members_by_day(self, first: date, last: date) -> dict[date, int]:
        """Walked back from the period's end: a day's joins came in that day, its quits left."""
        shown, count, day = {}, self.members, last
        while day >= first:
            shown[day] = 0 if self.dismissed_on is not None and self.dismissed_on <= day else max(count, 0)
            joined, quit = self.days.get(day, (0, 0))
            count, day = count - joined + quit, day - timedelta(days=1)
        return shown

    @property
    def joined(self) -> int:
        return sum(j for j, _ in self.days.values())

    @property
    def quit(self) -> int:
        return sum(q for _, q in self.days.values())


def by_day(*, db_session: Session, config: Config, first: date, last: date) -> list[DayRow]:
    """Every day of the period, in order: joins, quits and members at its end, all groups together."""
    return day_figures(db_session=db_session, config=config, first=first, last=last)[0]


def day_figures(*, db_session: Session, config: Config, first: date, last: date) -> tuple[list[DayRow], int]:
    """:func:`by_day`'s rows, and the members at the end of the day before the period."""
    eve = first - timedelta(days=1)
    members: dict[date, int] = defaultdict(int)
    moves: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for one in _groups(db_session, config, eve, last):
        for day, count in one.members_by_day(eve, last).items():
            members[day] += count
        for day, (joined, quit) in one.days.items():
            moves[day][0] += joined
            moves[day][1] += quit
    return [DayRow(day, moves[day][0], moves[day][1], members[day]) for day in _days(first, last)], members[eve]


def by_group(*, db_session: Session, config: Config, first: date, last: date) -> list[GroupRow]:
    """Each group of the period (not dismissed before it), most members first."""
    rows = [GroupRow(g.group.chat_id, g.group.name, g.owner, g.group.status, _at_end(g, last),
                     g.ours if _at_end(g, last) else 0, g.joined, g.quit) for g in _groups(db_session, config, first, last)]
    return sorted(rows, key=lambda r: (-r.members, -r.joined, r.chat_id))


def by_owner(*, db_session: Session, config: Config, first: date, last: date) -> list[OwnerRow]:
    """Each group owner (a guide, else a WeCom userid) with their groups' figures and their SOP
    tasks due in the period and sent on time."""
    sop = sop_on_time(db_session, *utc_bounds(config, first, last))
    owners: dict[str, list[_Group]] = defaultdict(list)
    for one in _groups(db_session, config, first, last):
        owners[one.group.owner_userid].append(one)
    rows = []
    for userid, groups in owners.items():
        alive = [g for g in groups if not _dismissed_by(g, last)]
        rows.append(OwnerRow(userid, groups[0].owner, len(alive), sum(g.members for g in alive),
                             sum(g.ours for g in alive), sum(g.joined for g in groups),
                             sum(g.quit for g in groups),
                             SopOnTime(*sop.get(userid, (0, 0)))))
    return sorted(rows, key=lambda r: (-r.members, r.owner_userid))


def by_code(*, db_session: Session, first: date, last: date) -> list[CodeJoins]:
    """Each live code (active, or with joins in the period): its joins in the period and the
    groups on it now, most joins first."""
    return code_joins(db_session=db_session, first=first, last=last)


def totals(days: list[DayRow], members_before: int) -> dict[str, int]:
    """The period's joins, quits, net growth, and members at its end and before it."""
    joined, quit = sum(d.joined for d in days), sum(d.quit for d in days)
    return {"joined": joined, "quit": quit, "net": joined - quit, "members": days[-1].members if days else 0,
            "members_before": members_before}


def report(*, db_session: Session, config: Config, first: date, last: date, by: str) -> dict[str, object]:
    """``GET /api/group-stats``: the period's totals and its rows ``by`` day, group, owner or code."""
    days, members_before = day_figures(db_session=db_session, config=config, first=first, last=last)
    body: dict[str, object] = {"from": first.isoformat(), "to": last.isoformat(), "by": by,
                               "totals": totals(days, members_before)}
    if by == "day":
        body["rows"] = [{"day": d.day.isoformat(), "joined": d.joined, "quit": d.quit, "net": d.net,
                         "members": d.members} for d in days]
    elif by == "group":
        body["rows"] = [{"chat_id": g.chat_id, "name": g.name, "owner": g.owner, "status": g.status,
                         "members": g.members, "ours": g.ours, "joined": g.joined, "quit": g.quit, "net": g.net}
                        for g in by_group(db_session=db_session, config=config, first=first, last=last)]
    elif by == "owner":
        owners = by_owner(db_session=db_session, config=config, first=first, last=last)
        body["rows"] = [{"owner_userid": o.owner_userid, "owner": o.owner, "groups": o.groups, "members": o.members,
                         "ours": o.ours, "joined": o.joined, "quit": o.quit, "net": o.net,
                         "sop_tasks": o.sop.tasks, "sop_on_time": o.sop.on_time}
                        for o in owners]
    else:
        body["rows"] = [{"code_id": c.code_id, "name": c.name, "joined": c.joined, "groups": c.groups}
                        for c in by_code(db_session=db_session, first=first, last=last)]
    return body


def _dismissed_by(one: _Group, last: date) -> bool:
    return one.dismissed_on is not None and one.dismissed_on <= last


def _at_end(one: _Group, last: date) -> int:
    return 0 if _dismissed_by(one, last) else one.members


def _groups(db_session: Session, config: Config, first: date, last: date) -> list[_Group]:
    """The groups that existed in the period (not dismissed before it), with their members and
    ours at its end and their joins and quits of each of its days."""
    start, end = utc_bounds(config, first, last)
    found = db_session.scalars(select(CustomerGroup).where(
        CustomerGroup.created_at < end, or_(CustomerGroup.dismissed_at.is_(None), CustomerGroup.dismissed_at >= start),
    ).order_by(CustomerGroup.id)).all()
    names = dict(db_session.execute(select(Guide.id, Guide.name)).all())
    groups = {g.id: _Group(g, names.get(g.owner_guide_id) or g.owner_userid,
                           local_day(config, g.dismissed_at) if g.status == "dismissed" and g.dismissed_at else None)
              for g in found}
    present = and_(GroupMember.join_time < end, or_(GroupMember.left_at.is_(None), GroupMember.left_at >= end))
    for group_id, members, ours in db_session.execute(
            select(GroupMember.group_id, func.count(), func.count(GroupMember.customer_id))
            .where(GroupMember.group_id.in_(list(groups)), present).group_by(GroupMember.group_id)):
        groups[group_id].members, groups[group_id].ours = int(members), int(ours)
    for row in db_session.scalars(select(GroupDayStats).where(GroupDayStats.group_id.in_(list(groups)),
                                                              GroupDayStats.day.between(first, last))):
        groups[row.group_id].days[row.day] = (row.joined, row.quit)
    return list(groups.values())


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
