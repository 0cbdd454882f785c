"""Console pages for group SOP plans (群SOP, SPEC §9, §11), for admins and managers: the list
(groups matched, steps, tasks sent on time), a plan's form with its steps (existing rows and
three empty ones: a form with no script adds steps; a row's 删除 box removes it), pause and
resume, and one plan's page with each step's tasks per owner and their status.

Server-rendered forms as scrm/coupons/pages.py does them: POST acts through the same service
as the JSON API (scrm/groups/routes.py) and redirects with a one-line message; input refused
re-renders the form with the errors and what was typed, and changes nothing (422)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from guides.models import Guide
from scrm.clock import as_utc
from scrm.errors import DomainError, InvalidInput
from scrm.groups import sop
from scrm.groups.models import GroupCode, GroupSop
from scrm.groups.sop_schemas import parse_sop
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime, path_ids_fit
from scrm.web.auth import current_caller, require_role
from scrm.web.forms import form_errors, not_found_as_404
from scrm.web.refusals import reader_message

sop_console = Blueprint("sop_console", __name__, template_folder="templates", url_prefix="/console")
path_ids_fit(sop_console, sop_id=GroupSop.id)

BLANK_ROWS = 3
STEP_FIELDS = ("timing", "n", "time", "text", "link_title", "link_url", "deadline", "remove")
KIND_WORDS = {"owner": _l("按群主（导购代码，逗号分隔）"), "store": _l("按门店（门店代码）"),
              "name": _l("按群名（* 匹配任意字符）"), "code": _l("按群活码（活码编号或名称）")}
PICKED_BY = {"owner": _l("群主"), "store": _l("门店"), "name": _l("群名"), "code": _l("群活码")}  # shown on a plan
STATUS_WORDS = {"active": _l("进行中"), "paused": _l("已暂停"), "archived": _l("已归档")}
TASK_WORDS = {"pending": _l("待发送"), "sent": _l("已发送"), "missed": _l("已错过")}
WEEKDAYS = (_l("周一"), _l("周二"), _l("周三"), _l("周四"), _l("周五"), _l("周六"), _l("周日"))


@sop_console.get("/group-sops")
@require_role(*MANAGERS)
def sops():  # noqa: ANN201
    with current_runtime().transaction() as db_session:
        rows = [sop.sop_json(db_session, s) for s in sop.list_sops(db_session=db_session)]
        codes = _code_names(db_session)
    return render_template("groups/sops.html", rows=rows, status_words=STATUS_WORDS, kind_words=KIND_WORDS,
                           picked=lambda selector: _picked(selector, codes), caller=current_caller())


@sop_console.route("/group-sops/new", methods=["GET", "POST"])
@require_role(*MANAGERS)
def new_sop():  # noqa: ANN201
    if request.method == "GET":
        return _form(None, {"name": "", "selector_kind": "name", "selector_value": ""}, [], [])
    runtime = current_runtime()
    fields, steps = _typed()
    try:
        sop_in = parse_sop(_body(fields, steps))
        with runtime.transaction() as db_session:
            created = sop.create_sop(db_session=db_session, sop_in=sop_in, now=runtime.clock.now())
            sop_id = created.id
    except (InvalidInput, DomainError) as exc:
        return _form(None, fields, steps, _errors(exc), 422)
    flash(_("群SOP已创建。"))
    return redirect(url_for("sop_console.sop_page", sop_id=sop_id), code=303)


@sop_console.route("/group-sops/<int:sop_id>/edit", methods=["GET", "POST"])
@require_role(*MANAGERS)
@not_found_as_404(sop.SopNotFound)
def edit_sop(sop_id: int):  # noqa: ANN201
    runtime = current_runtime()
    if request.method == "GET":
        with runtime.transaction() as db_session:
            body = sop.sop_json(db_session, sop.get_sop(db_session=db_session, sop_id=sop_id))
        fields = {"name": body["name"], "selector_kind": body["selector"]["kind"],
                  "selector_value": body["selector"]["value"]}
        return _form(sop_id, fields, [_row_of(step) for step in body["steps"]], [])
    fields, steps = _typed()
    try:
        patch = parse_sop({k: v for k, v in _body(fields, steps).items() if k != "status"}, patch=True)
        with runtime.transaction() as db_session:
            sop.update_sop(db_session=db_session, sop_id=sop_id, patch=patch, now=runtime.clock.now())
    except (InvalidInput, sop.SopRefused) as exc:
        return _form(sop_id, fields, steps, _errors(exc), 422)
    flash(_("群SOP已保存。"))
    return redirect(url_for("sop_console.sop_page", sop_id=sop_id), code=303)


@sop_console.post("/group-sops/<int:sop_id>/status")
@require_role(*MANAGERS)
@not_found_as_404(sop.SopNotFound, InvalidInput)
def set_status(sop_id: int):  # noqa: ANN201
    runtime = current_runtime()
    patch = parse_sop({"status": request.form.get("status", "")}, patch=True)
    with runtime.transaction() as db_session:
        sop.update_sop(db_session=db_session, sop_id=sop_id, patch=patch, now=runtime.clock.now())
    flash(_("状态已改为：%(status)s", status=STATUS_WORDS[patch.status]))
    return redirect(url_for("sop_console.sop_page", sop_id=sop_id), code=303)


@sop_console.get("/group-sops/<int:sop_id>")
@require_role(*MANAGERS)
@not_found_as_404(sop.SopNotFound)
def sop_page(sop_id: int):  # noqa: ANN201
    runtime = current_runtime()
    zone = runtime.config.brand.zone
    with runtime.transaction() as db_session:
        body = sop.sop_json(db_session, sop.get_sop(db_session=db_session, sop_id=sop_id), detail=True)
        owners = dict(db_session.execute(select(Guide.wecom_userid, Guide.name).where(
            Guide.wecom_userid.in_({t["owner_userid"] for t in body["task_list"]}))).all())
        codes = _code_names(db_session)
    return render_template("groups/sop.html", plan=body, owners=owners, status_words=STATUS_WORDS,
                           kind_words=KIND_WORDS, task_words=TASK_WORDS, when=_when, caller=current_caller(),
                           picked=lambda selector: _picked(selector, codes),
                           local=lambda at: at and as_utc(datetime.fromisoformat(at)).astimezone(zone).strftime("%m-%d %H:%M"))


# ---- helpers ---------------------------------------------------------------------------------


def _code_names(db_session) -> dict[str, str]:  # noqa: ANN001
    return {str(code_id): name for code_id, name in db_session.execute(select(GroupCode.id, GroupCode.name))}


def _picked(selector: dict[str, str], codes: dict[str, str]) -> str:
    """What the plan's groups are picked by, in words: a live code by its name."""
    value = selector["value"]
    if selector["kind"] == "code":
        value = codes.get(value.strip(), value)
    return _("%(by)s：%(value)s", by=PICKED_BY.get(selector["kind"], selector["kind"]), value=value)


def _form(sop_id: int | None, fields: dict[str, str], steps: list[dict[str, str]], errors: list[dict[str, str]],
          status: int = 200):  # noqa: ANN202
    rows = steps + [dict.fromkeys(STEP_FIELDS, "") | {"timing": "day", "deadline": "120"}
                    for _ in range(BLANK_ROWS)]
    return render_template("groups/sop_form.html", sop_id=sop_id, fields=fields, rows=rows, errors=errors,
                           kind_words=KIND_WORDS, weekdays=WEEKDAYS, caller=current_caller()), status


def _typed() -> tuple[dict[str, str], list[dict[str, str]]]:
    """The plan's fields and its step rows as typed; empty rows are dropped, as are removed ones."""
    form = request.form
    fields = {name: form.get(name, "").strip() for name in ("name", "selector_kind", "selector_value")}
    steps = []
    count = form.get("rows", "")
    for index in range(min(int(count), 60) if count.isdigit() else 0):
        row = {name: form.get(f"step-{index}-{name}", "").strip() for name in STEP_FIELDS}
        if row["remove"] or not (row["text"] or row["n"] or row["time"]):
            continue
        steps.append(row)
    return fields, steps


def _body(fields: dict[str, str], steps: list[dict[str, str]]) -> dict[str, Any]:
    """The JSON API's body from the form (numbers left as typed when they are not: the API's
    validation words the error)."""
    def number(raw: str) -> int | str:
        return int(raw) if raw.isdigit() else raw

    body: dict[str, Any] = {"name": fields["name"], "selector": {"kind": fields["selector_kind"],
                                                                 "value": fields["selector_value"]}, "steps": []}
    for row in steps:
        step: dict[str, Any] = {"weekday" if row["timing"] == "week" else "day_offset": number(row["n"]),
                                "time": row["time"], "text": row["text"],
                                "deadline_minutes": number(row["deadline"] or "120")}
        if row["link_url"] or row["link_title"]:
            step["link"] = {"title": row["link_title"], "url": row["link_url"]}
        body["steps"].append(step)
    return body


def _row_of(step: dict[str, Any]) -> dict[str, str]:
    link = step.get("link") or {}
    return {"timing": "week" if step["weekday"] else "day",
            "n": str(step["weekday"] if step["weekday"] else step["day_offset"]), "time": step["time"],
            "text": step["text"], "link_title": link.get("title", ""), "link_url": link.get("url", ""),
            "deadline": str(step["deadline_minutes"]), "remove": ""}


def _errors(exc: Exception) -> list[dict[str, str]]:
    if isinstance(exc, DomainError):
        return [{"field": str(exc.details.get("field", "")), "message": reader_message(exc.message)}]
    return form_errors(exc)


def _when(step: dict[str, Any]) -> str:
    if step["weekday"]:
        return _("每%(day)s %(time)s", day=WEEKDAYS[step["weekday"] - 1], time=step["time"])
    return _("第 %(n)s 天 %(time)s", n=step["day_offset"], time=step["time"])

