"""The MP half of the tag mirror: our tags as the Official Account's user tags (用户标签).

WeChat's limits, and what the mirror does about each:

- **100 tags an account** (45056 on ``tags/create``): the tag that would be the 101st is not
  made. The refusal is stored on the tag (``mp_error``, ``mp_failed_at``; ``GET /api/tags``
  shows it) and logged as a warning the first time; the other tags go on syncing, and WeChat
  is asked again a day later (``RETRY_REFUSED_AFTER``), not by every sync.
- **20 tags a follower** (45059): a follower gets the first 20 of their tags in
  scrm/mirror/plan.py's order, less the tags someone gave them in the MP admin (not ours:
  left alone, but they count). What falls out of the 20 is untagged before anything is tagged.
- **50 openids a call**: the customers of a job are grouped by tag, so one ``batchtagging``
  tags up to 50 followers.
- **Names**: an MP tag name is unique in the account, ours only within a group, so a tag is
  named ``group·name`` when another of our tags has its name. A name that exists already
  (45157: made by an earlier try, or by hand) is looked up and adopted.

What a follower carries is read from WeChat (``tags/getidlist``) every sync, so the mirror
keeps no state of its own here and a retried job only does what is still missing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from scrm.mirror.plan import MirroredTag, Target
from scrm.wechat.errors import WeChatError
from scrm.wechat.mp import TAG_BATCH
from tagging.models import Tag

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

log = logging.getLogger(__name__)

MAX_TAGS_PER_FOLLOWER = 20
MAX_NAME = 30
RETRY_REFUSED_AFTER = timedelta(days=1)
TOO_MANY_TAGS = 45056
NAME_EXISTS = 45157
UNKNOWN_TAG = 45159
# One follower of a batch refused: unfollowed (40003), or given 20 tags meanwhile (45059).
FOLLOWER_REFUSED = frozenset({40003, 45059})
NOT_A_FOLLOWER = frozenset({40003})


def read(runtime: Runtime, targets: Iterable[Target]) -> dict[str, set[int]]:
    """The MP tag ids each openid carries now; openids WeChat does not know are left out."""
    carried: dict[str, set[int]] = {}
    for target in targets:
        for openid in target.openids:
            try:
                carried[openid] = set(runtime.mp.user_tag_ids(openid))
            except WeChatError as exc:
                if exc.errcode not in NOT_A_FOLLOWER:
                    raise
                log.info("MP tags of %s not synced: WeChat answered %s (not a follower)", openid, exc.errcode)
    return carried


def push(
    runtime: Runtime,
    targets: Iterable[Target],
    carried: dict[str, set[int]],
    wanted: dict[int, list[MirroredTag]],
    now: datetime,
) -> None:
    """Bring each follower's MP tags in line with ``wanted``: untag, then tag, 50 a call."""
    tags = _MPTags(runtime, now)
    untag: dict[int, list[str]] = defaultdict(list)
    tag: dict[int, list[str]] = defaultdict(list)
    for target in targets:
        for openid in target.openids:
            if openid not in carried:
                continue
            has = carried[openid]
            room = MAX_TAGS_PER_FOLLOWER - len(has - tags.ours)
            chosen: set[int] = set()
            for wanted_tag in wanted.get(target.customer_id, []):
                if len(chosen) >= room:
                    break
                mp_id = tags.id_of(wanted_tag)
                if mp_id is not None:
                    chosen.add(mp_id)
            for mp_id in (has & tags.ours) - chosen:
                untag[mp_id].append(openid)
            for mp_id in chosen - has:
                tag[mp_id].append(openid)
    for mp_id, openids in sorted(untag.items()):
        _in_batches(runtime.mp.untag_users, tags, mp_id, openids)
    for mp_id, openids in sorted(tag.items()):
        _in_batches(runtime.mp.tag_users, tags, mp_id, openids)


def mp_name(db_session: Session, tag: MirroredTag) -> str:
    """The tag's name, or ``group·name`` when another of our tags has the same name."""
    twins = db_session.scalar(select(func.count()).select_from(Tag).where(Tag.name == tag.name, Tag.id != tag.id))
    return tag.name if not twins else f"{tag.group}·{tag.name}"[:MAX_NAME]


def _in_batches(call: Callable[[int, list[str]], int], tags: _MPTags, mp_id: int, openids: list[str]) -> None:
    for start in range(0, len(openids), TAG_BATCH):
        batch = openids[start : start + TAG_BATCH]
        try:
            call(mp_id, batch)
        except WeChatError as exc:
            if exc.errcode == UNKNOWN_TAG:
                tags.forget(mp_id)  # deleted in the MP admin: the queue's retry makes it again
                raise
            if exc.errcode not in FOLLOWER_REFUSED:
                raise
            # WeChat refuses the whole batch for one follower: the others one by one.
            for openid in batch:
                _one(call, mp_id, openid)


def _one(call: Callable[[int, list[str]], int], mp_id: int, openid: str) -> None:
    try:
        call(mp_id, [openid])
    except WeChatError as exc:
        if exc.errcode not in FOLLOWER_REFUSED:
            raise
        log.warning("MP tag %s not synced for %s: WeChat answered %s", mp_id, openid, exc.errcode)


class _MPTags:
    """Our tags' MP ids for one job: made on first use, each at most once per job."""

    def __init__(self, runtime: Runtime, now: datetime) -> None:
        self.runtime = runtime
        self.now = now
        with runtime.transaction() as db_session:
            self.ours: set[int] = set(db_session.scalars(select(Tag.mp_tag_id).where(Tag.mp_tag_id.is_not(None))))
        self._ids: dict[int, int | None] = {}

    def id_of(self, tag: MirroredTag) -> int | None:
        if tag.id not in self._ids:
            self._ids[tag.id] = tag.mp_tag_id if tag.mp_tag_id is not None else self._make(tag)
        return self._ids[tag.id]

    def forget(self, mp_id: int) -> None:
        log.warning("MP tag %s is gone from WeChat (deleted in the MP admin?): it will be made again", mp_id)
        self._write(update(Tag).where(Tag.mp_tag_id == mp_id).values(mp_tag_id=None))

    def _make(self, tag: MirroredTag) -> int | None:
        if tag.mp_failed_at is not None and self.now - tag.mp_failed_at < RETRY_REFUSED_AFTER:
            return None  # refused lately: asking again at every sync would not change the answer
        with self.runtime.transaction() as db_session:
            name = mp_name(db_session, tag)
        try:
            mp_id = self.runtime.mp.create_tag(name).id
        except WeChatError as exc:
            if exc.errcode == TOO_MANY_TAGS:
                return self._refused(tag, "WeChat refused to make the MP tag: the account has its 100 tags "
                                          "(45056). Delete unused MP tags to make room")
            if exc.errcode != NAME_EXISTS:
                raise
            mp_id = next((t.id for t in self.runtime.mp.list_tags() if t.name == name), None)
            if mp_id is None:
                raise
        with self.runtime.transaction() as db_session:
            holder = db_session.scalar(select(Tag.id).where(Tag.mp_tag_id == mp_id, Tag.id != tag.id))
        if holder is not None:
            return self._refused(tag, f"the MP tag named {name} is mirrored from another tag (id {holder})")
        self._write(update(Tag).where(Tag.id == tag.id).values(mp_tag_id=mp_id, mp_error=None, mp_failed_at=None))
        self.ours.add(mp_id)
        return mp_id

    def _refused(self, tag: MirroredTag, reason: str) -> None:
        self._write(update(Tag).where(Tag.id == tag.id).values(mp_error=reason[:200], mp_failed_at=self.now))
        # Once, not at every sync: later refusals (a day apart) are news to nobody.
        (log.warning if tag.mp_error is None else log.info)(
            "tag %s/%s not mirrored to MP: %s", tag.group, tag.name, reason,
            extra={"tag_id": tag.id, "reason": reason},
        )
        return None

    def _write(self, statement) -> None:  # noqa: ANN001
        with self.runtime.transaction() as db_session:
            db_session.execute(statement)
