"""The console's membership forms as the services' inputs (scrm/members/pages.py): the member
list's filters, a level's fields and a points-mall item's, each from the fields as typed.

Whole numbers become numbers (as the JSON API takes them: the item's schema is strict); what is
not a number is passed on as typed, so the schema refuses it naming its field; an empty limit
is none. Nothing here reads the request or writes anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l

from tagging.schemas import normalise_phone

MEMBER_NO_CHARS = 16
PHONE_CHARS = 32
FILTER_FIELDS = ("phone", "member_no", "level", "from", "to")
EARLIEST_DAY, LATEST_DAY = date(1970, 1, 1), date(2999, 12, 30)
FILTER_WORDS = {
    "phone": _l("手机号只能是数字，可带 +86"), "member_no": _l("会员号是 12 位数字"),
    "day": _l("日期格式为 YYYY-MM-DD"), "day_range": _l("日期须在 1970 到 2999 年之间"),
}


@dataclass(frozen=True)
class MemberFilter:
    phone: str | None = None  # normalised, matched exactly
    member_no: str | None = None
    level_id: int | None = None
    first: date | None = None  # joined on or after (local day)
    last: date | None = None  # joined on or before (local day)


def member_filter(typed: dict[str, str]) -> tuple[MemberFilter, list[dict[str, str]]]:
    """What the list's filters pick, and why a typed one was refused (nothing picked then)."""
    errors: list[dict[str, str]] = []
    phone = None
    if typed["phone"]:
        try:
            phone = normalise_phone(typed["phone"][:PHONE_CHARS])
        except ValueError:
            errors.append({"field": "phone", "message": str(FILTER_WORDS["phone"])})
    member_no = typed["member_no"]
    if member_no and not (member_no.isascii() and member_no.isdigit() and len(member_no) <= MEMBER_NO_CHARS):
        errors.append({"field": "member_no", "message": str(FILTER_WORDS["member_no"])})
    level = typed["level"]
    level_id = int(level) if level.isascii() and level.isdigit() and len(level) < 10 else None
    days: dict[str, date | None] = {}
    for name in ("from", "to"):
        try:
            days[name] = date.fromisoformat(typed[name]) if typed[name] else None
        except ValueError:
            errors.append({"field": name, "message": str(FILTER_WORDS["day"])})
            days[name] = None
        if days[name] is not None and not EARLIEST_DAY <= days[name] <= LATEST_DAY:
            errors.append({"field": name, "message": str(FILTER_WORDS["day_range"])})
            days[name] = None
    return MemberFilter(phone, member_no or None, level_id, days["from"], days["to"]), errors


def level_input(form: dict[str, str]) -> dict[str, Any]:
    """A level's fields: no discount typed is 10 折 (none), no multiplier 1; benefits one per line."""
    return {
        "name": form["name"], "threshold": form["threshold"], "discount_zhe": form["discount_zhe"] or "10",
        "points_multiplier": form["points_multiplier"] or "1",
        "benefits": [line.strip() for line in form["benefits"].splitlines() if line.strip()],
        "level_up_template_id": id_or_typed(form["level_up_template_id"]),
        "birthday_template_id": id_or_typed(form["birthday_template_id"]),
    }


def item_input(form: dict[str, str]) -> dict[str, Any]:
    """A points-mall item's fields; an empty stock or limit is none (no limit)."""
    return {"name": form["name"], "description": form["description"] or None,
            "template_id": id_or_typed(form["template_id"]), "points": whole(form["points"]),
            "stock": whole(form["stock"]), "per_member_limit": whole(form["per_member_limit"]),
            "min_level_id": id_or_typed(form["min_level_id"]), "status": form["status"] or "active",
            "sort": whole(form["sort"]) if form["sort"] else 0}


def whole(value: str) -> int | str | None:
    digits = value[1:] if value.startswith("-") else value
    if digits.isascii() and digits.isdigit() and len(digits) < 12:
        return int(value)
    return value or None


def id_or_typed(value: str) -> int | str | None:
    return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else value or None
