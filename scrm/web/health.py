"""``GET /healthz`` (SPEC §11): database, Redis, queue depth, the scheduler's last beat."""

from __future__ import annotations

from flask import Blueprint, jsonify

from scrm.health import check
from scrm.web.api import current_runtime

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():  # noqa: ANN201
    report = check(current_runtime())
    return jsonify(report), 200 if report["status"] == "ok" else 503
