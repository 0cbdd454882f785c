"""Levels (会员等级, SPEC §13): stored in ``member_levels``, seeded from ``[members] levels``
the first time they are needed, edited in the console afterwards.

Service functions take ``db_session`` and never commit; the caller owns the transaction.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from scrm.db import dialect_insert
from scrm.members.models import MemberLevel

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
