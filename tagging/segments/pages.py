"""The console's saved segments (人群), shown on the audience page (tagging/pages.py): save the
expression in the box under a name, change or rename one, delete one. Forms, no script needed;
post/redirect/get with a one-line message. A refusal re-renders the audience page with the
errors beside the form and what was typed, and changes nothing: 422 for a bad name or
expression (a cycle included), 409 for a name taken or a segment in use."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from guides.audience_places import PLACES, builder_choices
from scrm.clock import as_utc
from scrm.errors import InvalidInput
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime
from scrm.web.auth import current_caller, require_role
from scrm.web.forms import form_errors, form_fields, form_status, not_found_as_404
from tagging import console_views
from tagging.audience import AudienceError
from tagging.computed import LIFECYCLE_GROUP
from tagging.models import Segment
from tagging.segments import service
from tagging.segments.routes import campaigns_naming, term_of
from tagging.segments.service import SegmentChanges, SegmentConflict, SegmentIn, SegmentNotFound, parse_input

segment_console = Blueprint("segment_console", __name__, url_prefix="/console")
_404_when_missing = not_found_as_404(SegmentNotFound)
_REFUSED = (InvalidInput, AudienceError, SegmentConflict)


def render_audience(text: str | None, *, status: int = 200, **state: Any):  # noqa: ANN201
    """The audience page: the expression box (with ``text`` counted), the builder, the segments."""
    runtime = current_runtime()
    now = runtime.clock.now()
    with runtime.transaction() as db_session:
        page = console_views.audience_page(db_session=db_session, now=now, text=text)
        segments = service.list_segments(db_session=db_session, now=now, places=PLACES)
        places = builder_choices(db_session)
    if status == 200 and page.result is not None and page.result.error:
        status = 422
    zone = runtime.config.brand.zone
    return render_template("console/audience.html", caller=current_caller(), page=page, segments=segments,
                           term_of=term_of, local=lambda at: as_utc(at).astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                           builder=_builder(page, segments, places), **state), status


def _builder(page: console_views.AudiencePage, segments: list[service.Counted],
             places: dict[str, list[dict[str, str]]]) -> dict[str, Any]:
    """What the condition builder offers (as JSON for its script): tags by group, the lifecycle
    stages (the computed 生命周期 group) apart, stores, guides and the saved segments."""
    groups = [{"name": group.name, "tags": [{"name": tag.name, "term": tag.term} for tag in group.tags]}
              for group in page.groups if group.tags]
    lifecycle = [group for group in groups if group["name"] == LIFECYCLE_GROUP]
    return {
        "tags": [group for group in groups if group["name"] != LIFECYCLE_GROUP],
        "lifecycle": lifecycle[0]["tags"] if lifecycle else [],
        **places,
        "segments": [{"name": entry.segment.name, "term": term_of(entry.segment.name)} for entry in segments],
    }


@segment_console.post("/segments")
@require_role(*MANAGERS)
def create_segment():  # noqa: ANN201
    form = form_fields(request.form, "name", "expr")
    runtime = current_runtime()
    try:
        segment_in = parse_input(SegmentIn, form)
        with runtime.transaction() as db_session:
            segment = service.create_segment(db_session=db_session, segment_in=segment_in,
                                             by=current_caller().name, now=runtime.clock.now(), places=PLACES)
            name = segment.name
    except _REFUSED as exc:
        return render_audience(form["expr"] or None, status=form_status(exc, SegmentConflict),
                               save_form=form, save_errors=_errors(exc))
    flash(_("人群「%(name)s」已保存，在表达式中写作 %(term)s。", name=name, term=term_of(name)))
    return redirect(url_for("tag_console.audience", expr=term_of(name), _anchor="segments"))


@segment_console.post("/segments/<int:segment_id>")
@require_role(*MANAGERS)
@_404_when_missing
def update_segment(segment_id: int):  # noqa: ANN201
    form = form_fields(request.form, "name", "expr")
    runtime = current_runtime()
    try:
        changes = parse_input(SegmentChanges, form)
        with runtime.transaction() as db_session:
            segment = service.update_segment(db_session=db_session, segment_id=segment_id, changes=changes,
                                             by=current_caller().name, now=runtime.clock.now(),
                                             named_elsewhere=campaigns_naming(db_session, segment_id),
                                             places=PLACES)
            name = segment.name
    except _REFUSED as exc:
        return render_audience(None, status=form_status(exc, SegmentConflict), edit_id=segment_id, edit_form=form,
                               edit_errors=_errors(exc))
    flash(_("人群「%(name)s」已更新。", name=name))
    return redirect(url_for("tag_console.audience", _anchor=f"segment-{segment_id}"))


@segment_console.post("/segments/<int:segment_id>/delete")
@require_role(*MANAGERS)
@_404_when_missing
def delete_segment(segment_id: int):  # noqa: ANN201
    runtime = current_runtime()
    try:
        if request.form.get("confirm") != "1":
            raise InvalidInput("confirm", _("请勾选确认"))
        with runtime.transaction() as db_session:
            name = db_session.get(Segment, segment_id).name if db_session.get(Segment, segment_id) else None
            service.delete_segment(db_session=db_session, segment_id=segment_id,
                                   named_elsewhere=campaigns_naming(db_session, segment_id))
    except _REFUSED as exc:
        return render_audience(None, status=form_status(exc, SegmentConflict), edit_id=segment_id,
                               delete_errors=_errors(exc))
    flash(_("人群「%(name)s」已删除。", name=name))
    return redirect(url_for("tag_console.audience", _anchor="segments"))


def _errors(exc: Exception) -> list[dict[str, str]]:
    if isinstance(exc, AudienceError):
        return [{"field": "expr", "message": exc.message}]
    if isinstance(exc, SegmentConflict) and exc.code == "name_taken":
        return [{"field": "name", "message": _("已有同名的人群")}]
    if isinstance(exc, SegmentConflict):
        return [{"field": "", "message": _("正被使用，不能改名或删除：%(users)s",
                                         users="、".join(exc.details.get("used_by", [])))}]
    return form_errors(exc)
