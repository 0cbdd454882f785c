"""What the tag mirror reads from our side: who the customers are on WeChat, and which of
their tags WeChat should show, in order (scrm/mirror/jobs.py tells the whole story).

Order of the tags: a manager's (or a WeCom member's) first, then the computed ones (RFM,
lifecycle: what mass sends target), then the rule-given ones by decayed score, highest
first; ties go to the older tag. MP shows at most 20 tags a follower, so this order says
which 20. It is applied when what the customer carries changes: a score that moves among
tags carried already (a 21st tag overtaking one of the 20) waits for the next change, so a
keyword said again does not cost a sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from guides.models import Binding, Guide
from scrm.clock import as_utc
from scrm.customers import service as customers
from scrm.customers.models import CustomerIdentity, Interaction
from tagging.models import CustomerTag, Tag, TagGroup
from tagging.scores import decayed


@dataclass(frozen=True)
class Target:
    """A customer as WeChat knows them: MP openids (not known to have unfollowed), WeCom
    external_userids, and the members the WeCom tags should hang on, in preference order."""

    customer_id: int
    openids: tuple[str, ...]
    external_userids: tuple[str, ...]
    bound_member: str | None  # the wecom_userid of the guide the customer is bound to
    added_member: str | None  # the member of their latest add_external_contact


@dataclass(frozen=True)
class MirroredTag:
    id: int
    name: str
    group: str
    computed: bool  # its group is written by the computation only
    mp_tag_id: int | None
    mp_error: str | None
    mp_failed_at: datetime | None
    work_tag_id: str | None


def targets(*, db_session: Session, customer_ids: list[int]) -> list[Target]:
    """The customers (merged ids followed to the survivor, once each) with their identities."""
    ids: dict[int, None] = {}
    for customer_id in customer_ids:
        customer = customers.resolve(db_session=db_session, customer_id=customer_id)
        if customer is not None:
            ids[customer.id] = None
    if not ids:
        return []
    identities: dict[int, list[CustomerIdentity]] = {}
    for identity in db_session.scalars(
        select(CustomerIdentity).where(CustomerIdentity.customer_id.in_(ids)).order_by(CustomerIdentity.id)
    ):
        identities.setdefault(identity.customer_id, []).append(identity)
    bound = _bound_members(db_session, list(ids))
    result = []
    for customer_id in ids:
        mine = identities.get(customer_id, [])
        # An MP identity we never saw follow (a follower from before us) is tried; one we saw
        # unfollow is not: WeChat tags only followers. WeCom: externalcontact/get tells whether
        # any member still has the customer (one of several may have been deleted).
        openids = tuple(i.external_id for i in mine if i.channel == "mp" and (i.following or i.unfollowed_at is None))
        external_userids = tuple(i.external_id for i in mine if i.channel == "work")
        if not openids and not external_userids:
            continue
        added = _latest_added_member(db_session, customer_id) if external_userids else None
        result.append(Target(customer_id, openids, external_userids, bound.get(customer_id), added))
    return result


def wanted(*, db_session: Session, customer_ids: list[int], now: datetime) -> dict[int, list[MirroredTag]]:
    """Each customer's carried tags, in the order WeChat should keep them (module docstring)."""
    if not customer_ids:
        return {}
    rows = db_session.execute(
        select(CustomerTag, Tag, TagGroup)
        .join(Tag, Tag.id == CustomerTag.tag_id)
        .join(TagGroup, TagGroup.id == Tag.group_id)
        .where(CustomerTag.customer_id.in_(customer_ids), CustomerTag.active_until > now)
    ).all()
    ranked: dict[int, list[tuple[tuple[int, float, int], MirroredTag]]] = {c: [] for c in customer_ids}
    for row, tag, group in rows:
        source = 0 if row.manual else 1 if row.computed else 2
        score = decayed(row.score, row.scored_at, now, group.half_life_days)
        ranked[row.customer_id].append(((source, -score, tag.id), mirrored(tag, group)))
    return {c: [tag for _, tag in sorted(entries, key=lambda e: e[0])] for c, entries in ranked.items()}


def mirrored(tag: Tag, group: TagGroup) -> MirroredTag:
    return MirroredTag(
        id=tag.id,
        name=tag.name,
        group=group.name,
        computed=group.computed,
        mp_tag_id=tag.mp_tag_id,
        mp_error=tag.mp_error,
        mp_failed_at=as_utc(tag.mp_failed_at) if tag.mp_failed_at else None,
        work_tag_id=tag.work_tag_id,
    )


def _bound_members(db_session: Session, customer_ids: list[int]) -> dict[int, str]:
    rows = db_session.execute(
        select(Binding.customer_id, Guide.wecom_userid)
        .join(Guide, Guide.id == Binding.guide_id)
        .where(Binding.customer_id.in_(customer_ids), Binding.ended_at.is_(None))
    ).all()
    return dict(rows)


def _latest_added_member(db_session: Session, customer_id: int) -> str | None:
    payload = db_session.scalar(
        select(Interaction.payload)
        .where(Interaction.customer_id == customer_id, Interaction.kind == "add_external_contact")
        .order_by(Interaction.id.desc())
        .limit(1)
    )
    return (payload or {}).get("userid") or None
