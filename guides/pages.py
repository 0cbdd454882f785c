"""Console pages for stores, guides and their codes (门店与导购), for admins and managers.

Server-rendered forms, usable on a phone: GET shows; POST acts, then redirects with a
one-line message (post/redirect/get, so a reload never acts twice). Input the domain refuses
re-renders the same page with the errors and what was typed: 422 for invalid input, 409 for a
conflict (a code taken, a guide who left already), and nothing is changed. What a page shows
is read by guides/console_views.py.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import segno
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from guides import console_views, importing, leaving, login_links, service
from guides import routes as guide_routes
from guides.duty_routing import WEEKDAYS
from guides.schemas import GuideFields, GuideIn, LeaveIn, StoreIn, parse
from scrm.errors import InvalidInput
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime
from scrm.web.auth import current_caller, require_role
from scrm.web.forms import form_errors, form_fields, form_status, not_found_as_404

if TYPE_CHECKING:
    from werkzeug.datastructures import FileStorage, MultiDict

guide_console = Blueprint("guide_console", __name__, template_folder="templates", url_prefix="/console")
# The codes and posters the pages show: the API's images, reached with the console's session
# (/api/ takes Bearer tokens only).
guide_console.add_url_rule("/stores/<code>/qrcode.png", "store_qrcode", guide_routes.store_qrcode)
guide_console.add_url_rule("/stores/<code>/poster.<fmt>", "store_poster", guide_routes.store_poster)
guide_console.add_url_rule("/guides/<code>/qrcode.png", "guide_qrcode", guide_routes.guide_qrcode)


class _Rejected(Exception):
    """An import with bad rows: raised inside the transaction so it rolls back whole."""

    def __init__(self, report: importing.ImportReport) -> None:
        super().__init__("import rejected")
        self.report = report


_404_when_missing = not_found_as_404(service.NotFoundError)


# ---- stores ---------------------------------------------------------------------------------

@guide_console.get("/stores")
@require_role(*MANAGERS)
def stores():  # noqa: ANN201
    return _render_stores()


@guide_console.post("/stores")
@require_role(*MANAGERS)
def create_store():  # noqa: ANN201
    form = form_fields(request.form, "code", "name", "address")
    runtime = current_runtime()
    try:
        store_in = parse(StoreIn, {k: v for k, v in form.items() if v or k != "address"})
        with runtime.transaction() as db_session:
            service.create_store(runtime=runtime, db_session=db_session, store_in=store_in)
    except (InvalidInput, service.ConflictError) as exc:
        return _render_stores(status=form_status(exc, service.ConflictError), form=form, errors=form_errors(exc))
    flash(_("门店 %(code)s 已创建，公众号码正在生成。", code=store_in.code))
    return redirect(url_for(".store", code=store_in.code))


@guide_console.get("/stores/<code>")
@require_role(*MANAGERS)
@_404_when_missing
def store(code: str):  # noqa: ANN201
    return _render_store(code)


@guide_console.post("/stores/<code>/guides")
@require_role(*MANAGERS)
@_404_when_missing
def create_guide(code: str):  # noqa: ANN201
    form = form_fields(request.form, "code", "name", "wecom_userid")
    runtime = current_runtime()
    try:
        guide_in = parse(GuideIn, {**form, "store": code})
        with runtime.transaction() as db_session:
            service.create_guide(runtime=runtime, db_session=db_session, guide_in=guide_in)
    except (InvalidInput, service.ConflictError) as exc:
        return _render_store(code, status=form_status(exc, service.ConflictError), guide_form=form, guide_errors=form_errors(exc))
    flash(_("导购 %(code)s 已添加，导购码正在生成。", code=guide_in.code))
    return redirect(url_for(".guide", code=guide_in.code))


@guide_console.post("/stores/<code>/import")
@require_role(*MANAGERS)
@_404_when_missing
def import_guides(code: str):  # noqa: ANN201
    runtime = current_runtime()
    try:
        text = _uploaded_text(request.files.get("file"))
        with runtime.transaction() as db_session:
            report = importing.import_guides(runtime=runtime, db_session=db_session, text=text)
            if report.errors:
                raise _Rejected(report)
    except _Rejected as exc:
        return _render_store(code, status=422, import_report=exc.report)
    except (InvalidInput, service.ConflictError) as exc:
        return _render_store(code, status=form_status(exc, service.ConflictError), import_errors=form_errors(exc))
    flash(_("导入完成：新建 %(created)s 位，%(unchanged)s 位没有变化。", created=len(report.created),
            unchanged=len(report.unchanged)))
    return redirect(url_for(".store", code=code))


def _render_stores(*, status: int = 200, **state: Any):  # noqa: ANN202
    with current_runtime().transaction() as db_session:
        rows = service.list_stores(db_session=db_session)
    return render_template("console/stores.html", caller=current_caller(), stores=rows, **state), status


def _render_store(code: str, *, status: int = 200, **state: Any):  # noqa: ANN202
    with current_runtime().transaction() as db_session:
        page = console_views.store_page(db_session=db_session, code=code)
    return render_template("console/store.html", caller=current_caller(), page=page, **state), status


# ---- guides ---------------------------------------------------------------------------------

@guide_console.get("/guides/<code>")
@require_role(*MANAGERS)
@_404_when_missing
def guide(code: str):  # noqa: ANN201
    return _render_guide(code)


@guide_console.post("/guides/<code>")
@require_role(*MANAGERS)
@_404_when_missing
def update_guide(code: str):  # noqa: ANN201
    try:
        changes = parse(GuideFields, _guide_changes(request.form))
        with current_runtime().transaction() as db_session:
            service.update_guide(db_session=db_session, code=code, changes=changes)
    except InvalidInput as exc:
        edit = {**request.form.to_dict(), "backup": "1" in request.form.getlist("backup")}
        return _render_guide(code, status=422, edit=edit, edit_errors=form_errors(exc))
    flash(_("已保存。"))
    return redirect(url_for(".guide", code=code))


@guide_console.post("/guides/<code>/leave")
@require_role(*MANAGERS)
@_404_when_missing
def leave(code: str):  # noqa: ANN201
    runtime = current_runtime()
    to = request.form.get("to", "").strip()
    try:
        if not to:
            raise InvalidInput("to", _("选择接手导购"))
        leave_in = parse(LeaveIn, {"to": to})
        with runtime.transaction() as db_session:
            result = leaving.leave(runtime=runtime, db_session=db_session, code=code, to=leave_in.to)
    except (InvalidInput, service.ConflictError, service.NotFoundError) as exc:
        # A missing heir is bad input here; a missing leaver 404s when the page is rendered.
        return _render_guide(code, status=form_status(exc, service.ConflictError), leave_errors=form_errors(exc))
    flash(_("%(guide)s 已离职：%(moved)s 位顾客转给 %(to)s；%(transfers)s 个企业微信交接已排队。", guide=result.guide,
            moved=result.moved, to=result.to, transfers=result.wecom_transfers))
    return redirect(url_for(".guide", code=code))


@guide_console.post("/guides/<code>/login-link")
@require_role(*MANAGERS)
@_404_when_missing
def make_login_link(code: str):  # noqa: ANN201
    """A one-time sign-in link for the guide's phone, shown once with its QR code (not
    redirected: the link is not kept anywhere to show again; a reload makes another)."""
    runtime = current_runtime()
    try:
        with runtime.transaction() as db_session:
            link = login_links.make_link(runtime=runtime, db_session=db_session, guide_code=code)
    except LookupError:
        raise service.NotFoundError(f"no guide {code}") from None
    except login_links.LoginLinkRefused as exc:
        return _render_guide(code, status=409, link_errors=form_errors(exc))
    qr = Markup(segno.make(link, error="m").svg_inline(scale=4, border=2))  # noqa: S704 - segno's own SVG
    return _render_guide(code, login_link=link, login_qr=qr, link_hours=runtime.config.guides.login_link_hours)


def _render_guide(code: str, *, status: int = 200, **state: Any):  # noqa: ANN202
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        page = console_views.guide_page(runtime=runtime, db_session=db_session, code=code)
    state.setdefault("edit", _edit_values(page))
    return render_template("console/guide.html", caller=current_caller(), page=page, weekdays=WEEKDAYS,
                           **state), status


def _edit_values(page: console_views.GuidePage) -> dict[str, Any]:
    g = page.guide
    return {
        "name": g.name, "photo_url": g.photo_url or "", "welcome_text": g.welcome_text or "",
        "daily_cap": "" if g.daily_cap is None else str(g.daily_cap), "backup": g.backup,
        **{f"schedule_{day}": text for day, text in page.schedule.items()},
    }


# ---- form input -----------------------------------------------------------------------------

def _guide_changes(form: MultiDict[str, str]) -> dict[str, Any]:
    """The fields the form sent, typed for GuideFields. A blank photo or welcome text clears
    it (the default card and text apply), a blank cap means no cap. A checkbox sends nothing
    when unticked, so the form sends a hidden ``backup=0`` before it."""
    data: dict[str, Any] = {}
    if "name" in form:
        data["name"] = form["name"]
    for name in ("photo_url", "welcome_text"):
        if name in form:
            data[name] = form[name].strip() or None
    if "daily_cap" in form:
        raw = form["daily_cap"].strip()
        # Not a number stays text, so validation names the field.
        data["daily_cap"] = None if not raw else int(raw) if re.fullmatch(r"-?\d{1,9}", raw) else raw
    if "backup" in form:
        data["backup"] = "1" in form.getlist("backup")
    if any(f"schedule_{day}" in form for day in WEEKDAYS):
        data["schedule"] = console_views.schedule_from_text({day: form.get(f"schedule_{day}", "") for day in WEEKDAYS})
    return data


def _uploaded_text(upload: FileStorage | None) -> str:
    """The CSV as text. Excel on a Chinese Windows saves "CSV" as GBK, so that is accepted
    beside UTF-8 (with or without Excel's BOM)."""
    if upload is None or not upload.filename:
        raise InvalidInput("file", _("选择 CSV 文件"))
    raw = upload.read()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInput("file", _("既不是 UTF-8 也不是 GBK 文本；请另存为 CSV（UTF-8）"))
