"""Changing the levels (会员等级, SPEC §13) from the console: edit one, add one, delete one.

The levels always stay a ladder: the lowest starts at growth 0, thresholds rise strictly with
the rank, names are unique. A new level takes the place its threshold gives it (the ranks above
move up one); an edited level keeps its place, so its threshold must stay between its
neighbours'. A level members hold is not deleted (they would have no level), nor the lowest.
Members are not moved when a threshold changes: a member rises at their next growth, and drops
only at the yearly review (scrm/members/growth.py).

Service functions take ``db_session`` and never commit; the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from scrm.clock import as_utc
from scrm.coupons.models import CouponTemplate
from scrm.errors import ConflictError, NotFoundError, Refused
from scrm.members import levels
from scrm.members.models import Member, MemberLevel

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.config import Config
    from scrm.members.level_schemas import LevelIn

LEVELS_MAX = 20  # as [members] levels allows


class LevelNotFound(NotFoundError):
    code = "level_not_found"


class LevelRefused(Refused):
    """The change would break the ladder (``reason``: threshold_order, lowest_not_zero,
    name_taken, template, too_many), 422 with the field to blame."""

    code = "level_refused"


class LevelInUse(ConflictError):
    """Members hold the level, or it is the lowest (409, ``members``: how many)."""

    code = "level_in_use"


@dataclass(frozen=True)
class Neighbours:
    below: MemberLevel | None
    above: MemberLevel | None


def get_level(*, db_session: Session, level_id: int) -> MemberLevel:
    level = db_session.get(MemberLevel, level_id)
    if level is None:
        raise LevelNotFound(f"no level {level_id}")
    return level


def update_level(*, db_session: Session, config: Config, level_id: int, level_in: LevelIn, at: datetime) -> MemberLevel:
    """The level's fields changed; its rank kept (:class:`LevelRefused` if the threshold leaves its place)."""
    ladder = levels.ensure_levels(db_session=db_session, config=config, at=at)
    level = get_level(db_session=db_session, level_id=level_id)
    _check_name(ladder, level_in.name, keep=level)
    _check_templates(db_session, level_in)
    place = next(i for i, lv in enumerate(ladder) if lv.id == level.id)
    near = Neighbours(ladder[place - 1] if place > 0 else None, ladder[place + 1] if place + 1 < len(ladder) else None)
    if near.below is None and level_in.threshold != 0:
        raise LevelRefused("the lowest level starts at growth 0", reason="lowest_not_zero", field="threshold")
    if (near.below is not None and level_in.threshold <= near.below.threshold) or \
            (near.above is not None and level_in.threshold >= near.above.threshold):
        raise LevelRefused("the threshold must lie between the levels below and above", reason="threshold_order",
                           field="threshold", below=_named(near.below), above=_named(near.above))
    _apply(level, level_in, at)
    db_session.flush()
    return level


def create_level(*, db_session: Session, config: Config, level_in: LevelIn, at: datetime) -> MemberLevel:
    """A new level, in the place its threshold gives it."""
    ladder = levels.ensure_levels(db_session=db_session, config=config, at=at)
    if len(ladder) >= LEVELS_MAX:
        raise LevelRefused(f"at most {LEVELS_MAX} levels", reason="too_many", field="name")
    _check_name(ladder, level_in.name, keep=None)
    _check_templates(db_session, level_in)
    if level_in.threshold == 0 or any(lv.threshold == level_in.threshold for lv in ladder):
        same = next((lv for lv in ladder if lv.threshold == level_in.threshold), None)
        raise LevelRefused("another level has this threshold", reason="threshold_taken", field="threshold",
                           other=same.name if same else "")
    rank = sum(1 for lv in ladder if lv.threshold < level_in.threshold)
    above = [lv for lv in ladder if lv.rank >= rank]
    if above:  # make room: ranks are unique, so move the ones above out of the way first
        top = max(lv.rank for lv in ladder)
        ids = [lv.id for lv in above]
        db_session.execute(update(MemberLevel).where(MemberLevel.id.in_(ids))
                           .values(rank=MemberLevel.rank + top + 2).execution_options(synchronize_session=False))
        db_session.execute(update(MemberLevel).where(MemberLevel.id.in_(ids))
                           .values(rank=MemberLevel.rank - top - 1).execution_options(synchronize_session=False))
        db_session.expire_all()
    level = MemberLevel(rank=rank, created_at=as_utc(at))
    _apply(level, level_in, at)
    db_session.add(level)
    db_session.flush()
    return level


def delete_level(*, db_session: Session, config: Config, level_id: int, at: datetime) -> str:
    """The level removed (its name returned); :class:`LevelInUse` while members hold it or it is the lowest."""
    ladder = levels.ensure_levels(db_session=db_session, config=config, at=at)
    level = get_level(db_session=db_session, level_id=level_id)
    if ladder[0].id == level.id:
        raise LevelInUse("the lowest level is where every member starts", members=0, reason="lowest")
    held = db_session.scalar(select(func.count()).select_from(Member).where(Member.level_id == level.id)) or 0
    if held:
        raise LevelInUse(f"{held} members hold this level", members=held, reason="members")
    name = level.name
    db_session.delete(level)
    db_session.flush()
    return name


def _apply(level: MemberLevel, level_in: LevelIn, at: datetime) -> None:
    level.name = level_in.name
    level.threshold = level_in.threshold
    level.discount = level_in.discount
    level.points_multiplier = level_in.points_multiplier
    level.benefits = list(level_in.benefits)
    level.level_up_template_id = level_in.level_up_template_id
    level.birthday_template_id = level_in.birthday_template_id
    level.updated_at = as_utc(at)


def _check_name(ladder: list[MemberLevel], name: str, *, keep: MemberLevel | None) -> None:
    if any(lv.name == name and lv is not keep for lv in ladder):
        raise LevelRefused("another level has this name", reason="name_taken", field="name", name=name)


def _check_templates(db_session: Session, level_in: LevelIn) -> None:
    for field in ("level_up_template_id", "birthday_template_id"):
        template_id = getattr(level_in, field)
        if template_id is None:
            continue
        template = db_session.get(CouponTemplate, template_id)
        if template is None or template.status != "active":
            raise LevelRefused("no active coupon template with this id", reason="template", field=field)


def _named(level: MemberLevel | None) -> str:
    return f"{level.name} ({level.threshold})" if level is not None else ""
