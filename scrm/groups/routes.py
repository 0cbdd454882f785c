"""Customer group API (SPEC §9, §11): admins and managers see every group, a guide the
groups they own. ``GET /api/groups`` (``?dismissed=1`` includes dismissed ones) and
``GET /api/groups/<chat_id>`` (members, joins/quits per day ``?from=&to=``, 30 days by default);
``GET /api/group-stats`` (社群数据, admins and managers: ``?from=&to=&by=day|group|owner|code``)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from scrm.groups import service, stats
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime, day_range
from scrm.web.auth import current_caller, require_role
from scrm.web.errors import ApiError

blueprint = Blueprint("groups_api", __name__)

READERS = ("admin", "manager", "guide")


def _guide_code() -> str | None:
    caller = current_caller()
    return (caller.guide_code or "") if caller.role == "guide" else None


@blueprint.get("/api/groups")
@require_role(*READERS)
def list_groups():  # noqa: ANN201
    """Customer groups (客户群) synced from WeCom."""
    with current_runtime().transaction() as db_session:
        owner = service.owner_filter(db_session=db_session, guide_code=_guide_code())
        groups = service.list_groups(db_session=db_session, owner_guide_id=owner,
                                     include_dismissed=request.args.get("dismissed") in ("1", "true"))
    return jsonify({"groups": groups})


@blueprint.get("/api/groups/<chat_id>")
@require_role(*READERS)
def get_group(chat_id: str):  # noqa: ANN201
    """One group: its members and joins/quits per day."""
    runtime = current_runtime()
    first, last = day_range(runtime)
    with runtime.transaction() as db_session:
        owner = service.owner_filter(db_session=db_session, guide_code=_guide_code())
        body = service.group_detail(db_session=db_session, chat_id=chat_id, owner_guide_id=owner,
                                    first=first, last=last)
    return jsonify(body)


# ---- group statistics (社群数据) ------------------------------------------------------------


@blueprint.get("/api/group-stats")
@require_role(*MANAGERS)
def group_stats():  # noqa: ANN201
    """The period's members, joins, quits and net growth by day, group, owner or live code."""
    runtime = current_runtime()
    first, last = day_range(runtime)
    by = request.args.get("by", "day")
    if by not in stats.BY:
        raise ApiError(f"by must be one of {', '.join(stats.BY)}", code="bad_query")
    with runtime.transaction() as db_session:
        body = stats.report(db_session=db_session, config=runtime.config, first=first, last=last, by=by)
    return jsonify(body)
