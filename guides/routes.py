"""Store and guide API (SPEC §6, §11). Admins and managers manage; a guide reads their own
guide record, codes and numbers."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Response, jsonify, request

from guides import service
from guides.schemas import GuideFields, GuideIn, StoreIn, parse
from guides.views import guide_json, store_json
from qrcodes.images import CodeNotReady, card_png, code_card, sheet
from qrcodes.service import codes_of
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime, json_object
from scrm.web.auth import current_caller, require_role
from scrm.web.errors import ApiError, Conflict, Forbidden, NotFound

blueprint = Blueprint("guides_api", __name__)

CHANNELS = ("mp", "work")


def _maps_domain_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except service.NotFoundError as exc:
            raise NotFound(str(exc)) from exc
        except (service.ConflictError, CodeNotReady) as exc:
            raise Conflict(str(exc)) from exc

    return wrapped


def _own_or_manager(code: str) -> None:
    caller = current_caller()
    if caller.role == "guide" and caller.guide_code != code:
        raise Forbidden("a guide sees only their own guide record")


def _channel() -> str:
    channel = request.args.get("channel", "mp")
    if channel not in CHANNELS:
        raise ApiError("channel must be mp or work", code="bad_query")
    return channel


@blueprint.post("/api/stores")
@require_role(*MANAGERS)
@_maps_domain_errors
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
@_maps_domain_errors
def get_store(code: str):  # noqa: ANN201
    with current_runtime().transaction() as db_session:
        store = service.get_store(db_session=db_session, code=code)
        guides = service.list_guides(db_session=db_session, store_code=code)
        body = store_json(store, guides=len(guides), codes=codes_of(db_session=db_session, store_id=store.id))
        body["guides"] = [guide_json(g, customers=n) for g, n in guides]
        return jsonify(body)


@blueprint.get("/api/stores/<code>/qrcode.png")
@require_role(*MANAGERS)
@_maps_domain_errors
def store_qrcode(code: str):  # noqa: ANN201
    channel = _channel()
    with current_runtime().transaction() as db_session:
        store = service.get_store(db_session=db_session, code=code)
        found = codes_of(db_session=db_session, store_id=store.id).get(channel)
        if found is None:
            raise Conflict(f"store {code} has no {channel} code yet (WeCom's needs a guide first)")
        png = card_png(found, title=store.name, subtitle=store.address or "门店码 store code")
    return _download(png, "image/png", f"store-{code}-{channel}.png")


@blueprint.get("/api/stores/<code>/poster.<fmt>")
@require_role(*MANAGERS)
@_maps_domain_errors
def store_poster(code: str, fmt: str):  # noqa: ANN201
    """Every active guide's code (and the store's own) on A4 pages, for one print run."""
    if fmt not in ("pdf", "png"):
        raise NotFound("the poster sheet is poster.pdf or poster.png")
    channel = _channel()
    with current_runtime().transaction() as db_session:
        store = service.get_store(db_session=db_session, code=code)
        cards, missing = [], []
        owners = [(store.name, "门店码 store code", codes_of(db_session=db_session, store_id=store.id))]
        owners += [(g.name, store.name, codes_of(db_session=db_session, guide_id=g.id))
                   for g, _n in service.list_guides(db_session=db_session, store_code=code)]
        for title, subtitle, codes in owners:
            try:
                cards.append(code_card(codes[channel], title=title, subtitle=subtitle))
            except (KeyError, CodeNotReady):
                missing.append(title)
        if not cards:
            raise Conflict(f"no {channel} code of store {code} is ready yet", missing=missing)
        content = sheet(cards, title=f"{store.name} · {'公众号' if channel == 'mp' else '企业微信'}", fmt=fmt)
    response = _download(content, "application/pdf" if fmt == "pdf" else "image/png", f"store-{code}-{channel}.{fmt}")
    if missing:
        response.headers["X-Codes-Missing"] = ",".join(m.encode("unicode_escape").decode() for m in missing)
    return response


@blueprint.post("/api/guides")
@require_role(*MANAGERS)
@_maps_domain_errors
def create_guide():  # noqa: ANN201
    guide_in = parse(GuideIn, json_object())
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        guide = service.create_guide(runtime=runtime, db_session=db_session, guide_in=guide_in)
        return jsonify(guide_json(guide, customers=0, codes=codes_of(db_session=db_session, guide_id=guide.id))), 201


@blueprint.get("/api/guides")
@require_role(*MANAGERS)
@_maps_domain_errors
def list_guides():  # noqa: ANN201
    include_left = request.args.get("include_left") in ("1", "true")
    with current_runtime().transaction() as db_session:
        guides = service.list_guides(db_session=db_session, store_code=request.args.get("store"), include_left=include_left)
        return jsonify(guides=[guide_json(g, customers=n) for g, n in guides])


@blueprint.get("/api/guides/<code>")
@require_role(*MANAGERS, "guide")
@_maps_domain_errors
def get_guide(code: str):  # noqa: ANN201
    _own_or_manager(code)
    with current_runtime().transaction() as db_session:
        guide = service.get_guide(db_session=db_session, code=code)
        customers = service.customer_count(db_session=db_session, guide_id=guide.id)
        return jsonify(guide_json(guide, customers=customers, codes=codes_of(db_session=db_session, guide_id=guide.id)))


@blueprint.patch("/api/guides/<code>")
@require_role(*MANAGERS)
@_maps_domain_errors
def update_guide(code: str):  # noqa: ANN201
    changes = parse(GuideFields, json_object())
    with current_runtime().transaction() as db_session:
        return jsonify(guide_json(service.update_guide(db_session=db_session, code=code, changes=changes)))


@blueprint.get("/api/guides/<code>/qrcode.png")
@require_role(*MANAGERS, "guide")
@_maps_domain_errors
def guide_qrcode(code: str):  # noqa: ANN201
    _own_or_manager(code)
    channel = _channel()
    with current_runtime().transaction() as db_session:
        guide = service.get_guide(db_session=db_session, code=code)
        found = codes_of(db_session=db_session, guide_id=guide.id).get(channel)
        if found is None:
            raise Conflict(f"guide {code} has no {channel} code")
        png = card_png(found, title=guide.name, subtitle=guide.store.name)
    return _download(png, "image/png", f"guide-{code}-{channel}.png")


def _download(content: bytes, mimetype: str, filename: str) -> Response:
    response = Response(content, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = "private, max-age=300"
    return response
