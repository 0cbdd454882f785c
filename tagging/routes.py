"""Tagging API (SPEC §5, §8, §11): groups and tags, a manager's tags on customers, audiences,
tag rules, and orders.

Admins and managers write; a guide may read the tag list and the tags of their own customers
(those bound to them now). The brand's order system posts orders with a manager token:
``POST /api/orders`` is idempotent on ``order_no`` (201 new, 200 the same again, 409 other
content under a taken order_no, 422 bad input or an unknown customer; with ``points_used``, 404
``not_a_member`` or 409 ``not_enough_points`` and no order); ``POST
/api/orders/<order_no>/refund`` is idempotent as tagging/refunds.py says (201 new, 200 the same
again, 404 ``order_not_found``, 409 ``over_refund`` / ``refund_conflict``). Domain errors are
answered by scrm/web/errors.py.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, jsonify, request

from guides.audience_places import PLACES
from guides.roster import may_see
from scrm import flows
from scrm.clock import as_utc
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime, json_object, path_ids_fit, query_id_of
from scrm.web.auth import current_caller, require_role
from scrm.web.errors import ApiError, Forbidden
from scrm.members import orders as member_orders
from tagging import orders, refunds, rules, service
from tagging.models import Tag, TagGroup, TagRule
from tagging.schemas import (
    GroupChanges,
    GroupIn,
    ManualTagIn,
    TagIn,
    parse,
    parse_changes,
    parse_order,
    parse_refund,
    parse_rule,
)

blueprint = Blueprint("tags", __name__)
path_ids_fit(blueprint, group_id=TagGroup.id, tag_id=Tag.id, rule_id=TagRule.id)

SAMPLE_SIZE = 10


# -- groups and tags -------------------------------------------------------------------------


@blueprint.get("/api/tags")
@require_role(*MANAGERS, "guide")
def list_tags():  # noqa: ANN201
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        groups = service.list_groups(db_session=db_session, now=runtime.clock.now())
        return jsonify(groups=[_group_json(entry.group, entry.tags) for entry in groups])


@blueprint.post("/api/tag-groups")
@require_role(*MANAGERS)
def create_group():  # noqa: ANN201
    group_in = parse(GroupIn, json_object())
    with current_runtime().transaction() as db_session:
        group = service.create_group(db_session=db_session, group_in=group_in)
        return jsonify(_group_json(group, ())), 201


@blueprint.patch("/api/tag-groups/<int:group_id>")
@require_role(*MANAGERS)
def update_group(group_id: int):  # noqa: ANN201
    changes = parse(GroupChanges, json_object())
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        group = service.update_group(db_session=db_session, group_id=group_id, changes=changes, now=runtime.clock.now())
        return jsonify(_group_json(group, None))


@blueprint.post("/api/tags")
@require_role(*MANAGERS)
def create_tag():  # noqa: ANN201
    tag_in = parse(TagIn, json_object())
    with current_runtime().transaction() as db_session:
        tag, group = service.create_tag(db_session=db_session, tag_in=tag_in)
        return jsonify({**_tag_json(tag, 0), "group": group.name}), 201


@blueprint.delete("/api/tags/<int:tag_id>")
@require_role(*MANAGERS)
def delete_tag(tag_id: int):  # noqa: ANN201
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        service.delete_tag(db_session=db_session, redis=runtime.redis, tag_id=tag_id)
    return "", 204


@blueprint.get("/api/tags/audience")
@require_role(*MANAGERS)
def audience():  # noqa: ANN201
    text = request.args.get("expr")
    if text is None:
        raise ApiError("give the audience expression as ?expr=", code="bad_query")
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        preview = service.preview_audience(db_session=db_session, text=text, now=runtime.clock.now(), limit=SAMPLE_SIZE,
                                           places=PLACES)
    sample = [{"id": customer_id, "nickname": nickname} for customer_id, nickname in preview.sample]
    return jsonify(expr=text, count=preview.count, sample=sample)


# -- a manager's tags on a customer ----------------------------------------------------------


@blueprint.get("/api/customers/<int:customer_id>/tags")
@require_role(*MANAGERS, "guide")
def customer_tags(customer_id: int):  # noqa: ANN201
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        holder, tags = service.customer_tags(db_session=db_session, customer_id=customer_id, now=runtime.clock.now())
        if not may_see(db_session=db_session, caller=current_caller(), customer_id=holder):
            raise Forbidden("this customer is not yours")
    return jsonify(customer_id=holder, tags=tags)


@blueprint.post("/api/customers/<int:customer_id>/tags")
@require_role(*MANAGERS)
def add_customer_tag(customer_id: int):  # noqa: ANN201
    tag_in = parse(ManualTagIn, json_object())
    return _set_manual(customer_id, tag_in.tag_id, on=True)


@blueprint.delete("/api/customers/<int:customer_id>/tags/<int:tag_id>")
@require_role(*MANAGERS)
def remove_customer_tag(customer_id: int, tag_id: int):  # noqa: ANN201
    return _set_manual(customer_id, tag_id, on=False)


def _set_manual(customer_id: int, tag_id: int, *, on: bool):  # noqa: ANN202
    runtime = current_runtime()
    now, manager = runtime.clock.now(), current_caller().name
    with runtime.transaction() as db_session:
        change = service.tag_customer(
            db_session=db_session, customer_id=customer_id, tag_id=tag_id, on=on, now=now, manager=manager
        )
    return jsonify(customer_id=change.customer_id, changed=change.changed, tags=change.tags)


# -- tag rules -------------------------------------------------------------------------------


@blueprint.get("/api/tag-rules")
@require_role(*MANAGERS)
def list_rules():  # noqa: ANN201
    tag_id = query_id_of("tag_id", Tag.id)
    with current_runtime().transaction() as db_session:
        return jsonify(rules=[_rule_json(rule) for rule in rules.list_rules(db_session=db_session, tag_id=tag_id)])


@blueprint.post("/api/tag-rules")
@require_role(*MANAGERS)
def create_rule():  # noqa: ANN201
    rule_in = parse_rule(json_object())
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        rule = rules.create_rule(db_session=db_session, redis=runtime.redis, rule_in=rule_in)
        return jsonify(_rule_json(rule)), 201


@blueprint.get("/api/tag-rules/<int:rule_id>")
@require_role(*MANAGERS)
def get_rule(rule_id: int):  # noqa: ANN201
    with current_runtime().transaction() as db_session:
        return jsonify(_rule_json(rules.get_rule(db_session=db_session, rule_id=rule_id)))


@blueprint.patch("/api/tag-rules/<int:rule_id>")
@require_role(*MANAGERS)
def update_rule(rule_id: int):  # noqa: ANN201
    changes = parse_changes(json_object())
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        rule = rules.update_rule(db_session=db_session, redis=runtime.redis, rule_id=rule_id, changes=changes)
        return jsonify(_rule_json(rule))


@blueprint.delete("/api/tag-rules/<int:rule_id>")
@require_role(*MANAGERS)
def delete_rule(rule_id: int):  # noqa: ANN201
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        rules.delete_rule(db_session=db_session, redis=runtime.redis, rule_id=rule_id)
    return "", 204


# -- orders ----------------------------------------------------------------------------------


@blueprint.post("/api/orders")
@require_role(*MANAGERS)
def create_order():  # noqa: ANN201
    runtime = current_runtime()
    order_in = parse_order(json_object(), now=runtime.clock.now())
    with runtime.transaction() as db_session:
        order, created = flows.record_order(runtime=runtime, db_session=db_session, order_in=order_in)
        points = member_orders.order_points(db_session=db_session, order_no=order.order_no,
                                            customer_id=order.customer_id)
        body = {**orders.order_json(order), "member": _member_json(points)}
    return jsonify(body), 201 if created else 200


@blueprint.post("/api/orders/<order_no>/refund")
@require_role(*MANAGERS)
def refund_order(order_no: str):  # noqa: ANN201
    refund_in = parse_refund(json_object())
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        done = flows.refund_order(runtime=runtime, db_session=db_session, order_no=order_no, refund_in=refund_in)
        reversal = done.reversal
        body = {**orders.order_json(done.refunded.order), "refund": refunds.refund_json(done.refunded),
                "reversed": {"points_taken_back": reversal.points_taken_back,
                             "growth_taken_back": reversal.growth_taken_back,
                             "points_returned": reversal.points_returned}}
    return jsonify(body), 201 if done.refunded.created else 200


# -- JSON ------------------------------------------------------------------------------------


def _member_json(points: member_orders.OrderPoints | None) -> dict[str, Any] | None:
    """What the order gave and took of a member's points and growth (None: not a member's)."""
    if points is None:
        return None
    return {"points_earned": points.points, "points_available_at": _iso(points.available_at),
            "growth": points.growth, "points_used": points.points_used}


def _group_json(group: TagGroup, tags: tuple[tuple[Tag, int], ...] | None) -> dict[str, Any]:
    body = {
        "id": group.id,
        "name": group.name,
        "half_life_days": group.half_life_days,
        "threshold": group.threshold,
        "computed": group.computed,
        "created_at": _iso(group.created_at),
    }
    if tags is not None:
        body["tags"] = [_tag_json(tag, carried) for tag, carried in tags]
    return body


def _tag_json(tag: Tag, carried: int) -> dict[str, Any]:
    # How the tag is mirrored to WeChat (scrm/mirror/jobs.py); mp_error: why WeChat refused it.
    wechat = {"mp_tag_id": tag.mp_tag_id, "work_tag_id": tag.work_tag_id, "mp_error": tag.mp_error}
    return {"id": tag.id, "group_id": tag.group_id, "name": tag.name, "customers": carried, "wechat": wechat}


def _rule_json(rule: TagRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "kind": rule.kind,
        "pattern": rule.pattern,
        "tag_id": rule.tag_id,
        "weight": rule.weight,
        "synonyms": list(rule.synonyms or ()),
        "substring": rule.substring,
        "enabled": rule.enabled,
        # SQLite hands back CURRENT_TIMESTAMP (UTC) without a zone
        "created_at": None if rule.created_at is None else as_utc(rule.created_at).isoformat(),
    }


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    # SQLite hands back CURRENT_TIMESTAMP (UTC) without a zone.
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).isoformat()
