"""Group SOP (群SOP, SPEC §9): a plan of steps applied to the customer groups its selector picks;
each step, when due, becomes one WeCom group task per group owner (scrm/groups/sop_jobs.py).

**Selectors** (:data:`SELECTORS`, kind → how to find the groups and how to check the value):
``owner`` guide codes (comma-separated), ``store`` a store code (the groups its guides own),
``name`` a pattern of group names with ``*`` for any characters, ``code`` a live code (its id
or name: the groups on it now). Only groups WeCom calls
normal whose owner is known are planned for.

**When a step is due.** A group comes into a plan when it is created, or when the plan is
created if the group is older (:func:`group_start`). A ``day_offset`` N step is due at its local
time (``brand.timezone``) N days after the local day the group came in; a ``weekday`` step each
week on that day. A due moment before the group came in is not due for it. A step is due from
its moment until its deadline (``deadline_minutes``, 120 by default): a scheduler that was down
longer skips it rather than send late.

Plain functions; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, delete, func, select

from guides.models import Guide, Store
from scrm.clock import as_utc
from scrm.errors import NotFoundError, Refused
from scrm.groups.code_views import chat_ids_on
from scrm.groups.models import CustomerGroup, GroupCode, GroupSop, GroupSopStep, GroupSopTask

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.groups.sop_schemas import SelectorIn, SopIn, SopPatch, StepIn

LIST_LIMIT = 200


class SopNotFound(NotFoundError):
    """No group SOP has that id."""


class SopRefused(Refused):
    """The plan names what does not exist (an unknown guide or store)."""


# ---- Selectors -----------------------------------------------------------------------------


def _codes(value: str) -> list[str]:
    return [c for c in (part.strip() for part in value.replace("，", ",").split(",")) if c]


def _owner_chats(db_session: Session, value: str) -> list[str]:
    return list(db_session.scalars(select(CustomerGroup.chat_id).join(Guide, Guide.id == CustomerGroup.owner_guide_id)
                                   .where(Guide.code.in_(_codes(value)))))


def _check_owners(db_session: Session, value: str) -> None:
    codes = _codes(value)
    known = set(db_session.scalars(select(Guide.code).where(Guide.code.in_(codes))))
    unknown = [c for c in codes if c not in known]
    if unknown or not codes:
        raise SopRefused(f"no guide with the code {', '.join(unknown) or value}", field="selector.value")


def _store_chats(db_session: Session, value: str) -> list[str]:
    return list(db_session.scalars(select(CustomerGroup.chat_id).join(Guide, Guide.id == CustomerGroup.owner_guide_id)
                                   .join(Store, Store.id == Guide.store_id).where(Store.code == value.strip())))


def _check_store(db_session: Session, value: str) -> None:
    if db_session.scalar(select(Store.id).where(Store.code == value.strip())) is None:
        raise SopRefused(f"no store with the code {value.strip()}", field="selector.value")


def like_pattern(pattern: str) -> str:
    """A name pattern with ``*`` wildcards as a LIKE pattern (escaped by ``\\``)."""
    escaped = pattern.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


def _name_chats(db_session: Session, value: str) -> list[str]:
    return list(db_session.scalars(select(CustomerGroup.chat_id)
                                   .where(CustomerGroup.name.like(like_pattern(value), escape="\\"))))


def _code(db_session: Session, value: str) -> GroupCode | None:
    """A live code named by its id or its name."""
    value = value.strip()
    where = GroupCode.id == int(value) if value.isdigit() else GroupCode.name == value
    return db_session.scalar(select(GroupCode).where(where).order_by(GroupCode.id).limit(1))


def _code_chats(db_session: Session, value: str) -> list[str]:
    code = _code(db_session, value)
    return chat_ids_on(db_session=db_session, code_id=code.id) if code is not None else []


def _check_code(db_session: Session, value: str) -> None:
    if _code(db_session, value) is None:
        raise SopRefused(f"no group live code {value.strip()}", field="selector.value")


@dataclass(frozen=True)
class Selector:
    chats: Callable[[Session, str], list[str]]  # the chat ids the value picks (any status)
    check: Callable[[Session, str], None] = lambda db_session, value: None  # raises SopRefused


SELECTORS: dict[str, Selector] = {
    "owner": Selector(_owner_chats, _check_owners),
    "store": Selector(_store_chats, _check_store),
    "name": Selector(_name_chats),
    "code": Selector(_code_chats, _check_code),  # the groups on a live code now (they change as it rotates)
}


def matching_groups(*, db_session: Session, sop: GroupSop) -> list[CustomerGroup]:
    """The plan's groups now: picked by its selector, normal, with an owner."""
    selector = SELECTORS.get(sop.selector_kind)
    chat_ids = selector.chats(db_session, sop.selector_value) if selector else []
    if not chat_ids:
        return []
    return list(db_session.scalars(select(CustomerGroup).where(
        CustomerGroup.chat_id.in_(chat_ids), CustomerGroup.status == "normal", CustomerGroup.owner_userid != "")
        .order_by(CustomerGroup.id)))


def group_start(group: CustomerGroup, sop: GroupSop) -> datetime:
    """When the group came into the plan: its creation, or the plan's if the group is older."""
    return max(as_utc(group.created_at), as_utc(sop.created_at))


# ---- Writing plans -------------------------------------------------------------------------


def _check_selector(db_session: Session, selector: SelectorIn) -> None:
    if selector.kind not in SELECTORS:
        raise SopRefused(f"must be one of {', '.join(SELECTORS)}", field="selector.kind")
    SELECTORS[selector.kind].check(db_session, selector.value)


def create_sop(*, db_session: Session, sop_in: SopIn, now: datetime) -> GroupSop:
    _check_selector(db_session, sop_in.selector)
    sop = GroupSop(name=sop_in.name, status=sop_in.status, selector_kind=sop_in.selector.kind,
                   selector_value=sop_in.selector.value, created_at=now, updated_at=now)
    db_session.add(sop)
    db_session.flush()
    _write_steps(db_session, sop.id, sop_in.steps)
    return sop


def update_sop(*, db_session: Session, sop_id: int, patch: SopPatch, now: datetime) -> GroupSop:
    """Change what ``patch`` gives; steps are replaced by position (a step kept keeps its tasks,
    a step removed takes its tasks with it)."""
    sop = get_sop(db_session=db_session, sop_id=sop_id)
    if patch.selector is not None:
        _check_selector(db_session, patch.selector)
        sop.selector_kind, sop.selector_value = patch.selector.kind, patch.selector.value
    if patch.name is not None:
        sop.name = patch.name
    if patch.status is not None:
        sop.status = patch.status
    if patch.steps is not None:
        _write_steps(db_session, sop.id, patch.steps)
    sop.updated_at = now
    return sop


def _write_steps(db_session: Session, sop_id: int, steps: list[StepIn]) -> None:
    existing = {s.position: s for s in db_session.scalars(select(GroupSopStep).where(GroupSopStep.sop_id == sop_id))}
    for position, step_in in enumerate(steps, start=1):
        step = existing.pop(position, None) or GroupSopStep(sop_id=sop_id, position=position)
        step.day_offset, step.weekday, step.at_time = step_in.day_offset, step_in.weekday, step_in.time
        step.content, step.deadline_minutes = step_in.content(), step_in.deadline_minutes
        db_session.add(step)
    if existing:
        db_session.execute(delete(GroupSopStep).where(GroupSopStep.id.in_([s.id for s in existing.values()])))
    db_session.flush()


# ---- Reading plans -------------------------------------------------------------------------


def get_sop(*, db_session: Session, sop_id: int) -> GroupSop:
    sop = db_session.get(GroupSop, sop_id)
    if sop is None:
        raise SopNotFound(f"no group SOP {sop_id}")
    return sop


def steps_of(db_session: Session, sop_id: int) -> list[GroupSopStep]:
    return list(db_session.scalars(select(GroupSopStep).where(GroupSopStep.sop_id == sop_id)
                                   .order_by(GroupSopStep.position)))


def step_json(step: GroupSopStep) -> dict[str, Any]:
    content = step.content or {}
    return {"position": step.position, "day_offset": step.day_offset, "weekday": step.weekday, "time": step.at_time,
            "text": content.get("text", ""), "link": content.get("link"),
            "image_media_id": content.get("image_media_id"), "deadline_minutes": step.deadline_minutes}


def on_time(task: GroupSopTask) -> bool:
    return task.status == "sent" and task.sent_at is not None and as_utc(task.sent_at) <= as_utc(task.deadline_at)


def _on_time_clause() -> Any:  # noqa: ANN401
    return case((GroupSopTask.status == "sent", case((GroupSopTask.sent_at <= GroupSopTask.deadline_at, 1), else_=0)),
                else_=0)


def sop_json(db_session: Session, sop: GroupSop, *, detail: bool = False) -> dict[str, Any]:
    """The plan as the API shows it: its steps, how many groups it matches now, its tasks and
    how many were sent by their deadline; ``detail``: the groups and every task too."""
    steps = steps_of(db_session, sop.id)
    groups = matching_groups(db_session=db_session, sop=sop)
    total, sent = db_session.execute(
        select(func.count(GroupSopTask.id), func.coalesce(func.sum(_on_time_clause()), 0))
        .join(GroupSopStep, GroupSopStep.id == GroupSopTask.step_id).where(GroupSopStep.sop_id == sop.id)).one()
    body = {"id": sop.id, "name": sop.name, "status": sop.status,
            "selector": {"kind": sop.selector_kind, "value": sop.selector_value},
            "steps": [step_json(s) for s in steps], "groups": len(groups), "tasks": int(total),
            "sent_on_time": int(sent), "created_at": as_utc(sop.created_at).isoformat()}
    if detail:
        positions = {s.id: s.position for s in steps}
        tasks = db_session.scalars(select(GroupSopTask).where(GroupSopTask.step_id.in_(positions))
                                   .order_by(GroupSopTask.due_at.desc(), GroupSopTask.id).limit(LIST_LIMIT))
        body["chat_ids"] = [g.chat_id for g in groups]
        body["task_list"] = [task_json(t, positions[t.step_id]) for t in tasks]
    return body


def task_json(task: GroupSopTask, position: int) -> dict[str, Any]:
    def iso(at: datetime | None) -> str | None:
        return None if at is None else as_utc(at).isoformat()

    return {"id": task.id, "position": position, "owner_userid": task.owner_userid, "due_at": iso(task.due_at),
            "deadline_at": iso(task.deadline_at), "chat_ids": list(task.chat_ids or ()), "msgid": task.msgid,
            "status": task.status, "sent_at": iso(task.sent_at), "reminded_at": iso(task.reminded_at),
            "on_time": on_time(task)}


def list_sops(*, db_session: Session, include_archived: bool = True) -> list[GroupSop]:
    query = select(GroupSop).order_by(GroupSop.id.desc()).limit(LIST_LIMIT)
    if not include_archived:
        query = query.where(GroupSop.status != "archived")
    return list(db_session.scalars(query))


# ---- For the owner's page and the statistics -----------------------------------------------


@dataclass(frozen=True)
class OwnerTask:
    id: int
    plan: str
    position: int
    text: str
    link: dict[str, str] | None
    status: str
    due_at: datetime
    deadline_at: datetime
    sent_at: datetime | None
    groups: tuple[str, ...]  # the groups' names


def tasks_of_owner(*, db_session: Session, owner_userid: str, since: datetime) -> list[OwnerTask]:
    """The owner's SOP tasks handed to WeCom that were due since ``since``: not sent ones first
    (oldest first), then sent ones (newest first)."""
    rows = db_session.execute(
        select(GroupSopTask, GroupSopStep, GroupSop.name).join(GroupSopStep, GroupSopStep.id == GroupSopTask.step_id)
        .join(GroupSop, GroupSop.id == GroupSopStep.sop_id)
        .where(GroupSopTask.owner_userid == owner_userid, GroupSopTask.msgid.is_not(None),
               GroupSopTask.due_at >= since).order_by(GroupSopTask.due_at, GroupSopTask.id)).all()
    chat_ids = {c for task, _, _ in rows for c in task.chat_ids or ()}
    names = dict(db_session.execute(select(CustomerGroup.chat_id, CustomerGroup.name)
                                    .where(CustomerGroup.chat_id.in_(chat_ids))).all()) if chat_ids else {}
    tasks = [OwnerTask(id=task.id, plan=plan, position=step.position, text=(step.content or {}).get("text", ""),
                       link=(step.content or {}).get("link"), status=task.status, due_at=as_utc(task.due_at),
                       deadline_at=as_utc(task.deadline_at), sent_at=task.sent_at and as_utc(task.sent_at),
                       groups=tuple(names.get(c) or c for c in task.chat_ids or ()))
             for task, step, plan in rows]
    waiting = [t for t in tasks if t.status != "sent"]
    sent = sorted((t for t in tasks if t.status == "sent"), key=lambda t: t.due_at, reverse=True)
    return waiting + sent


def waiting_task_ids(*, db_session: Session, owner_userid: str, since: datetime) -> list[int]:
    """The owner's handed tasks due since ``since`` not sent yet, oldest first."""
    return list(db_session.scalars(select(GroupSopTask.id).where(
        GroupSopTask.owner_userid == owner_userid, GroupSopTask.msgid.is_not(None),
        GroupSopTask.status != "sent", GroupSopTask.due_at >= since).order_by(GroupSopTask.id)))


def pending_count(*, db_session: Session, owner_userid: str, since: datetime) -> int:
    return len(waiting_task_ids(db_session=db_session, owner_userid=owner_userid, since=since))


def sop_on_time(db_session: Session, first: datetime, last: datetime) -> dict[str, tuple[int, int]]:
    """Per owner userid: (tasks sent by their deadline, tasks) of the tasks due in
    [``first``, ``last``) (UTC bounds; scrm.clock.utc_bounds gives a range of local days)."""
    rows = db_session.execute(
        select(GroupSopTask.owner_userid, func.coalesce(func.sum(_on_time_clause()), 0), func.count(GroupSopTask.id))
        .where(GroupSopTask.due_at >= as_utc(first), GroupSopTask.due_at < as_utc(last))
        .group_by(GroupSopTask.owner_userid))
    return {owner: (int(sent), int(total)) for owner, sent, total in rows}
