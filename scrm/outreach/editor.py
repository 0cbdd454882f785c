"""The campaign editor's form (活动编辑): the fields a browser posts, turned into the body
``POST /api/campaigns`` accepts (validated by scrm/outreach/schemas.py as the API is), and a
saved campaign turned back into the form. Times are typed in the brand's local time
(``brand.timezone``); numbers that are not numbers are passed on as typed, for the schema
to refuse with the field's name.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from scrm.clock import as_utc
from scrm.outreach.schemas import InvalidCampaign

if TYPE_CHECKING:
    from collections.abc import Mapping

    from scrm.outreach.models import Campaign

CONTENT_FIELDS = ("text", "title", "description", "url", "picurl", "media_id", "appid", "pagepath",
                  "thumb_media_id", "template_id")
VARIANT_ROWS = 3
FIELDS = ("name", "expr", "store", "guide", "groups", "channel", "kind", *CONTENT_FIELDS, "data",
          "coupon_template_id", "schedule_kind", "at", "cron", "event", "days", "event_name", "when_capped",
          "holdout_percent",
          *(f"variant_{part}_{i}" for i in range(1, VARIANT_ROWS + 1) for part in ("name", "weight", "copy")))


def blank_form() -> dict[str, Any]:
    form: dict[str, Any] = dict.fromkeys(FIELDS, "")
    form.update(channel="mp_custom", kind="text", schedule_kind="once", when_capped="defer", holdout_percent="0",
                fallbacks=[])
    return form


def read_form(posted: Mapping[str, list[str]]) -> dict[str, Any]:
    """The fields as typed (stripped), the fallbacks in the order the page lists them.
    ``posted``: each field's values, as ``request.form.to_dict(flat=False)`` gives them."""
    form: dict[str, Any] = {name: (posted.get(name) or [""])[0].strip() for name in FIELDS}
    form["fallbacks"] = list(posted.get("fallbacks", []))
    form["groups"] = "\n".join(v.strip() for v in posted.get("groups", []) if v.strip())  # the ticked groups
    return form


def audience_of(form: dict[str, Any]) -> dict[str, Any]:
    groups = [line.strip() for line in form["groups"].splitlines() if line.strip()]
    audience: dict[str, Any] = {name: form[name] for name in ("expr", "store", "guide") if form[name]}
    if groups:
        audience["groups"] = groups
    return audience


def body_of(form: dict[str, Any], zone: str) -> dict[str, Any]:
    """The API body for the form, or :class:`InvalidCampaign` for what only the form can get wrong
    (a time or JSON that does not read)."""
    content = _content(form)
    body: dict[str, Any] = {
        "name": form["name"], "audience": audience_of(form), "channel": form["channel"],
        "fallbacks": list(form["fallbacks"]), "content": content, "schedule": _schedule(form, zone),
        "when_capped": form["when_capped"] or "defer", "holdout_percent": _number(form["holdout_percent"] or "0"),
    }
    if form["coupon_template_id"]:
        body["coupon_template_id"] = _number(form["coupon_template_id"])
    variants = []
    for i in range(1, VARIANT_ROWS + 1):
        name, weight, copy = (form[f"variant_{part}_{i}"] for part in ("name", "weight", "copy"))
        if name or weight or copy:
            variants.append({"name": name, "weight": _number(weight), "content": _with_copy(content, copy)})
    if variants:
        body["variants"] = variants
    return body


def form_of(campaign: Campaign, zone: str) -> dict[str, Any]:
    """The saved campaign as the editor shows it."""
    form = blank_form()
    audience, content, schedule = campaign.audience or {}, campaign.content or {}, campaign.schedule or {}
    form.update(name=campaign.name, channel=campaign.channel, fallbacks=list(campaign.fallbacks or []),
                kind=content.get("kind", "text"), when_capped=campaign.when_capped,
                holdout_percent=str(campaign.holdout_percent),
                coupon_template_id=str(campaign.coupon_template_id or ""),
                expr=audience.get("expr") or "", store=audience.get("store") or "", guide=audience.get("guide") or "",
                groups="\n".join(audience.get("groups") or []))
    form.update({name: str(content[name]) for name in CONTENT_FIELDS if content.get(name) is not None})
    if content.get("data") is not None:
        form["data"] = json.dumps(content["data"], ensure_ascii=False)
    form.update(schedule_kind=schedule.get("kind", "once"), cron=schedule.get("cron") or "",
                event=schedule.get("event") or "", days="" if schedule.get("days") is None else str(schedule["days"]),
                event_name=schedule.get("name") or "")
    if schedule.get("at"):
        form["at"] = f"{as_utc(datetime.fromisoformat(schedule['at'])).astimezone(ZoneInfo(zone)):%Y-%m-%dT%H:%M}"
    for i, variant in enumerate(campaign.variants or [], start=1):
        if i > VARIANT_ROWS:
            break
        copy = variant.get("content", {}).get("text" if content.get("kind") == "text" else "title") or ""
        form.update({f"variant_name_{i}": variant.get("name", ""),
                     f"variant_weight_{i}": str(variant.get("weight", "")), f"variant_copy_{i}": copy})
    return form


def _content(form: dict[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = {"kind": form["kind"]}
    content.update({name: form[name] for name in CONTENT_FIELDS if form[name]})
    if form["data"]:
        try:
            content["data"] = json.loads(form["data"])
        except ValueError:
            raise InvalidCampaign("content.data", "must be JSON, e.g. {\"first\": {\"value\": \"…\"}}") from None
    return content


def _with_copy(content: dict[str, Any], copy: str) -> dict[str, Any]:
    """A variant is the campaign's content with its own copy: the text, or the title of a card."""
    variant = dict(content)
    if copy:
        variant["text" if content.get("kind") == "text" else "title"] = copy
    return variant


def _schedule(form: dict[str, Any], zone: str) -> dict[str, Any]:
    kind = form["schedule_kind"]
    schedule: dict[str, Any] = {"kind": kind}
    if kind == "once" and form["at"]:
        try:
            local = datetime.fromisoformat(form["at"])
        except ValueError:
            raise InvalidCampaign("schedule.at", "must be a date and time, YYYY-MM-DD HH:MM") from None
        schedule["at"] = (local if local.tzinfo else local.replace(tzinfo=ZoneInfo(zone))).isoformat()
    elif kind == "cron":
        schedule["cron"] = form["cron"] or None
    elif kind == "trigger":
        schedule["event"] = form["event"] or None
        if form["days"]:
            schedule["days"] = _number(form["days"])
        if form["event_name"]:
            schedule["name"] = form["event_name"]
    return {k: v for k, v in schedule.items() if v is not None}


def _number(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:
        return text
