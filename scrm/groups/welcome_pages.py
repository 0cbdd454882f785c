"""Console pages for group welcome templates (入群欢迎语, SPEC §9), for admins and managers: the
list, a new one, one to edit, delete (confirmed). The form has the text (``%NICKNAME%`` for the
joiner's name), an image uploaded from the page to WeCom's ``media/uploadimg`` through
``POST /console/group-welcome/image`` (jpg or png, at most 2 MB; the form keeps the URL WeCom
answers as ``image_pic_url``) and a link card, beside a preview of the welcome as a joiner's
phone shows it. A template an API caller gave a ``image_media_id`` keeps it until an image is
uploaded or removed.

Server-rendered forms as scrm/replies/pages.py does them: POST acts through the service the
JSON API uses (scrm/groups/welcome.py), then redirects with a one-line message. A refusal
re-renders the form with the errors and what was typed, and changes nothing: 422 for invalid
input, 409 for the 101st template or one a live code carries, 502 when WeCom refused it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from scrm.groups import welcome
from scrm.groups.models import GroupWelcomeTemplate
from scrm.texts import local_time
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime, path_ids_fit
from scrm.web.auth import current_caller, require_role
from scrm.web.forms import form_errors, form_fields, form_status, not_found_as_404

group_welcome_console = Blueprint("group_welcome_console", __name__, template_folder="templates",
                                  url_prefix="/console")
path_ids_fit(group_welcome_console, template_pk=GroupWelcomeTemplate.id)

FIELDS = ("name", "text", "image_media_id", "image_pic_url", "link_title", "link_url", "link_desc")
# A refused field, named as the form labels it.
FIELD_WORDS = {"name": _l("名称"), "text": _l("文字"), "image_media_id": _l("图片"), "image_pic_url": _l("图片"),
               "image": _l("图片"), "link": _l("链接"),
               "link.title": _l("链接标题"), "link.url": _l("链接网址"), "link.desc": _l("链接摘要")}
REFUSED = (welcome.InvalidWelcomeTemplate, welcome.TooManyWelcomeTemplates, welcome.WelcomeTemplateInUse)
CONFLICTS = (welcome.TooManyWelcomeTemplates, welcome.WelcomeTemplateInUse)
_404_when_missing = not_found_as_404(welcome.WelcomeTemplateNotFound)


@group_welcome_console.get("/group-welcome")
@require_role(*MANAGERS)
def templates():  # noqa: ANN201
    return _render_list()


@group_welcome_console.get("/group-welcome/new")
@require_role(*MANAGERS)
def new_template():  # noqa: ANN201
    return _render_form(None, form={**dict.fromkeys(FIELDS, ""), "notify": "on"})


@group_welcome_console.post("/group-welcome")
@require_role(*MANAGERS)
def create_template():  # noqa: ANN201
    typed = _typed()
    runtime = current_runtime()
    try:
        template_in = welcome.parse_template(_body(typed, creating=True))
        with runtime.transaction() as db_session:
            welcome.create_template(db_session=db_session, work=runtime.work, template_in=template_in,
                                    now=runtime.clock.now())
    except REFUSED as exc:
        return _render_form(None, status=form_status(exc, *CONFLICTS), form=typed, errors=_errors(exc))
    except welcome.WelcomeNotAccepted as exc:
        return _render_form(None, status=502, form=typed, errors=_wecom_refused(exc))
    flash(_("入群欢迎语“%(name)s”已保存到企业微信。", name=template_in.name))
    return redirect(url_for(".templates"))


@group_welcome_console.post("/group-welcome/image")
@require_role(*MANAGERS)
def upload_image():  # noqa: ANN201
    """An image for the form, sent to WeCom's ``media/uploadimg``: ``{"pic_url", "name", "size"}``;
    422 ``{"field", "message"}`` for a file WeCom would refuse (nothing sent), 502 when WeCom refused."""
    file = request.files.get("image")
    data = file.read(welcome.IMAGE_MAX_BYTES + 1) if file else b""
    try:
        pic_url = welcome.upload_image(work=current_runtime().work, data=data, filename=file.filename if file else "")
    except welcome.InvalidWelcomeImage as exc:
        return jsonify(field="image", message=_errors(exc)[0]["message"]), 422
    except welcome.WelcomeNotAccepted as exc:
        return jsonify(field="image", message=_wecom_refused(exc)[0]["message"]), 502
    return jsonify(pic_url=pic_url, name=file.filename, size=len(data))


@group_welcome_console.get("/group-welcome/<int:template_pk>")
@require_role(*MANAGERS)
@_404_when_missing
def template(template_pk: int):  # noqa: ANN201
    return _render_form(template_pk)


@group_welcome_console.post("/group-welcome/<int:template_pk>")
@require_role(*MANAGERS)
@_404_when_missing
def save_template(template_pk: int):  # noqa: ANN201
    typed = _typed()
    runtime = current_runtime()
    try:
        with runtime.transaction() as db_session:
            welcome.edit_template(db_session=db_session, work=runtime.work, template_pk=template_pk,
                                  changes=_body(typed, creating=False), now=runtime.clock.now())
    except REFUSED as exc:
        return _render_form(template_pk, status=form_status(exc, *CONFLICTS), form=typed, errors=_errors(exc))
    except welcome.WelcomeNotAccepted as exc:
        return _render_form(template_pk, status=502, form=typed, errors=_wecom_refused(exc))
    flash(_("已保存。"))
    return redirect(url_for(".templates"))


@group_welcome_console.post("/group-welcome/<int:template_pk>/delete")
@require_role(*MANAGERS)
@_404_when_missing
def delete_template(template_pk: int):  # noqa: ANN201
    runtime = current_runtime()
    try:
        with runtime.transaction() as db_session:
            welcome.delete_template(db_session=db_session, work=runtime.work, template_pk=template_pk,
                                    now=runtime.clock.now())
    except welcome.WelcomeTemplateInUse as exc:
        return _render_list(status=409, errors=_errors(exc))
    except welcome.WelcomeNotAccepted as exc:
        return _render_list(status=502, errors=_wecom_refused(exc))
    flash(_("已删除。"))
    return redirect(url_for(".templates"))


# ---- reading the form -----------------------------------------------------------------------

def _typed() -> dict[str, str]:
    typed = form_fields(request.form, *FIELDS)
    typed["text"] = request.form.get("text", "")  # kept as typed: line breaks and spaces are the welcome's
    typed["notify"] = "on" if request.form.get("notify") == "on" else ""
    return typed


def _body(typed: dict[str, str], *, creating: bool) -> dict[str, Any]:
    """The form as the API's body: a link when any of its fields is filled."""
    link_fields = {"title": typed["link_title"], "url": typed["link_url"], "desc": typed["link_desc"]}
    body: dict[str, Any] = {"name": typed["name"], "text": typed["text"].replace("\r\n", "\n"),
                            "image_media_id": typed["image_media_id"] or None,
                            "image_pic_url": typed["image_pic_url"] or None,
                            "link": link_fields if any(link_fields.values()) else None}
    if creating:
        body["notify"] = typed["notify"] == "on"
    return body


def _errors(exc: Exception) -> list[dict[str, str]]:
    return [{**e, "field": str(FIELD_WORDS.get(e["field"], e["field"]))} for e in form_errors(exc)]


def _wecom_refused(exc: welcome.WelcomeNotAccepted) -> list[dict[str, str]]:
    errcode = exc.details.get("errcode")
    if errcode is None:
        return [{"field": "", "message": _("企业微信暂时连不上或太忙，没有保存任何改动，请稍后再试。")}]
    return [{"field": "", "message": _("企业微信没有收下（错误码 %(errcode)s：%(errmsg)s），没有保存任何改动。",
                                       errcode=errcode, errmsg=exc.details.get("errmsg", ""))}]


# ---- rendering ------------------------------------------------------------------------------

def _render_list(*, status: int = 200, errors: list[dict[str, str]] | None = None):  # noqa: ANN202
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        rows = [{**welcome.template_json(t), "updated": local_time(t.updated_at, runtime.config.brand.zone)}
                for t in welcome.list_templates(db_session=db_session)]
    return render_template("groups/welcome_templates.html", rows=rows, errors=errors, most=welcome.MAX_TEMPLATES,
                           caller=current_caller()), status


def _render_form(template_pk: int | None, *, status: int = 200, form: dict[str, str] | None = None,
                 errors: list[dict[str, str]] | None = None):  # noqa: ANN202
    if form is None:
        with current_runtime().transaction() as db_session:
            shown = welcome.template_json(welcome.get_template(db_session=db_session, template_pk=template_pk))
        link = shown["link"] or {}
        form = {"name": shown["name"], "text": shown["text"], "image_media_id": shown["image_media_id"] or "",
                "image_pic_url": shown["image_pic_url"] or "",
                "link_title": link.get("title", ""), "link_url": link.get("url", ""), "link_desc": link.get("desc", "")}
    return render_template("groups/welcome_template.html", template_pk=template_pk, form=form, errors=errors,
                           nickname=_("小美"), text_max=welcome.TEXT_MAX_BYTES, caller=current_caller()), status
