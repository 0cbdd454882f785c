"""``GET /api/openapi.json`` (SPEC §11): the JSON API described from the app itself.

Paths and methods come from the URL map, so a route cannot be missing from the description;
summaries are the first line of each view's docstring (else its name); request bodies are
the JSON Schemas of the pydantic models the routes validate with (:data:`BODIES`). Every
route answers errors as ``{"error", "message"}``; bearer tokens as in SPEC §11.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, current_app, jsonify

blueprint = Blueprint("openapi", __name__)

# endpoint → "module:Model" of its JSON body (imported when the description is built).
BODIES = {
    "guides_api.create_store": "guides.schemas:StoreIn",
    "guides_api.create_guide": "guides.schemas:GuideIn",
    "guides_api.update_guide": "guides.schemas:GuideFields",
    "guides_api.leave": "guides.schemas:LeaveIn",
    "tags.create_group": "tagging.schemas:GroupIn",
    "tags.update_group": "tagging.schemas:GroupChanges",
    "tags.create_tag": "tagging.schemas:TagIn",
    "tags.add_customer_tag": "tagging.schemas:ManualTagIn",
    "tags.create_rule": "tagging.schemas:TagRuleIn",
    "tags.create_order": "tagging.schemas:_OrderFields",
    "replies.create_rule": "scrm.replies.schemas:RuleIn",
    "coupons_api.create_template": "scrm.coupons.schemas:TemplateIn",
    "coupons_api.change_template": "scrm.coupons.schemas:TemplateChangeIn",
    "coupons_api.create_rule": "scrm.coupons.schemas:RuleIn",
    "coupons_api.issue_coupon": "scrm.coupons.schemas:IssueIn",
    "coupons_api.redeem_coupon": "scrm.coupons.schemas:RedeemIn",
    "coupons_api.void_coupon": "scrm.coupons.schemas:ReasonIn",
    "coupons_api.unredeem_coupon": "scrm.coupons.schemas:ReasonIn",
    "campaigns_api.create_campaign": "scrm.outreach.schemas:CampaignIn",
    "campaigns_api.update_campaign": "scrm.outreach.schemas:CampaignIn",
    "campaigns_api.preview_audience": "scrm.outreach.schemas:PreviewIn",
    "campaigns_api.preview_campaign": "scrm.outreach.schemas:PreviewIn",
    "campaigns_api.start_journey": "scrm.outreach.journeys:JourneyStartIn",
    "campaigns_api.post_event": "scrm.outreach.events:EventIn",
    "customers.change": "scrm.customers.schemas:CustomerChangeIn",
}
CSV_BODIES = {"guides_api.import_csv"}
ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
}


@blueprint.get("/api/openapi.json")
def openapi():  # noqa: ANN201
    return jsonify(describe(current_app))


def describe(app: Any) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/api/") or rule.endpoint.startswith("openapi."):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(app, rule, path, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "SCRM API", "version": "1", "description": "See SPEC §11 and the README."},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def _operation(app: Any, rule: Any, path: str, schemas: dict[str, Any]) -> dict[str, Any]:
    view = app.view_functions[rule.endpoint]
    doc = (view.__doc__ or "").strip().splitlines()
    operation: dict[str, Any] = {
        "operationId": rule.endpoint.replace(".", "_"),
        "summary": doc[0] if doc else rule.endpoint.split(".")[-1].replace("_", " "),
        "tags": [path.split("/")[2]],
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": {"type": "integer" if conv == "int" else "string"}}
            for conv, name in re.findall(r"<(?:(\w+):)?(\w+)>", rule.rule)
        ],
        "responses": {
            "200": {"description": "OK"},
            "default": {"description": "An error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        },
    }
    model = BODIES.get(rule.endpoint)
    if model is not None:
        module, name = model.split(":")
        schema = __import__(module, fromlist=[name]).__dict__[name].model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        title = name.lstrip("_")
        schemas[title] = schema
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{title}"}}}}
    elif rule.endpoint in CSV_BODIES:
        operation["requestBody"] = {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}
    return operation
