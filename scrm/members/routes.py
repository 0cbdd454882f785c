"""The members' JSON API (SPEC §13): ``GET /api/members/stats?from=&to=`` for admins and managers,
the figures of a period of local days beside the period before (scrm/members/stats.py)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from scrm.members import stats
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime, day_range
from scrm.web.auth import require_role

blueprint = Blueprint("members_api", __name__)

STATS_MOST_DAYS = 366


@blueprint.get("/api/members/stats")
@require_role(*MANAGERS)
def member_stats():  # noqa: ANN201
    """Members by level, new members, points issued/spent/expired, check-ins and exchanges, the liability."""
    runtime = current_runtime()
    first, last = day_range(runtime, most_days=STATS_MOST_DAYS)
    with runtime.transaction() as db_session:
        found = stats.member_stats(db_session=db_session, config=runtime.config, first_day=first, last_day=last,
                                   at=runtime.clock.now())
    return jsonify(found.as_json())
