"""Reply rule API (admin, manager): list, create, read, change, delete."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from functools import wraps
from typing import Any

from flask import Blueprint, jsonify

from scrm.replies import service
from scrm.replies.models import ReplyRule
from scrm.replies.schemas import parse_changes, parse_rule
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime, json_object
from scrm.web.auth import require_role
from scrm.web.errors import Conflict, NotFound

blueprint = Blueprint("replies", __name__)


def _maps_domain_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except service.RuleNotFound as exc:
            raise NotFound(str(exc)) from exc
        except service.RuleConflict as exc:
            raise Conflict(str(exc), existing_id=exc.existing_id) from exc

    return wrapped


@blueprint.get("/api/reply-rules")
@require_role(*MANAGERS)
def list_rules():  # noqa: ANN201
    with current_runtime().transaction() as db_session:
        return jsonify(rules=[_as_json(rule) for rule in service.list_rules(db_session=db_session)])


@blueprint.post("/api/reply-rules")
@require_role(*MANAGERS)
@_maps_domain_errors
def create_rule():  # noqa: ANN201
    rule_in = parse_rule(json_object())
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        rule = service.create_rule(db_session=db_session, redis=runtime.redis, rule_in=rule_in)
        return jsonify(_as_json(rule)), 201


@blueprint.get("/api/reply-rules/<int:rule_id>")
@require_role(*MANAGERS)
@_maps_domain_errors
def get_rule(rule_id: int):  # noqa: ANN201
    with current_runtime().transaction() as db_session:
        return jsonify(_as_json(service.get_rule(db_session=db_session, rule_id=rule_id)))


@blueprint.patch("/api/reply-rules/<int:rule_id>")
@require_role(*MANAGERS)
@_maps_domain_errors
def update_rule(rule_id: int):  # noqa: ANN201
    changes = parse_changes(json_object())
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        rule = service.update_rule(db_session=db_session, redis=runtime.redis, rule_id=rule_id, changes=changes)
        return jsonify(_as_json(rule))


@blueprint.delete("/api/reply-rules/<int:rule_id>")
@require_role(*MANAGERS)
@_maps_domain_errors
def delete_rule(rule_id: int):  # noqa: ANN201
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        service.delete_rule(db_session=db_session, redis=runtime.redis, rule_id=rule_id)
    return "", 204




def _as_json(rule: ReplyRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "match": rule.match,
        "keyword": rule.keyword,
        "reply_kind": rule.reply_kind,
        "text": rule.text,
        "articles": rule.articles,
        "priority": rule.priority,
        "enabled": rule.enabled,
        "created_at": _iso(rule.created_at),
        "updated_at": _iso(rule.updated_at),
    }


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    # SQLite hands back CURRENT_TIMESTAMP (UTC) without a zone.
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).isoformat()
