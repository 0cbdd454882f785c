"""The console's batch form and filters (scrm/products/pages.py) as the services' inputs: the
fields as typed become the JSON API's body for :class:`~scrm.products.schemas.BatchIn`, and
every refusal is put on the form's own field in the reader's words.

Whole numbers become numbers (the schema is strict, as the API's JSON is), typed with or
without thousands separators (``100,000``); what is not a number is passed on as typed, so the
schema refuses it naming its field. Nothing here reads the request or writes anything.
"""

from __future__ import annotations

import re
from typing import Any

from flask_babel import lazy_gettext as _l

from scrm.products.models import MAX_QUANTITY

FORM_FIELDS = ("product", "sku", "quantity", "reward_kind", "points", "coupon_template_id", "store_code",
               "valid_until", "key")
FILTER_FIELDS = ("product", "store")
REWARD_KINDS = ("points", "coupon")
KEY_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")
DATE_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}")  # as a date input sends it; pydantic would also take a timestamp
# The form's fields as people read them, for the list of what to fix above the form.
FIELD_LABELS = {
    "product": _l("商品名称"), "sku": _l("SKU"), "quantity": _l("码的数量"), "reward_kind": _l("奖励"),
    "points": _l("积分"), "coupon_template_id": _l("优惠券"), "store_code": _l("门店"),
    "valid_until": _l("有效期至"), "key": _l("表单"),
}
# Where the schema's fields are on the form.
SCHEMA_FIELDS = {"reward.points": "points", "reward.coupon_template_id": "coupon_template_id", "reward": "reward_kind"}
# Refusals that are this form's own, by code.
REFUSALS = {
    "unknown_store": _l("没有这个门店，请从列表中选择"),
    "unknown_template": _l("请选择一张启用中的优惠券"),
    "past": _l("不能早于今天"),
    "points_missing": _l("请填写每个码可得的积分"),
    "template_missing": _l("请选择一张优惠券"),
    "kind_missing": _l("请选择奖励：积分或优惠券"),
    "quantity_range": _l("每批 1 到 %(most)s 个码"),
    "bad_date": _l("须为日期（YYYY-MM-DD）"),
    "stale_form": _l("这张表单已过期，请重新填写。"),
    "serial_number": _l("序号须为整数"),
    "serial_range": _l("序号须在 1 到 %(most)s 之间，且“从”不大于“到”"),
    "sheet_too_many": _l("一个标签文件最多 %(most)s 张，请分段下载"),
}
# The domain's English refusals (scrm/products/batches.py) and what they mean here.
DOMAIN_REFUSALS = (("no store has the code", "unknown_store"), ("no coupon template has the id", "unknown_template"),
                   ("must be today or later", "past"))


def batch_body(form: dict[str, str]) -> dict[str, Any]:
    """The API's body for the batch the form describes; the reward of the kind chosen only."""
    kind = form["reward_kind"]
    reward: dict[str, Any] = {}
    if kind == "points":
        reward["points"] = whole(form["points"])
    elif kind == "coupon":
        reward["coupon_template_id"] = whole(form["coupon_template_id"])
    body = {"product": form["product"], "sku": form["sku"], "reward": reward, "store_code": form["store_code"] or None,
            "valid_until": form["valid_until"] if DATE_SHAPE.fullmatch(form["valid_until"]) else None}
    if form["quantity"]:  # none typed: the schema says it is required
        body["quantity"] = whole(form["quantity"])
    return body


def shape_refusals(form: dict[str, str]) -> list[dict[str, str]]:
    """What the schema would take but the form does not: a day not written YYYY-MM-DD, a form
    without the key it was drawn with."""
    errors = []
    if form["valid_until"] and not DATE_SHAPE.fullmatch(form["valid_until"]):
        errors.append(refusal("valid_until", "bad_date"))
    if not KEY_SHAPE.fullmatch(form["key"]):
        errors.append(refusal("key", "stale_form"))
    return errors


def form_refusals(errors: list[dict[str, str]], form: dict[str, str]) -> list[dict[str, str]]:
    """The schema's or the service's errors (``{field, message}`` in the API's field names and
    words) on the form's fields, worded for the reader where the form knows better words."""
    worded = []
    for item in errors:
        field = SCHEMA_FIELDS.get(item["field"], item["field"])
        code = next((code for words, code in DOMAIN_REFUSALS if item["message"].startswith(words)), None)
        if field in ("points", "coupon_template_id", "reward_kind") and "one of the two" in item["message"]:
            field, code = _missing_reward(form["reward_kind"])
        if field == "quantity" and "than or equal to" in item["message"]:
            code = "quantity_range"
        if field == "valid_until" and code is None:
            code = "bad_date"
        worded.append(refusal(field, code) if code else {"field": field, "message": item["message"]})
    return worded


def refusal(field: str, code: str, most: int = MAX_QUANTITY) -> dict[str, str]:
    return {"field": field, "message": str(REFUSALS[code] % {"most": f"{most:,}"})}


def serial_range(args: dict[str, str], *, quantity: int, default_last: int, most: int | None = None
                 ) -> tuple[int, int, list[dict[str, str]]]:
    """The serials ``from``…``to`` a download asks for (none given: 1…``default_last``), within
    the batch and, for label sheets, at most ``most`` of them; or why not."""
    typed = [args.get("from", "").strip(), args.get("to", "").strip()]
    if not any(typed):
        return 1, default_last, []
    if not all(t.isascii() and t.isdigit() and len(t) < 12 for t in typed):
        return 0, 0, [refusal("from", "serial_number")]
    first, last = int(typed[0]), int(typed[1])
    if not 1 <= first <= last <= quantity:
        return first, last, [refusal("from", "serial_range", quantity)]
    if most is not None and last - first + 1 > most:
        return first, last, [refusal("to", "sheet_too_many", most)]
    return first, last, []


def labelled(errors: list[dict[str, str]]) -> list[dict[str, str]]:
    """Each error with its field's label, for the list above the form."""
    return [{**item, "label": str(FIELD_LABELS.get(item["field"], ""))} for item in errors]


def by_field(errors: list[dict[str, str]]) -> dict[str, str]:
    """The first error of each field, shown under it."""
    found: dict[str, str] = {}
    for item in errors:
        found.setdefault(item["field"], item["message"])
    return found


def whole(value: str) -> int | str | None:
    """``100,000`` → 100000; anything else as typed (the schema names what is wrong)."""
    digits = value.replace(",", "").replace("，", "").replace(" ", "")
    if digits.isascii() and digits.isdigit() and len(digits) < 12:
        return int(digits)
    return value or None


def filter_of(typed: dict[str, str]) -> tuple[str | None, int | None]:
    """The product and the store id the list's filters pick; a store that is not a number picks
    none (a hand-edited address shows everything rather than an error)."""
    store = typed["store"]
    store_id = int(store) if store.isascii() and store.isdigit() and len(store) < 10 else None
    return typed["product"][:64] or None, store_id


def _missing_reward(kind: str) -> tuple[str, str]:
    if kind == "points":
        return "points", "points_missing"
    if kind == "coupon":
        return "coupon_template_id", "template_missing"
    return "reward_kind", "kind_missing"
