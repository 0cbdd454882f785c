"""What happens around a guide: their customers, numbers and scan statistics, their leaving
and hand-overs, and bulk import of guides (SPEC §6)."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from guides import leaving, roster, service
from guides.importing import import_guides
from guides.models import GuideTransfer
from guides.routes import _maps_domain_errors, _own_or_manager
from guides.schemas import LeaveIn, parse
from guides.views import transfer_json
from qrcodes import stats
from qrcodes.service import codes_of
from scrm.clock import local_day
from scrm.customers.views import mask_phone
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime, json_object
from scrm.web.auth import current_caller, require_role
from scrm.web.errors import ApiError, Unprocessable

blueprint = Blueprint("guide_roster_api", __name__)

MAX_DAYS = 366
MAX_CSV_BYTES = 2 * 1024 * 1024


@blueprint.get("/api/guides/<code>/customers")
@require_role(*MANAGERS, "guide")
@_maps_domain_errors
def customers(code: str):  # noqa: ANN201
    _own_or_manager(code)
    limit, offset = _int_arg("limit", 30, 1, 200), _int_arg("offset", 0, 0, 10**9)
    runtime = current_runtime()
    guide_view = current_caller().role == "guide"
    with runtime.transaction() as db_session:
        guide = service.get_guide(db_session=db_session, code=code)
        entries, total = roster.customers_of(db_session=db_session, guide_id=guide.id, now=runtime.clock.now(),
                                             query=request.args.get("q"), limit=limit, offset=offset)
    return jsonify(total=total, customers=[{
        "id": e.customer_id, "nickname": e.nickname, "phone": mask_phone(e.phone) if guide_view else e.phone,
        "channel": e.channel, "bound_at": e.bound_at.isoformat(), "tags": list(e.tags),
        "last_seen_at": e.last_seen_at.isoformat() if e.last_seen_at else None, "last_kind": e.last_kind,
    } for e in entries])


@blueprint.get("/api/guides/<code>/stats")
@require_role(*MANAGERS, "guide")
@_maps_domain_errors
def guide_stats(code: str):  # noqa: ANN201
    """Per day (the brand's days) for the guide's codes: ``?from=YYYY-MM-DD&to=…``, default
    the last 7 days; per channel and together."""
    _own_or_manager(code)
    runtime = current_runtime()
    end = _date_arg("to") or local_day(runtime.config, runtime.clock.now())
    start = _date_arg("from") or end - timedelta(days=6)
    if start > end or (end - start).days >= MAX_DAYS:
        raise ApiError(f"from must be on or before to, at most {MAX_DAYS} days", code="bad_query")
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
@_maps_domain_errors
def leave(code: str):  # noqa: ANN201
    leave_in = parse(LeaveIn, json_object())
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        result = leaving.leave(runtime=runtime, db_session=db_session, code=code, to=leave_in.to)
    return jsonify(guide=result.guide, to=result.to, moved=result.moved, wecom_transfers=result.wecom_transfers)


@blueprint.get("/api/guides/<code>/transfers")
@require_role(*MANAGERS)
@_maps_domain_errors
def transfers(code: str):  # noqa: ANN201
    with current_runtime().transaction() as db_session:
        guide = service.get_guide(db_session=db_session, code=code)
        rows = db_session.scalars(
            select(GuideTransfer).where(GuideTransfer.from_guide_id == guide.id).order_by(GuideTransfer.id)
        ).all()
        return jsonify(transfers=[transfer_json(t) for t in rows])


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


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise ApiError(f"{name} must be a whole number from {low} to {high}", code="bad_query")
    return int(raw)


def _date_arg(name: str) -> date | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(f"{name} must be a date, YYYY-MM-DD", code="bad_query") from None
