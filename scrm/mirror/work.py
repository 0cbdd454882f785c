"""The WeCom half of the tag mirror: our tags as corp tags (企业客户标签) on the
member–customer pair.

WeCom tags hang on a pair, not on the customer, so one member is chosen per customer: the
guide they are bound to, when that guide's member has them as a contact; else the member of
their latest ``add_external_contact``; else the member who added them last. Corp tags are
made on first use in the corp tag group named like our group (``add_corp_tag``; a name WeCom
has already is looked up), and their ids kept on our tags (``Tag.work_tag_id``).

Each pair's corp tags are read (``externalcontact/get``) at every sync, written with one
``mark_tag`` (add and remove together) when they differ from ours, and what the pair then
carries is kept in ``wecom_pair_tags``: the next read tells a member's own edits in WeCom
(taken back by scrm/mirror/inbound.py) from ours. Corp tags that are not ours (no tag of
ours has their id) are left alone.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from scrm.db import dialect_insert
from scrm.mirror.inbound import reconcile_corp_tags
from scrm.mirror.plan import MirroredTag, Target
from scrm.wechat.errors import WeChatError
from scrm.wechat.values import FollowUser
from tagging.models import Tag, WeComPairTags

if TYPE_CHECKING:
    from scrm.runtime import Runtime

log = logging.getLogger(__name__)

# WeCom has no such customer, or the member does not have them (any more).
UNKNOWN_CONTACT = frozenset({40096, 84061})
UNKNOWN_TAG = 40068
TAG_EXISTS = 40071


@dataclass(frozen=True)
class Pair:
    """A customer as ``externalcontact/get`` told it, and the member we mirror to."""

    customer_id: int
    external_userid: str
    member: str | None
    follow_users: tuple[FollowUser, ...]

    def tags_of(self, userid: str) -> frozenset[str]:
        follow = next((f for f in self.follow_users if f.userid == userid), None)
        return follow.corp_tag_ids if follow else frozenset()


def read(runtime: Runtime, targets: Iterable[Target]) -> list[Pair]:
    pairs = []
    for target in targets:
        for external_userid in target.external_userids:
            try:
                contact = runtime.work.external_contact(external_userid)
            except WeChatError as exc:
                if exc.errcode not in UNKNOWN_CONTACT:
                    raise
                log.info("WeCom tags of %s not synced: WeChat answered %s", external_userid, exc.errcode)
                continue
            member = choose_member(target, contact.follow_users)
            pairs.append(Pair(target.customer_id, external_userid, member, contact.follow_users))
    return pairs


def choose_member(target: Target, follow_users: tuple[FollowUser, ...]) -> str | None:
    """The bound guide's member, else the latest added one we recorded, else WeCom's latest."""
    members = {f.userid for f in follow_users}
    for member in (target.bound_member, target.added_member):
        if member in members:
            return member
    latest = max(follow_users, key=lambda f: f.createtime or 0, default=None)
    return latest.userid if latest else None


def push(runtime: Runtime, pairs: list[Pair], wanted: dict[int, list[MirroredTag]], now: datetime) -> None:
    """One ``mark_tag`` per pair whose corp tags differ from ``wanted``; then note what each
    pair carries (also for the pairs of other members, to see their edits next time)."""
    corp = _CorpTags(runtime)
    corp.ensure(tag for pair in pairs if pair.member for tag in wanted.get(pair.customer_id, []))
    seen: dict[tuple[int, str], frozenset[str]] = {}
    try:
        for pair in pairs:
            for follow in pair.follow_users:
                seen[(pair.customer_id, follow.userid)] = follow.corp_tag_ids
            if pair.member is None:
                continue
            has = pair.tags_of(pair.member)
            want = {corp_id for corp_id in (corp.id_of(t) for t in wanted.get(pair.customer_id, [])) if corp_id}
            add, remove = sorted(want - has), sorted((has & corp.ours) - want)
            if not add and not remove:
                continue
            try:
                runtime.work.mark_tag(pair.member, pair.external_userid, add=add, remove=remove)
            except WeChatError as exc:
                if exc.errcode == UNKNOWN_TAG:
                    corp.refresh()  # deleted in WeCom since: unmapped now, made again by the retry
                    raise
                if exc.errcode not in UNKNOWN_CONTACT:
                    raise
                log.info("WeCom tags of %s not synced: WeChat answered %s", pair.external_userid, exc.errcode)
                continue
            seen[(pair.customer_id, pair.member)] = frozenset((has | set(add)) - set(remove))
    finally:
        _note_seen(runtime, seen, now)


def _note_seen(runtime: Runtime, seen: dict[tuple[int, str], frozenset[str]], now: datetime) -> None:
    if not seen:
        return
    rows = [
        {"customer_id": customer_id, "userid": userid, "tag_ids": sorted(ids), "seen_at": now}
        for (customer_id, userid), ids in seen.items()
    ]
    with runtime.transaction() as db_session:
        statement = dialect_insert(db_session, WeComPairTags.__table__)
        statement = statement.on_conflict_do_update(
            index_elements=["customer_id", "userid"],
            set_={"tag_ids": statement.excluded.tag_ids, "seen_at": statement.excluded.seen_at},
        )
        db_session.execute(statement, rows)


class _CorpTags:
    """Our tags' corp tag ids for one job, made on first use."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        with runtime.transaction() as db_session:
            rows = db_session.execute(select(Tag.id, Tag.work_tag_id).where(Tag.work_tag_id.is_not(None))).all()
        self._ids: dict[int, str] = {tag_id: corp_id for tag_id, corp_id in rows}
        self.ours: set[str] = set(self._ids.values())

    def id_of(self, tag: MirroredTag) -> str | None:
        return self._ids.get(tag.id)

    def ensure(self, tags: Iterable[MirroredTag]) -> None:
        """Map or make the corp tags missing: one list call, then one add call per group."""
        missing = {tag.id: tag for tag in tags if tag.id not in self._ids}
        if not missing:
            return
        listed = self._listed()
        found = {t.id: listed[(t.group, t.name)] for t in missing.values() if (t.group, t.name) in listed}
        to_make: dict[str, list[MirroredTag]] = defaultdict(list)
        for tag in missing.values():
            if tag.id not in found:
                to_make[tag.group].append(tag)
        clash = False
        for group, group_tags in to_make.items():
            try:
                made = self.runtime.work.add_corp_tag(group, [t.name for t in group_tags])
            except WeChatError as exc:
                if exc.errcode != TAG_EXISTS:
                    raise
                clash = True  # made meanwhile (another job): listed below
                continue
            by_name = {t.name: t.id for t in made.tags}
            found.update({t.id: by_name[t.name] for t in group_tags if t.name in by_name})
        if clash:
            listed = self._listed()
            found.update({t.id: listed[(t.group, t.name)] for t in missing.values()
                          if t.id not in found and (t.group, t.name) in listed})
        with self.runtime.transaction() as db_session:
            for tag_id, corp_id in found.items():
                db_session.execute(update(Tag).where(Tag.id == tag_id).values(work_tag_id=corp_id))
        self._ids.update(found)
        self.ours.update(found.values())

    def refresh(self) -> None:
        groups = self.runtime.work.corp_tags()
        with self.runtime.transaction() as db_session:
            reconcile_corp_tags(db_session=db_session, groups=groups)

    def _listed(self) -> dict[tuple[str, str], str]:
        return {(t.group_name, t.name): t.id for group in self.runtime.work.corp_tags() for t in group.tags}
