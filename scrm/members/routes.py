"""The members' JSON API (SPEC §11, §13).

- ``GET /api/members/<customer_id>``: the member card (level, growth, points, check-in);
  admins and managers, and a guide for the customers bound to them (phone masked).
- ``GET /api/members/<customer_id>/points?page=&per_page=``: the ledger, newest first.
- ``POST /api/members/<customer_id>/points {amount, reason, key}``: a manager's grant or
  deduction (scrm/members/grants.py, shared with the console: the same key there and here is
  one change); 201 new, 200 for a key used before.
- ``GET|POST /api/points-mall/items``, ``PATCH /api/points-mall/items/<id>``: anyone signed in
  reads (a member with their own session sees ``available``/``why_not`` for themselves),
  managers write.
- ``GET /api/members/stats?from=&to=``: the figures of a period of local days beside the period
  before (scrm/members/stats.py), admins and managers.
- ``POST /api/points-mall/exchange {item_id, key?, customer_id?}`` and ``POST
  /api/members/checkin {customer_id?}``: the member's own session (the /c/ pages' sign-in
  cookie, scrm/coupons/customer_pages.py — with a CSRF token, ``X-CSRFToken``, SPEC §12) or a
  manager's Bearer token naming ``customer_id``.

Refusals: 404 ``not_a_member`` / ``item_not_found``, 409 ``not_enough_points`` (with
``available``), ``out_of_stock``, ``limit_reached``, ``level_required``, ``item_paused``,
``template_unavailable``, ``key_reused``; 422 for bad input, naming the field.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, current_app, jsonify, request

from guides.roster import may_see
from scrm import flows
from scrm.coupons.codes import display
from scrm.coupons.customer_pages import signed_in_customer
from scrm.coupons.issuing import get_coupon
from scrm.customers.models import Customer
from scrm.errors import InvalidInput, validated
from scrm.members import checkin, grants, history, ledger, mall, service, stats
from scrm.members.models import MallItem, MemberLevel
from scrm.members.schemas import (
    CheckinIn,
    ExchangeIn,
    MallItemChangeIn,
    MallItemIn,
    MemberPointsIn,
    checked_in_json,
    entry_json,
    entry_page_json,
    exchanged_json,
    item_json,
    member_json,
    points_json,
)
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime, day_range, json_object, path_ids_fit, query_id_of, query_int
from scrm.web.auth import current_caller, require_role
from scrm.web.errors import ApiError, Forbidden, Unauthorized

blueprint = Blueprint("members_api", __name__)
path_ids_fit(blueprint, item_id=MallItem.id)

MAX_PAGE = 10_000
STATS_MOST_DAYS = 366
FLAGS = {"1": True, "true": True, "0": False, "false": False}


class InvalidMemberInput(InvalidInput):
    """Bad membership input; ``field`` names the first offending field."""


def parse(model, body: dict, *, what: str):  # noqa: ANN001, ANN201
    return validated(model, body, error=InvalidMemberInput, what=what)


@blueprint.get("/api/members/<int:customer_id>")
@require_role("admin", "manager", "guide")
def member_card(customer_id: int):  # noqa: ANN201
    runtime, caller = current_runtime(), current_caller()
    with runtime.transaction() as db_session:
        _may_see(db_session, customer_id)
        now = runtime.clock.now()
        summary = service.member_summary(db_session=db_session, config=runtime.config, customer_id=customer_id,
                                         at=now)
        if summary is None:
            raise ledger.NotAMember(f"customer {customer_id} is not a member")
        state = checkin.checkin_state(db_session=db_session, config=runtime.config, customer_id=customer_id, at=now)
        return jsonify(member_json(summary, state, role=caller.role))


@blueprint.get("/api/members/<int:customer_id>/points")
@require_role("admin", "manager", "guide")
def member_points(customer_id: int):  # noqa: ANN201
    page = query_int("page", default=1, low=1, high=MAX_PAGE)
    per_page = query_int("per_page", default=20, low=1, high=history.MAX_PER_PAGE)
    with current_runtime().transaction() as db_session:
        _may_see(db_session, customer_id)
        found = history.entries_page(db_session=db_session, customer_id=customer_id, page=page, per_page=per_page)
        return jsonify(entry_page_json(found))


@blueprint.post("/api/members/<int:customer_id>/points")
@require_role(*MANAGERS)
def change_points(customer_id: int):  # noqa: ANN201
    """A grant (amount > 0) or a deduction (< 0), once per key."""
    change_in = parse(MemberPointsIn, json_object(), what="a points change")
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        posted = grants.change_points(db_session=db_session, config=runtime.config, customer_id=customer_id,
                                      change_in=grants.PointsChangeIn.model_validate(change_in.model_dump()),
                                      by=current_caller().name, at=runtime.clock.now())
        points = ledger.balance(db_session=db_session, customer_id=customer_id, at=runtime.clock.now(),
                                expiring_days=runtime.config.members.expiry_remind_days)
        body = {"entry": entry_json(posted.entry), "created": posted.created, "points": points_json(points)}
    return jsonify(body), 201 if posted.created else 200


@blueprint.get("/api/points-mall/items")
def list_items():  # noqa: ANN201
    """Bearer token (any role; ``customer_id`` for a member's view, ``include_paused`` for
    managers) or the member's own session."""
    runtime = current_runtime()
    asked = query_id_of("customer_id", Customer.id)
    include_paused = _flag(request.args.get("include_paused"))
    with runtime.transaction() as db_session:
        caller = current_caller()
        if caller is None:
            customer_id = _session_customer(db_session)
            include_paused = False
        else:
            if include_paused and caller.role not in MANAGERS:
                raise Forbidden("include_paused is for admins and managers")
            customer_id = asked
            if customer_id is not None:
                _may_see(db_session, customer_id)
        views = mall.list_items(db_session=db_session, at=runtime.clock.now(), customer_id=customer_id,
                                include_paused=include_paused, config=runtime.config)
        return jsonify(items=[item_json(v) for v in views])


@blueprint.post("/api/points-mall/items")
@require_role(*MANAGERS)
def create_item():  # noqa: ANN201
    item_in = parse(MallItemIn, json_object(), what="a mall item")
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        item = mall.create_item(db_session=db_session, item_in=item_in, at=runtime.clock.now())
        view = mall.item_view(db_session=db_session, item_id=item.id, at=runtime.clock.now(), config=runtime.config)
        return jsonify(item_json(view)), 201


@blueprint.patch("/api/points-mall/items/<int:item_id>")
@require_role(*MANAGERS)
def change_item(item_id: int):  # noqa: ANN201
    changes = parse(MallItemChangeIn, json_object(), what="a mall item change")
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        mall.update_item(db_session=db_session, item_id=item_id, changes=changes, at=runtime.clock.now())
        view = mall.item_view(db_session=db_session, item_id=item_id, at=runtime.clock.now(), config=runtime.config)
        return jsonify(item_json(view))


@blueprint.post("/api/points-mall/exchange")
def exchange():  # noqa: ANN201
    exchange_in = parse(ExchangeIn, json_object(), what="an exchange")
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        customer_id, by = _member_or_manager(db_session, exchange_in.customer_id)
        now = runtime.clock.now()
        done = mall.exchange(runtime=runtime, db_session=db_session, customer_id=customer_id,
                             item_id=exchange_in.item_id, key=exchange_in.key or secrets.token_urlsafe(24), at=now,
                             created_by=by)
        code = display(get_coupon(db_session=db_session, coupon_id=done.coupon_id).code)
        available = ledger.balance(db_session=db_session, customer_id=customer_id, at=now).available
        body = exchanged_json(done, coupon_code=code, available=available)
    return jsonify(body), 201 if done.created else 200


@blueprint.post("/api/members/checkin")
def check_in():  # noqa: ANN201
    checkin_in = parse(CheckinIn, json_object() if request.content_length else {}, what="a check-in")  # may be bodiless
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        customer_id, _ = _member_or_manager(db_session, checkin_in.customer_id)
        done = flows.check_in(runtime=runtime, db_session=db_session, customer_id=customer_id,
                              at=runtime.clock.now())
        change = done.level_change
        level = db_session.get(MemberLevel, change.new_level_id) if change is not None else None
        body = checked_in_json(done, level_name=level.name if level is not None else None)
    return jsonify(body), 201 if done.created else 200


@blueprint.get("/api/members/stats")
@require_role(*MANAGERS)
def member_stats():  # noqa: ANN201
    """Members by level, new members, points issued/spent/expired, check-ins and exchanges, the liability."""
    runtime = current_runtime()
    first, last = day_range(runtime, most_days=STATS_MOST_DAYS)
    with runtime.transaction() as db_session:
        found = stats.member_stats(db_session=db_session, config=runtime.config, first_day=first, last_day=last,
                                   at=runtime.clock.now())
    return jsonify(found.as_json())


# ---- helpers -------------------------------------------------------------------------------


def _may_see(db_session, customer_id: int) -> None:  # noqa: ANN001
    if not may_see(db_session=db_session, caller=current_caller(), customer_id=customer_id):
        raise Forbidden("this customer is not yours")


def _member_or_manager(db_session, named: int | None) -> tuple[int, str | None]:  # noqa: ANN001
    """(the member acted for, who acted): a Bearer token must be a manager's naming
    ``customer_id``; without one, the member's own session with its CSRF token."""
    if request.headers.get("Authorization"):
        caller = current_caller()
        if caller is None:
            raise Unauthorized("a valid bearer token is required")
        if caller.role not in MANAGERS:
            raise Forbidden(f"this needs the role admin or manager, or the member's own session; you are "
                            f"{caller.role}")
        if named is None:
            raise InvalidMemberInput("customer_id", "is required with a token: the member acted for")
        return named, caller.name[:64]
    customer_id = _session_customer(db_session)
    if named is not None and named != customer_id:
        raise Forbidden("a member acts for themselves only")
    return customer_id, None


def _session_customer(db_session) -> int:  # noqa: ANN001
    """The customer signed in on the /c/ pages; 401 without one. A write with the cookie
    carries the CSRF token (SPEC §12): the cookie alone would let another site write."""
    customer_id = signed_in_customer(current_runtime(), db_session)
    if customer_id is None:
        raise Unauthorized("sign in: a bearer token, or the member's own session")
    if request.method != "GET":
        current_app.extensions["csrf"].protect()
    return customer_id


def _flag(raw: str | None) -> bool:
    if raw is None:
        return False
    if raw not in FLAGS:
        raise ApiError("include_paused must be 1, true, 0 or false", code="bad_query", field="include_paused")
    return FLAGS[raw]

