"""Dashboard API (SPEC §11): ``GET /api/stats/funnel?from=&to=&store=&guide=`` for admins and
managers; a guide gets their own funnel (``guide`` is theirs, whatever is asked). An unknown
guide or store code answers 404. The cohort of the period, each step with its events and the
same figures for the period of the same length before it (scrm/dashboard/funnel.py)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from scrm.coupons.stats import MAX_DAYS
from scrm.dashboard.funnel import compare, scope_ids
from scrm.web.api import current_runtime, day_range
from scrm.web.auth import current_caller, require_role

blueprint = Blueprint("dashboard_api", __name__)


@blueprint.get("/api/stats/funnel")
@require_role("admin", "manager", "guide")
def stats_funnel():  # noqa: ANN201
    """The funnel: people of each step who scanned a code in the period, with events and the period before."""
    runtime, caller = current_runtime(), current_caller()
    first, last = day_range(runtime, most_days=MAX_DAYS)
    guide_code = caller.guide_code if caller.role == "guide" else request.args.get("guide")
    store_code = None if caller.role == "guide" else request.args.get("store")
    with runtime.transaction() as db_session:
        guide_id, store_id = scope_ids(db_session=db_session, guide_code=guide_code, store_code=store_code)
        found = compare(db_session=db_session, config=runtime.config, first_day=first, last_day=last,
                        store_id=store_id, guide_id=guide_id)
    return jsonify(found.as_json())
