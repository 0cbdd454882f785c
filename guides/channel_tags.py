"""The channel tag (渠道) a customer gets when a code binds them: which kind of code, on
which channel. Group and tags are made on first use (whoever is first; others find them)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from scrm.db import dialect_insert
from tagging.models import Tag, TagGroup
from tagging.scores import Cause, add_score

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

GROUP = "渠道"
KIND_NAMES = {"guide": "导购码", "store": "门店码"}
CHANNEL_NAMES = {"mp": "公众号", "work": "企业微信"}


def channel_tag_name(kind: str, channel: str) -> str:
    return f"{KIND_NAMES[kind]}-{CHANNEL_NAMES[channel]}"


def tag_channel(*, runtime: Runtime, db_session: Session, customer_id: int, kind: str, channel: str, at: datetime) -> None:
    group, tag = _group_and_tag(db_session, channel_tag_name(kind, channel))
    # The group's threshold as weight: carried at once, and held (the group does not decay
    # unless a manager gave it a half-life).
    add_score(db_session=db_session, customer_id=customer_id, tag=tag, group=group, weight=group.threshold, now=at,
              cause=Cause("binding", kind))


def _group_and_tag(db_session: Session, name: str) -> tuple[TagGroup, Tag]:
    """One SELECT once they exist (every binding); made on first use, whoever is first."""
    found = db_session.execute(
        select(TagGroup, Tag).join(Tag, Tag.group_id == TagGroup.id).where(TagGroup.name == GROUP, Tag.name == name)
    ).first()
    if found is not None:
        return found[0], found[1]
    connection = db_session.connection()
    connection.execute(
        dialect_insert(db_session, TagGroup.__table__).values(name=GROUP).on_conflict_do_nothing(index_elements=["name"])
    )
    group = db_session.scalar(select(TagGroup).where(TagGroup.name == GROUP))
    connection.execute(
        dialect_insert(db_session, Tag.__table__)
        .values(group_id=group.id, name=name)
        .on_conflict_do_nothing(index_elements=["group_id", "name"])
    )
    return group, db_session.scalar(select(Tag).where(Tag.group_id == group.id, Tag.name == name))
