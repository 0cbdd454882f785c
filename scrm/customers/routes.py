"""Customer API (SPEC §4, §11): lookup by WeChat id, profile with its timeline (paginated), and
a manager's change of what WeChat does not tell us (the birthday)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from guides.roster import may_see
from scrm.clock import local_day
from scrm.customers import service
from scrm.customers.schemas import customer_json, interaction_json, parse_change
from scrm.web.api import current_runtime, json_object
from scrm.web.auth import Caller, current_caller, require_role
from scrm.web.edge import MAX_ID
from scrm.web.errors import ApiError, Forbidden, NotFound

blueprint = Blueprint("customers", __name__)
MAX_PAGE = 200


def _can_see(db_session, caller: Caller, customer_id: int) -> bool:  # noqa: ANN001
    """Admins and managers see everyone; a guide only the customers bound to them now."""

    return may_see(db_session=db_session, caller=caller, customer_id=customer_id)


@blueprint.get("/api/customers/lookup")
@require_role("admin", "manager", "guide")
def lookup():  # noqa: ANN201
    given = {k: v for k, v in (("mp", request.args.get("openid")), ("work", request.args.get("external_userid"))) if v}
    if len(given) != 1:
        raise ApiError("give exactly one of openid or external_userid", code="bad_query")
    (channel, external_id), = given.items()
    with current_runtime().transaction() as db_session:
        customer = service.lookup(db_session=db_session, channel=channel, external_id=external_id)
        if customer is None:
            raise NotFound(f"no customer with that {'openid' if channel == 'mp' else 'external_userid'}")
        if not _can_see(db_session, current_caller(), customer.id):
            raise Forbidden("this customer is not yours")
        identities = service.identities_of(db_session=db_session, customer_id=customer.id)
        return jsonify(customer_json(customer, identities, current_caller()))


@blueprint.get("/api/customers/<int:customer_id>")
@require_role("admin", "manager", "guide")
def profile(customer_id: int):  # noqa: ANN201
    limit = _int_arg("limit", 50, 1, MAX_PAGE)
    before = _int_arg("before", None, 1, MAX_ID)  # a timeline id: BIGINT
    with current_runtime().transaction() as db_session:
        customer = service.resolve(db_session=db_session, customer_id=customer_id)
        if customer is None:
            raise NotFound(f"no customer {customer_id}")
        if not _can_see(db_session, current_caller(), customer.id):
            raise Forbidden("this customer is not yours")
        identities = service.identities_of(db_session=db_session, customer_id=customer.id)
        page = service.timeline(db_session=db_session, customer_id=customer.id, before_id=before, limit=limit)
        body = customer_json(customer, identities, current_caller())
        body["timeline"] = [interaction_json(entry) for entry in page.entries]
        body["next_before"] = page.next_before_id
        return jsonify(body)


@blueprint.patch("/api/customers/<int:customer_id>")
@require_role("admin", "manager")
def change(customer_id: int):  # noqa: ANN201
    """``{"birthday": "YYYY-MM-DD" | null}``; a merged customer's id changes the survivor."""
    runtime = current_runtime()
    today = local_day(runtime.config, runtime.clock.now())
    changed = parse_change(json_object(), today=today)
    with runtime.transaction() as db_session:
        customer = service.set_birthday(db_session=db_session, customer_id=customer_id, birthday=changed.birthday)
        if customer is None:
            raise NotFound(f"no customer {customer_id}")
        identities = service.identities_of(db_session=db_session, customer_id=customer.id)
        return jsonify(customer_json(customer, identities, current_caller()))


def _int_arg(name: str, default: int | None, low: int, high: int | None) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(f"{name} must be a whole number", code="bad_query") from None
    if value < low or (high is not None and value > high):
        raise ApiError(f"{name} must be between {low} and {high or 'any'}", code="bad_query")
    return value
