"""The guide's live codes on the phone (群活码, SPEC §9): every active code, each with the
guide's OWN join way (state ``gc{code}g{guide}``) so that the joins it brings are credited to
the guide, and how many joined through it today, in 7 and in 30 days.

- ``GET /m/group-codes``: the active codes and the guide's joins through each.
- ``GET /m/group-codes/<id>``: the code's QR to show a customer in the store, or to long-press
  and share; the guide's way is made in WeCom the first time they open it (one per guide and
  code however often it is opened). A WeCom refusal is said on the page; nothing is kept.
- ``GET /m/group-codes/<id>/qrcode.png``: WeCom's image of the guide's way.

The pages are a guide's own, like the rest of /m/ (guides/phone_pages.py's house rules).
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, render_template
from flask_babel import gettext as _

from guides import phone_pages
from scrm.clock import local_day
from scrm.groups import code_images, code_stats, codes
from scrm.web.api import current_runtime
from scrm.web.auth import require_role
from scrm.web.errors import NotFound

guide_code_pages = Blueprint("guide_code_pages", __name__, template_folder="templates")
phone_pages.house_rules(guide_code_pages)  # WeCom sign-in, no cache, guides only, as every /m/ page

PERIODS = (("today", 1), ("week", 7), ("month", 30))  # days back, today included


@guide_code_pages.get("/m/group-codes")
@require_role("guide")
def code_list():  # noqa: ANN201
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        guide = phone_pages._my_guide(db_session)  # noqa: SLF001
        active = codes.list_codes(db_session=db_session, include_retired=False)
        joined = _my_joins(runtime, db_session, guide.id)
        rows = [{"id": c.id, "name": c.name, **{name: joined[name].get(c.id, 0) for name, _days in PERIODS}}
                for c in active]
    return render_template("guide/group_codes.html", codes=rows, nav="group_codes")


@guide_code_pages.get("/m/group-codes/<int:code_id>")
@require_role("guide")
def code_page(code_id: int):  # noqa: ANN201
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        guide = phone_pages._my_guide(db_session)  # noqa: SLF001
        code = _active_code(db_session, code_id)
        name, guide_id = code.name, guide.id
    refused = None
    try:  # outside any transaction: way_for owns its own (WeCom is called in between)
        codes.way_for(runtime=runtime, code_id=code_id, source="guide", source_id=guide_id)
    except codes.GroupCodeRefused as exc:
        if exc.details.get("reason") == "retired":
            raise NotFound(_("这个群活码已停用")) from None
        refused = _("企业微信暂时没有生成你的群活码，请稍后再试。")
    with runtime.transaction() as db_session:
        joined = _my_joins(runtime, db_session, guide_id)
    numbers = {period: joined[period].get(code_id, 0) for period, _days in PERIODS}
    return render_template("guide/group_code.html", code_id=code_id, name=name, numbers=numbers, refused=refused,
                           nav="group_codes"), 502 if refused else 200


@guide_code_pages.get("/m/group-codes/<int:code_id>/qrcode.png")
@require_role("guide")
def code_qrcode(code_id: int):  # noqa: ANN201
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        guide_id = phone_pages._my_guide(db_session).id  # noqa: SLF001
        _active_code(db_session, code_id)
    way = codes.way_for(runtime=runtime, code_id=code_id, source="guide", source_id=guide_id)
    png = code_images.way_image(runtime=runtime, config_id=way.config_id, qr_code=way.qr_code,
                                what=f"guide {guide_id}'s way of group code {code_id}")
    return Response(png, mimetype="image/png", headers={"Cache-Control": "private, max-age=300"})


def _my_joins(runtime, db_session, guide_id: int, periods=PERIODS) -> dict[str, dict[int, int]]:  # noqa: ANN001
    """period name → code id → joins through the guide's ways."""
    today = local_day(runtime.config, runtime.clock.now())
    return {name: code_stats.joins_by_source(db_session=db_session, source="guide", source_id=guide_id,
                                             first=today - timedelta(days=days - 1), last=today)
            for name, days in periods}


def _active_code(db_session, code_id: int):  # noqa: ANN001, ANN202
    try:
        code = codes.get(db_session=db_session, code_id=code_id)
    except codes.GroupCodeNotFound:
        raise NotFound(_("没有这个群活码")) from None
    if code.status != "active":
        raise NotFound(_("这个群活码已停用"))
    return code
