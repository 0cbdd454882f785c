"""Customer groups (客户群) read back from WeCom: the hourly sync of every group, and the
re-read of one group after its ``change_external_chat`` callback.

Whatever the callback says (members added or removed, a new name or owner), the job reads the
group whole with ``groupchat/get`` and brings our rows in line: simplest, and right however
callbacks are lost, repeated or reordered. A ``dismiss`` is the exception: WeCom no longer
answers for the group, so the callback itself marks it dismissed. The group row is locked
while its members are compared, so two jobs for one group count each join or quit once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from guides.models import Guide
from scrm.clock import local_day
from scrm.customers.models import Customer, CustomerIdentity
from scrm.db import dialect_insert
from scrm.groups.churn import record_churn
from scrm.groups.code_rotation import after_group_stored, take_off_dismissed
from scrm.groups.models import EXTERNAL, CustomerGroup, GroupDayStats, GroupMember
from scrm.queue import enqueue_after_commit
from scrm.runtime import Runtime, job
from scrm.wechat.errors import WeChatError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.callbacks import ExternalChatChange
    from scrm.runtime import Runtime
    from scrm.wechat.values import GroupChat

PAGE = 100
NO_SUCH_CHAT = 40050  # WeCom: the chat_id does not exist (any more)


@job
def sync_groups(runtime: Runtime) -> int:
    """Scheduled job: every group WeCom lists, read whole, one transaction each; groups we
    hold that WeCom no longer lists are marked dismissed. Returns how many groups it read."""

    seen: set[str] = set()
    cursor = None
    while True:
        page = runtime.work.group_chats(cursor=cursor, limit=PAGE)
        for ref in page.chats:
            try:
                chat = runtime.work.group_chat(ref.chat_id)
            except WeChatError as exc:
                if exc.errcode != NO_SUCH_CHAT:
                    raise
                continue  # dismissed since it was listed: marked so below
            with runtime.transaction() as db_session:
                store_chat(runtime=runtime, db_session=db_session, chat=chat, wecom_status=ref.status,
                           at=runtime.clock.now())
            seen.add(ref.chat_id)
        cursor = page.next_cursor
        if not cursor:
            break
    with runtime.transaction() as db_session:
        gone = db_session.scalars(select(CustomerGroup.chat_id).where(CustomerGroup.status != "dismissed")).all()
        for chat_id in set(gone) - seen:
            mark_dismissed(db_session=db_session, chat_id=chat_id, at=runtime.clock.now())
    return len(seen)


@job
def refresh_group(runtime: Runtime, chat_id: str, at: str, dismissed: bool = False) -> None:
    """Job, queued by a ``change_external_chat`` callback: re-read the one group."""

    moment = datetime.fromisoformat(at)
    if not dismissed:
        try:
            chat = runtime.work.group_chat(chat_id)
        except WeChatError as exc:
            if exc.errcode != NO_SUCH_CHAT:
                raise  # transient: the queue retries
            dismissed = True
    with runtime.transaction() as db_session:
        if dismissed:
            mark_dismissed(db_session=db_session, chat_id=chat_id, at=moment)
        else:
            store_chat(runtime=runtime, db_session=db_session, chat=chat, wecom_status=None, at=moment)


def chat_changed(runtime: Runtime, db_session: Session, callback: ExternalChatChange) -> None:
    """The webhook's part: one job queued after its commit, nothing read or written now."""
    if callback.chat_id:
        enqueue_after_commit(db_session, refresh_group, callback.chat_id, runtime.clock.now().isoformat(),
                             callback.change_type == "dismiss")


def mark_dismissed(*, db_session: Session, chat_id: str, at: datetime) -> None:
    db_session.execute(update(CustomerGroup).where(CustomerGroup.chat_id == chat_id,
                                                   CustomerGroup.status != "dismissed")
                       .values(status="dismissed", dismissed_at=at, updated_at=at))
    take_off_dismissed(db_session=db_session, chat_id=chat_id, at=at)


def store_chat(*, runtime: Runtime, db_session: Session, chat: GroupChat, wecom_status: int | None,
               at: datetime) -> CustomerGroup:
    """Bring our group and its members in line with WeCom's ``chat``; count joins and quits,
    and joins by live code (their ``state``); then the live codes follow (code_rotation)."""
    group = _locked_group(db_session, chat, at)
    group.name, group.owner_userid, group.notice = chat.name, chat.owner, chat.notice
    group.owner_guide_id = db_session.scalar(select(Guide.id).where(Guide.wecom_userid == chat.owner))
    if wecom_status is not None or group.status == "dismissed":
        group.status = "normal" if not wecom_status else "handover"
    group.dismissed_at = None
    group.member_count = len(chat.members)
    group.external_count = sum(1 for m in chat.members if m.type == EXTERNAL)
    group.updated_at = at
    rows = {m.userid: m for m in db_session.scalars(select(GroupMember).where(GroupMember.group_id == group.id))}
    customers = _customers_of(db_session, [m.userid for m in chat.members if m.type == EXTERNAL])
    counts: dict[tuple[str, object], int] = {}
    arrivals: list[tuple[str, datetime]] = []  # (state, when) of those who joined by a join way
    for member in chat.members:
        joined = datetime.fromtimestamp(member.join_time, UTC) if member.join_time else at
        row = rows.get(member.userid)
        if row is None:
            row = GroupMember(group_id=group.id, userid=member.userid, kind=member.type)
            db_session.add(row)
        if row.id is None or row.left_at is not None:  # new, or back after leaving
            row.left_at, row.join_time = None, joined
            _tally(counts, "joined", local_day(runtime.config, joined))
            if member.state:
                arrivals.append((member.state, joined))
        row.kind, row.name, row.join_scene = member.type, member.name or row.name or "", member.join_scene
        row.state = member.state or row.state
        row.customer_id = customers.get(member.userid) if member.type == EXTERNAL else None
    present = {m.userid for m in chat.members}
    for userid, row in rows.items():
        if userid not in present and row.left_at is None:
            row.left_at = at
            _tally(counts, "quit", local_day(runtime.config, at))
            if row.customer_id is not None and group.owner_guide_id is not None:  # one of ours left a guide's group
                record_churn(db_session=db_session, config=runtime.config, guide_id=group.owner_guide_id,
                             customer_id=row.customer_id, kind="quit_group", at=at, chat_id=group.chat_id,
                             group_name=group.name)
    db_session.flush()
    _count(db_session, group.id, counts)
    after_group_stored(runtime=runtime, db_session=db_session, group=group, arrivals=arrivals, at=at,
                       first_read=not rows)
    return group


def _locked_group(db_session: Session, chat: GroupChat, at: datetime) -> CustomerGroup:
    created = datetime.fromtimestamp(chat.create_time, UTC) if chat.create_time else at
    db_session.execute(dialect_insert(db_session, CustomerGroup.__table__).values(
        chat_id=chat.chat_id, name=chat.name, owner_userid=chat.owner, status="normal", member_count=0,
        external_count=0, notice="", created_at=created, updated_at=at,
    ).on_conflict_do_nothing(index_elements=["chat_id"]))
    return db_session.scalar(select(CustomerGroup).where(CustomerGroup.chat_id == chat.chat_id)
                             .with_for_update().execution_options(populate_existing=True))


def _customers_of(db_session: Session, external_userids: list[str]) -> dict[str, int]:
    """Our customers among the group's external members, by their WeCom identity (merges followed)."""
    if not external_userids:
        return {}
    survivor = func.coalesce(Customer.merged_into_id, Customer.id)
    rows = db_session.execute(
        select(CustomerIdentity.external_id, survivor)
        .join(Customer, Customer.id == CustomerIdentity.customer_id)
        .where(CustomerIdentity.channel == "work", CustomerIdentity.external_id.in_(external_userids))
    )
    return {external_id: customer_id for external_id, customer_id in rows}


def _tally(counts: dict, what: str, day: object) -> None:
    counts[(what, day)] = counts.get((what, day), 0) + 1


def _count(db_session: Session, group_id: int, counts: dict) -> None:
    table = GroupDayStats.__table__
    for (what, day), n in sorted(counts.items(), key=lambda item: (str(item[0][1]), item[0][0])):
        values = {"group_id": group_id, "day": day, "joined": 0, "quit": 0, what: n}
        insert = dialect_insert(db_session, table).values(**values)
        db_session.execute(insert.on_conflict_do_update(index_elements=["group_id", "day"],
                                                        set_={what: table.c[what] + n}))
