"""Reply rule API (admin, manager): list, create, read, change, delete. A missing rule answers
404, a second enabled follow greeting or default reply 409 with ``existing_id``."""

from __future__ import annotations

from flask import Blueprint, jsonify

from scrm.replies import menu as menus
from scrm.replies import service
from scrm.replies.models import ReplyRule
from scrm.replies.schemas import parse_changes, parse_rule, rule_json
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime, json_object, path_ids_fit
from scrm.web.auth import require_role
from scrm.web.errors import NotFound

blueprint = Blueprint("replies", __name__)
path_ids_fit(blueprint, rule_id=ReplyRule.id)


@blueprint.get("/api/reply-rules")
@require_role(*MANAGERS)
def list_rules():  # noqa: ANN201
    with current_runtime().transaction() as db_session:
        return jsonify(rules=[rule_json(rule) for rule in service.list_rules(db_session=db_session)])


@blueprint.post("/api/reply-rules")
@require_role(*MANAGERS)
def create_rule():  # noqa: ANN201
    rule_in = parse_rule(json_object())
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        rule = service.create_rule(db_session=db_session, redis=runtime.redis, rule_in=rule_in)
        return jsonify(rule_json(rule)), 201


@blueprint.get("/api/reply-rules/<int:rule_id>")
@require_role(*MANAGERS)
def get_rule(rule_id: int):  # noqa: ANN201
    with current_runtime().transaction() as db_session:
        return jsonify(rule_json(service.get_rule(db_session=db_session, rule_id=rule_id)))


@blueprint.patch("/api/reply-rules/<int:rule_id>")
@require_role(*MANAGERS)
def update_rule(rule_id: int):  # noqa: ANN201
    changes = parse_changes(json_object())
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        rule = service.update_rule(db_session=db_session, redis=runtime.redis, rule_id=rule_id, changes=changes)
        return jsonify(rule_json(rule))


@blueprint.delete("/api/reply-rules/<int:rule_id>")
@require_role(*MANAGERS)
def delete_rule(rule_id: int):  # noqa: ANN201
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        service.delete_rule(db_session=db_session, redis=runtime.redis, rule_id=rule_id)
    return "", 204


@blueprint.get("/api/menu")
@require_role(*MANAGERS)
def get_menu():  # noqa: ANN201
    """The Official Account's menu: the newest saved version, in WeChat's ``button`` shape, with
    its publishing status (404 before any is saved; changed on the console's menu page)."""
    with current_runtime().transaction() as db_session:
        menu = menus.current_menu(db_session=db_session)
        if menu is None:
            raise NotFound("no menu has been saved yet: make one at /console/menu")
        return jsonify(id=menu.id, button=menu.buttons, status=menu.status, error=menu.error,
                       published_at=menu.published_at.isoformat() if menu.published_at else None)
