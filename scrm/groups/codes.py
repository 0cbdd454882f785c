"""Group live codes (群活码, SPEC §9): create, read, change and retire a code, and hand out its
join way for a guide or a campaign.

A code is a WeCom join way (``externalcontact/groupchat/add_join_way``, scene 2: a QR code)
over 1–5 of our groups, in order; WeCom sends whoever scans to a group on the way with room.
Each way has its own ``state`` (``gc{code}``, ``gc{code}g{guide}``, ``gc{code}c{campaign}``) so
each join says who brought it. Creating a code or a way asks WeCom at once (the caller needs
the QR), outside any transaction, so those two own theirs; later changes of the group list
bump the code's ``version`` (in the caller's transaction) and a job pushes it to every way
once (scrm/groups/code_rotation.py). A refusal raises before anything is kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from scrm.errors import NotFoundError, Refused
from scrm.groups.code_rotation import code_lock, current_chats, definition, push_code
from scrm.groups.code_welcome import ask_after_commit, ask_owners
from scrm.groups.models import MAX_CODE_CHATS, CustomerGroup, GroupCode, GroupCodeChat, GroupCodeWay
from scrm.groups.welcome import WelcomeTemplateNotFound, get_template
from scrm.queue import enqueue_after_commit
from scrm.wechat.errors import WeChatError

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

    from scrm.groups.code_schemas import GroupCodeChange, GroupCodeIn
    from scrm.runtime import Runtime

log = logging.getLogger(__name__)

SOURCE_LETTERS = {"guide": "g", "campaign": "c"}
LIST_LIMIT = 500


class GroupCodeNotFound(NotFoundError):
    """No live code has that id."""


class GroupCodeRefused(Refused):
    """The code cannot be made or changed so, or WeCom refused it: ``field`` names the input to
    blame, ``reason`` why (``unknown``, ``dismissed``, ``handover``, ``full``, ``too_many``,
    ``no_groups``, ``no_base_name``, ``retired``, ``wecom``, ``no_template``), ``chat_id`` the group."""


@dataclass(frozen=True)
class WayRef:
    """A join way as callers hand it out: its ``qr_code`` (WeCom's image URL) and ``state``."""

    id: int
    code_id: int
    config_id: str
    state: str
    source: str
    source_id: int | None
    qr_code: str

    @classmethod
    def of(cls, way: GroupCodeWay) -> WayRef:
        return cls(way.id, way.code_id, way.config_id, way.state, way.source, way.source_id, way.qr_code)


def way_state(code_id: int, source: str = "code", source_id: int | None = None) -> str:
    """The join way's ``state`` (≤ 30 characters): who handed the code out."""
    if source == "code":
        return f"gc{code_id}"
    if source not in SOURCE_LETTERS or source_id is None:
        raise ValueError(f"a {source!r} way needs a source id")
    return f"gc{code_id}{SOURCE_LETTERS[source]}{source_id}"


def get(*, db_session: Session, code_id: int, lock: bool = False) -> GroupCode:
    """The code (``lock``: its row locked to the end of the transaction)."""
    query = select(GroupCode).where(GroupCode.id == code_id)
    code = db_session.scalar(query.with_for_update().execution_options(populate_existing=True) if lock else query)
    if code is None:
        raise GroupCodeNotFound(f"no group code {code_id}")
    return code


def list_codes(*, db_session: Session, include_retired: bool = True) -> list[GroupCode]:
    query = select(GroupCode).order_by(GroupCode.status, GroupCode.id.desc()).limit(LIST_LIMIT)
    if not include_retired:
        query = query.where(GroupCode.status == "active")
    return list(db_session.scalars(query))


def own_way(*, db_session: Session, code_id: int) -> GroupCodeWay | None:
    """The code's own join way (state ``gc{code}``), the one printed on its poster."""
    return db_session.scalar(select(GroupCodeWay).where(GroupCodeWay.state == way_state(code_id)))


def create(*, runtime: Runtime, code_in: GroupCodeIn) -> int:
    """A new code over ``code_in.chat_ids`` (in order) and its own join way, made in WeCom now;
    its id. Owns its transactions (WeCom is called between them, never inside one: on SQLite
    the sandbox writes its world in the same database). A refusal, ours or WeCom's, leaves
    nothing behind."""
    with runtime.transaction() as db_session:
        groups = _usable_groups(db_session, code_in.chat_ids, member_limit=code_in.member_limit)
        _usable_template(db_session, code_in.welcome_template_id)
        at = runtime.clock.now()
        code = GroupCode(name=code_in.name, member_limit=code_in.member_limit, auto_create=code_in.auto_create,
                         room_base_name=code_in.room_base_name or "", room_base_id=code_in.room_base_id,
                         welcome_template_id=code_in.welcome_template_id, status="active", created_at=at,
                         version=1, pushed_version=1)
        db_session.add(code)
        db_session.flush()
        for position, group in enumerate(groups):
            db_session.add(GroupCodeChat(code_id=code.id, group_id=group.id, position=position, added_at=at))
        db_session.flush()
        code_id, shape = code.id, definition(db_session, code)
    try:
        with code_lock(runtime, code_id):
            _add_way(runtime, code_id, "code", None, shape, version=1)
    except Exception:
        with runtime.transaction() as db_session:
            db_session.execute(delete(GroupCodeChat).where(GroupCodeChat.code_id == code_id))
            db_session.execute(delete(GroupCode).where(GroupCode.id == code_id))
        raise
    if code_in.welcome_template_id is not None and groups:
        runtime.queue.enqueue(ask_owners, code_id)  # the owners are asked to apply the welcome
    return code_id


def way_for(*, runtime: Runtime, code_id: int, source: str, source_id: int | None) -> WayRef:
    """The join way of code ``code_id`` handed out by ``source`` (``code``, ``guide`` with the
    guide's id, ``campaign`` with the campaign's id), made in WeCom the first time: joins
    through it are credited to that guide or campaign. :class:`GroupCodeRefused` for a retired
    code (or WeCom refusing); :class:`GroupCodeNotFound` for none. Owns its transactions: call
    it outside a transaction that has written (the embedded backend's sandbox shares the file)."""
    state = way_state(code_id, source, source_id)
    with code_lock(runtime, code_id):  # two callers make one way
        with runtime.transaction() as db_session:
            code = get(db_session=db_session, code_id=code_id)
            way = db_session.scalar(select(GroupCodeWay).where(GroupCodeWay.state == state))
            if way is not None:
                return WayRef.of(way)
            if code.status != "active":
                raise GroupCodeRefused(f"group code {code_id} is retired", field="code_id", reason="retired")
            shape, version = definition(db_session, code), code.version
        return _add_way(runtime, code_id, source, source_id, shape, version=version)


def change(*, runtime: Runtime, db_session: Session, code_id: int, changes: GroupCodeChange) -> GroupCode:
    """Change the name, groups (the new list, in order: groups left out are taken off as
    ``manual``), limit, auto-creation or welcome template (``null``: none); a changed definition
    is pushed to every way once, after the commit. Groups at or over a lowered limit are taken
    off as ``full``. Owners of groups not yet asked to apply the code's welcome are asked after
    the commit (scrm/groups/code_welcome.py)."""
    code = get(db_session=db_session, code_id=code_id, lock=True)
    if code.status != "active":
        raise GroupCodeRefused(f"group code {code_id} is retired", field="code_id", reason="retired")
    before = definition(db_session, code)
    fields = changes.model_dump(exclude_unset=True)
    if "welcome_template_id" in fields:  # null takes the welcome off the code
        _usable_template(db_session, fields["welcome_template_id"])
        code.welcome_template_id = fields.pop("welcome_template_id")
    limit = fields.get("member_limit", code.member_limit)
    at = runtime.clock.now()
    if "chat_ids" in fields and fields["chat_ids"] is not None:
        kept = {g.chat_id for _, g in current_chats(db_session, code.id)}
        fresh = [c for c in fields["chat_ids"] if c not in kept]
        _usable_groups(db_session, fresh, member_limit=limit)
        _set_chats(db_session, code, fields["chat_ids"], at)
    for name in ("name", "member_limit", "auto_create", "room_base_name", "room_base_id"):
        if name in fields and fields[name] is not None:
            setattr(code, name, fields[name])
    for row, group in current_chats(db_session, code.id):
        if group.member_count >= code.member_limit:
            row.removed_at, row.removed_reason = at, "full"
    if code.auto_create and not code.room_base_name:
        raise GroupCodeRefused("room_base_name: needed when auto_create is on", field="room_base_name",
                               reason="no_base_name")
    if not current_chats(db_session, code.id) and not code.auto_create:
        raise GroupCodeRefused("chat_ids: at least one group with room, or auto_create", field="chat_ids",
                               reason="no_groups")
    db_session.flush()
    if definition(db_session, code) != before:
        code.version += 1
        enqueue_after_commit(db_session, push_code, code.id)
    ask_after_commit(db_session, code)
    return code


def retire(*, runtime: Runtime, db_session: Session, code_id: int) -> GroupCode:
    """Retire the code: its ways are deleted in WeCom (``del_join_way``) by the push job; its
    groups, history and joins are kept. Retiring twice is retiring once."""
    code = get(db_session=db_session, code_id=code_id, lock=True)
    if code.status == "retired":
        return code
    code.status, code.retired_at = "retired", runtime.clock.now()
    code.version += 1
    enqueue_after_commit(db_session, push_code, code.id)
    return code


# ---- helpers -------------------------------------------------------------------------------


def _usable_groups(db_session: Session, chat_ids: list[str], *, member_limit: int) -> list[CustomerGroup]:
    """The groups named, in order, each known, not dismissed, its owner still with the corp,
    and with room under ``member_limit``; else :class:`GroupCodeRefused` naming the group."""
    if len(chat_ids) > MAX_CODE_CHATS:
        raise GroupCodeRefused(f"chat_ids: at most {MAX_CODE_CHATS} groups", field="chat_ids", reason="too_many")
    found = {g.chat_id: g for g in db_session.scalars(select(CustomerGroup).where(CustomerGroup.chat_id.in_(chat_ids)))}
    for chat_id in chat_ids:
        group = found.get(chat_id)
        if group is None:
            raise GroupCodeRefused(f"chat_ids: no group {chat_id} (sync the groups first)", field="chat_ids",
                                   reason="unknown", chat_id=chat_id)
        if group.status == "dismissed":
            raise GroupCodeRefused(f"chat_ids: group {chat_id} is dismissed", field="chat_ids", reason="dismissed",
                                   chat_id=chat_id)
        if group.status == "handover" or not group.owner_userid:
            raise GroupCodeRefused(f"chat_ids: group {chat_id}'s owner has left; it waits for a new owner",
                                   field="chat_ids", reason="handover", chat_id=chat_id)
        if group.member_count >= member_limit:
            raise GroupCodeRefused(f"chat_ids: group {chat_id} already has {group.member_count} members "
                                   f"(the limit is {member_limit})", field="chat_ids", reason="full", chat_id=chat_id)
    return [found[c] for c in chat_ids]


def _usable_template(db_session: Session, template_pk: int | None) -> None:
    """A welcome template that exists and is not deleted (or none); else :class:`GroupCodeRefused`."""
    if template_pk is None:
        return
    try:
        get_template(db_session=db_session, template_pk=template_pk)
    except WelcomeTemplateNotFound:
        raise GroupCodeRefused(f"welcome_template_id: no group welcome template {template_pk}",
                               field="welcome_template_id", reason="no_template") from None


def _set_chats(db_session: Session, code: GroupCode, chat_ids: list[str], at: datetime) -> None:
    """The code's groups become ``chat_ids`` in that order; groups left out are taken off."""
    now_on = {group.chat_id: row for row, group in current_chats(db_session, code.id)}
    for chat_id, row in now_on.items():
        if chat_id not in chat_ids:
            row.removed_at, row.removed_reason = at, "manual"
    ids = dict(db_session.execute(select(CustomerGroup.chat_id, CustomerGroup.id)
                                  .where(CustomerGroup.chat_id.in_(chat_ids))).all())
    for position, chat_id in enumerate(chat_ids):
        if chat_id in now_on:
            now_on[chat_id].position = position
        else:
            db_session.add(GroupCodeChat(code_id=code.id, group_id=ids[chat_id], position=position, added_at=at))
    db_session.flush()


def _add_way(runtime: Runtime, code_id: int, source: str, source_id: int | None, shape: dict,
             *, version: int) -> WayRef:
    """Make the way in WeCom (the code's lock held), then keep it; a version changed meanwhile
    is pushed to it by the push job."""
    state = way_state(code_id, source, source_id)
    try:
        config_id = runtime.work.add_join_way(state=state, **shape)
        qr_code = runtime.work.get_join_way(config_id).qr_code
    except WeChatError as exc:
        raise GroupCodeRefused(f"WeCom refused the join way: {exc}", code="wecom_refused", reason="wecom",
                               errcode=exc.errcode) from None
    with runtime.transaction() as db_session:
        way = GroupCodeWay(code_id=code_id, config_id=config_id, state=state, source=source, source_id=source_id,
                           qr_code=qr_code, pushed_version=version, created_at=runtime.clock.now())
        db_session.add(way)
        db_session.flush()
        if db_session.get(GroupCode, code_id).version != version:
            enqueue_after_commit(db_session, push_code, code_id)
        made = WayRef.of(way)
    log.info("group code %s: join way %s (%s) made over %s", code_id, config_id, state, ", ".join(shape["chat_ids"]))
    return made
