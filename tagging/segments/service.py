"""Saved segments: a name (1-32 characters, unique) for a tag expression, usable in other
expressions as ``segment:名字`` (tagging/audience.py expands it when the expression is used).

Every write checks the expression as it will be used: it must parse and name known tags and
segments, and must not reach itself through other segments (a cycle: 422 ``bad_expression``
naming the chain). A name taken is 409 ``name_taken``. A segment that something else names
(another segment; a campaign, which the caller finds, since outreach sits above tagging) can
be neither renamed nor deleted: 409 ``segment_in_use`` naming them, as renaming would leave
them naming nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scrm import errors
from scrm.errors import InvalidInput
from tagging import audience
from tagging.audience import AudienceError, Places
from tagging.models import Segment
from tagging.schemas import clean_name

NAME_MAX_CHARS = 32


class SegmentNotFound(errors.NotFoundError):
    code = "not_found"


class SegmentConflict(errors.ConflictError):
    """409: ``name_taken`` or ``segment_in_use`` (``used_by`` lists who names it)."""


def _clean_name(value: str) -> str:
    return clean_name(value, most=NAME_MAX_CHARS)


def _clean_expr(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must be a tag expression, not blank")
    return value


SegmentName = Annotated[str, Field(min_length=1, max_length=NAME_MAX_CHARS)]
SegmentExpr = Annotated[str, Field(min_length=1, max_length=audience.MAX_CHARS)]


class SegmentIn(BaseModel):
    """A new segment: ``{"name": "高价值宝妈", "expr": "奶粉 & RFM:重要价值客户"}``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    name: SegmentName
    expr: SegmentExpr

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _clean_name(value)

    @field_validator("expr")
    @classmethod
    def _expr(cls, value: str) -> str:
        return _clean_expr(value)


class SegmentChanges(BaseModel):
    """A PATCH: a new name, a new expression, or both."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    name: SegmentName | None = None
    expr: SegmentExpr | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return value if value is None else _clean_name(value)

    @field_validator("expr")
    @classmethod
    def _expr(cls, value: str | None) -> str | None:
        return value if value is None else _clean_expr(value)


def parse_input(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """``model`` from JSON-like data, or :class:`InvalidInput` naming the field."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc, what="this") from None


@dataclass(frozen=True)
class Counted:
    segment: Segment
    count: int | None  # None: the expression no longer resolves (a tag it names was deleted)
    error: str | None


def list_segments(*, db_session: Session, now: datetime, places: Places | None = None) -> list[Counted]:
    """Every segment, by name, with how many customers it holds now."""
    return [_counted(db_session, segment, now, places) for segment in
            db_session.scalars(select(Segment).order_by(Segment.name))]


def get_segment(*, db_session: Session, segment_id: int, now: datetime, places: Places | None = None) -> Counted:
    return _counted(db_session, _segment(db_session, segment_id), now, places)


def create_segment(*, db_session: Session, segment_in: SegmentIn, by: str, now: datetime,
                   places: Places | None = None) -> Segment:
    _name_free(db_session, segment_in.name)
    audience.resolve(db_session=db_session, text=segment_in.expr, as_segment=segment_in.name, places=places)
    segment = Segment(name=segment_in.name, expr=segment_in.expr, created_by=by, updated_by=by,
                      created_at=now, updated_at=now)
    db_session.add(segment)
    _flush_name(db_session, segment.name)
    return segment


def update_segment(*, db_session: Session, segment_id: int, changes: SegmentChanges, by: str, now: datetime,
                   named_elsewhere: Iterable[str] = (), places: Places | None = None) -> Segment:
    """Rename and/or change; ``named_elsewhere``: who else names it (campaigns), refusing a rename."""
    segment = _segment(db_session, segment_id)
    name, expr = changes.name or segment.name, changes.expr or segment.expr
    if name != segment.name:
        _not_used(db_session, segment, "renamed", named_elsewhere)
        _name_free(db_session, name)
    # Checked as it will be: under its new name, with its new expression seen by every segment.
    audience.resolve(db_session=db_session, text=expr, segments={name: expr}, as_segment=name, places=places)
    segment.name, segment.expr, segment.updated_by, segment.updated_at = name, expr, by, now
    _flush_name(db_session, name)
    return segment


def delete_segment(*, db_session: Session, segment_id: int, named_elsewhere: Iterable[str] = ()) -> None:
    segment = _segment(db_session, segment_id)
    _not_used(db_session, segment, "deleted", named_elsewhere)
    db_session.delete(segment)
    db_session.flush()


def segments_naming(*, db_session: Session, name: str) -> list[str]:
    """The other segments whose expression names ``name``."""
    rows = db_session.execute(select(Segment.name, Segment.expr).where(Segment.name != name)).all()
    return sorted(row.name for row in rows if name in audience.segment_names(row.expr))


def segments_naming_tag(*, db_session: Session, group: str, tag: str) -> list[str]:
    """The segments whose expression names the tag ``group:tag``, as ``group:tag`` or bare."""
    rows = db_session.execute(select(Segment.name, Segment.expr)).all()
    return sorted(row.name for row in rows if {(group, tag), (None, tag)} & audience.tag_terms(row.expr))


def segments_naming_group(*, db_session: Session, group: str) -> list[str]:
    """The segments whose expression names a tag as ``group:tag``."""
    rows = db_session.execute(select(Segment.name, Segment.expr)).all()
    return sorted(row.name for row in rows if any(named == group for named, _ in audience.tag_terms(row.expr)))


# -- helpers ---------------------------------------------------------------------------------


def _segment(db_session: Session, segment_id: int) -> Segment:
    segment = db_session.get(Segment, segment_id) if 0 < segment_id <= 2**31 - 1 else None
    if segment is None:
        raise SegmentNotFound(f"no segment {segment_id}")
    return segment


def _name_free(db_session: Session, name: str) -> None:
    taken = db_session.scalar(select(Segment.id).where(func.lower(Segment.name) == name.lower()))
    if taken is not None:
        raise SegmentConflict(f"人群名已被使用 · a segment is already called {name}", code="name_taken",
                              field="name", existing_id=taken)


def _flush_name(db_session: Session, name: str) -> None:
    try:
        db_session.flush()
    except IntegrityError as exc:  # a concurrent writer took the name after _name_free looked
        raise SegmentConflict(f"人群名已被使用 · a segment is already called {name}", code="name_taken",
                              field="name") from exc


def _not_used(db_session: Session, segment: Segment, done: str, named_elsewhere: Iterable[str]) -> None:
    users = [f"人群 segment {name}" for name in segments_naming(db_session=db_session, name=segment.name)]
    users += list(named_elsewhere)
    if users:
        raise SegmentConflict(
            f"{segment.name} 正被使用，不能{'改名' if done == 'renamed' else '删除'} · "
            f"cannot be {done} while used by {', '.join(users)}",
            code="segment_in_use", used_by=users,
        )


def _counted(db_session: Session, segment: Segment, now: datetime, places: Places | None) -> Counted:
    try:
        resolved = audience.resolve(db_session=db_session, text=segment.expr, as_segment=segment.name,
                                    places=places)
    except AudienceError as exc:
        return Counted(segment, None, exc.message)
    return Counted(segment, audience.count(db_session=db_session, expr=resolved, now=now), None)
