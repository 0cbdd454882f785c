"""Customer group API (SPEC §9, §11): admins and managers see every group, a guide the
groups they own. ``GET /api/groups`` (``?dismissed=1`` includes dismissed ones) and
``GET /api/groups/<chat_id>`` (members, joins/quits per day ``?from=&to=``, 30 days by default);
and the group live codes (群活码, admins and managers)."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, jsonify, request

from scrm.clock import local_day
from scrm.groups import code_images, code_schemas, code_views, codes, service
from scrm.groups.models import GroupCode
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime, day_range, json_object, path_ids_fit
from scrm.web.auth import current_caller, require_role

blueprint = Blueprint("groups_api", __name__)

READERS = ("admin", "manager", "guide")
DEFAULT_DAYS = 30


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


# ---- group live codes (群活码), admins and managers --------------------------------------------
# POST /api/group-codes (201), GET /api/group-codes, GET|PATCH|DELETE /api/group-codes/<id>
# (DELETE retires: WeCom's ways are deleted, the history kept), GET …/<id>/qrcode.png.

path_ids_fit(blueprint, code_id=GroupCode.id)


@blueprint.post("/api/group-codes")
@require_role(*MANAGERS)
def create_code():  # noqa: ANN201
    """A live code over 1-5 groups (or none, with auto_create): its WeCom join way is made now."""
    code_in = code_schemas.parse(code_schemas.GroupCodeIn, json_object())
    runtime = current_runtime()
    code_id = codes.create(runtime=runtime, code_in=code_in)
    with runtime.transaction() as db_session:
        return jsonify(_detail(runtime, db_session, code_id)), 201


@blueprint.get("/api/group-codes")
@require_role(*MANAGERS)
def list_codes():  # noqa: ANN201
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        rows = code_views.code_rows(db_session=db_session, today=local_day(runtime.config, runtime.clock.now()))
    return jsonify({"group_codes": rows})


@blueprint.get("/api/group-codes/<int:code_id>")
@require_role(*MANAGERS)
def get_code(code_id: int):  # noqa: ANN201
    """The code, its groups now and those taken off, joins by day (``?from=&to=``) and by way."""
    runtime = current_runtime()
    first, last = day_range(runtime)
    with runtime.transaction() as db_session:
        return jsonify(_detail(runtime, db_session, code_id, first, last))


@blueprint.patch("/api/group-codes/<int:code_id>")
@require_role(*MANAGERS)
def change_code(code_id: int):  # noqa: ANN201
    changes = code_schemas.parse(code_schemas.GroupCodeChange, json_object())
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        codes.change(runtime=runtime, db_session=db_session, code_id=code_id, changes=changes)
        return jsonify(_detail(runtime, db_session, code_id))


@blueprint.delete("/api/group-codes/<int:code_id>")
@require_role(*MANAGERS)
def retire_code(code_id: int):  # noqa: ANN201
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        codes.retire(runtime=runtime, db_session=db_session, code_id=code_id)
        return jsonify(_detail(runtime, db_session, code_id))


@blueprint.get("/api/group-codes/<int:code_id>/qrcode.png")
@require_role(*MANAGERS)
def code_qrcode(code_id: int):  # noqa: ANN201
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        png = code_images.code_image(runtime=runtime, db_session=db_session, code_id=code_id)
    return Response(png, mimetype="image/png", headers={"Cache-Control": "private, max-age=300"})


def _detail(runtime, db_session, code_id: int, first=None, last=None) -> dict:  # noqa: ANN001
    """The code as GET shows it; the last 30 days unless the period is given."""
    today = local_day(runtime.config, runtime.clock.now())
    first, last = first or today - timedelta(days=DEFAULT_DAYS - 1), last or today
    return code_views.code_detail(db_session=db_session, code_id=code_id, first=first, last=last, today=today)
