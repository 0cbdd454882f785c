"""Console pages for campaigns (活动) and journeys (旅程), for admins and managers: the list
with each campaign's counts and "new from a journey" buttons; the editor (name, audience with
its live count, channel and fallbacks, content, coupon, schedule, cap policy, variants and
holdout); launch, pause, cancel; the results with their charts, and the results page
(``/console/campaigns/<id>/results``): every delivery's outcome and reason, refreshing itself
while the campaign runs.

Server-rendered forms, as scrm/coupons/pages.py does them: GET shows; POST acts through the
same service functions as the JSON API (scrm/outreach/routes.py), then redirects with a
one-line message. Input the domain refuses re-renders the page with the errors and what was
typed, and changes nothing: 422 for invalid input, 409 for a campaign that cannot do that now.
The audience count is live in the browser (the page posts to ``/console/campaigns/preview``,
the API's preview reached with the console's session and CSRF token, since ``/api/`` takes
Bearer tokens only); without script, the editor's 计算 Count button counts on the server.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from scrm.errors import InvalidInput
from scrm.outreach import campaigns, console_views, editor, journeys, results_reasons, routes
from scrm.outreach.models import CHANNELS, Campaign
from scrm.outreach.schemas import TRIGGERS, AudienceIn, CampaignIn, parse, preview_json
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime
from scrm.web.auth import current_caller, require_role
from scrm.web.forms import form_errors, form_status, not_found_as_404

campaign_console = Blueprint("campaign_console", __name__, template_folder="templates", url_prefix="/console")

REFUSED = (InvalidInput, campaigns.CampaignFieldRefused, campaigns.CampaignRefused)
ACTIONS = {"launch": "已启动 · launched.", "pause": "已暂停 · paused.", "cancel": "已取消 · cancelled."}

_404_when_missing = not_found_as_404(campaigns.CampaignNotFound)

campaign_console.add_url_rule("/campaigns/preview", "preview_audience", routes.preview_audience, methods=["POST"])
# The results page polls this (the API's results, reached with the console's session) while the campaign runs.
campaign_console.add_url_rule("/campaigns/<int:campaign_id>/results.json", "results_json", routes.campaign_results)


@campaign_console.get("/campaigns")
@require_role(*MANAGERS)
def campaign_list():  # noqa: ANN201
    return _render_list()


@campaign_console.post("/journeys/<key>")
@require_role(*MANAGERS)
def start_journey(key: str):  # noqa: ANN201
    if key not in journeys.BY_KEY:
        abort(404)
    template = request.form.get("coupon_template_id", "").strip()
    runtime = current_runtime()
    try:
        coupon = int(template) if template else None
        with runtime.transaction() as db_session:
            campaign = journeys.start_journey(db_session=db_session, key=key, at=runtime.clock.now(),
                                              coupon_template_id=coupon)
            campaign_id = campaign.id
    except (ValueError, *REFUSED) as exc:
        errors = form_errors(_as_input(exc))
        return _render_list(status=422, journey=key, journey_errors=errors)
    flash(f"草稿已创建 · draft created from the journey {journeys.BY_KEY[key].name}: edit it, then launch.")
    return redirect(url_for(".campaign", campaign_id=campaign_id))


@campaign_console.get("/campaigns/new")
@require_role(*MANAGERS)
def new_campaign():  # noqa: ANN201
    return _render_editor(None, form=editor.blank_form())


@campaign_console.post("/campaigns/new")
@require_role(*MANAGERS)
def create_campaign():  # noqa: ANN201
    form = editor.read_form(request.form.to_dict(flat=False))
    if request.form.get("action") == "count":
        return _render_editor(None, form=form, count=_count(form))
    runtime = current_runtime()
    try:
        campaign_in = _parsed(form)
        with runtime.transaction() as db_session:
            campaign_id = campaigns.create_campaign(db_session=db_session, campaign_in=campaign_in,
                                                    at=runtime.clock.now()).id
    except REFUSED as exc:
        return _render_editor(None, status=form_status(exc, campaigns.CampaignRefused), form=form,
                              errors=form_errors(_as_input(exc)))
    flash(f"草稿 {campaign_in.name} 已保存 · draft saved: preview the audience, then launch.")
    return redirect(url_for(".campaign", campaign_id=campaign_id))


@campaign_console.get("/campaigns/<int:campaign_id>")
@require_role(*MANAGERS)
@_404_when_missing
def campaign(campaign_id: int):  # noqa: ANN201
    return _render_editor(campaign_id)


@campaign_console.post("/campaigns/<int:campaign_id>")
@require_role(*MANAGERS)
@_404_when_missing
def update_campaign(campaign_id: int):  # noqa: ANN201
    form = editor.read_form(request.form.to_dict(flat=False))
    if request.form.get("action") == "count":
        return _render_editor(campaign_id, form=form, count=_count(form))
    runtime = current_runtime()
    try:
        campaign_in = _parsed(form)
        with runtime.transaction() as db_session:
            campaigns.update_draft(db_session=db_session, campaign_id=campaign_id, campaign_in=campaign_in,
                                   now=runtime.clock.now())
    except REFUSED as exc:
        return _render_editor(campaign_id, status=form_status(exc, campaigns.CampaignRefused), form=form,
                              errors=form_errors(_as_input(exc)))
    flash("已保存 · saved.")
    return redirect(url_for(".campaign", campaign_id=campaign_id))


@campaign_console.post("/campaigns/<int:campaign_id>/<any(launch, pause, cancel):action>")
@require_role(*MANAGERS)
@_404_when_missing
def move_campaign(campaign_id: int, action: str):  # noqa: ANN201
    runtime = current_runtime()
    try:
        with runtime.transaction() as db_session:
            if action == "launch":
                campaigns.launch(runtime=runtime, db_session=db_session, campaign_id=campaign_id)
            else:
                status = "paused" if action == "pause" else "cancelled"
                campaigns.set_status(db_session=db_session, campaign_id=campaign_id, status=status)
    except campaigns.CampaignRefused as exc:
        return _render_editor(campaign_id, status=409, action_errors=form_errors(exc))
    flash(ACTIONS[action])
    return redirect(url_for(".campaign", campaign_id=campaign_id))


@campaign_console.get("/campaigns/<int:campaign_id>/results")
@require_role(*MANAGERS)
@_404_when_missing
def campaign_results(campaign_id: int):  # noqa: ANN201
    """What became of every delivery and why; it updates itself while the campaign runs."""
    runtime = current_runtime()
    days = min(max(request.args.get("days", 7, type=int) or 7, 1), 90)
    with runtime.transaction() as db_session:
        found = _detached(campaigns.get_campaign(db_session=db_session, campaign_id=campaign_id))
        shown = console_views.results_view(db_session=db_session, campaign_id=campaign_id, days=days,
                                           now=runtime.clock.now())
    return render_template("outreach/results.html", caller=current_caller(), campaign=found, shown=shown,
                           zone=runtime.config.brand.zone, live=found.status in console_views.LIVE_STATUSES,
                           live_statuses=console_views.LIVE_STATUSES, status_words=console_views.STATUS_WORDS,
                           outcome_words=results_reasons.OUTCOME_WORDS, when=results_reasons.when)


# ---- rendering ------------------------------------------------------------------------------

def _render_list(*, status: int = 200, **state: Any):  # noqa: ANN202
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        page = console_views.list_page(config=runtime.config, db_session=db_session)
    return render_template("outreach/campaigns.html", caller=current_caller(), page=page, **state), status


def _render_editor(campaign_id: int | None, *, status: int = 200, form: dict[str, Any] | None = None,
                   **state: Any):  # noqa: ANN202
    runtime = current_runtime()
    days = request.args.get("days", 7, type=int) or 7
    with runtime.transaction() as db_session:
        found: Campaign | None = None
        shown = None
        if campaign_id is not None:
            found = campaigns.get_campaign(db_session=db_session, campaign_id=campaign_id)
            shown = console_views.results_view(db_session=db_session, campaign_id=campaign_id, days=min(max(days, 1), 90))
            if form is None:
                form = editor.form_of(found, runtime.config.brand.timezone)
            found = _detached(found)
        choices = console_views.choices(db_session)
    return render_template("outreach/editor.html", caller=current_caller(), campaign=found, form=form,
                           choices=choices, shown=shown, channels=CHANNELS, triggers=TRIGGERS,
                           next_run=console_views.local_time(runtime.config, found.next_run_at) if found else "",
                           **state), status


def _detached(campaign: Campaign) -> Any:
    return SimpleNamespace(id=campaign.id, name=campaign.name, status=campaign.status,
                           next_run_at=campaign.next_run_at, schedule_text=console_views.schedule_text(campaign))


def _parsed(form: dict[str, Any]) -> CampaignIn:
    return parse(CampaignIn, editor.body_of(form, current_runtime().config.brand.timezone), what="campaign")


def _count(form: dict[str, Any]) -> dict[str, Any]:
    """The audience counted on the server (the editor without script): count, sample or errors."""
    runtime = current_runtime()
    try:
        audience = parse(AudienceIn, editor.audience_of(form), what="audience").model_dump()
        with runtime.transaction() as db_session:
            campaigns.check_audience(db_session=db_session, audience=audience, now=runtime.clock.now())
            found = campaigns.preview(db_session=db_session, campaign=Campaign(audience=audience),
                                      now=runtime.clock.now())
            return preview_json(found, runtime.config.brand.locale)
    except (InvalidInput, campaigns.BadAudience) as exc:
        return {"errors": form_errors(_as_input(exc))}


def _as_input(exc: Exception) -> Exception:
    """Domain refusals as field errors: the audience field, the coupon template."""
    if isinstance(exc, campaigns.CampaignFieldRefused):
        return InvalidInput(exc.field, exc.reason)
    if isinstance(exc, ValueError) and not isinstance(exc, InvalidInput):
        return InvalidInput("coupon_template_id", "choose a coupon template")
    return exc
