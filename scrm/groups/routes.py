"""Customer group API (SPEC §9, §11): admins and managers see every group, a guide the
groups they own. ``GET /api/groups`` (``?dismissed=1`` includes dismissed ones) and
``GET /api/groups/<chat_id>`` (members, joins/quits per day ``?from=&to=``, 30 days by default).
Group SOP plans: ``GET/POST /api/group-sops``, ``GET/PATCH /api/group-sops/<id>`` (admins and managers)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from scrm.groups import service, sop
from scrm.groups.models import GroupSop
from scrm.groups.sop_schemas import parse_sop
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime, day_range, json_object, path_ids_fit
from scrm.web.auth import current_caller, require_role

blueprint = Blueprint("groups_api", __name__)
path_ids_fit(blueprint, sop_id=GroupSop.id)

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


# ---- Group SOP (群SOP, scrm/groups/sop.py): admins and managers --------------------------------


@blueprint.get("/api/group-sops")
@require_role(*MANAGERS)
def list_group_sops():  # noqa: ANN201
    """Group SOP plans with their steps, groups matched and tasks sent on time."""
    with current_runtime().transaction() as db_session:
        return jsonify({"sops": [sop.sop_json(db_session, s) for s in sop.list_sops(db_session=db_session)]})


@blueprint.post("/api/group-sops")
@require_role(*MANAGERS)
def create_group_sop():  # noqa: ANN201
    """A new plan: its groups (selector) and steps."""
    sop_in = parse_sop(json_object())
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        created = sop.create_sop(db_session=db_session, sop_in=sop_in, now=runtime.clock.now())
        return jsonify(sop.sop_json(db_session, created)), 201


@blueprint.get("/api/group-sops/<int:sop_id>")
@require_role(*MANAGERS)
def get_group_sop(sop_id: int):  # noqa: ANN201
    """One plan with its groups and every task per owner."""
    with current_runtime().transaction() as db_session:
        return jsonify(sop.sop_json(db_session, sop.get_sop(db_session=db_session, sop_id=sop_id), detail=True))


@blueprint.patch("/api/group-sops/<int:sop_id>")
@require_role(*MANAGERS)
def update_group_sop(sop_id: int):  # noqa: ANN201
    """Change a plan (pause: ``{"status": "paused"}``); ``steps`` replaces them by position."""
    patch = parse_sop(json_object(), patch=True)
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        changed = sop.update_sop(db_session=db_session, sop_id=sop_id, patch=patch, now=runtime.clock.now())
        return jsonify(sop.sop_json(db_session, changed))
