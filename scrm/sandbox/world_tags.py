"""Tags in the sandbox's world: the Official Account's tags (``sandbox_mp_tags``) and which
followers carry them (``sandbox_follower_tags``), and WeCom's corp tag tree (one document,
``work_corptags``). Re-exported by :mod:`scrm.sandbox.world`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis as redis_lib
from sqlalchemy import delete, func, select

from scrm.sandbox import store
from scrm.sandbox.models import SandboxFollower, SandboxFollowerTag, SandboxMpTag

MP_TAG_IDS = "mp_tag"
MASS_MSGIDS = "mp_mass_msgid"
CORP_TAGS = "work_corptags"


def mp_tags(redis: redis_lib.Redis) -> dict[int, str]:
    """tag id → name."""
    with store.transaction() as session:
        return {tag_id: name for tag_id, name in session.execute(select(SandboxMpTag.id, SandboxMpTag.name))}


def mp_tag_counts(redis: redis_lib.Redis) -> dict[int, int]:
    """tag id → how many followers carry it (tags no one carries are left out)."""
    with store.transaction() as session:
        rows = session.execute(select(SandboxFollowerTag.tag_id, func.count()).group_by(SandboxFollowerTag.tag_id))
        return {tag_id: count for tag_id, count in rows}


def create_mp_tag(redis: redis_lib.Redis, name: str, *, first_id: int) -> int:
    """A new tag, its id after every id given before (from ``first_id``)."""
    with store.transaction() as session:
        tag_id = store.next_value(session, MP_TAG_IDS, at_least=first_id)
        session.add(SandboxMpTag(id=tag_id, name=name))
    return tag_id


def add_mp_tags(redis: redis_lib.Redis, tags: dict[int, str]) -> None:
    """Tags made elsewhere (by hand in the MP admin), with their ids; new ones come after."""
    with store.transaction() as session:
        store.upsert(session, SandboxMpTag, [{"id": i, "name": n} for i, n in tags.items()], keys=("id",),
                     change=("name",))
        store.set_counter(session, MP_TAG_IDS, max(tags))


def rename_mp_tag(redis: redis_lib.Redis, tag_id: int, name: str) -> None:
    with store.transaction() as session:
        session.get_one(SandboxMpTag, tag_id).name = name


def delete_mp_tag(redis: redis_lib.Redis, tag_id: int) -> None:
    """The tag, and from every follower that carried it."""
    with store.transaction() as session:
        session.execute(delete(SandboxFollowerTag).where(SandboxFollowerTag.tag_id == tag_id))
        session.execute(delete(SandboxMpTag).where(SandboxMpTag.id == tag_id))


def tags_of_followers(redis: redis_lib.Redis, openids: Iterable[str]) -> dict[str, list[int] | None]:
    """openid → the tags it carries (None: no such follower)."""
    openids = list(openids)
    with store.transaction() as session:
        known = set(session.scalars(select(SandboxFollower.openid).where(SandboxFollower.openid.in_(openids))))
        carried: dict[str, list[int] | None] = {o: ([] if o in known else None) for o in openids}
        rows = session.execute(select(SandboxFollowerTag.openid, SandboxFollowerTag.tag_id)
                               .where(SandboxFollowerTag.openid.in_(openids)).order_by(SandboxFollowerTag.tag_id))
        for openid, tag_id in rows:
            if carried.get(openid) is not None:
                carried[openid].append(tag_id)
    return carried


def tag_followers(redis: redis_lib.Redis, tag_id: int, openids: Iterable[str], *, tagging: bool) -> None:
    openids = list(dict.fromkeys(openids))
    with store.transaction() as session:
        if tagging:
            store.upsert(session, SandboxFollowerTag, [{"openid": o, "tag_id": tag_id} for o in openids],
                         keys=("openid", "tag_id"))
        else:
            session.execute(delete(SandboxFollowerTag).where(SandboxFollowerTag.tag_id == tag_id,
                                                             SandboxFollowerTag.openid.in_(openids)))


def subscribed_openids(redis: redis_lib.Redis, *, tag_id: int | None = None) -> list[str]:
    """The followers subscribed now (carrying ``tag_id``, if given), in order."""
    query = select(SandboxFollower.openid).where(SandboxFollower.subscribe == 1).order_by(SandboxFollower.openid)
    if tag_id is not None:
        query = query.join(SandboxFollowerTag, SandboxFollowerTag.openid == SandboxFollower.openid).where(
            SandboxFollowerTag.tag_id == tag_id)
    with store.transaction() as session:
        return list(session.scalars(query))


def next_mass_msgid(redis: redis_lib.Redis) -> int:
    """The next ``message/mass/sendall`` msg_id (before the base), from 1."""
    with store.transaction() as session:
        return store.next_value(session, MASS_MSGIDS)


def corp_tags(redis: redis_lib.Redis) -> list[dict[str, Any]]:
    """WeCom's corp tag groups, each with its ``tag`` list, as ``get_corp_tag_list`` gives them."""
    return store.doc(CORP_TAGS, CORP_TAGS) or []


def save_corp_tags(redis: redis_lib.Redis, groups: list[dict[str, Any]]) -> None:
    store.save_doc(CORP_TAGS, CORP_TAGS, groups)
