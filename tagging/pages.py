"""Console pages for tags, tag rules and audiences (标签、打标签规则、人群), for admins and managers.

Server-rendered forms, usable on a phone, as guides/pages.py does them: GET shows; POST acts
through the same service functions as the JSON API, then redirects with a one-line message
(post/redirect/get). Input the domain refuses re-renders the page with the errors and what
was typed, and changes nothing: 422 for invalid input, 409 for a conflict (a name taken, a
computed group, which only the recompute job writes). An id in the path that does not exist
is a 404; one chosen in a form is bad input (422). What a page shows is read by
tagging/console_views.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from scrm.errors import InvalidInput
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime
from scrm.web.auth import current_caller, require_role
from scrm.web.forms import form_errors, form_fields, form_status, not_found_as_404
from tagging import console_views, rules, service
from tagging import routes as tag_routes
from tagging.models import RULE_KINDS
from tagging.schemas import GroupChanges, GroupIn, TagIn, parse, parse_rule
from tagging.segments import pages as segment_pages

if TYPE_CHECKING:
    from werkzeug.datastructures import MultiDict

tag_console = Blueprint("tag_console", __name__, template_folder="templates", url_prefix="/console")
# The audience page's live count: the API's, reached with the console's session (/api/ takes
# Bearer tokens only).
tag_console.add_url_rule("/audience/count", "audience_count", tag_routes.audience)

_SYNONYM_SEPARATORS = (",", "，", "、", ";", "；", "\n")


_404_when_missing = not_found_as_404(service.NotFoundError, rules.TagRuleNotFound)


# ---- tag groups and tags --------------------------------------------------------------------

@tag_console.get("/tags")
@require_role(*MANAGERS)
def tags():  # noqa: ANN201
    return _render_tags()


@tag_console.post("/tag-groups")
@require_role(*MANAGERS)
def create_group():  # noqa: ANN201
    form = form_fields(request.form, "name", "half_life_days", "threshold")
    try:
        group_in = parse(GroupIn, _decay(form, name=form["name"]))
        with current_runtime().transaction() as db_session:
            service.create_group(db_session=db_session, group_in=group_in)
    except (InvalidInput, service.ConflictError) as exc:
        return _render_tags(status=form_status(exc, service.ConflictError), group_form=form, group_errors=form_errors(exc))
    flash(_("分组 %(name)s 已创建。", name=group_in.name))
    return redirect(url_for(".tags"))


@tag_console.post("/tag-groups/<int:group_id>")
@require_role(*MANAGERS)
@_404_when_missing
def update_group(group_id: int):  # noqa: ANN201
    form = form_fields(request.form, "half_life_days", "threshold")
    runtime = current_runtime()
    try:
        changes = parse(GroupChanges, _decay(form, change=True))
        with runtime.transaction() as db_session:
            group = service.update_group(db_session=db_session, group_id=group_id, changes=changes,
                                         now=runtime.clock.now())
    except (InvalidInput, service.ConflictError) as exc:
        return _render_tags(status=form_status(exc, service.ConflictError), edit_group=group_id, edit_form=form, edit_errors=form_errors(exc))
    flash(_("分组 %(name)s 已保存，顾客的分数正在重算。", name=group.name))
    return redirect(url_for(".tags", _anchor=f"group-{group_id}"))


@tag_console.post("/tags")
@require_role(*MANAGERS)
def create_tag():  # noqa: ANN201
    form = form_fields(request.form, "group", "name")
    try:
        group_id = _id(form["group"])
        if group_id is None:
            raise InvalidInput("group", _("选择分组"))
        tag_in = parse(TagIn, {"group": group_id, "name": form["name"]})
        with current_runtime().transaction() as db_session:
            _tag, group = service.create_tag(db_session=db_session, tag_in=tag_in)
    except (InvalidInput, service.ConflictError, service.NotFoundError) as exc:
        # A group missing from the form's choices is bad input here, not a missing page.
        return _render_tags(status=form_status(exc, service.ConflictError), tag_form=form, tag_errors=form_errors(exc))
    flash(_("标签 %(tag)s 已创建。", tag=f"{group.name}:{tag_in.name}"))
    return redirect(url_for(".tags", _anchor=f"group-{group.id}"))


@tag_console.post("/tags/<int:tag_id>/delete")
@require_role(*MANAGERS)
@_404_when_missing
def delete_tag(tag_id: int):  # noqa: ANN201
    runtime = current_runtime()
    try:
        _confirmed(request.form)
        with runtime.transaction() as db_session:
            service.delete_tag(db_session=db_session, redis=runtime.redis, tag_id=tag_id)
    except (InvalidInput, service.ConflictError) as exc:
        return _render_tags(status=form_status(exc, service.ConflictError), delete_tag=tag_id, delete_errors=form_errors(exc))
    flash(_("标签已删除，连同它的规则和每位顾客在它上面的分数。"))
    return redirect(url_for(".tags"))


def _render_tags(*, status: int = 200, **state: Any):  # noqa: ANN202
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        page = console_views.tags_page(db_session=db_session, now=runtime.clock.now())
    # A tag or group named in the path that does not exist: 404 rather than a page about nothing.
    if "delete_tag" in state and not any(t.id == state["delete_tag"] for g in page.groups for t in g.tags):
        abort(404)
    if "edit_group" in state and not any(g.id == state["edit_group"] for g in page.groups):
        abort(404)
    return render_template("console/tags.html", caller=current_caller(), page=page,
                           one_firing_of=console_views.one_firing_of, **state), status


# ---- tag rules ------------------------------------------------------------------------------

@tag_console.get("/tag-rules")
@require_role(*MANAGERS)
def tag_rules():  # noqa: ANN201
    text = request.args.get("text")
    if text is None:
        return _render_rules()
    text = text.strip()
    if not text:
        return _render_rules(status=422, try_errors=form_errors(InvalidInput("text", _("输入一条消息"))))
    if len(text) > console_views.TRY_MAX_CHARS:
        return _render_rules(status=422, try_text=text, try_errors=form_errors(
            InvalidInput("text", _("最多 %(count)s 个字，和一条微信消息一样", count=console_views.TRY_MAX_CHARS))))
    runtime = current_runtime()
    book = rules.rulebook(runtime)
    with runtime.transaction() as db_session:
        trial = console_views.try_message(db_session=db_session, book=book, text=text, now=runtime.clock.now(),
                                          zone=runtime.config.brand.zone)
    return _render_rules(try_text=text, trial=trial)


@tag_console.get("/tags/one-firing")
@require_role(*MANAGERS)
def one_firing():  # noqa: ANN201
    """How long one firing keeps a tag, for a form as it is typed: ``weight`` (blank: the
    default) with a tag's group (``tag_id``) or a group's ``half_life_days`` and ``threshold``."""
    args = {name: request.args.get(name) for name in ("weight", "half_life_days", "threshold")}
    tag_id = _id(request.args.get("tag_id"))
    if tag_id is not None:
        with current_runtime().transaction() as db_session:
            tag = console_views.tag_choice(db_session=db_session, tag_id=tag_id)
        if tag is None or tag.computed:
            return jsonify(error=_("没有规则能打的这个标签")), 404
        args.update(half_life_days=tag.half_life_days, threshold=tag.threshold)
    firing = console_views.one_firing_of(**args, say_weight=tag_id is None)  # a group's: at the default weight
    if firing is None:
        return jsonify(error=_("权重、半衰期、阈值须为大于 0 的数")), 422
    return jsonify(text=firing.text, warn=firing.warn)


@tag_console.post("/tag-rules")
@require_role(*MANAGERS)
def create_rule():  # noqa: ANN201
    form = form_fields(request.form, "kind", "pattern", "synonyms", "tag_id", "weight")
    form["substring"] = "1" in request.form.getlist("substring")
    runtime = current_runtime()
    try:
        rule_in = parse_rule(_rule_input(form))
        with runtime.transaction() as db_session:
            rule = rules.create_rule(db_session=db_session, redis=runtime.redis, rule_in=rule_in)
    except (InvalidInput, rules.TagNotFound) as exc:
        errors = [{"field": "tag_id", "message": str(exc)}] if isinstance(exc, rules.TagNotFound) else form_errors(exc)
        return _render_rules(status=422, rule_form=form, rule_errors=errors)
    flash(_("规则 #%(id)s 已创建：%(kind)s %(pattern)s。", id=rule.id, kind=rule.kind, pattern=rule.pattern))
    return redirect(url_for(".tag_rules", **_carried_filters(), _anchor=f"rule-{rule.id}"))


@tag_console.post("/tag-rules/<int:rule_id>/enabled")
@require_role(*MANAGERS)
@_404_when_missing
def set_rule_enabled(rule_id: int):  # noqa: ANN201
    enabled = request.form.get("enabled") == "1"
    runtime = current_runtime()
    try:
        with runtime.transaction() as db_session:
            rules.update_rule(db_session=db_session, redis=runtime.redis, rule_id=rule_id,
                              changes={"enabled": enabled})
    except InvalidInput as exc:  # a rule stored before today's validation; the API reports the same
        return _render_rules(status=422, rule_action=rule_id, action_errors=form_errors(exc))
    flash(_("规则 #%(id)s 已启用。", id=rule_id) if enabled else _("规则 #%(id)s 已停用。", id=rule_id))
    return redirect(url_for(".tag_rules", **_carried_filters(), _anchor=f"rule-{rule_id}"))


@tag_console.post("/tag-rules/<int:rule_id>/delete")
@require_role(*MANAGERS)
@_404_when_missing
def delete_rule(rule_id: int):  # noqa: ANN201
    runtime = current_runtime()
    try:
        _confirmed(request.form)
        with runtime.transaction() as db_session:
            rules.delete_rule(db_session=db_session, redis=runtime.redis, rule_id=rule_id)
    except InvalidInput as exc:
        return _render_rules(status=422, rule_action=rule_id, action_errors=form_errors(exc))
    flash(_("规则 #%(id)s 已删除。", id=rule_id))
    return redirect(url_for(".tag_rules", **_carried_filters()))


def _render_rules(*, status: int = 200, **state: Any):  # noqa: ANN202
    filters = _filters(request.args.get("kind"), request.args.get("tag_id"))
    with current_runtime().transaction() as db_session:
        page = console_views.rules_page(db_session=db_session, kind=filters.get("kind"), tag_id=filters.get("tag_id"))
    # A rule named in the path that does not exist: 404 rather than a page about nothing.
    if "rule_action" in state and not any(r.id == state["rule_action"] for r in page.rules):
        abort(404)
    return render_template("console/tag_rules.html", caller=current_caller(), page=page, filters=filters,
                           one_firing_of=console_views.one_firing_of, **state), status


# ---- audiences ------------------------------------------------------------------------------

@tag_console.get("/audience")
@require_role(*MANAGERS)
def audience():  # noqa: ANN201
    """The builder and the saved segments (tagging/segments/pages.py); with ``?expr=`` (the form
    submitted without script) the count is rendered here, and a bad expression answers 422
    with the character it points at marked."""
    return segment_pages.render_audience(request.args.get("expr"))


# ---- form input -----------------------------------------------------------------------------

def _number(raw: str) -> float | str:
    """A number, or the text as typed so validation names the field ("must be a number")."""
    try:
        return float(raw)
    except ValueError:
        return raw


def _decay(form: dict[str, Any], *, change: bool = False, **data: Any) -> dict[str, Any]:
    """Half-life and threshold, typed for GroupIn or (``change``) GroupChanges. A blank
    half-life means scores never decay; a blank threshold takes the default (1) on a new
    group and is refused on a change (GroupChanges says it must be a number)."""
    for name in ("half_life_days", "threshold"):
        if form[name] or change:
            data[name] = _number(form[name]) if form[name] else None
    return data


def _id(raw: str | None) -> int | None:
    """A row id typed in a form or a query; None when it is not one."""
    return int(raw) if raw and raw.isdecimal() and len(raw) < 12 else None


def _rule_input(form: dict[str, Any]) -> dict[str, Any]:
    """The form as TagRuleIn takes it: synonyms split on commas (either width), 、, ; or new
    lines; a blank weight takes the default (2)."""
    synonyms = form["synonyms"]
    for separator in _SYNONYM_SEPARATORS:
        synonyms = synonyms.replace(separator, "\n")
    data: dict[str, Any] = {
        "kind": form["kind"],
        "pattern": form["pattern"],
        "tag_id": form["tag_id"] if _id(form["tag_id"]) is None else _id(form["tag_id"]),
        "synonyms": [s.strip() for s in synonyms.split("\n") if s.strip()],
        "substring": form["substring"],
    }
    if form["weight"]:
        data["weight"] = _number(form["weight"])
    return data


def _filters(kind: str | None, tag_id: str | None) -> dict[str, Any]:
    """The rule list's filters (from the query, or carried through a form as ``filter_*``);
    unknown values are dropped rather than refused: a filter never makes a page fail."""
    filters: dict[str, Any] = {}
    if kind in RULE_KINDS:
        filters["kind"] = kind
    if _id(tag_id) is not None:
        filters["tag_id"] = _id(tag_id)
    return filters


def _carried_filters() -> dict[str, Any]:
    return _filters(request.form.get("filter_kind"), request.form.get("filter_tag_id"))


def _confirmed(form: MultiDict[str, str]) -> None:
    if form.get("confirm") != "1":
        raise InvalidInput("confirm", _("勾选确认"))
