"""Custom event API (SPEC §11; admin, manager): ``POST /api/events`` — 201 a new event, 200
the same ``event_key`` again, 409 the key taken by another event, 422 bad input or an unknown
customer (scrm/outreach/events.py)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from scrm.outreach import events
from scrm.web.api import current_runtime, json_object
from scrm.web.auth import require_role
from scrm.web.errors import Conflict, Unprocessable

blueprint = Blueprint("outreach_events", __name__)


@blueprint.post("/api/events")
@require_role("admin", "manager")
def post_event():  # noqa: ANN201
    """Record a custom event (it may trigger campaigns)."""
    runtime = current_runtime()
    event_in = events.parse_event(json_object(), now=runtime.clock.now())
    try:
        with runtime.transaction() as db_session:
            event, created = events.record_event(runtime=runtime, db_session=db_session, event_in=event_in)
            body = events.event_json(event)
    except events.UnknownEventCustomer as exc:
        raise Unprocessable(f"{exc.field}: {exc.message}", code="unknown_customer", field=exc.field) from exc
    except events.EventConflict as exc:
        raise Conflict(str(exc)) from exc
    return jsonify(body), 201 if created else 200
