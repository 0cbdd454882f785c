"""Campaign, journey and custom event API (SPEC §8, §11), for admins and managers.

Thin routes over scrm/outreach/campaigns.py, results.py, journeys.py and events.py. Bad input
answers 422 naming the field (an unknown tag in the audience expression: ``audience.expr``; an
unknown store: ``audience.store``; an unknown coupon template: ``coupon_template_id``); a
campaign that cannot move that way now answers 409 with the refusal's code
(``not_launchable``, ``not_paused``, ``not_cancelled``, ``not_editable``). Domain errors are
answered by scrm/web/errors.py.

``POST /api/events`` records a custom event: 201 a new event, 200 the same ``event_key``
again, 409 the key taken by another event, 422 bad input or an unknown customer.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from scrm.outreach import campaigns, events, journeys, results
from scrm.outreach.models import Campaign
from scrm.outreach.schemas import AudienceIn, CampaignIn, campaign_json, parse, preview_json, runs_json
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime, json_object, path_ids_fit
from scrm.web.auth import require_role
from scrm.web.errors import ApiError, Unprocessable

blueprint = Blueprint("campaigns_api", __name__)
path_ids_fit(blueprint, campaign_id=Campaign.id)


@blueprint.post("/api/campaigns")
@require_role(*MANAGERS)
def create_campaign():  # noqa: ANN201
    """Create a draft campaign."""
    campaign_in = parse(CampaignIn, json_object(), what="campaign")
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        campaign = campaigns.create_campaign(db_session=db_session, campaign_in=campaign_in, at=runtime.clock.now())
        return jsonify(campaign_json(campaign)), 201


@blueprint.get("/api/campaigns")
@require_role(*MANAGERS)
def list_campaigns():  # noqa: ANN201
    with current_runtime().transaction() as db_session:
        found = campaigns.list_campaigns(db_session=db_session)
        counts = results.summaries(db_session=db_session, campaign_ids=[c.id for c in found])
        return jsonify(campaigns=[{**campaign_json(c), "deliveries": counts[c.id].as_json() if c.id in counts
                                   else None} for c in found])


@blueprint.get("/api/campaigns/<int:campaign_id>")
@require_role(*MANAGERS)
def get_campaign(campaign_id: int):  # noqa: ANN201
    """The campaign with its latest runs and its results (``?days=`` the order window)."""
    days = _days()
    with current_runtime().transaction() as db_session:
        campaign = campaigns.get_campaign(db_session=db_session, campaign_id=campaign_id)
        found = results.campaign_results(db_session=db_session, campaign_id=campaign_id, days=days,
                                         now=current_runtime().clock.now())
        runs = campaigns.latest_runs(db_session=db_session, campaign_id=campaign_id)
        return jsonify({**campaign_json(campaign), "runs": runs_json(runs),
                        "results": found.as_json(current_runtime().config.brand.zone)})


@blueprint.put("/api/campaigns/<int:campaign_id>")
@require_role(*MANAGERS)
def update_campaign(campaign_id: int):  # noqa: ANN201
    """Replace a draft's settings."""
    campaign_in = parse(CampaignIn, json_object(), what="campaign")
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        campaign = campaigns.update_draft(db_session=db_session, campaign_id=campaign_id, campaign_in=campaign_in,
                                          now=runtime.clock.now())
        return jsonify(campaign_json(campaign))


@blueprint.get("/api/campaigns/<int:campaign_id>/results")
@require_role(*MANAGERS)
def campaign_results(campaign_id: int):  # noqa: ANN201
    """The results with the campaign's status and every failed, skipped or waiting delivery's
    reason, counted (waiting ones with when they go, local time); the console's results page
    polls the same at ``/console/campaigns/<id>/results.json`` while the campaign runs."""
    days = _days()
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        campaign = campaigns.get_campaign(db_session=db_session, campaign_id=campaign_id)
        found = results.campaign_results(db_session=db_session, campaign_id=campaign_id, days=days,
                                         now=runtime.clock.now())
        return jsonify({"status": campaign.status, **found.as_json(runtime.config.brand.zone)})


@blueprint.post("/api/campaigns/preview")
@require_role(*MANAGERS)
def preview_audience():  # noqa: ANN201
    """Count an audience before saving it: ``{"audience": {…}}`` → count and sample."""
    return _preview(None)


@blueprint.post("/api/campaigns/<int:campaign_id>/preview")
@require_role(*MANAGERS)
def preview_campaign(campaign_id: int):  # noqa: ANN201
    """The campaign's audience count and a sample (``{"audience"}`` in the body: that one instead)."""
    return _preview(campaign_id)


@blueprint.post("/api/campaigns/<int:campaign_id>/launch")
@require_role(*MANAGERS)
def launch_campaign(campaign_id: int):  # noqa: ANN201
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        return jsonify(campaign_json(campaigns.launch(runtime=runtime, db_session=db_session,
                                                      campaign_id=campaign_id)))


@blueprint.post("/api/campaigns/<int:campaign_id>/pause")
@require_role(*MANAGERS)
def pause_campaign(campaign_id: int):  # noqa: ANN201
    with current_runtime().transaction() as db_session:
        return jsonify(campaign_json(campaigns.set_status(db_session=db_session, campaign_id=campaign_id,
                                                          status="paused")))


@blueprint.post("/api/campaigns/<int:campaign_id>/cancel")
@require_role(*MANAGERS)
def cancel_campaign(campaign_id: int):  # noqa: ANN201
    with current_runtime().transaction() as db_session:
        return jsonify(campaign_json(campaigns.set_status(db_session=db_session, campaign_id=campaign_id,
                                                          status="cancelled")))


@blueprint.get("/api/journeys")
@require_role(*MANAGERS)
def list_journeys():  # noqa: ANN201
    return jsonify(journeys=[journey.as_json() for journey in journeys.JOURNEYS])


@blueprint.post("/api/journeys/<key>")
@require_role(*MANAGERS)
def start_journey(key: str):  # noqa: ANN201
    """A draft campaign from a journey: ``{"coupon_template_id"?, "name"?}``."""
    body = json_object() if request.get_data() else {}
    journeys.get_journey(key)
    start = parse(journeys.JourneyStartIn, body, what="journey")
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        campaign = journeys.start_journey(db_session=db_session, key=key, at=runtime.clock.now(), name=start.name,
                                          coupon_template_id=start.coupon_template_id)
        return jsonify(campaign_json(campaign)), 201


@blueprint.post("/api/events")
@require_role(*MANAGERS)
def post_event():  # noqa: ANN201
    """Record a custom event (it may trigger campaigns)."""
    runtime = current_runtime()
    event_in = events.parse_event(json_object(), now=runtime.clock.now())
    with runtime.transaction() as db_session:
        event, created = events.record_event(runtime=runtime, db_session=db_session, event_in=event_in)
        body = events.event_json(event)
    return jsonify(body), 201 if created else 200


def _preview(campaign_id: int | None):  # noqa: ANN202
    body = json_object() if request.get_data() or campaign_id is None else {}
    if campaign_id is None and "audience" not in body:
        raise Unprocessable("audience: give the audience to count", field="audience")
    audience = None
    if "audience" in body:
        if not isinstance(body["audience"], dict):
            raise Unprocessable("audience: must be an object", field="audience")
        audience = parse(AudienceIn, body["audience"], what="audience").model_dump()
    runtime = current_runtime()
    now = runtime.clock.now()
    with runtime.transaction() as db_session:
        if campaign_id is not None:
            campaign = campaigns.get_campaign(db_session=db_session, campaign_id=campaign_id)
            audience = audience if audience is not None else campaign.audience
        campaigns.check_audience(db_session=db_session, audience=audience, now=now)
        # An unsaved campaign holding only the audience: preview reads nothing else.
        found = campaigns.preview(db_session=db_session, campaign=Campaign(audience=audience), now=now)
        return jsonify({**preview_json(found, current_runtime().config.brand.locale), "audience": audience})


def _days() -> int:
    days = request.args.get("days", results.DEFAULT_DAYS, type=int)
    if days is None or not 1 <= days <= results.MAX_DAYS:
        raise ApiError(f"days must be 1-{results.MAX_DAYS}", code="bad_query")
    return days
