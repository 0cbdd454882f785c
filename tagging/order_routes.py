"""Order API (admin, manager; the brand's order system uses a manager token):
``POST /api/orders``, idempotent on ``order_no`` (201 new, 200 the same again, 409 other
content under a taken order_no, 422 bad input or an unknown customer)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, jsonify

from scrm import flows
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime, json_object
from scrm.web.auth import require_role
from scrm.web.errors import Conflict, Unprocessable
from tagging import orders
from tagging.order_schemas import parse_order

blueprint = Blueprint("orders", __name__)


def _maps_domain_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except orders.UnknownCustomer as exc:
            raise Unprocessable(f"{exc.field}: {exc.message}", code="unknown_customer", field=exc.field) from exc
        except orders.OrderConflict as exc:
            raise Conflict(str(exc), fields=exc.fields, existing=exc.existing) from exc

    return wrapped


@blueprint.post("/api/orders")
@require_role(*MANAGERS)
@_maps_domain_errors
def create_order():  # noqa: ANN201
    runtime = current_runtime()
    order_in = parse_order(json_object(), now=runtime.clock.now())
    with runtime.transaction() as db_session:
        order, created = flows.record_order(runtime=runtime, db_session=db_session, order_in=order_in)
        body = orders.order_json(order)
    return jsonify(body), 201 if created else 200

