"""Live codes (群活码) follow their groups as WeCom reports them: rotation, adoption, attribution.

- **Rotation.** After a group is read back from WeCom (scrm/groups/sync.py ``store_chat``, in
  the same transaction), a group on an active code with ``member_count`` at or over the code's
  ``member_limit`` is taken off the code (``full``), and a dismissed group too (``dismissed``);
  each taking-off bumps the code's ``version``. A group that falls below the limit again is not
  put back: a manager adds it again.
- **Once per rotation.** The group is taken off with the code row locked, so it is taken off
  once and the version bumped once; a callback WeCom repeats, or a later event for a group
  already off, changes nothing. After the commit, :func:`push_code` tells every way of the
  code its group list (``update_join_way``) under the code's Redis lock, recording each way as
  told that version: a version already told is skipped.
- **Adoption.** A group read for the first time that WeCom created for a code with
  ``auto_create`` (named ``room_base_name`` + a number) is put on our code when WeCom's way
  lists it (``get_join_way``), with its owner as WeCom reports it; with the code's welcome
  template, that owner is asked to apply it (scrm/groups/code_welcome.py).
- **Attribution.** A member who joins with the ``state`` of one of our ways is counted in
  :class:`GroupCodeDayStats` (way, group, local day).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from scrm.clock import local_day
from scrm.db import dialect_insert
from scrm.groups.code_welcome import ask_after_commit
from scrm.groups.models import CustomerGroup, GroupCode, GroupCodeChat, GroupCodeDayStats, GroupCodeWay
from scrm.queue import enqueue_after_commit
from scrm.runtime import Runtime, job
from scrm.wechat.errors import WeChatError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from datetime import datetime

    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

REMARK_LENGTH = 30


def current_chats(db_session: Session, code_id: int) -> list[tuple[GroupCodeChat, CustomerGroup]]:
    """The groups on the code now, in order, each with its row on the code."""
    return [tuple(row) for row in db_session.execute(
        select(GroupCodeChat, CustomerGroup).join(CustomerGroup, CustomerGroup.id == GroupCodeChat.group_id)
        .where(GroupCodeChat.code_id == code_id, GroupCodeChat.removed_at.is_(None))
        .order_by(GroupCodeChat.position, GroupCodeChat.id))]


def definition(db_session: Session, code: GroupCode) -> dict[str, Any]:
    """What WeCom is told of every way of the code (``add_join_way``/``update_join_way``,
    without the way's own ``state``)."""
    return {"chat_ids": [group.chat_id for _, group in current_chats(db_session, code.id)],
            "remark": code.name[:REMARK_LENGTH], "auto_create_room": code.auto_create,
            "room_base_name": code.room_base_name if code.auto_create else "",
            "room_base_id": code.room_base_id}


def live_ways(db_session: Session, code_id: int) -> list[GroupCodeWay]:
    return list(db_session.scalars(select(GroupCodeWay).where(GroupCodeWay.code_id == code_id,
                                                              GroupCodeWay.deleted_at.is_(None))
                                   .order_by(GroupCodeWay.id)))


def locked_code(db_session: Session, code_id: int) -> GroupCode | None:
    return db_session.scalar(select(GroupCode).where(GroupCode.id == code_id).with_for_update()
                             .execution_options(populate_existing=True))


# ---- after a group is read back ------------------------------------------------------------


def after_group_stored(*, runtime: Runtime, db_session: Session, group: CustomerGroup,
                       arrivals: Iterable[tuple[str, datetime]], at: datetime, first_read: bool = False) -> None:
    """sync.store_chat's last step: count the joins by state, adopt a group WeCom made for a
    code (a group read for the first time: the reconciliation finds any other), take the group
    off codes it has filled."""
    count_joins(runtime=runtime, db_session=db_session, group_id=group.id, arrivals=arrivals)
    if first_read:
        _adopt_if_made_for_a_code(runtime, db_session, group, at)
    rotate(db_session=db_session, group=group, at=at)


def rotate(*, db_session: Session, group: CustomerGroup, at: datetime) -> list[int]:
    """Take ``group`` off every active code it has filled; the codes changed."""
    on = db_session.execute(
        select(GroupCodeChat.code_id, GroupCode.member_limit).join(GroupCode, GroupCode.id == GroupCodeChat.code_id)
        .where(GroupCodeChat.group_id == group.id, GroupCodeChat.removed_at.is_(None), GroupCode.status == "active")
    ).all()
    changed = [code_id for code_id, limit in on if group.member_count >= limit]
    for code_id in changed:
        take_off(db_session=db_session, code_id=code_id, group_id=group.id, reason="full", at=at)
    return changed


def take_off_dismissed(*, db_session: Session, chat_id: str, at: datetime) -> None:
    """A dismissed group leaves every code it is on."""
    group_id = db_session.scalar(select(CustomerGroup.id).where(CustomerGroup.chat_id == chat_id))
    code_ids = db_session.scalars(select(GroupCodeChat.code_id).where(
        GroupCodeChat.group_id == group_id, GroupCodeChat.removed_at.is_(None))).all() if group_id else []
    for code_id in code_ids:
        take_off(db_session=db_session, code_id=code_id, group_id=group_id, reason="dismissed", at=at)


def take_off(*, db_session: Session, code_id: int, group_id: int, reason: str, at: datetime) -> bool:
    """Take the group off the code (with the code row locked, so two jobs do it once) and
    push the new list after the commit; False when it was already off."""
    code = locked_code(db_session, code_id)
    rows = db_session.scalars(select(GroupCodeChat).where(
        GroupCodeChat.code_id == code_id, GroupCodeChat.group_id == group_id, GroupCodeChat.removed_at.is_(None))
        .execution_options(populate_existing=True)).all()
    if code is None or not rows:
        return False
    for row in rows:
        row.removed_at, row.removed_reason = at, reason
    code.version += 1
    db_session.flush()
    left = len(current_chats(db_session, code_id))
    if code.status == "active":
        enqueue_after_commit(db_session, push_code, code_id)
    if not left and not code.auto_create:
        log.warning("group code %s (%s): every group is full; a manager must add one", code_id, code.name)
    else:
        log.info("group code %s: group %s taken off (%s), %s left", code_id, group_id, reason, left)
    return True


def count_joins(*, runtime: Runtime, db_session: Session, group_id: int,
                arrivals: Iterable[tuple[str, datetime]]) -> None:
    """One join per member who came by one of our ways (their ``state``), per local day."""
    arrivals = [(state, moment) for state, moment in arrivals if state]
    if not arrivals:
        return
    ways = {state: (way_id, code_id) for state, way_id, code_id in db_session.execute(
        select(GroupCodeWay.state, GroupCodeWay.id, GroupCodeWay.code_id)
        .where(GroupCodeWay.state.in_({s for s, _ in arrivals})))}
    counts: dict[tuple[int, int, object], int] = {}
    for state, moment in arrivals:
        if state in ways:
            key = (*ways[state], local_day(runtime.config, moment))
            counts[key] = counts.get(key, 0) + 1
    table = GroupCodeDayStats.__table__
    for (way_id, code_id, day), n in sorted(counts.items(), key=lambda item: (item[0][0], str(item[0][2]))):
        insert = dialect_insert(db_session, table).values(way_id=way_id, group_id=group_id, day=day,
                                                          code_id=code_id, joined=n)
        db_session.execute(insert.on_conflict_do_update(index_elements=["way_id", "group_id", "day"],
                                                        set_={"joined": table.c.joined + n}))


# ---- adoption -----------------------------------------------------------------------------


def _adopt_if_made_for_a_code(runtime: Runtime, db_session: Session, group: CustomerGroup, at: datetime) -> None:
    """A group never on a code whose name starts with an auto-creating code's base name: ask
    WeCom whether one of that code's ways lists it (WeCom made it), and adopt it if so."""
    candidates = db_session.scalars(select(GroupCode).where(
        GroupCode.status == "active", GroupCode.auto_create.is_(True), GroupCode.room_base_name != "")).all()
    candidates = [c for c in candidates if group.name.startswith(c.room_base_name)]
    if not candidates or group.status == "dismissed":
        return
    ever_on = set(db_session.scalars(select(GroupCodeChat.code_id).where(GroupCodeChat.group_id == group.id)))
    for code in candidates:
        if code.id in ever_on:
            continue
        for way in live_ways(db_session, code.id):
            try:
                listed = runtime.work.get_join_way(way.config_id)
            except WeChatError as exc:
                log.warning("group code %s: join way %s not read: %s", code.id, way.config_id, exc)
                continue
            if group.chat_id in listed.chat_ids:
                adopt(db_session=db_session, code_id=code.id, group=group, room_base_id=listed.room_base_id,
                      at=at, ways_listing=1)
                break


def adopt(*, db_session: Session, code_id: int, group: CustomerGroup, room_base_id: int | None, at: datetime,
          ways_listing: int) -> bool:
    """Put a group WeCom put on the code's way on our code too (last in order), and follow
    WeCom's room counter; other ways of the code are told after the commit. False when it is
    on the code already."""
    code = locked_code(db_session, code_id)
    if code is None or db_session.scalar(select(GroupCodeChat.id).where(
            GroupCodeChat.code_id == code_id, GroupCodeChat.group_id == group.id, GroupCodeChat.removed_at.is_(None))):
        return False
    last = db_session.scalar(select(func.max(GroupCodeChat.position)).where(GroupCodeChat.code_id == code_id))
    db_session.add(GroupCodeChat(code_id=code_id, group_id=group.id, position=(last or 0) + 1, added_at=at))
    if room_base_id and room_base_id > code.room_base_id:
        code.room_base_id = room_base_id
    db_session.flush()
    if len(live_ways(db_session, code_id)) > ways_listing:
        code.version += 1
        enqueue_after_commit(db_session, push_code, code_id)
    ask_after_commit(db_session, code)  # its owner is asked to apply the code's welcome
    log.info("group code %s: adopted group %s (%s) owned by %s", code_id, group.chat_id, group.name,
             group.owner_userid)
    return True


# ---- telling WeCom -------------------------------------------------------------------------


LOCK_KEY = "scrm:groups:code-lock:{code_id}"
LOCK_SECONDS = 60  # held over WeCom calls: a few per code, each bounded by the client's timeout
LOCK_WAIT_SECONDS = 30


@contextmanager
def code_lock(runtime: Runtime, code_id: int) -> Iterator[None]:
    """The code's WeCom ways are changed by one holder at a time (a Redis lock, not a row lock:
    WeCom is never called inside a database transaction). Waiting too long raises
    :class:`redis.exceptions.LockError`, which the queue retries."""
    with runtime.redis.lock(LOCK_KEY.format(code_id=code_id), timeout=LOCK_SECONDS,
                            blocking_timeout=LOCK_WAIT_SECONDS):
        yield


@job
def push_code(runtime: Runtime, code_id: int) -> int:
    """Tell every way of the code its current definition, once per version. With the code's
    lock held: the version and the ways not told it are read, each way is told
    (``update_join_way``; a retired code's are deleted, ``del_join_way``) and recorded as told
    at once, in its own transaction, so a retry after a failure tells only the rest. Returns
    how many WeCom calls were made."""
    calls = 0
    with code_lock(runtime, code_id):
        with runtime.transaction() as db_session:
            code = db_session.get(GroupCode, code_id)
            if code is None:
                return 0
            version, retired, auto_create = code.version, code.status == "retired", code.auto_create
            shape = definition(db_session, code)
            pending = [(w.id, w.config_id, w.state) for w in live_ways(db_session, code_id)
                       if w.pushed_version < version]
        for way_id, config_id, state in pending:
            calls += _tell(runtime, code_id, config_id, state, shape, retired=retired, auto_create=auto_create)
            with runtime.transaction() as db_session:
                way = db_session.get(GroupCodeWay, way_id)
                way.pushed_version = max(way.pushed_version, version)
                if retired:
                    way.deleted_at = runtime.clock.now()
        with runtime.transaction() as db_session:
            code = db_session.get(GroupCode, code_id)
            code.pushed_version = max(code.pushed_version, version)
    return calls


def _tell(runtime: Runtime, code_id: int, config_id: str, state: str, shape: dict[str, Any], *, retired: bool,
          auto_create: bool) -> int:
    if retired:
        runtime.work.del_join_way(config_id)
        return 1
    if not shape["chat_ids"] and not auto_create:
        # WeCom keeps at least one group on a way: it stays on the last one until a manager adds a group.
        log.warning("group code %s: no group with room; join way %s left as it is", code_id, config_id)
        return 0
    runtime.work.update_join_way(config_id, state=state, **shape)
    return 1
