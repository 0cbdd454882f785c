"""Store and guide API (SPEC §6, §11). Admins and managers manage; a guide reads their own
guide record, codes, customers and numbers. Around a guide: their customers, numbers and scan
statistics, their leaving and hand-overs, and bulk import of guides."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from guides import code_images, leaving, roster, service
from guides.importing import import_guides
from guides.schemas import (
    GuideFields,
    GuideIn,
    LeaveIn,
    StoreIn,
    customer_json,
    guide_json,
    parse,
    store_json,
    transfer_json,
)
from qrcodes import stats
from qrcodes.service import codes_of
from scrm.customers.schemas import mask_phone
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime, day_range, json_object
from scrm.web.auth import current_caller, require_role
from scrm.web.errors import ApiError, Forbidden, NotFound, Unprocessable

blueprint = Blueprint("guides_api", __name__)

CHANNELS = ("mp", "work")
MAX_DAYS = 366
MAX_CSV_BYTES = 2 * 1024 * 1024


# ---- stores ---------------------------------------------------------------------------------

@blueprint.post("/api/stores")
@require_role(*MANAGERS)
def create_store():  # noqa: ANN201
    store_in = parse(StoreIn, json_object())
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        store = service.create_store(runtime=runtime, db_session=db_session, store_in=store_in)
        return jsonify(store_json(store, guides=0, codes=codes_of(db_session=db_session, store_id=store.id))), 201


@blueprint.get("/api/stores")
@require_role(*MANAGERS)
def list_stores():  # noqa: ANN201
    with current_runtime().transaction() as db_session:
        return jsonify(stores=[store_json(s, guides=n) for s, n in service.list_stores(db_session=db_session)])


@blueprint.get("/api/stores/<code>")
@require_role(*MANAGERS)
def get_store(code: str):  # noqa: ANN201
    with current_runtime().transaction() as db_session:
        store = service.get_store(db_session=db_session, code=code)
        guides = service.list_guides(db_session=db_session, store_code=code)
        body = store_json(store, guides=len(guides), codes=codes_of(db_session=db_session, store_id=store.id))
        body["guides"] = [guide_json(g, customers=n) for g, n in guides]
        return jsonify(body)


@blueprint.get("/api/stores/<code>/qrcode.png")
@require_role(*MANAGERS)
def store_qrcode(code: str):  # noqa: ANN201
    channel = _channel()
    with current_runtime().transaction() as db_session:
        png = code_images.store_card_png(db_session=db_session, code=code, channel=channel,
                                         locale=current_runtime().config.brand.locale)
    return _download(png, "image/png", f"store-{code}-{channel}.png")


@blueprint.get("/api/stores/<code>/poster.<fmt>")
@require_role(*MANAGERS)
def store_poster(code: str, fmt: str):  # noqa: ANN201
    """Every active guide's code (and the store's own) on A4 pages, for one print run."""
    if fmt not in ("pdf", "png"):
        raise NotFound("the poster sheet is poster.pdf or poster.png")
    channel = _channel()
    with current_runtime().transaction() as db_session:
        poster = code_images.store_poster(db_session=db_session, code=code, channel=channel, fmt=fmt,
                                          locale=current_runtime().config.brand.locale)
    response = _download(poster.content, "application/pdf" if fmt == "pdf" else "image/png",
                         f"store-{code}-{channel}.{fmt}")
    if poster.missing:
        response.headers["X-Codes-Missing"] = ",".join(m.encode("unicode_escape").decode() for m in poster.missing)
    return response


# ---- guides ---------------------------------------------------------------------------------

@blueprint.post("/api/guides")
@require_role(*MANAGERS)
def create_guide():  # noqa: ANN201
    guide_in = parse(GuideIn, json_object())
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        guide = service.create_guide(runtime=runtime, db_session=db_session, guide_in=guide_in)
        return jsonify(guide_json(guide, customers=0, codes=codes_of(db_session=db_session, guide_id=guide.id))), 201


@blueprint.get("/api/guides")
@require_role(*MANAGERS)
def list_guides():  # noqa: ANN201
    include_left = request.args.get("include_left") in ("1", "true")
    with current_runtime().transaction() as db_session:
        guides = service.list_guides(db_session=db_session, store_code=request.args.get("store"), include_left=include_left)
        return jsonify(guides=[guide_json(g, customers=n) for g, n in guides])


@blueprint.get("/api/guides/<code>")
@require_role(*MANAGERS, "guide")
def get_guide(code: str):  # noqa: ANN201
    _own_or_manager(code)
    with current_runtime().transaction() as db_session:
        guide = service.get_guide(db_session=db_session, code=code)
        customers = service.customer_count(db_session=db_session, guide_id=guide.id)
        return jsonify(guide_json(guide, customers=customers, codes=codes_of(db_session=db_session, guide_id=guide.id)))


@blueprint.patch("/api/guides/<code>")
@require_role(*MANAGERS)
def update_guide(code: str):  # noqa: ANN201
    changes = parse(GuideFields, json_object())
    with current_runtime().transaction() as db_session:
        return jsonify(guide_json(service.update_guide(db_session=db_session, code=code, changes=changes)))


@blueprint.get("/api/guides/<code>/qrcode.png")
@require_role(*MANAGERS, "guide")
def guide_qrcode(code: str):  # noqa: ANN201
    _own_or_manager(code)
    channel = _channel()
    with current_runtime().transaction() as db_session:
        png = code_images.guide_card_png(db_session=db_session, code=code, channel=channel,
                                         locale=current_runtime().config.brand.locale)
    return _download(png, "image/png", f"guide-{code}-{channel}.png")


# ---- around a guide: customers, numbers, leaving, import ------------------------------------

@blueprint.get("/api/guides/<code>/customers")
@require_role(*MANAGERS, "guide")
def customers(code: str):  # noqa: ANN201
    _own_or_manager(code)
    limit, offset = _int_arg("limit", 30, 1, 200), _int_arg("offset", 0, 0, 10**9)
    runtime = current_runtime()
    guide_view = current_caller().role == "guide"
    with runtime.transaction() as db_session:
        guide = service.get_guide(db_session=db_session, code=code)
        entries, total = roster.customers_of(db_session=db_session, guide_id=guide.id, now=runtime.clock.now(),
                                             query=request.args.get("q"), limit=limit, offset=offset)
    return jsonify(total=total, customers=[customer_json(e, phone=mask_phone(e.phone) if guide_view else e.phone)
                                           for e in entries])


@blueprint.get("/api/guides/<code>/stats")
@require_role(*MANAGERS, "guide")
def guide_stats(code: str):  # noqa: ANN201
    """Per day (the brand's days) for the guide's codes: ``?from=YYYY-MM-DD&to=…``, default
    the last 7 days; per channel and together."""
    _own_or_manager(code)
    runtime = current_runtime()
    start, end = day_range(runtime, most_days=MAX_DAYS, default_days=7)
    with runtime.transaction() as db_session:
        guide = service.get_guide(db_session=db_session, code=code)

        codes = codes_of(db_session=db_session, guide_id=guide.id)
        days = stats.per_day(db_session=db_session, code_ids=[c.id for c in codes.values()], start=start, end=end)
        channels = {
            channel: stats.totals(stats.per_day(db_session=db_session, code_ids=[c.id], start=start, end=end))
            for channel, c in codes.items()
        }
    return jsonify(guide=code, start=start.isoformat(), end=end.isoformat(), totals=stats.totals(days),
                   channels=channels, days=[d.as_dict() for d in days])


@blueprint.post("/api/guides/<code>/leave")
@require_role(*MANAGERS)
def leave(code: str):  # noqa: ANN201
    leave_in = parse(LeaveIn, json_object())
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        result = leaving.leave(runtime=runtime, db_session=db_session, code=code, to=leave_in.to)
    return jsonify(guide=result.guide, to=result.to, moved=result.moved, wecom_transfers=result.wecom_transfers)


@blueprint.get("/api/guides/<code>/transfers")
@require_role(*MANAGERS)
def transfers(code: str):  # noqa: ANN201
    with current_runtime().transaction() as db_session:
        return jsonify(transfers=[transfer_json(t) for t in leaving.transfers_of(db_session=db_session, code=code)])


@blueprint.post("/api/guides/import")
@require_role(*MANAGERS)
def import_csv():  # noqa: ANN201
    """A CSV body (``text/csv``, UTF-8). All or nothing: 422 with every bad row, or 200."""
    raw = request.get_data(cache=False)
    if len(raw) > MAX_CSV_BYTES:
        raise ApiError(f"the file is over {MAX_CSV_BYTES // 1024 // 1024} MiB", code="too_large", status=413)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError("the CSV must be UTF-8 (save it as CSV UTF-8)", code="bad_encoding") from None
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        report = import_guides(runtime=runtime, db_session=db_session, text=text)
        if report.errors:
            db_session.rollback()
            errors = [{"row": e.row, "code": e.code, "field": e.field, "message": e.message} for e in report.errors]
            raise Unprocessable(f"{len(errors)} problem(s) in the file; nothing was imported", code="bad_rows",
                                errors=errors)
    return jsonify(created=report.created, unchanged=report.unchanged)


# ---- request helpers ------------------------------------------------------------------------

def _own_or_manager(code: str) -> None:
    caller = current_caller()
    if caller.role == "guide" and caller.guide_code != code:
        raise Forbidden("a guide sees only their own guide record")


def _channel() -> str:
    channel = request.args.get("channel", "mp")
    if channel not in CHANNELS:
        raise ApiError("channel must be mp or work", code="bad_query")
    return channel


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise ApiError(f"{name} must be a whole number from {low} to {high}", code="bad_query")
    return int(raw)


def _download(content: bytes, mimetype: str, filename: str) -> Response:
    response = Response(content, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = "private, max-age=300"
    return response
