"""``GET /healthz`` (SPEC §11): database, Redis, queue depth, the scheduler's last beat."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from scrm.health import check

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():  # noqa: ANN201

    report = check(current_app.extensions["scrm"])
    return jsonify(report), 200 if report["status"] == "ok" else 503
