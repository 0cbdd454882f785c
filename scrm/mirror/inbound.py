"""WeCom's tag edits, taken back to our side (the inbound half of scrm/mirror/jobs.py).

- **A member edits a customer's tags in WeCom** (WeCom then sends ``edit_external_contact``):
  the next sync of the customer reads each pair's corp tags and compares them with what the
  pair carried when we last read or wrote it (``wecom_pair_tags``). A tag the member added
  becomes a manual tag of ours (``set_manual``, cause manager ``wecom:<userid>``), one they
  removed is taken off; a corp tag we do not know becomes our tag, in our group of the same
  name (made if missing). With nothing noted yet for a pair, only additions count. Our own
  ``mark_tag`` is noted as we make it, so it never comes back as an edit; and nothing is
  written when our side already agrees (a tag added that the customer carries, one removed
  that they do not), so a sync that died between WeChat and the note is harmless.
- **The corp tag library changes in WeCom's admin** (``change_external_tag``: create, update,
  delete): :func:`reconcile_corp_tags` re-reads it. A renamed corp tag renames our tag, a
  renamed group our group (when the new name is free in ours); a deleted one loses its
  ``work_tag_id`` (made again if a customer needs it); a new one is mapped to our tag of the
  same group and name, if we have one. Other corp tags become ours only once a member puts
  one on a customer (above): a tag we deleted is not brought back by the next event.

Computed groups (RFM, lifecycle) are written by the computation only: a member's edit of
their tags in WeCom is not taken back, and they are never renamed from WeCom.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from scrm.db import dialect_insert
from scrm.wechat.values import CorpTagGroup
from tagging.models import CustomerTag, Tag, TagGroup, WeComPairTags
from tagging.scores import set_manual

if TYPE_CHECKING:
    from scrm.mirror.work import Pair

log = logging.getLogger(__name__)

MAX_NAME = 30


def apply_member_edits(*, db_session: Session, pairs: Iterable[Pair], now: datetime) -> int:
    """Take back what members changed by hand on each pair since we last looked; returns how
    many of our tags changed."""
    pairs = list(pairs)
    customer_ids = {pair.customer_id for pair in pairs}
    if not customer_ids:
        return 0
    noted = {
        (row.customer_id, row.userid): frozenset(row.tag_ids)
        for row in db_session.scalars(select(WeComPairTags).where(WeComPairTags.customer_id.in_(customer_ids)))
    }
    changed = 0
    for pair in pairs:
        for follow in pair.follow_users:
            now_ids = follow.corp_tag_ids
            before = noted.get((pair.customer_id, follow.userid))
            added = now_ids - before if before is not None else now_ids
            removed = before - now_ids if before is not None else frozenset()
            if not added and not removed:
                continue
            names = {t.id: (t.group_name, t.name) for t in follow.tags if t.type == 1}
            carried = _carried(db_session, pair.customer_id, now)
            edits = [(corp_id, True) for corp_id in sorted(added)] + [(corp_id, False) for corp_id in sorted(removed)]
            for corp_id, on in edits:
                found = our_tag(db_session, corp_id, names.get(corp_id) if on else None)
                if found is None or found[1].computed or (found[0].id in carried) == on:
                    continue
                change = set_manual(db_session=db_session, customer_id=pair.customer_id, tag=found[0], group=found[1],
                                    on=on, now=now, manager=f"wecom:{follow.userid}")
                if change is not None:
                    carried.symmetric_difference_update({found[0].id})
                    changed += 1
    return changed


def our_tag(db_session: Session, corp_id: str, names: tuple[str, str] | None) -> tuple[Tag, TagGroup] | None:
    """Our tag for a corp tag id; given its (group, name), one we do not know yet is mapped
    to our tag of that name or made (its group too). None for a computed group's tag."""
    row = db_session.execute(
        select(Tag, TagGroup).join(TagGroup, TagGroup.id == Tag.group_id).where(Tag.work_tag_id == corp_id).limit(1)
    ).first()
    if row is not None:
        return row[0], row[1]
    if names is None or not names[0] or not names[1]:
        return None
    group_name, tag_name = (name[:MAX_NAME] for name in names)
    db_session.execute(
        dialect_insert(db_session, TagGroup.__table__)
        .values(name=group_name, computed=False, threshold=1.0)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    group = db_session.scalars(
        select(TagGroup).where(TagGroup.name == group_name).execution_options(populate_existing=True)
    ).one()
    if group.computed:
        return None
    db_session.execute(
        dialect_insert(db_session, Tag.__table__)
        .values(group_id=group.id, name=tag_name)
        .on_conflict_do_nothing(index_elements=["group_id", "name"])
    )
    tag = db_session.scalars(
        select(Tag).where(Tag.group_id == group.id, Tag.name == tag_name).execution_options(populate_existing=True)
    ).one()
    tag.work_tag_id = corp_id
    db_session.flush()
    return tag, group


def reconcile_corp_tags(*, db_session: Session, groups: list[CorpTagGroup]) -> None:
    """Our tags after WeCom's corp tag library (``get_corp_tag_list``): see the module docstring."""
    corp = {t.id: t for group in groups for t in group.tags}
    mapped = db_session.execute(
        select(Tag, TagGroup).join(TagGroup, TagGroup.id == Tag.group_id).where(Tag.work_tag_id.is_not(None))
    ).all()
    corp_groups: dict[int, set[str]] = {}
    ours: dict[int, TagGroup] = {}
    for tag, group in mapped:
        found = corp.get(tag.work_tag_id)
        if found is None:
            log.info("corp tag of %s/%s was deleted in WeCom: unmapped", group.name, tag.name)
            tag.work_tag_id = None
            continue
        if group.computed:
            continue
        if found.name != tag.name:
            _rename(db_session, tag, group, found.name[:MAX_NAME])
        corp_groups.setdefault(group.id, set()).add(found.group_name)
        ours[group.id] = group
    for group_id, names in corp_groups.items():
        group = ours[group_id]
        if len(names) == 1 and (new := next(iter(names))[:MAX_NAME]) != group.name:
            if db_session.scalar(select(TagGroup.id).where(TagGroup.name == new)) is None:
                log.info("tag group %s renamed %s in WeCom", group.name, new)
                group.name = new
            else:
                log.warning("tag group %s renamed %s in WeCom, a name we use already: kept", group.name, new)
    db_session.flush()
    known = set(db_session.scalars(select(Tag.work_tag_id).where(Tag.work_tag_id.is_not(None))))
    for corp_id, found in corp.items():
        if corp_id in known:
            continue
        unmapped = db_session.scalar(
            select(Tag)
            .join(TagGroup, TagGroup.id == Tag.group_id)
            .where(TagGroup.name == found.group_name, Tag.name == found.name, Tag.work_tag_id.is_(None))
        )
        if unmapped is not None:
            unmapped.work_tag_id = corp_id


def _rename(db_session: Session, tag: Tag, group: TagGroup, name: str) -> None:
    taken = db_session.scalar(select(Tag.id).where(Tag.group_id == group.id, Tag.name == name, Tag.id != tag.id))
    if taken is not None:
        log.warning("tag %s/%s renamed %s in WeCom, a name the group has already: kept", group.name, tag.name, name)
        return
    log.info("tag %s/%s renamed %s in WeCom", group.name, tag.name, name)
    tag.name = name


def _carried(db_session: Session, customer_id: int, now: datetime) -> set[int]:
    return set(
        db_session.scalars(
            select(CustomerTag.tag_id).where(CustomerTag.customer_id == customer_id, CustomerTag.active_until > now)
        )
    )
