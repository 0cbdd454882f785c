"""Live codes use the group welcome (入群欢迎语, SPEC §9).

WeCom's join way (``add_join_way``) has no welcome field. A welcome template lives in the corp's
material library (``group_welcome_template/add``); each group's OWNER applies it to their group
in WeCom's client, and WeCom then sends it to whoever joins. So a live code that names a
template asks the owner of each of its groups to apply it: one WeCom app message per group on
the code and template (when ``wechat.work.agent_secret`` is set), recorded on the group's row
on the code (``welcome_asked_template_id``, ``welcome_asked_at``).

:func:`ask_owners` is queued after the commit whenever a code carrying a template has a group
not yet asked for it: the code got a template (creation, a change) or a group was put on it (a
change, adoption of a group WeCom made). However often it runs, a group is asked once per
template: the row is claimed (locked, recorded) before the message is sent, and an ask already
recorded for the same group and template on another row (another code, or the group put on
this code again) is copied, not sent again. A new template asks again. A message WeCom refuses
is not recorded (the next change asks again). Without an agent secret nothing is sent or
recorded: the code's page tells the manager to tell the owners by hand.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import or_, select

from scrm.groups.models import CustomerGroup, GroupCode, GroupCodeChat, GroupWelcomeTemplate
from scrm.queue import enqueue_after_commit
from scrm.runtime import Runtime, job
from scrm.wechat.errors import AnswerLost, WeChatError

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

ASK = "【入群欢迎语】请在企业微信为群「{group}」设置入群欢迎语「{template}」（已在素材库）。"


def ask_message(group_name: str, template_name: str) -> str:
    """The app message a group's owner gets."""
    return ASK.format(group=group_name, template=template_name)


def _unasked(code: GroupCode):  # noqa: ANN202 - a SQL condition
    return (GroupCodeChat.code_id == code.id, GroupCodeChat.removed_at.is_(None),
            or_(GroupCodeChat.welcome_asked_template_id.is_(None),
                GroupCodeChat.welcome_asked_template_id != code.welcome_template_id))


def ask_after_commit(db_session: Session, code: GroupCode) -> bool:
    """Queue :func:`ask_owners` after the commit when the active code carries a template and a
    group on it was not asked for it; whether it was queued. Call it after the change is flushed."""
    if code.status != "active" or code.welcome_template_id is None:
        return False
    db_session.flush()
    if db_session.scalar(select(GroupCodeChat.id).where(*_unasked(code)).limit(1)) is None:
        return False
    enqueue_after_commit(db_session, ask_owners, code.id)
    return True


@job
def ask_owners(runtime: Runtime, code_id: int) -> int:
    """Job: ask the owner of each group on the code not yet asked for the code's template to
    apply it (one app message each); how many messages were sent."""
    if not runtime.work.can_send_app_messages:
        return 0
    with runtime.transaction() as db_session:
        code = db_session.get(GroupCode, code_id)
        if code is None or code.status != "active" or code.welcome_template_id is None:
            return 0
        template = db_session.get(GroupWelcomeTemplate, code.welcome_template_id)
        if template is None or template.deleted_at is not None:
            return 0
        template_pk, template_name = template.id, template.name
        pending = [(row.id, group.owner_userid, ask_message(group.name or group.chat_id, template_name))
                   for row, group in db_session.execute(
                       select(GroupCodeChat, CustomerGroup).join(CustomerGroup, CustomerGroup.id == GroupCodeChat.group_id)
                       .where(*_unasked(code)).order_by(GroupCodeChat.position, GroupCodeChat.id))
                   if group.owner_userid and group.status == "normal"]
    return sum(_ask(runtime, row_id, template_pk, owner, text) for row_id, owner, text in pending)


def _ask(runtime: Runtime, row_id: int, template_pk: int, owner: str, text: str) -> int:
    """Claim the row for the template (recorded, committed), then send; a refusal undoes the claim."""
    now = runtime.clock.now()
    with runtime.transaction() as db_session:
        row = db_session.scalar(select(GroupCodeChat).where(GroupCodeChat.id == row_id).with_for_update()
                                .execution_options(populate_existing=True))
        if row is None or row.removed_at is not None or row.welcome_asked_template_id == template_pk:
            return 0
        earlier = db_session.scalar(select(GroupCodeChat.welcome_asked_at).where(
            GroupCodeChat.group_id == row.group_id, GroupCodeChat.welcome_asked_template_id == template_pk,
            GroupCodeChat.id != row_id).order_by(GroupCodeChat.welcome_asked_at).limit(1))
        before = (row.welcome_asked_template_id, row.welcome_asked_at)
        row.welcome_asked_template_id, row.welcome_asked_at = template_pk, earlier or now
    if earlier is not None:
        return 0  # this owner was asked for this template already (another code, or an earlier stay)
    try:
        runtime.work.send_app_message([owner], text)
    except AnswerLost as exc:  # it may have gone: asked, not a second time
        log.warning("group welcome: asking %s (row %s), answer lost: %s", owner, row_id, exc)
    except WeChatError as exc:
        _undo(runtime, row_id, template_pk, before)
        log.warning("group welcome: %s not asked (row %s): %s", owner, row_id, exc)
        return 0
    except Exception:
        _undo(runtime, row_id, template_pk, before)  # throttled or unreachable: the queue retries
        raise
    return 1


def _undo(runtime: Runtime, row_id: int, template_pk: int, before: tuple[int | None, datetime | None]) -> None:
    with runtime.transaction() as db_session:
        row = db_session.get(GroupCodeChat, row_id)
        if row is not None and row.welcome_asked_template_id == template_pk:
            row.welcome_asked_template_id, row.welcome_asked_at = before
