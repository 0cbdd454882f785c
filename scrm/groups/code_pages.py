"""Console pages for group live codes (群活码, SPEC §9, §11), for admins and managers: the list
(groups on each code with how full they are, joins today and in 7 days), a form to create or
change a code (groups picked from the synced ones by name and owner; a welcome template,
入群欢迎语, with its text previewed), one code's page (its QR, its welcome and whether each
group's owner was asked to apply it, groups on it and those taken off with why and when, joins
per day, the ways guides and campaigns hand out), retiring it, and a printable poster.

Post/redirect/get through the service the JSON API uses (scrm/groups/codes.py); refused input
re-renders the form with the errors and what was typed, and changes nothing (422).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l

from scrm.clock import local_day
from scrm.texts import local_time
from scrm.errors import InvalidInput
from scrm.groups import code_views, codes, routes as group_routes
from scrm.groups.code_schemas import GroupCodeChange, GroupCodeIn, parse
from scrm.groups.models import DEFAULT_MEMBER_LIMIT, MAX_CODE_CHATS, GroupCode
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime, path_ids_fit
from scrm.web.auth import current_caller, require_role
from scrm.web.charts import Group, Series, day_label_step, grouped_bars
from scrm.web.forms import form_errors, form_fields, not_found_as_404

code_console = Blueprint("group_code_console", __name__, template_folder="templates", url_prefix="/console")
path_ids_fit(code_console, code_id=GroupCode.id)

# The code's image, reached with the console's session (/api/ takes Bearer tokens only).
code_console.add_url_rule("/group-codes/<int:code_id>/qrcode.png", "qrcode", group_routes.code_qrcode)

FIELDS = ("name", "member_limit", "room_base_name")
DAYS = 30
REMOVED_WORDS = {"full": _l("已满"), "dismissed": _l("已解散"), "manual": _l("手动移除")}
SOURCE_WORDS = {"code": _l("群活码本身"), "guide": _l("导购"), "campaign": _l("活动")}
# Why the service refused, as the reader reads it (the service words it in English for the API).
REFUSED_WORDS = {
    "unknown": _l("没有这个群：%(chat_id)s（请先同步客户群）"), "dismissed": _l("这个群已解散：%(chat_id)s"),
    "handover": _l("这个群的群主已离职，待继承：%(chat_id)s"), "full": _l("这个群已达到人数上限：%(chat_id)s"),
    "too_many": _l("最多 5 个群"), "no_groups": _l("至少选一个还有空位的群，或开启自动建群"),
    "no_base_name": _l("开启自动建群时需填写新群名称前缀"), "retired": _l("这个群活码已停用"),
    "wecom": _l("企业微信拒绝了这个群活码"), "no_template": _l("这条入群欢迎语不存在或已删除"),
}
# The form's own checks (scrm/groups/code_schemas.py), worded for the reader.
CHECK_WORDS = {
    "at least one group, or auto_create with room_base_name": _l("至少选一个群，或开启自动建群"),
    "needed when auto_create is on": _l("开启自动建群时需填写新群名称前缀"),
    "a group is named twice": _l("同一个群选了两次"),
}
_404_when_missing = not_found_as_404(codes.GroupCodeNotFound)


@code_console.get("/group-codes")
@require_role(*MANAGERS)
def code_list():  # noqa: ANN201
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        rows = code_views.code_rows(db_session=db_session, today=_today())
    return render_template("groups/codes.html", rows=rows, caller=current_caller())


@code_console.get("/group-codes/new")
@require_role(*MANAGERS)
def new_code():  # noqa: ANN201
    return _form(code=None, form={"member_limit": str(DEFAULT_MEMBER_LIMIT), "chat_ids": [], "welcome_template_id": ""})


@code_console.post("/group-codes")
@require_role(*MANAGERS)
def create_code():  # noqa: ANN201
    form = _posted()
    try:
        code_in = parse(GroupCodeIn, _input(form))
        code_id = codes.create(runtime=current_runtime(), code_in=code_in)
    except (InvalidInput, codes.GroupCodeRefused) as exc:
        return _form(code=None, form=form, errors=_errors(exc), status=422)
    flash(_("群活码 %(name)s 已创建。", name=code_in.name))
    return redirect(url_for(".code_page", code_id=code_id))


@code_console.get("/group-codes/<int:code_id>")
@require_role(*MANAGERS)
@_404_when_missing
def code_page(code_id: int):  # noqa: ANN201
    today = _today()
    with current_runtime().transaction() as db_session:
        code = code_views.code_detail(db_session=db_session, code_id=code_id, first=today - timedelta(days=DAYS - 1),
                                      last=today, today=today, app_messages=current_runtime().work.can_send_app_messages)
    chart = grouped_bars([Group(d["day"], d["day"][5:], (d["joined"],)) for d in code["days"]],
                         [Series("joined", _("入群"))], kind="day", label_every=day_label_step(len(code["days"])))
    return render_template("groups/codes_code.html", code=code, chart=chart, removed_words=REMOVED_WORDS,
                           nickname=_("小美"), local=_local,
                           source_words=SOURCE_WORDS, caller=current_caller())


@code_console.get("/group-codes/<int:code_id>/edit")
@require_role(*MANAGERS)
@_404_when_missing
def edit_code(code_id: int):  # noqa: ANN201
    with current_runtime().transaction() as db_session:
        code = codes.get(db_session=db_session, code_id=code_id)
        on = code_views.chat_ids_on(db_session=db_session, code_id=code_id)
        form = {"name": code.name, "member_limit": str(code.member_limit), "auto_create": code.auto_create,
                "room_base_name": code.room_base_name, "chat_ids": on,
                "welcome_template_id": str(code.welcome_template_id or "")}
        shown = {"id": code.id, "name": code.name, "status": code.status}
    return _form(code=shown, form=form)


@code_console.post("/group-codes/<int:code_id>")
@require_role(*MANAGERS)
@_404_when_missing
def change_code(code_id: int):  # noqa: ANN201
    form = _posted()
    runtime = current_runtime()
    try:
        changes = parse(GroupCodeChange, {k: v for k, v in _input(form).items() if k != "room_base_name" or v})
        with runtime.transaction() as db_session:
            codes.change(runtime=runtime, db_session=db_session, code_id=code_id, changes=changes)
    except (InvalidInput, codes.GroupCodeRefused) as exc:
        with runtime.transaction() as db_session:
            code = codes.get(db_session=db_session, code_id=code_id)
            shown = {"id": code.id, "name": code.name, "status": code.status}
        return _form(code=shown, form=form, errors=_errors(exc), status=422)
    flash(_("群活码已保存。"))
    return redirect(url_for(".code_page", code_id=code_id))


@code_console.post("/group-codes/<int:code_id>/retire")
@require_role(*MANAGERS)
@_404_when_missing
def retire_code(code_id: int):  # noqa: ANN201
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        codes.retire(runtime=runtime, db_session=db_session, code_id=code_id)
    flash(_("群活码已停用：扫码不再能入群，数据保留。"))
    return redirect(url_for(".code_page", code_id=code_id))


@code_console.get("/group-codes/<int:code_id>/poster")
@require_role(*MANAGERS)
@_404_when_missing
def poster(code_id: int):  # noqa: ANN201
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        code = codes.get(db_session=db_session, code_id=code_id)
        shown = {"id": code.id, "name": code.name, "status": code.status}
    return render_template("groups/codes_poster.html", code=shown, brand=runtime.config.brand.name)


# ---- helpers -------------------------------------------------------------------------------


def _local(iso: str | None) -> str:
    """A stored moment (ISO, UTC) as the page shows one: the brand's zone, ``2026-03-01 14:05``;
    the day alone of a group's ``added_at`` would be the UTC one otherwise."""
    return local_time(datetime.fromisoformat(iso), current_runtime().config.brand.zone) if iso else ""


def _today():  # noqa: ANN202
    runtime = current_runtime()
    return local_day(runtime.config, runtime.clock.now())


def _errors(exc: Exception) -> list[dict[str, str]]:
    """Each refusal in the reader's words: the service's by its reason, the form's checks by
    their wording, the rest as scrm/web/refusals.py words them."""
    if isinstance(exc, codes.GroupCodeRefused) and exc.details.get("reason") in REFUSED_WORDS:
        words = REFUSED_WORDS[exc.details["reason"]] % {"chat_id": exc.details.get("chat_id", "")}
        return [{"field": str(exc.details.get("field", "")), "message": str(words)}]
    return [{**item, "message": str(CHECK_WORDS.get(item["message"], item["message"]))} for item in form_errors(exc)]


def _posted() -> dict[str, Any]:
    return {**form_fields(request.form, *FIELDS), "auto_create": request.form.get("auto_create") == "1",
            "chat_ids": request.form.getlist("chat_ids"),
            "welcome_template_id": request.form.get("welcome_template_id", "").strip()}


def _input(form: dict[str, Any]) -> dict[str, Any]:
    """The form as the API's body: a limit or template that is not a number is passed as typed,
    to be refused; no template (不使用) is null."""
    limit, template = form["member_limit"], form["welcome_template_id"]
    return {"name": form["name"], "chat_ids": form["chat_ids"], "auto_create": form["auto_create"],
            "member_limit": int(limit) if limit.isdigit() else limit or DEFAULT_MEMBER_LIMIT,
            "room_base_name": form["room_base_name"] or None,
            "welcome_template_id": int(template) if template.isdigit() else template or None}


def _form(*, code: dict[str, Any] | None, form: dict[str, Any], errors: list | None = None, status: int = 200):  # noqa: ANN202
    with current_runtime().transaction() as db_session:
        choices = code_views.group_choices(db_session=db_session)
        welcomes = code_views.welcome_choices(db_session=db_session)
    return render_template("groups/codes_form.html", code=code, form=form, errors=errors or [], choices=choices,
                           welcomes=welcomes, nickname=_("小美"), most=MAX_CODE_CHATS, caller=current_caller()), status
