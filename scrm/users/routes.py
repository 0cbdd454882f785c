"""User API: who am I (any role), list users (admin)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from scrm.users import service
from scrm.users.schemas import user_json
from scrm.web.api import current_runtime
from scrm.web.auth import current_caller, require_role

blueprint = Blueprint("users", __name__)


@blueprint.get("/api/me")
@require_role()
def me():  # noqa: ANN201
    caller = current_caller()
    return jsonify(id=caller.user_id, name=caller.name, role=caller.role, guide_code=caller.guide_code)


@blueprint.get("/api/users")
@require_role("admin")
def list_users():  # noqa: ANN201
    with current_runtime().transaction() as db_session:
        users = service.list_users(db_session=db_session)
        return jsonify(users=[user_json(user) for user in users])
