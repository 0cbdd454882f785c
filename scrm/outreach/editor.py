"""The campaign composer's form (活动编排): the fields a browser posts, turned into the body
``POST /api/campaigns`` accepts (validated by scrm/outreach/schemas.py as the API is), and a
saved campaign turned back into the form.

Only the chosen content kind's fields go into the content (:data:`KIND_FIELDS`): what was
typed for another kind before the manager changed their mind is neither saved nor checked. A
template message's data comes from rows of field name and value, never typed JSON. When it
sends is chosen with pickers (:data:`SENDS`) and the cron line is derived here
(scrm/outreach/composer.py). Times are typed in the brand's local time (``brand.timezone``);
numbers that are not numbers are passed on as typed, for the schema to refuse with the
field's name.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from scrm.clock import as_utc
from scrm.outreach import composer
from scrm.outreach.schemas import InvalidCampaign

if TYPE_CHECKING:
    from collections.abc import Mapping

    from scrm.outreach.models import Campaign

KIND_FIELDS = {"text": ("text",), "image": ("media_id",), "news": ("title", "description", "url", "picurl"),
               "miniprogram": ("title", "appid", "pagepath", "thumb_media_id"), "template": ("template_id", "url"),
               "invite": ("text", "code_id")}
CONTENT_FIELDS = ("text", "title", "description", "url", "picurl", "media_id", "appid", "pagepath",
                  "thumb_media_id", "template_id", "code_id")
TEMPLATE_ROWS = 6
TEMPLATE_KEYS = ("first", "keyword1", "keyword2", "keyword3", "remark")  # a WeChat template's usual fields
SENDS = ("now", "at", "weekly", "monthly", "trigger", "cron")  # cron: a line the API wrote, kept as it is
VARIANT_ROWS = 3
FIELDS = ("name", "purpose", "expr", "store", "guide", "groups", "channel", "kind", *CONTENT_FIELDS,
          *(f"template_{part}_{i}" for i in range(1, TEMPLATE_ROWS + 1) for part in ("key", "value")),
          "coupon_template_id", "send", "at", "time", "monthday", "cron", "event", "days", "event_name",
          "when_capped", "holdout_percent",
          *(f"variant_{part}_{i}" for i in range(1, VARIANT_ROWS + 1) for part in ("name", "weight", "copy")))


def blank_form() -> dict[str, Any]:
    form: dict[str, Any] = dict.fromkeys(FIELDS, "")
    form.update(channel="mp_custom", purpose="reply", kind="text", send="now", when_capped="defer",
                holdout_percent="0", time="10:00", fallbacks=[], weekdays=[])
    form.update({f"template_key_{i}": key for i, key in enumerate(TEMPLATE_KEYS, start=1)})
    return form


def read_form(posted: Mapping[str, list[str]]) -> dict[str, Any]:
    """The fields as typed (stripped), the fallbacks in the order the page lists them.
    ``posted``: each field's values, as ``request.form.to_dict(flat=False)`` gives them."""
    form: dict[str, Any] = {name: (posted.get(name) or [""])[0].strip() for name in FIELDS}
    form["fallbacks"] = list(posted.get("fallbacks", []))
    form["weekdays"] = list(posted.get("weekdays", []))
    form["groups"] = "\n".join(v.strip() for v in posted.get("groups", []) if v.strip())  # the ticked groups
    return form


def audience_of(form: dict[str, Any]) -> dict[str, Any]:
    groups = [line.strip() for line in form["groups"].splitlines() if line.strip()]
    audience: dict[str, Any] = {name: form[name] for name in ("expr", "store", "guide") if form[name]}
    if groups:
        audience["groups"] = groups
    return audience


def body_of(form: dict[str, Any], zone: str, now: datetime) -> dict[str, Any]:
    """The API body for the form, or :class:`InvalidCampaign` for what only the form can get wrong
    (a time that does not read, a repeat with no day)."""
    content = content_of(form)
    body: dict[str, Any] = {
        "name": form["name"], "audience": audience_of(form), "channel": form["channel"],
        "fallbacks": list(form["fallbacks"]), "content": content, "schedule": _schedule(form, zone, now),
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


def form_of(campaign: Campaign, zone: str, now: datetime) -> dict[str, Any]:
    """The saved campaign as the composer shows it."""
    form = blank_form()
    audience, content, schedule = campaign.audience or {}, campaign.content or {}, campaign.schedule or {}
    form.update(name=campaign.name, channel=campaign.channel, fallbacks=list(campaign.fallbacks or []),
                kind=content.get("kind", "text"), when_capped=campaign.when_capped,
                holdout_percent=str(campaign.holdout_percent),
                coupon_template_id=str(campaign.coupon_template_id or ""),
                expr=audience.get("expr") or "", store=audience.get("store") or "", guide=audience.get("guide") or "",
                groups="\n".join(audience.get("groups") or []))
    form.update({name: str(content[name]) for name in CONTENT_FIELDS if content.get(name) is not None})
    if isinstance(content.get("data"), dict):
        rows = list(content["data"].items())[:TEMPLATE_ROWS]
        form.update({f"template_{part}_{i}": "" for i in range(1, TEMPLATE_ROWS + 1) for part in ("key", "value")})
        for i, (key, value) in enumerate(rows, start=1):
            form[f"template_key_{i}"] = key
            form[f"template_value_{i}"] = str(value.get("value", "") if isinstance(value, dict) else value)
    form.update(_send_of(schedule, zone, now))
    for i, variant in enumerate(campaign.variants or [], start=1):
        if i > VARIANT_ROWS:
            break
        copy = variant.get("content", {}).get(_copy_field(content)) or ""
        form.update({f"variant_name_{i}": variant.get("name", ""),
                     f"variant_weight_{i}": str(variant.get("weight", "")), f"variant_copy_{i}": copy})
    return form


def _send_of(schedule: dict[str, Any], zone: str, now: datetime) -> dict[str, Any]:
    """The pickers that give ``schedule`` back. A once moment already past reads as "now": it
    fires as soon as the campaign is launched."""
    kind = schedule.get("kind", "once")
    if kind == "trigger":
        return {"send": "trigger", "event": schedule.get("event") or "",
                "days": "" if schedule.get("days") is None else str(schedule["days"]),
                "event_name": schedule.get("name") or ""}
    if kind == "cron":
        picked = composer.pickers_of(schedule.get("cron") or "")
        if picked is None:
            return {"send": "cron", "cron": schedule.get("cron") or ""}
        return {**picked, "send": picked["repeat"]}
    if not schedule.get("at"):
        return {"send": "now"}
    at = as_utc(datetime.fromisoformat(schedule["at"]))
    if at <= now:
        return {"send": "now"}
    return {"send": "at", "at": f"{at.astimezone(ZoneInfo(zone)):%Y-%m-%dT%H:%M}"}


def content_of(form: dict[str, Any]) -> dict[str, Any]:
    """The content of the chosen kind only; a template's data from its rows of name and value."""
    kind = form["kind"]
    content: dict[str, Any] = {"kind": kind}
    content.update({name: form[name] for name in KIND_FIELDS.get(kind, ()) if form[name]})
    if kind == "invite" and content.get("code_id"):
        content["code_id"] = _number(content["code_id"])
    if kind == "template":
        data = {}
        for i in range(1, TEMPLATE_ROWS + 1):
            key, value = form[f"template_key_{i}"], form[f"template_value_{i}"]
            if key and value:
                data[key] = {"value": value}
            elif value:
                raise InvalidCampaign("content.data", f"row {i}: name the template's field for {value!r}")
        if data:
            content["data"] = data
    return content


def _with_copy(content: dict[str, Any], copy: str) -> dict[str, Any]:
    """A variant is the campaign's content with its own copy: the text, or the title of a card."""
    variant = dict(content)
    if copy:
        variant[_copy_field(content)] = copy
    return variant


def _copy_field(content: dict[str, Any]) -> str:
    """What a variant's copy replaces: the text (of a text or an invitation), else the card's title."""
    return "text" if content.get("kind") in ("text", "invite") else "title"


def _schedule(form: dict[str, Any], zone: str, now: datetime) -> dict[str, Any]:
    send = form["send"] or "now"
    if send == "now":
        return {"kind": "once", "at": as_utc(now).isoformat()}
    if send == "at":
        try:
            local = datetime.fromisoformat(form["at"])
        except ValueError:
            raise InvalidCampaign("schedule.at", "choose the date and time to send") from None
        return {"kind": "once", "at": (local if local.tzinfo else local.replace(tzinfo=ZoneInfo(zone))).isoformat()}
    if send == "weekly":
        return {"kind": "cron", "cron": composer.weekly_cron(form["weekdays"], form["time"])}
    if send == "monthly":
        return {"kind": "cron", "cron": composer.monthly_cron(form["monthday"], form["time"])}
    if send == "cron" and form["cron"]:
        return {"kind": "cron", "cron": form["cron"]}
    if send == "trigger":
        schedule: dict[str, Any] = {"kind": "trigger"}
        if form["event"]:
            schedule["event"] = form["event"]
        if form["days"]:
            schedule["days"] = _number(form["days"])
        if form["event_name"]:
            schedule["name"] = form["event_name"]
        return schedule
    raise InvalidCampaign("schedule.send", "choose when to send: now, at a time, weekly, monthly or on an event")


def _number(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:
        return text
