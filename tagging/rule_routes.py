"""Tag rule API (admin, manager): list, create, read, change, delete."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from flask import Blueprint, jsonify, request

from scrm.clock import as_utc
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime, json_object
from scrm.web.auth import require_role
from scrm.web.errors import NotFound
from tagging import rules as service
from tagging.models import TagRule
from tagging.rule_schemas import parse_changes, parse_rule

blueprint = Blueprint("tag_rules", __name__)


def _maps_domain_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except service.TagRuleError as exc:  # TagRuleNotFound, TagNotFound
            raise NotFound(str(exc)) from exc

    return wrapped


@blueprint.get("/api/tag-rules")
@require_role(*MANAGERS)
def list_rules():  # noqa: ANN201
    tag_id = request.args.get("tag_id", type=int)
    with current_runtime().transaction() as db_session:
        return jsonify(rules=[_as_json(rule) for rule in service.list_rules(db_session=db_session, tag_id=tag_id)])


@blueprint.post("/api/tag-rules")
@require_role(*MANAGERS)
@_maps_domain_errors
def create_rule():  # noqa: ANN201
    rule_in = parse_rule(json_object())
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        rule = service.create_rule(db_session=db_session, redis=runtime.redis, rule_in=rule_in)
        return jsonify(_as_json(rule)), 201


@blueprint.get("/api/tag-rules/<int:rule_id>")
@require_role(*MANAGERS)
@_maps_domain_errors
def get_rule(rule_id: int):  # noqa: ANN201
    with current_runtime().transaction() as db_session:
        return jsonify(_as_json(service.get_rule(db_session=db_session, rule_id=rule_id)))


@blueprint.patch("/api/tag-rules/<int:rule_id>")
@require_role(*MANAGERS)
@_maps_domain_errors
def update_rule(rule_id: int):  # noqa: ANN201
    changes = parse_changes(json_object())
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        rule = service.update_rule(db_session=db_session, redis=runtime.redis, rule_id=rule_id, changes=changes)
        return jsonify(_as_json(rule))


@blueprint.delete("/api/tag-rules/<int:rule_id>")
@require_role(*MANAGERS)
@_maps_domain_errors
def delete_rule(rule_id: int):  # noqa: ANN201
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        service.delete_rule(db_session=db_session, redis=runtime.redis, rule_id=rule_id)
    return "", 204


def _as_json(rule: TagRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "kind": rule.kind,
        "pattern": rule.pattern,
        "tag_id": rule.tag_id,
        "weight": rule.weight,
        "synonyms": list(rule.synonyms or ()),
        "substring": rule.substring,
        "enabled": rule.enabled,
        "created_at": _iso(rule.created_at),
    }


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return as_utc(moment).isoformat()  # SQLite hands back CURRENT_TIMESTAMP (UTC) without a zone
