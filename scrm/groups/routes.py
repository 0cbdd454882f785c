"""Customer group API (SPEC §9, §11): admins and managers see every group, a guide the
groups they own. ``GET /api/groups`` (``?dismissed=1`` includes dismissed ones) and
``GET /api/groups/<chat_id>`` (members, joins/quits per day ``?from=&to=``, 30 days by default);
and the group live codes (群活码, admins and managers).

Group welcome templates (入群欢迎语, admins and managers): ``GET|POST /api/group-welcome-templates``,
``GET|PATCH|DELETE /api/group-welcome-templates/<id>``. Bad input 422, the 101st template or
one a live code carries 409, WeCom's refusal 502 ``wechat_error`` with its ``errcode``: nothing
written in each case.

Group SOP plans: ``GET/POST /api/group-sops``, ``GET/PATCH /api/group-sops/<id>`` (admins and managers).
``GET /api/group-stats`` (社群数据, admins and managers: ``?from=&to=&by=day|group|owner|code``)."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, jsonify, request

from scrm.clock import local_day
from scrm.groups import code_images, code_schemas, code_views, codes, service, sop, stats, welcome
from scrm.groups.models import GroupCode, GroupSop, GroupWelcomeTemplate
from scrm.groups.sop_schemas import parse_sop
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime, day_range, json_object, path_ids_fit
from scrm.web.auth import current_caller, require_role
from scrm.web.errors import ApiError

blueprint = Blueprint("groups_api", __name__)
path_ids_fit(blueprint, template_pk=GroupWelcomeTemplate.id)
path_ids_fit(blueprint, sop_id=GroupSop.id)

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
    return code_views.code_detail(db_session=db_session, code_id=code_id, first=first, last=last, today=today,
                                  app_messages=runtime.work.can_send_app_messages)
# ---- group welcome templates (入群欢迎语) ------------------------------------------------------


def _wechat_refusal(exc: welcome.WelcomeNotAccepted) -> ApiError:
    return ApiError(exc.message, code=exc.code, status=502, **exc.details)


@blueprint.get("/api/group-welcome-templates")
@require_role(*MANAGERS)
def list_welcome_templates():  # noqa: ANN201
    with current_runtime().transaction() as db_session:
        return jsonify(templates=[welcome.template_json(t) for t in welcome.list_templates(db_session=db_session)])


@blueprint.post("/api/group-welcome-templates")
@require_role(*MANAGERS)
def create_welcome_template():  # noqa: ANN201
    """Added in WeCom (``group_welcome_template/add``), then saved."""
    template_in = welcome.parse_template(json_object())
    runtime = current_runtime()
    try:
        with runtime.transaction() as db_session:
            template = welcome.create_template(db_session=db_session, work=runtime.work, template_in=template_in,
                                               now=runtime.clock.now())
            return jsonify(welcome.template_json(template)), 201
    except welcome.WelcomeNotAccepted as exc:
        raise _wechat_refusal(exc) from exc


@blueprint.get("/api/group-welcome-templates/<int:template_pk>")
@require_role(*MANAGERS)
def get_welcome_template(template_pk: int):  # noqa: ANN201
    with current_runtime().transaction() as db_session:
        return jsonify(welcome.template_json(welcome.get_template(db_session=db_session, template_pk=template_pk)))


@blueprint.patch("/api/group-welcome-templates/<int:template_pk>")
@require_role(*MANAGERS)
def edit_welcome_template(template_pk: int):  # noqa: ANN201
    """Some fields changed; WeCom gets the whole content again (``edit``) when it changed."""
    changes = json_object()
    runtime = current_runtime()
    try:
        with runtime.transaction() as db_session:
            template = welcome.edit_template(db_session=db_session, work=runtime.work, template_pk=template_pk,
                                             changes=changes, now=runtime.clock.now())
            return jsonify(welcome.template_json(template))
    except welcome.WelcomeNotAccepted as exc:
        raise _wechat_refusal(exc) from exc


@blueprint.delete("/api/group-welcome-templates/<int:template_pk>")
@require_role(*MANAGERS)
def delete_welcome_template(template_pk: int):  # noqa: ANN201
    runtime = current_runtime()
    try:
        with runtime.transaction() as db_session:
            welcome.delete_template(db_session=db_session, work=runtime.work, template_pk=template_pk,
                                    now=runtime.clock.now())
    except welcome.WelcomeNotAccepted as exc:
        raise _wechat_refusal(exc) from exc
    return "", 204
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
