"""Console pages for campaigns (活动) and journeys (旅程), for admins and managers: the list
with each campaign's counts and "new from a journey" buttons; the composer (SPEC §11
"Campaign composer": audience and channel with WeChat's rule and live numbers, the chosen
content kind's fields with a phone preview, when to send chosen with pickers); the
confirmation that names how many customers will be reached, then launch; pause, cancel; and
the results page (``/console/campaigns/<id>/results``): every delivery's outcome and reason in
words, refreshing itself while the campaign runs.

Server-rendered forms, as scrm/coupons/pages.py does them: GET shows; POST acts through the
same service functions as the JSON API (scrm/outreach/routes.py), then redirects with a
one-line message. Input the domain refuses re-renders the page with the errors and what was
typed, and changes nothing: 422 for invalid input, 409 for a campaign that cannot do that now.
The composer's script asks ``/console/campaigns/reach`` for the live numbers and uploads images
to ``/console/campaigns/media`` (both with the console's session and CSRF token, since
``/api/`` takes Bearer tokens only); without script, its 计算 button counts on the server.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from scrm.errors import InvalidInput
from scrm.outreach import campaigns, composer, console_views, editor, journeys, results_reasons, routes
from scrm.outreach.models import CHANNELS, Campaign
from scrm.outreach.schemas import TRIGGERS, AudienceIn, CampaignIn, parse, preview_json
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime, json_object
from scrm.web.auth import current_caller, require_role
from scrm.web.forms import form_errors, form_status, not_found_as_404
from scrm.wechat.errors import WeChatError

campaign_console = Blueprint("campaign_console", __name__, template_folder="templates", url_prefix="/console")

REFUSED = (InvalidInput, campaigns.CampaignFieldRefused, campaigns.CampaignRefused)
# Which composer step holds a field, so a refused form opens on the step to fix.
STEP_OF = (("content", 2), ("coupon", 2), ("variants", 2), ("holdout", 2), ("schedule", 3))

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
    flash(_("已从旅程“%(name)s”创建草稿：修改后即可启动。", name=console_views.JOURNEY_WORDS[key][0]))
    return redirect(url_for(".campaign", campaign_id=campaign_id))


@campaign_console.get("/campaigns/new")
@require_role(*MANAGERS)
def new_campaign():  # noqa: ANN201
    return _render_editor(None, form=editor.blank_form())


@campaign_console.post("/campaigns/new")
@require_role(*MANAGERS)
def create_campaign():  # noqa: ANN201
    return _save(None)


@campaign_console.get("/campaigns/<int:campaign_id>")
@require_role(*MANAGERS)
@_404_when_missing
def campaign(campaign_id: int):  # noqa: ANN201
    return _render_editor(campaign_id)


@campaign_console.post("/campaigns/<int:campaign_id>")
@require_role(*MANAGERS)
@_404_when_missing
def update_campaign(campaign_id: int):  # noqa: ANN201
    return _save(campaign_id)


@campaign_console.get("/campaigns/<int:campaign_id>/confirm")
@require_role(*MANAGERS)
@_404_when_missing
def confirm_campaign(campaign_id: int):  # noqa: ANN201
    """The last step: how many customers it reaches, by which channel and when; then launch."""
    return _render_confirm(campaign_id)


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
    flash({"launch": _("已启动。"), "pause": _("已暂停。"), "cancel": _("已取消。")}[action])
    if action == "launch":  # what a manager wants to see next: it going out
        return redirect(url_for(".campaign_results", campaign_id=campaign_id))
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
                           live_statuses=console_views.LIVE_STATUSES, views=console_views, when=results_reasons.when)


@campaign_console.post("/campaigns/reach")
@require_role(*MANAGERS)
def reach():  # noqa: ANN201
    """The composer's live numbers: ``{"audience", "channel", "fallbacks", "kind"}`` → the
    audience's count and sample, how many the channel reaches now and its rule in words."""
    body = json_object()
    try:
        shown = _reach(body.get("audience") or {}, str(body.get("channel") or ""), body.get("fallbacks") or [],
                       str(body.get("kind") or "text"))
    except (InvalidInput, campaigns.BadAudience) as exc:
        errors = form_errors(_as_input(exc))
        return jsonify(errors=errors, message="; ".join(f"{e['field']}: {e['message']}" for e in errors)), 422
    return jsonify(shown)


@campaign_console.post("/campaigns/media")
@require_role(*MANAGERS)
def upload_media():  # noqa: ANN201
    """An image from the composer, uploaded to WeChat as material: ``{"media_id", "name", "size"}``."""
    file = request.files.get("image")
    data = file.read(composer.IMAGE_MAX_BYTES + 1) if file else b""
    runtime = current_runtime()
    try:
        media_id = composer.upload_image(runtime=runtime, data=data, filename=file.filename if file else "")
    except composer.ImageRefused as exc:
        return jsonify(field=exc.field, message=_image_words(data)), 422
    except WeChatError as exc:
        return jsonify(field="image", message=_("微信没有收下这张图片（%(error)s），请稍后再试。",
                                                error=exc.errcode)), 502
    return jsonify(media_id=media_id, name=file.filename, size=len(data))


# ---- rendering ------------------------------------------------------------------------------

def _save(campaign_id: int | None):  # noqa: ANN202
    """The composer posted: count (no script), save the draft, or save and go to the confirmation."""
    form = editor.read_form(request.form.to_dict(flat=False))
    if request.form.get("action") == "count":
        return _render_editor(campaign_id, form=form, count=_count(form))
    runtime = current_runtime()
    try:
        campaign_in = _parsed(form)
        with runtime.transaction() as db_session:
            if campaign_id is None:
                campaign_id = campaigns.create_campaign(db_session=db_session, campaign_in=campaign_in,
                                                        at=runtime.clock.now()).id
            else:
                campaigns.update_draft(db_session=db_session, campaign_id=campaign_id, campaign_in=campaign_in,
                                       now=runtime.clock.now())
    except REFUSED as exc:
        errors = form_errors(_as_input(exc))
        return _render_editor(campaign_id, status=form_status(exc, campaigns.CampaignRefused), form=form,
                              errors=errors, step=_step_of(errors))
    if request.form.get("action") == "confirm":
        return redirect(url_for(".confirm_campaign", campaign_id=campaign_id))
    flash(_("草稿“%(name)s”已保存。", name=campaign_in.name))
    return redirect(url_for(".campaign", campaign_id=campaign_id))


def _render_list(*, status: int = 200, **state: Any):  # noqa: ANN202
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        page = console_views.list_page(config=runtime.config, db_session=db_session)
    return render_template("outreach/campaigns.html", caller=current_caller(), page=page, views=console_views,
                           **state), status


def _render_editor(campaign_id: int | None, *, status: int = 200, form: dict[str, Any] | None = None,
                   **state: Any):  # noqa: ANN202
    runtime = current_runtime()
    days = request.args.get("days", 7, type=int) or 7
    with runtime.transaction() as db_session:
        found: Any = None
        shown = None
        if campaign_id is not None:
            found = campaigns.get_campaign(db_session=db_session, campaign_id=campaign_id)
            shown = console_views.results_view(db_session=db_session, campaign_id=campaign_id, days=min(max(days, 1), 90),
                                               now=runtime.clock.now())
            if form is None:
                form = editor.form_of(found, runtime.config.brand.timezone, runtime.clock.now())
            found = _detached(found)
        choices = console_views.choices(db_session)
    form["purpose"] = form.get("purpose") or console_views.PURPOSE_OF_CHANNEL.get(form["channel"], "")
    return render_template("outreach/editor.html", caller=current_caller(), campaign=found, form=form,
                           choices=choices, shown=shown, channels=CHANNELS, triggers=TRIGGERS, views=console_views,
                           brand=runtime.config.brand, zone=runtime.config.brand.zone, when=results_reasons.when,
                           kinds=editor.KIND_FIELDS, template_rows=editor.TEMPLATE_ROWS,
                           next_run=console_views.local_time(runtime.config, found.next_run_at) if found else "",
                           **state), status


def _render_confirm(campaign_id: int):  # noqa: ANN202
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        found = campaigns.get_campaign(db_session=db_session, campaign_id=campaign_id)
        reached = composer.reach(runtime=runtime, db_session=db_session, audience=found.audience or {},
                                 channel=found.channel, fallbacks=list(found.fallbacks or []),
                                 content_kind=(found.content or {}).get("kind", "text"), now=runtime.clock.now())
        campaign = _detached(found)
        campaign.channel, campaign.fallbacks = found.channel, list(found.fallbacks or [])
        campaign.trigger = (found.schedule or {}).get("kind") == "trigger"
    unreached = [(console_views.reason_words(results_reasons.Reason("skipped", "", *results_reasons.unreached_words(
        text))), n) for text, n in sorted(reached.unreached.items(), key=lambda item: -item[1])]
    return render_template("outreach/confirm.html", caller=current_caller(), campaign=campaign, reach=reached,
                           rule=console_views.rule_text(campaign.channel, reached), unreached=unreached,
                           views=console_views)


def _detached(campaign: Campaign) -> Any:
    runtime = current_runtime()
    return SimpleNamespace(id=campaign.id, name=campaign.name, status=campaign.status,
                           next_run_at=campaign.next_run_at,
                           schedule_text=console_views.schedule_text(campaign, runtime.config, runtime.clock.now()))


def _parsed(form: dict[str, Any]) -> CampaignIn:
    runtime = current_runtime()
    body = editor.body_of(form, runtime.config.brand.timezone, runtime.clock.now())
    return parse(CampaignIn, body, what="campaign")


def _reach(audience: Any, channel: str, fallbacks: Any, kind: str) -> dict[str, Any]:  # noqa: ANN401
    """The audience counted with its sample, and what the channel reaches of it now."""
    if not isinstance(audience, dict) or not isinstance(fallbacks, list):
        raise InvalidInput("audience", "must be an object, the fallbacks a list")
    if channel not in CHANNELS:
        raise InvalidInput("channel", f"one of {', '.join(CHANNELS)}")
    runtime = current_runtime()
    checked = parse(AudienceIn, audience, what="audience").model_dump()
    now = runtime.clock.now()
    with runtime.transaction() as db_session:
        reached = composer.reach(runtime=runtime, db_session=db_session, audience=checked, channel=channel,
                                 fallbacks=[str(f) for f in fallbacks if f in CHANNELS], content_kind=kind, now=now)
        found = campaigns.preview(db_session=db_session, campaign=Campaign(audience=checked), now=now)
        return {**preview_json(found, runtime.config.brand.locale), "reach": console_views.reach_json(channel, reached)}


def _count(form: dict[str, Any]) -> dict[str, Any]:
    """The audience counted on the server (the composer without script): count, sample, the
    channel's rule with its numbers, or errors."""
    try:
        return _reach(editor.audience_of(form), form["channel"], list(form["fallbacks"]), form["kind"] or "text")
    except (InvalidInput, campaigns.BadAudience) as exc:
        return {"errors": form_errors(_as_input(exc))}


def _step_of(errors: list[dict[str, str]]) -> int:
    fields = [e.get("field", "") for e in errors]
    for prefix, step in STEP_OF:
        if any(f.startswith(prefix) for f in fields):
            return step
    return 1


def _image_words(data: bytes) -> str:
    if not data:
        return _("请选择一张图片。")
    if len(data) > composer.IMAGE_MAX_BYTES:
        return _("图片不能超过 10 MB。")
    return _("只能上传 JPG、PNG、GIF 或 BMP 图片。")


def _as_input(exc: Exception) -> Exception:
    """Domain refusals as field errors: the audience field, the coupon template."""
    if isinstance(exc, campaigns.CampaignFieldRefused):
        return InvalidInput(exc.field, exc.reason)
    if isinstance(exc, ValueError) and not isinstance(exc, InvalidInput):
        return InvalidInput("coupon_template_id", "choose a coupon template")
    return exc
