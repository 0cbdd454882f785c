"""The live codes' safety net (群活码), every 10 minutes (scrm/scheduler.py): callbacks can be
lost, and WeCom's admin can change a way behind our back.

For each active code whose last version was pushed: its own way is read (``get_join_way``);
a group WeCom lists that is not on our code (one WeCom created, or one added in WeCom's
admin) is read (``groupchat/get``) and adopted; a group on our code that WeCom no longer lists
is taken off (``manual``). Then every group on the code is read again (``groupchat/get``) and
stored as a callback would store it, so a group filled while callbacks were lost is rotated.
A code with a version not yet pushed is pushed instead (the next run compares).
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from scrm.groups.code_rotation import adopt, current_chats, locked_code, push_code, rotate, take_off
from scrm.groups.models import GroupCode, GroupCodeWay
from scrm.groups.sync import NO_SUCH_CHAT, mark_dismissed, store_chat
from scrm.runtime import Runtime, job
from scrm.wechat.errors import WeChatError

log = logging.getLogger(__name__)


@job
def reconcile_codes(runtime: Runtime) -> int:
    """Scheduled: a job per active code; how many."""
    with runtime.transaction() as db_session:
        code_ids = list(db_session.scalars(select(GroupCode.id).where(GroupCode.status == "active")))
    for code_id in code_ids:
        runtime.queue.enqueue(reconcile_code, code_id)
    return len(code_ids)


@job
def reconcile_code(runtime: Runtime, code_id: int) -> None:
    """Bring one code in line with its WeCom way and its groups' member counts."""
    with runtime.transaction() as db_session:
        code = db_session.get(GroupCode, code_id)
        way = db_session.scalar(select(GroupCodeWay).where(GroupCodeWay.code_id == code_id,
                                                           GroupCodeWay.source == "code",
                                                           GroupCodeWay.deleted_at.is_(None)))
        if code is None or code.status != "active" or way is None:
            return
        if code.pushed_version < code.version:
            runtime.queue.enqueue(push_code, code_id)
            return
        config_id, version = way.config_id, code.version
        ours = [g.chat_id for _, g in current_chats(db_session, code_id)]
    listed = runtime.work.get_join_way(config_id)
    for chat_id in [c for c in listed.chat_ids if c not in ours]:
        _adopt_listed(runtime, code_id, chat_id, listed.room_base_id)
    with runtime.transaction() as db_session:
        if locked_code(db_session, code_id).version == version:  # nobody changed it meanwhile
            for _, group in current_chats(db_session, code_id):
                if group.chat_id not in listed.chat_ids:
                    take_off(db_session=db_session, code_id=code_id, group_id=group.id, reason="manual",
                             at=runtime.clock.now())
        chat_ids = [g.chat_id for _, g in current_chats(db_session, code_id)]
    for chat_id in chat_ids:
        _reread(runtime, chat_id)


def _adopt_listed(runtime: Runtime, code_id: int, chat_id: str, room_base_id: int | None) -> None:
    chat = _read(runtime, chat_id)
    if chat is None:
        return
    at = runtime.clock.now()
    with runtime.transaction() as db_session:
        group = store_chat(runtime=runtime, db_session=db_session, chat=chat, wecom_status=None, at=at)
        if adopt(db_session=db_session, code_id=code_id, group=group, room_base_id=room_base_id, at=at,
                 ways_listing=1):
            rotate(db_session=db_session, group=group, at=at)  # adopted full: off again


def _reread(runtime: Runtime, chat_id: str) -> None:
    chat = _read(runtime, chat_id)
    with runtime.transaction() as db_session:
        if chat is None:
            mark_dismissed(db_session=db_session, chat_id=chat_id, at=runtime.clock.now())
        else:
            store_chat(runtime=runtime, db_session=db_session, chat=chat, wecom_status=None, at=runtime.clock.now())


def _read(runtime: Runtime, chat_id: str):  # noqa: ANN202
    """``groupchat/get``, or None when WeCom no longer knows the group."""
    try:
        return runtime.work.group_chat(chat_id)
    except WeChatError as exc:
        if exc.errcode != NO_SUCH_CHAT:
            raise
        log.info("group %s is gone from WeCom", chat_id)
        return None
