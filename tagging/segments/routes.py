"""Segments API (SPEC §11): ``GET/POST /api/segments``, ``GET/PATCH/DELETE /api/segments/<id>``,
for admins and managers (Bearer, JSON). Each segment comes with ``count``, the customers it
holds now (null with ``error`` when its expression no longer resolves: a tag it names was
deleted). Renaming or deleting a segment that a campaign still to send (any status but done or
cancelled) or another segment names is 409 ``segment_in_use`` naming them."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, jsonify
from sqlalchemy import select
from sqlalchemy.orm import Session

from guides.audience_places import PLACES
from scrm.outreach.models import Campaign
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime, json_object, path_ids_fit
from scrm.web.auth import current_caller, require_role
from tagging import audience
from tagging.models import Segment
from tagging.segments import service
from tagging.segments.service import SegmentChanges, SegmentIn, parse_input

blueprint = Blueprint("segments", __name__)
path_ids_fit(blueprint, segment_id=Segment.id)

_FINISHED = ("done", "cancelled")


@blueprint.get("/api/segments")
@require_role(*MANAGERS)
def list_segments():  # noqa: ANN201
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        counted = service.list_segments(db_session=db_session, now=runtime.clock.now(), places=PLACES)
        return jsonify(segments=[segment_json(entry) for entry in counted])


@blueprint.post("/api/segments")
@require_role(*MANAGERS)
def create_segment():  # noqa: ANN201
    segment_in = parse_input(SegmentIn, json_object())
    runtime = current_runtime()
    now = runtime.clock.now()
    with runtime.transaction() as db_session:
        segment = service.create_segment(db_session=db_session, segment_in=segment_in, by=current_caller().name,
                                         now=now, places=PLACES)
        counted = service.get_segment(db_session=db_session, segment_id=segment.id, now=now, places=PLACES)
        return jsonify(segment_json(counted)), 201


@blueprint.get("/api/segments/<int:segment_id>")
@require_role(*MANAGERS)
def get_segment(segment_id: int):  # noqa: ANN201
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        return jsonify(segment_json(service.get_segment(db_session=db_session, segment_id=segment_id,
                                                        now=runtime.clock.now(), places=PLACES)))


@blueprint.patch("/api/segments/<int:segment_id>")
@require_role(*MANAGERS)
def update_segment(segment_id: int):  # noqa: ANN201
    changes = parse_input(SegmentChanges, json_object())
    runtime = current_runtime()
    now = runtime.clock.now()
    with runtime.transaction() as db_session:
        service.update_segment(db_session=db_session, segment_id=segment_id, changes=changes,
                               by=current_caller().name, now=now,
                               named_elsewhere=campaigns_naming(db_session, segment_id), places=PLACES)
        counted = service.get_segment(db_session=db_session, segment_id=segment_id, now=now, places=PLACES)
        return jsonify(segment_json(counted))


@blueprint.delete("/api/segments/<int:segment_id>")
@require_role(*MANAGERS)
def delete_segment(segment_id: int):  # noqa: ANN201
    with current_runtime().transaction() as db_session:
        service.delete_segment(db_session=db_session, segment_id=segment_id,
                               named_elsewhere=campaigns_naming(db_session, segment_id))
    return "", 204


def campaigns_naming(db_session: Session, segment_id: int) -> list[str]:
    """"campaign #id name" for each campaign not yet done or cancelled whose audience names the segment."""
    name = db_session.scalar(select(Segment.name).where(Segment.id == segment_id))
    if name is None:
        return []
    rows = db_session.execute(
        select(Campaign.id, Campaign.name, Campaign.audience).where(Campaign.status.not_in(_FINISHED))
    ).all()
    return [f"活动 campaign #{row.id} {row.name}" for row in rows
            if name in audience.segment_names((row.audience or {}).get("expr") or "")]


def segment_json(entry: service.Counted) -> dict:
    segment = entry.segment
    return {
        "id": segment.id, "name": segment.name, "expr": segment.expr, "term": term_of(segment.name),
        "count": entry.count, "error": entry.error,
        "created_by": segment.created_by, "updated_by": segment.updated_by,
        "created_at": _iso(segment.created_at), "updated_at": _iso(segment.updated_at),
    }


def term_of(name: str) -> str:
    """How an expression names the segment: ``segment:名字``, quoted when the name needs it."""
    if any(char.isspace() or char in '!&|():"\\' for char in name):
        return 'segment:"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"segment:{name}"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
