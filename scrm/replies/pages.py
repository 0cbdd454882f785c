"""Console pages for automatic replies (自动回复) and the Official Account's menu (自定义菜单),
for admins and managers: the reply rules (list, create, edit, enable/disable, delete; exact or
contains keywords, priority, a text or a one-article reply; the default reply), the follow
greeting (关注回复) and the menu (3 buttons of up to 5 sub-buttons, saved, then published to
WeChat by a queued job whose outcome the page shows).

Server-rendered forms as scrm/coupons/pages.py does them: GET shows; POST acts through the same
service functions as the JSON API (scrm/replies/routes.py), then redirects with a one-line
message. Input the domain refuses re-renders the page with the errors and what was typed, and
changes nothing: 422 for invalid input, 409 for a conflict (a second enabled follow greeting or
default reply). A follow greeting of several articles is made through the API; the form edits
the first.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from scrm.replies import console_views, service
from scrm.replies import menu as menu_service
from scrm.replies.models import ReplyRule
from scrm.replies.schemas import InvalidRule, parse_rule
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime
from scrm.web.auth import current_caller, require_role
from scrm.web.forms import form_errors, form_status, not_found_as_404

reply_console = Blueprint("reply_console", __name__, template_folder="templates", url_prefix="/console")

REFUSED = (InvalidRule, service.RuleConflict)
_404_when_missing = not_found_as_404(service.RuleNotFound)


# ---- reply rules ----------------------------------------------------------------------------

@reply_console.get("/reply-rules")
@require_role(*MANAGERS)
def rules():  # noqa: ANN201
    return _render_rules()


@reply_console.post("/reply-rules")
@require_role(*MANAGERS)
def create_rule():  # noqa: ANN201
    typed = console_views.read_rule_form(request.form)
    runtime = current_runtime()
    try:
        rule_in = parse_rule(console_views.rule_input(typed))
        with runtime.transaction() as db_session:
            service.create_rule(db_session=db_session, redis=runtime.redis, rule_in=rule_in)
    except REFUSED as exc:
        return _render_rules(status=form_status(exc, service.RuleConflict), form=typed, errors=form_errors(exc))
    flash(_("回复规则已创建。"))
    return redirect(url_for(".rules"))


@reply_console.get("/reply-rules/<int:rule_id>")
@require_role(*MANAGERS)
@_404_when_missing
def rule(rule_id: int):  # noqa: ANN201
    return _render_rule(rule_id)


@reply_console.post("/reply-rules/<int:rule_id>")
@require_role(*MANAGERS)
@_404_when_missing
def update_rule(rule_id: int):  # noqa: ANN201
    typed = console_views.read_rule_form(request.form)
    runtime = current_runtime()
    try:
        changes = console_views.rule_input(typed)
        with runtime.transaction() as db_session:
            service.update_rule(db_session=db_session, redis=runtime.redis, rule_id=rule_id, changes=changes)
    except REFUSED as exc:
        return _render_rule(rule_id, status=form_status(exc, service.RuleConflict), form=typed,
                            errors=form_errors(exc))
    flash(_("已保存。"))
    return redirect(url_for(".rules"))


@reply_console.post("/reply-rules/<int:rule_id>/switch")
@require_role(*MANAGERS)
@_404_when_missing
def switch_rule(rule_id: int):  # noqa: ANN201
    """Enable (``enabled=on``) or disable (anything else) a rule."""
    enable = request.form.get("enabled") == "on"
    runtime = current_runtime()
    try:
        with runtime.transaction() as db_session:
            service.update_rule(db_session=db_session, redis=runtime.redis, rule_id=rule_id,
                                changes={"enabled": enable})
    except REFUSED as exc:
        return _render_rules(status=form_status(exc, service.RuleConflict), list_errors=form_errors(exc))
    flash(_("已启用。") if enable else _("已停用。"))
    return redirect(url_for(".rules"))


@reply_console.post("/reply-rules/<int:rule_id>/delete")
@require_role(*MANAGERS)
@_404_when_missing
def delete_rule(rule_id: int):  # noqa: ANN201
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        service.delete_rule(db_session=db_session, redis=runtime.redis, rule_id=rule_id)
    flash(_("已删除。"))
    return redirect(url_for(".rules"))


# ---- the follow greeting ----------------------------------------------------------------------

@reply_console.get("/follow-greeting")
@require_role(*MANAGERS)
def follow_greeting():  # noqa: ANN201
    return _render_greeting()


@reply_console.post("/follow-greeting")
@require_role(*MANAGERS)
def save_follow_greeting():  # noqa: ANN201
    typed = console_views.read_rule_form(request.form)
    runtime = current_runtime()
    try:
        data = console_views.rule_input(typed, match="follow")
        with runtime.transaction() as db_session:
            existing = _greeting(db_session)
            if existing is None:
                service.create_rule(db_session=db_session, redis=runtime.redis, rule_in=parse_rule(data))
            else:
                service.update_rule(db_session=db_session, redis=runtime.redis, rule_id=existing.id, changes=data)
    except REFUSED as exc:
        return _render_greeting(status=form_status(exc, service.RuleConflict), form=typed, errors=form_errors(exc))
    flash(_("关注回复已保存。"))
    return redirect(url_for(".follow_greeting"))


# ---- the menu -------------------------------------------------------------------------------

@reply_console.get("/menu")
@require_role(*MANAGERS)
def menu():  # noqa: ANN201
    return _render_menu()


@reply_console.post("/menu")
@require_role(*MANAGERS)
def save_menu():  # noqa: ANN201
    typed = console_views.read_menu_form(request.form)
    publish = request.form.get("action") == "publish"
    runtime = current_runtime()
    try:
        buttons = console_views.menu_buttons(typed)
        with runtime.transaction() as db_session:
            menu_service.save_menu(db_session=db_session, buttons=buttons)
            if publish:
                menu_service.request_publish(db_session=db_session)
    except menu_service.InvalidMenu as exc:
        return _render_menu(status=422, form=typed, errors=form_errors(exc))
    flash(_("菜单已保存，正在发布到微信。") if publish else _("菜单已保存，尚未发布。"))
    return redirect(url_for(".menu"))


@reply_console.post("/menu/publish")
@require_role(*MANAGERS)
def publish_menu():  # noqa: ANN201
    runtime = current_runtime()
    try:
        with runtime.transaction() as db_session:
            menu_service.request_publish(db_session=db_session)
    except menu_service.MenuNotSaved as exc:
        return _render_menu(status=409, errors=form_errors(exc))
    flash(_("正在发布到微信。"))
    return redirect(url_for(".menu"))


# ---- rendering ------------------------------------------------------------------------------

def _greeting(db_session: Any) -> ReplyRule | None:
    """The enabled follow greeting, else the newest one."""
    return db_session.scalar(select(ReplyRule).where(ReplyRule.match == "follow")
                             .order_by(ReplyRule.enabled.desc(), ReplyRule.id.desc()).limit(1))


def _render(template: str, status: int, **state: Any):  # noqa: ANN202
    return render_template(template, caller=current_caller(), views=console_views, **state), status


def _render_rules(*, status: int = 200, form: dict[str, Any] | None = None, **state: Any):  # noqa: ANN202
    with current_runtime().transaction() as db_session:
        listed = [r for r in service.list_rules(db_session=db_session) if r.match != "follow"]
        listed.sort(key=lambda r: (r.match == "default", -r.priority, r.id))
        return _render("replies/rules.html", status, rules=listed, form=form or console_views.rule_form(None),
                       **state)


def _render_rule(rule_id: int, *, status: int = 200, form: dict[str, Any] | None = None, **state: Any):  # noqa: ANN202
    with current_runtime().transaction() as db_session:
        found = service.get_rule(db_session=db_session, rule_id=rule_id)
        return _render("replies/rule.html", status, rule=found, form=form or console_views.rule_form(found), **state)


def _render_greeting(*, status: int = 200, form: dict[str, Any] | None = None, **state: Any):  # noqa: ANN202
    with current_runtime().transaction() as db_session:
        found = _greeting(db_session)
        return _render("replies/follow.html", status, rule=found,
                       form=form or console_views.rule_form(found, match="follow"), **state)


def _render_menu(*, status: int = 200, form: dict[str, str] | None = None, **state: Any):  # noqa: ANN202
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        saved = menu_service.current_menu(db_session=db_session)
        buttons = saved.buttons if saved else menu_service.default_buttons(runtime.config.coupons.menu_key)
        return _render("replies/menu.html", status, saved=saved, form=form or console_views.menu_form(buttons),
                       coupons_key=runtime.config.coupons.menu_key, timezone=runtime.config.brand.zone, **state)
