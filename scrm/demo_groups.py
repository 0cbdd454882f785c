"""``scrm demo``'s community operations (社群运营, SPEC §10: "customer groups with a live code"),
over the two customer groups the history put in the sandbox's WeCom (:mod:`scrm.demo_history`):

- a group welcome 「新人欢迎」 (入群欢迎语, added in the sandbox's WeCom);
- the live code 「宝妈福利群活码」 over the two groups (member limit 200) carrying it, its join way
  made in the sandbox's WeCom, and the welcome applied to both groups (their owners, asked, set it);
- the group SOP 「新群七天SOP」 over the code's groups: day 0 at 10:00, day 3 at 20:00;
- a handful of customers who joined through the code on the past week's days (customers of the
  history who are in no group yet, then strangers who scanned the poster), put in the groups of
  the sandbox's WeCom on those days and read by the groups' sync, which counts each join on the
  day WeCom says it happened: the code's page and 社群数据 show joins by code and by day.

Idempotent, as :mod:`scrm.demo_seed`: each thing is looked up by its name and made only when
missing; the joins are played only for a code made now. Call it outside any transaction: the
live code asks WeCom between its own (:func:`scrm.groups.codes.create`).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from scrm.customers.models import CustomerIdentity
from scrm.groups import codes, welcome
from scrm.groups.code_schemas import GroupCodeIn
from scrm.groups.models import (
    CustomerGroup,
    GroupCode,
    GroupCodeChat,
    GroupMember,
    GroupSop,
    GroupWelcomeTemplate,
)
from scrm.groups.sop import create_sop
from scrm.groups.sop_schemas import parse_sop
from scrm.groups.sync import sync_groups
from scrm.sandbox import world

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

WELCOME_NAME = "新人欢迎"
WELCOME_TEXT = "欢迎%NICKNAME%加入！群公告里有本周福利～"
CODE_NAME = "宝妈福利群活码"
MEMBER_LIMIT = 200
SOP_NAME = "新群七天SOP"
SOP_STEPS = ((0, "10:00", "欢迎新朋友！"), (3, "20:00", "育儿小课堂开讲啦"))
JOINERS = 10
# The code was put up a week ago; its joins fall on the six days before today, 10:00-18:00 local.
CODE_AGE_DAYS = 7
JOIN_DAYS = 6


def seed_community(runtime: Runtime, chat_ids: list[str]) -> list[str]:
    """Seed what is missing over the groups ``chat_ids`` (those the sync has read); returns one
    line per thing made (empty: all was there, or no group to build on)."""
    with runtime.transaction() as db_session:
        known = set(db_session.scalars(select(CustomerGroup.chat_id).where(
            CustomerGroup.chat_id.in_(chat_ids), CustomerGroup.status == "normal")))
        chat_ids = [c for c in chat_ids if c in known]
        if not chat_ids:
            return []
        made: list[str] = []
        template_id = db_session.scalar(select(GroupWelcomeTemplate.id).where(
            GroupWelcomeTemplate.name == WELCOME_NAME, GroupWelcomeTemplate.deleted_at.is_(None)))
        if template_id is None:
            template_id = welcome.create_template(
                db_session=db_session, work=runtime.work, now=runtime.clock.now(),
                template_in=welcome.parse_template({"name": WELCOME_NAME, "text": WELCOME_TEXT})).id
            made.append(f"group welcome {WELCOME_NAME}")
        code_id = db_session.scalar(select(GroupCode.id).where(GroupCode.name == CODE_NAME,
                                                               GroupCode.status == "active"))
    if code_id is None:
        code_id = codes.create(runtime=runtime, code_in=GroupCodeIn(
            name=CODE_NAME, chat_ids=chat_ids, member_limit=MEMBER_LIMIT, welcome_template_id=template_id))
        with runtime.transaction() as db_session:
            wecom_id = db_session.scalar(select(GroupWelcomeTemplate.template_id).where(
                GroupWelcomeTemplate.id == template_id))
        for chat_id in chat_ids:  # the owners, asked by app message, apply it in WeCom
            world.apply_group_welcome(runtime.redis, chat_id, wecom_id)
        joined = _joins(runtime, code_id)
        made.append(f"live code {CODE_NAME} over {len(chat_ids)} groups, {joined} joins through it")
    with runtime.transaction() as db_session:
        if db_session.scalar(select(GroupSop.id).where(GroupSop.name == SOP_NAME)) is None:
            steps = [{"day_offset": day, "time": at, "text": text} for day, at, text in SOP_STEPS]
            body = {"name": SOP_NAME, "selector": {"kind": "code", "value": str(code_id)}, "steps": steps}
            create_sop(db_session=db_session, sop_in=parse_sop(body), now=runtime.clock.now())
            made.append(f"group SOP {SOP_NAME} ({len(SOP_STEPS)} steps)")
    return made


def _joins(runtime: Runtime, code_id: int) -> int:
    """The code dated a week back, and :data:`JOINERS` people joined through its join way on the
    days since (in the sandbox's WeCom), then read by the groups' sync: how many joined."""
    now, zone = runtime.clock.now(), runtime.config.brand.zone
    today = now.astimezone(zone).date()
    with runtime.transaction() as db_session:
        since = now - timedelta(days=CODE_AGE_DAYS)
        db_session.execute(update(GroupCode).where(GroupCode.id == code_id).values(created_at=since))
        db_session.execute(update(GroupCodeChat).where(GroupCodeChat.code_id == code_id).values(added_at=since))
        config_id = codes.own_way(db_session=db_session, code_id=code_id).config_id
        ours = _ours_in_no_group(db_session)
    strangers = [world.wecom_identity(runtime.redis, f"oDemoPoster{n:02d}", name=f"扫码宝妈{n:02d}")
                 for n in range(JOINERS - len(ours))]
    joined = 0
    for n, external_userid in enumerate(ours + strangers):
        at = datetime.combine(today - timedelta(days=JOIN_DAYS - n % JOIN_DAYS), time(10 + n % 9), zone)
        try:
            world.join_via_way(runtime.redis, config_id, external_userid, at=at, limit=MEMBER_LIMIT)
        except world.JoinRefused:
            continue
        joined += 1
    sync_groups()
    return joined


def _ours_in_no_group(db_session: Session) -> list[str]:
    """Up to :data:`JOINERS` customers of ours (a guide's WeCom contacts) in no group yet; the
    rest of the joiners are strangers who scanned the poster (WeCom identities of no guide)."""
    return list(db_session.scalars(select(CustomerIdentity.external_id).where(
        CustomerIdentity.channel == "work", CustomerIdentity.external_id.not_in(select(GroupMember.userid)))
        .order_by(CustomerIdentity.id).limit(JOINERS)))
