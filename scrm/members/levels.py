"""Levels (会员等级, SPEC §13): stored in ``member_levels``, seeded from ``[members] levels``
the first time they are needed, edited in the console afterwards.

Each member carries their level as a tag of the computed group 会员等级 (one tag per level,
named as the level): set when they join (service.create_member), on every level change
(growth.raise_level, the nightly review), and reconciled for everyone by the nightly review
(level_jobs.py), which also follows a renamed level.

Service functions take ``db_session`` and never commit; the caller owns the transaction.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from scrm.db import dialect_insert
from scrm.members.models import MemberLevel
from tagging.models import Tag, TagGroup
from tagging.scores import TagChange, set_computed

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.config import Config


def ensure_levels(*, db_session: Session, config: Config, at: datetime) -> list[MemberLevel]:
    """The levels, lowest first; the configured ones are stored first when there are none
    (two processes at once store them once: names and ranks are unique)."""
    if db_session.scalar(select(func.count()).select_from(MemberLevel)) == 0:
        rows = [{"name": level.name, "rank": rank, "threshold": level.threshold,
                 "discount": Decimal(str(level.discount)).quantize(Decimal("0.01")),
                 "points_multiplier": Decimal(str(level.points_multiplier)).quantize(Decimal("0.01")),
                 "benefits": list(level.benefits), "created_at": at, "updated_at": at}
                for rank, level in enumerate(config.members.levels)]
        db_session.execute(dialect_insert(db_session, MemberLevel.__table__).values(rows).on_conflict_do_nothing())
    return all_levels(db_session=db_session)


def all_levels(*, db_session: Session) -> list[MemberLevel]:
    return list(db_session.scalars(select(MemberLevel).order_by(MemberLevel.rank)).all())


def level_for(levels: list[MemberLevel], growth: int) -> MemberLevel:
    """The highest level whose threshold ``growth`` reaches (the lowest level when none)."""
    reached = [level for level in levels if level.threshold <= growth]
    return reached[-1] if reached else levels[0]


# -- the level as a computed tag (会员等级:金卡) ------------------------------------------------

LEVEL_GROUP = "会员等级"
LEVEL_COMPUTATION = "member_level"  # the cause written to the timeline


def level_tags(*, db_session: Session, levels: list[MemberLevel]) -> tuple[TagGroup, dict[int, Tag]]:
    """The computed group 会员等级 and its tag for each level (by the level's name), created
    when missing (whoever is first; a group of this name made by hand becomes the computed one)."""
    db_session.execute(dialect_insert(db_session, TagGroup.__table__)
                       .values(name=LEVEL_GROUP, computed=True, threshold=1.0)
                       .on_conflict_do_nothing(index_elements=["name"]))
    group = db_session.scalars(select(TagGroup).where(TagGroup.name == LEVEL_GROUP)).one()
    if not group.computed:
        group.computed = True
    existing = {tag.name: tag for tag in db_session.scalars(select(Tag).where(Tag.group_id == group.id))}
    missing = [level.name for level in levels if level.name not in existing]
    for name in missing:
        db_session.execute(dialect_insert(db_session, Tag.__table__).values(group_id=group.id, name=name)
                           .on_conflict_do_nothing(index_elements=["group_id", "name"]))
    if missing:
        existing = {tag.name: tag for tag in db_session.scalars(select(Tag).where(Tag.group_id == group.id))}
    return group, {level.id: existing[level.name] for level in levels}


def tag_level(*, db_session: Session, customer_id: int, level: MemberLevel, at: datetime) -> list[TagChange]:
    """Make the member carry their level's tag of 会员等级 (and no other tag of it), so that
    audiences, campaigns and journeys can say ``会员等级:金卡``."""
    group, tags = level_tags(db_session=db_session, levels=[level])
    return set_computed(db_session=db_session, customer_id=customer_id, group=group, tag=tags[level.id], now=at,
                        computation=LEVEL_COMPUTATION)
