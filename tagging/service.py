"""Tag groups, tags, a manager's tags on customers, and audience previews (SPEC §5, §8, §11).

Functions take ``db_session`` and never commit; the caller owns the transaction. Computed
groups (RFM, lifecycle) belong to the recompute job: nothing here creates, changes or
hand-tags them. Changing a group's half-life or threshold queues the rescoring of its
rule-given tags (tagging/rescoring.py). Deleting a tag takes it off everyone (the database
cascades), with its rules, and writes no timeline entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scrm import errors
from scrm.customers import service as customers
from scrm.customers.models import Customer
from scrm.queue import enqueue_after_commit
from tagging import audience, rescoring, rules, scores
from tagging.models import CustomerTag, Tag, TagGroup
from tagging.schemas import GroupChanges, GroupIn, TagIn
from tagging.segments.service import segments_naming_group, segments_naming_tag

if TYPE_CHECKING:
    from redis import Redis

MAX_ID = 2**31 - 1  # groups and tags have 32-bit ids
MAX_CUSTOMER_ID = 2**63 - 1


class NotFoundError(errors.NotFoundError):
    """No such tag group, tag or customer (404)."""


class ConflictError(errors.ConflictError):
    """A name taken (``existing_id``: the row that has it), a computed group, or a tag or group
    that saved segments name (``code`` tag_in_use / group_in_use, ``used_by``) (409)."""

    def __init__(self, message: str, *, existing_id: int | None = None, code: str | None = None,
                 **details: object) -> None:
        super().__init__(message, code=code, **details, **({} if existing_id is None else {"existing_id": existing_id}))
        self.existing_id = existing_id


@dataclass(frozen=True)
class GroupWithTags:
    group: TagGroup
    tags: tuple[tuple[Tag, int], ...]  # each tag with how many customers carry it now


@dataclass(frozen=True)
class ManualChange:
    customer_id: int  # the customer who holds the history (a merged id resolves to it)
    changed: bool
    tags: list[dict[str, Any]]  # what the customer carries now


@dataclass(frozen=True)
class AudiencePreview:
    count: int
    sample: tuple[tuple[int, str | None], ...]  # (id, nickname)


# -- groups and tags -------------------------------------------------------------------------


def list_groups(*, db_session: Session, now: datetime) -> list[GroupWithTags]:
    """Every group with its tags and how many (unmerged) customers carry each one now."""
    carried = dict(
        db_session.execute(
            select(CustomerTag.tag_id, func.count())
            .join(Customer, Customer.id == CustomerTag.customer_id)
            .where(CustomerTag.active_until > now, Customer.merged_into_id.is_(None))
            .group_by(CustomerTag.tag_id)
        ).all()
    )
    tags: dict[int, list[tuple[Tag, int]]] = {}
    for tag in db_session.scalars(select(Tag).order_by(Tag.id)):
        tags.setdefault(tag.group_id, []).append((tag, carried.get(tag.id, 0)))
    groups = db_session.scalars(select(TagGroup).order_by(TagGroup.id))
    return [GroupWithTags(group, tuple(tags.get(group.id, ()))) for group in groups]


def get_group(*, db_session: Session, group_id: int, lock: bool = False) -> TagGroup:
    query = select(TagGroup).where(TagGroup.id == group_id)
    group = db_session.scalar(query.with_for_update() if lock else query) if 0 < group_id <= MAX_ID else None
    if group is None:
        raise NotFoundError(f"no tag group {group_id}")
    return group


def create_group(*, db_session: Session, group_in: GroupIn) -> TagGroup:
    _ensure_group_name_free(db_session, group_in.name, group_id=None)
    group = TagGroup(
        name=group_in.name, half_life_days=group_in.half_life_days, threshold=group_in.threshold, computed=False
    )
    db_session.add(group)
    _flush(db_session, f"a tag group named {group_in.name} exists already")
    return group


def update_group(*, db_session: Session, group_id: int, changes: GroupChanges, now: datetime) -> TagGroup:
    """Rename a group or change its decay; a new half-life or threshold rescores its tags."""
    group = get_group(db_session=db_session, group_id=group_id, lock=True)
    _ensure_not_computed(group)
    given = changes.given()
    if "name" in given and given["name"] != group.name:
        _ensure_group_name_free(db_session, given["name"], group_id=group.id)
        users = segments_naming_group(db_session=db_session, group=group.name)
        if users:  # they name its tags as group:tag, which a new name would break
            raise ConflictError(f"group {group.name} is named by the segments {', '.join(users)}: "
                                "change them before renaming it", code="group_in_use", used_by=users)
        group.name = given["name"]
    old_half_life = group.half_life_days
    decay = {field: given[field] for field in ("half_life_days", "threshold") if field in given}
    rescore = any(getattr(group, field) != value for field, value in decay.items())
    for field, value in decay.items():
        setattr(group, field, value)
    _flush(db_session, f"a tag group named {group.name} exists already")
    if rescore:
        changed_at = now.astimezone(UTC).isoformat()
        enqueue_after_commit(db_session, rescoring.rescore_group, group.id, old_half_life, changed_at)
    return group


def create_tag(*, db_session: Session, tag_in: TagIn) -> tuple[Tag, TagGroup]:
    if isinstance(tag_in.group, int):
        group = db_session.get(TagGroup, tag_in.group) if tag_in.group <= MAX_ID else None
    else:
        group = db_session.scalar(select(TagGroup).where(TagGroup.name == tag_in.group))
    if group is None:
        raise NotFoundError(f"no tag group {tag_in.group}")
    _ensure_not_computed(group)
    existing = db_session.scalar(select(Tag.id).where(Tag.group_id == group.id, Tag.name == tag_in.name))
    if existing is not None:
        raise ConflictError(f"group {group.name} has a tag {tag_in.name} already", existing_id=existing)
    tag = Tag(group_id=group.id, name=tag_in.name)
    db_session.add(tag)
    _flush(db_session, f"group {group.name} has a tag {tag_in.name} already")
    return tag, group


def delete_tag(*, db_session: Session, redis: Redis, tag_id: int) -> None:
    """Delete a tag, its rules and every customer's score for it; refused (409 ``tag_in_use``)
    while a saved segment names it, which would leave the segment counting nothing."""
    tag, group = _tag_and_group(db_session, tag_id)
    _ensure_not_computed(group)
    users = segments_naming_tag(db_session=db_session, group=group.name, tag=tag.name)
    if users:
        raise ConflictError(f"tag {group.name}:{tag.name} is named by the segments {', '.join(users)}: "
                            "change or delete them first", code="tag_in_use", used_by=users)
    db_session.delete(tag)
    db_session.flush()
    rules.rules_changed(db_session=db_session, redis=redis)


# -- a manager's tags on a customer ----------------------------------------------------------


def tag_customer(
    *, db_session: Session, customer_id: int, tag_id: int, on: bool, now: datetime, manager: str
) -> ManualChange:
    """Put a tag on a customer by hand (it never decays) or take it off, whatever gave it."""
    customer = _customer(db_session, customer_id)
    tag, group = _tag_and_group(db_session, tag_id)
    _ensure_not_computed(group)
    change = None
    if on or db_session.get(CustomerTag, (customer.id, tag.id)) is not None:
        change = scores.set_manual(
            db_session=db_session, customer_id=customer.id, tag=tag, group=group, on=on, now=now, manager=manager
        )
    _, carried = customer_tags(db_session=db_session, customer_id=customer.id, now=now)
    return ManualChange(customer.id, change is not None, carried)


def customer_tags(*, db_session: Session, customer_id: int, now: datetime) -> tuple[int, list[dict[str, Any]]]:
    """The customer's id (merges followed) and the tags they carry now, each with its id."""
    customer = _customer(db_session, customer_id)
    carried = scores.carried_tags(db_session=db_session, customer_id=customer.id, now=now)
    ids = {
        (group, name): tag_id
        for tag_id, name, group in db_session.execute(
            select(Tag.id, Tag.name, TagGroup.name)
            .join(TagGroup, TagGroup.id == Tag.group_id)
            .where(Tag.name.in_({entry["tag"] for entry in carried}))
        )
    }
    return customer.id, [{"tag_id": ids[(entry["group"], entry["tag"])], **entry} for entry in carried]


# -- audiences -------------------------------------------------------------------------------


def preview_audience(*, db_session: Session, text: str, now: datetime, limit: int = 10,
                     places: audience.Places | None = None) -> AudiencePreview:
    """How many customers an expression selects now, and a few of them (AudienceError if bad)."""
    resolved = audience.resolve(db_session=db_session, text=text, places=places)
    total = audience.count(db_session=db_session, expr=resolved, now=now)
    ids = audience.sample(db_session=db_session, expr=resolved, now=now, limit=limit) if total else []
    nicknames = dict(db_session.execute(select(Customer.id, Customer.nickname).where(Customer.id.in_(ids))).all())
    return AudiencePreview(total, tuple((customer_id, nicknames.get(customer_id)) for customer_id in ids))


# -- helpers ---------------------------------------------------------------------------------


def _customer(db_session: Session, customer_id: int) -> Customer:
    customer = None
    if customer_id <= MAX_CUSTOMER_ID:
        customer = customers.resolve(db_session=db_session, customer_id=customer_id)
    if customer is None:
        raise NotFoundError(f"no customer {customer_id}")
    return customer


def _tag_and_group(db_session: Session, tag_id: int) -> tuple[Tag, TagGroup]:
    query = select(Tag, TagGroup).join(TagGroup, TagGroup.id == Tag.group_id).where(Tag.id == tag_id)
    row = db_session.execute(query).first() if 0 < tag_id <= MAX_ID else None
    if row is None:
        raise NotFoundError(f"no tag {tag_id}")
    return row[0], row[1]


def _ensure_not_computed(group: TagGroup) -> None:
    if group.computed:
        raise ConflictError(f"group {group.name} is computed: only the recompute job writes its tags")


def _ensure_group_name_free(db_session: Session, name: str, *, group_id: int | None) -> None:
    existing = db_session.scalar(select(TagGroup.id).where(TagGroup.name == name))
    if existing is not None and existing != group_id:
        raise ConflictError(f"a tag group named {name} exists already", existing_id=existing)


def _flush(db_session: Session, conflict: str) -> None:
    try:
        db_session.flush()
    except IntegrityError as exc:  # a concurrent writer took the name after the check above
        raise ConflictError(conflict) from exc
