"""Coupon API (SPEC §7, §11).

Admins and managers manage templates and rules, issue by hand, void and un-redeem, and read
statistics and the audit log. A guide looks up and redeems coupons in their own store only;
an admin or manager redeeming names the store (``store_code``).

Redemption refusals answer with their reason as the error code: 422 ``bad_code``, 404
``not_found``, 409 ``already_redeemed`` (with ``redeemed_at`` and ``redeemed_by``),
``expired``, ``voided``, ``not_yet_valid``, ``not_valid_in_store``. Each attempt is audited
(scrm/coupons/redemption.py) before the answer leaves.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, jsonify, request

from scrm.coupons import coupon_templates, issuing, redemption, stats
from scrm.coupons.models import CouponRule, CouponTemplate
from scrm.coupons.schemas import (
    IssueIn,
    ReasonIn,
    RedeemIn,
    RuleIn,
    TemplateChangeIn,
    TemplateIn,
    attempt_json,
    coupon_json,
    parse,
    redeemed_json,
    rule_json,
    template_json,
)
from scrm.customers.service import resolve
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime, day_range, json_object, path_ids_fit, query_id_of, query_int
from scrm.web.auth import Caller, current_caller, require_role
from scrm.web.edge import query_id
from scrm.web.errors import ApiError, Forbidden, Unprocessable
from tagging.orders import find_customer

blueprint = Blueprint("coupons_api", __name__)
path_ids_fit(blueprint, template_id=CouponTemplate.id, rule_id=CouponRule.id)

STATUS_OF = {"bad_code": 422, "not_found": 404}  # every other refusal: 409
MAX_LIST = 500


@blueprint.post("/api/coupon-templates")
@require_role(*MANAGERS)
def create_template():  # noqa: ANN201
    template_in = parse(TemplateIn, json_object(), what="coupon template")
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        template = coupon_templates.create_template(db_session=db_session, template_in=template_in, at=runtime.clock.now())
        return jsonify(template_json(db_session, template)), 201


@blueprint.get("/api/coupon-templates")
@require_role(*MANAGERS)
def list_templates():  # noqa: ANN201
    with current_runtime().transaction() as db_session:
        found = coupon_templates.list_templates(db_session=db_session)
        redeemed = coupon_templates.redeemed_counts(db_session=db_session, template_ids=[t.id for t in found])
        return jsonify(templates=[template_json(db_session, t, redeemed=redeemed.get(t.id, 0)) for t in found])


@blueprint.get("/api/coupon-templates/<int:template_id>")
@require_role(*MANAGERS)
def get_template(template_id: int):  # noqa: ANN201
    with current_runtime().transaction() as db_session:
        template = coupon_templates.get_template(db_session=db_session, template_id=template_id)
        redeemed = coupon_templates.redeemed_counts(db_session=db_session, template_ids=[template_id])
        body = template_json(db_session, template, redeemed=redeemed.get(template_id, 0))
        body["rules"] = [rule_json(r) for r in coupon_templates.list_rules(db_session=db_session, template_id=template_id)]
        return jsonify(body)


@blueprint.patch("/api/coupon-templates/<int:template_id>")
@require_role(*MANAGERS)
def change_template(template_id: int):  # noqa: ANN201
    change = parse(TemplateChangeIn, json_object(), what="template change")
    with current_runtime().transaction() as db_session:
        template = coupon_templates.change_template(db_session=db_session, template_id=template_id, change=change)
        return jsonify(template_json(db_session, template))


@blueprint.post("/api/coupon-rules")
@require_role(*MANAGERS)
def create_rule():  # noqa: ANN201
    rule_in = parse(RuleIn, json_object(), what="coupon rule")
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        return jsonify(rule_json(coupon_templates.create_rule(db_session=db_session, rule_in=rule_in,
                                                       at=runtime.clock.now()))), 201


@blueprint.get("/api/coupon-rules")
@require_role(*MANAGERS)
def list_rules():  # noqa: ANN201
    with current_runtime().transaction() as db_session:
        return jsonify(rules=[rule_json(r) for r in coupon_templates.list_rules(db_session=db_session)])


@blueprint.patch("/api/coupon-rules/<int:rule_id>")
@require_role(*MANAGERS)
def change_rule(rule_id: int):  # noqa: ANN201
    active = json_object().get("active")
    if not isinstance(active, bool):
        raise Unprocessable("active: must be true or false", field="active")
    with current_runtime().transaction() as db_session:
        return jsonify(rule_json(coupon_templates.set_rule_active(db_session=db_session, rule_id=rule_id, active=active)))


@blueprint.post("/api/coupons")
@require_role(*MANAGERS)
def issue_coupon():  # noqa: ANN201
    """Issue by hand (手动发券)."""
    issue_in = parse(IssueIn, json_object(), what="coupon")
    runtime, caller = current_runtime(), current_caller()
    with runtime.transaction() as db_session:
        customer_id = _customer_of(db_session, issue_in)
        coupon = issuing.issue(runtime=runtime, db_session=db_session, template_id=issue_in.template_id,
                               customer_id=customer_id, source="manual", source_ref=caller.name,
                               at=runtime.clock.now())
        return jsonify(coupon_json(db_session, coupon)), 201


@blueprint.get("/api/coupons")
@require_role(*MANAGERS)
def list_coupons():  # noqa: ANN201
    customer_id = query_id("customer_id")
    if customer_id is None:
        raise ApiError("give customer_id", code="bad_query")
    with current_runtime().transaction() as db_session:
        found = issuing.list_coupons(db_session=db_session, customer_id=customer_id, limit=MAX_LIST)
        return jsonify(coupons=[coupon_json(db_session, c) for c in found])


@blueprint.get("/api/coupons/<code>")
@require_role("admin", "manager", "guide")
def find_coupon(code: str):  # noqa: ANN201
    """What the guide sees before confirming: the coupon, its customer, and whether it can be
    redeemed here now (``refusal`` says why not). Not an attempt: nothing is written."""
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        counter = _counter(db_session, current_caller(), request.args.get("store_code"), required=False)
        outcome = redemption.find(runtime=runtime, db_session=db_session, code=code, counter=counter)
        if outcome.coupon_id is None:
            _refuse(outcome)
        coupon = issuing.get_coupon(db_session=db_session, coupon_id=outcome.coupon_id)
        body = coupon_json(db_session, coupon, role=current_caller().role)
        body["redeemable"] = outcome.ok
        body["refusal"] = None if outcome.ok else {"error": outcome.result, "message": outcome.message,
                                                    **outcome.details}
        return jsonify(body)


@blueprint.post("/api/coupons/redeem")
@require_role("admin", "manager", "guide")
def redeem_coupon():  # noqa: ANN201
    redeem_in = parse(RedeemIn, json_object(), what="redemption")
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        counter = _counter(db_session, current_caller(), redeem_in.store_code, required=True)
        outcome = redemption.redeem(runtime=runtime, db_session=db_session, code=redeem_in.code, counter=counter)
    if not outcome.ok:  # after the commit: the refusal's audit row is kept
        _refuse(outcome)
    body = redeemed_json(outcome.coupon, counter, role=current_caller().role, redeemed_at=outcome.details["redeemed_at"])
    return jsonify(result="redeemed", coupon=body, credited_guide_id=outcome.details.get("credited_guide_id"))


@blueprint.post("/api/coupons/<code>/void")
@require_role(*MANAGERS)
def void_coupon(code: str):  # noqa: ANN201
    return _manager_move(code, redemption.void)


@blueprint.post("/api/coupons/<code>/unredeem")
@require_role(*MANAGERS)
def unredeem_coupon(code: str):  # noqa: ANN201
    return _manager_move(code, redemption.unredeem)


@blueprint.get("/api/coupons/stats")
@require_role(*MANAGERS)
def coupon_stats():  # noqa: ANN201
    runtime = current_runtime()
    by = request.args.get("by", "template")
    if by not in stats.DIMENSIONS:
        raise ApiError(f"by must be one of {', '.join(stats.DIMENSIONS)}", code="bad_query")
    first, last = day_range(runtime, most_days=stats.MAX_DAYS)
    with runtime.transaction() as db_session:
        rows = stats.coupon_stats(db_session=db_session, config=runtime.config, by=by, first_day=first,
                                  last_day=last, template_id=query_id_of("template_id", CouponTemplate.id))
    return jsonify(by=by, first_day=first.isoformat(), last_day=last.isoformat(),
                   rows=[r.as_json() for r in rows], totals=stats.totals(rows).as_json())


@blueprint.get("/api/coupons/attempts")
@require_role(*MANAGERS)
def coupon_attempts():  # noqa: ANN201
    """The audit log, newest first; ``coupon_id`` narrows it to one coupon."""
    limit = query_int("limit", default=100, low=1, high=MAX_LIST)  # negative: PostgreSQL refuses LIMIT -1
    with current_runtime().transaction() as db_session:
        found = redemption.list_attempts(db_session=db_session, coupon_id=query_id("coupon_id"),
                                         limit=limit)
        return jsonify(attempts=[attempt_json(a) for a in found])


def _manager_move(code: str, move: Callable[..., redemption.Outcome]):  # noqa: ANN202
    reason = parse(ReasonIn, json_object(), what="reason").reason
    runtime, caller = current_runtime(), current_caller()
    with runtime.transaction() as db_session:
        counter = redemption.Counter(user_id=caller.user_id, store_id=None)
        outcome = move(runtime=runtime, db_session=db_session, code=code, reason=reason, counter=counter)
        body = (coupon_json(db_session, issuing.get_coupon(db_session=db_session, coupon_id=outcome.coupon_id))
                if outcome.ok else None)
    if not outcome.ok:
        _refuse(outcome)
    return jsonify(body)


def _refuse(outcome: redemption.Outcome) -> None:
    raise ApiError(outcome.message, code=outcome.result, status=STATUS_OF.get(outcome.result, 409), **outcome.details)


def _counter(db_session, caller: Caller, store_code: str | None, *, required: bool) -> redemption.Counter | None:  # noqa: ANN001
    """Where this caller redeems: a guide in their own store, anyone else in the store named."""
    if caller.role == "guide":
        counter = redemption.guide_counter(db_session=db_session, user_id=caller.user_id, guide_code=caller.guide_code)
        if counter is None:
            raise Forbidden("only an active guide redeems coupons")
        if store_code is not None and store_code != counter.store_code:
            raise Forbidden(f"a guide redeems only in their own store ({counter.store_code})")
        return counter
    if store_code is None:
        if required:
            raise Unprocessable("store_code: say in which store the coupon is redeemed", field="store_code")
        return None
    counter = redemption.store_counter(db_session=db_session, user_id=caller.user_id, store_code=store_code)
    if counter is None:
        raise Unprocessable(f"store_code: no store with the code {store_code}", field="store_code")
    return counter


def _customer_of(db_session, issue_in: IssueIn) -> int:  # noqa: ANN001
    if issue_in.customer_id is not None:
        customer = resolve(db_session=db_session, customer_id=issue_in.customer_id)
        if customer is None:
            raise Unprocessable(f"customer_id: no customer {issue_in.customer_id}", field="customer_id")
        return customer.id
    return find_customer(db_session=db_session, ref=issue_in.customer).customer_id  # UnknownCustomer: 422

