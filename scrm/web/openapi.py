"""``GET /api/openapi.json`` (SPEC §11): the JSON API described from the app itself.

Paths and methods come from the URL map, so a route cannot be missing from the description;
summaries are the first line of each view's docstring (else its name). What each operation
takes and answers (query parameters, body, success and error answers) is in
scrm/web/openapi_operations.py, keyed by endpoint; bodies and answers are the JSON Schemas of
pydantic models (``model_json_schema``), gathered under ``components.schemas`` as
``<domain>.<Model>``.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from flask import Blueprint, current_app, jsonify
from pydantic import BaseModel

from scrm.web.edge import MAX_ID
from scrm.web.openapi_operations import CSV, ERROR_WORDS, EVERY_ERROR, OPERATIONS, WRITE_ERRORS, Op

blueprint = Blueprint("openapi", __name__)

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "a code: bad_query, not_found, unprocessable, …"},
        "message": {"type": "string", "description": "what was wrong, in words"},
        "field": {"type": "string", "description": "on 422: the first field that does not validate"},
        "errors": {"type": "array", "items": {"type": "object"}, "description": "on 422: every field's problem"},
    },
}
DESCRIPTION = """The SCRM's JSON API (SPEC §11).

- **Authentication**: every request carries `Authorization: Bearer <token>` (`scrm users create NAME --role
  ROLE` prints one). A console session cookie does not authenticate /api/: without a valid bearer token the
  answer is 401. Roles: admin, manager, guide; a guide sees only their own customers.
- **JSON only**: a request with a body sends it as `Content-Type: application/json`; another Content-Type
  answers 415 `{"error": "unsupported_media_type", …}`. The one exception is `POST /api/guides/import`, which
  takes `text/csv`.
- **Errors** are `{"error": code, "message": …}` (422 adds `field` and `errors`); bad input is a 4xx with a
  reason, never a 500 (SPEC §12).
- `/api/sandbox/*` exists only when `wechat.sandbox = true`."""


@blueprint.get("/api/openapi.json")
def openapi():  # noqa: ANN201
    return jsonify(describe(current_app))


def describe(app: Any) -> dict[str, Any]:  # noqa: ANN401
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/api/") or rule.endpoint.startswith("openapi."):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(app, rule, method, path, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "SCRM API", "version": "1", "description": DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {str(status): _error(status) for status in sorted(ERROR_WORDS)},
        },
        "security": [{"bearer": []}],
    }


def _operation(app: Any, rule: Any, method: str, path: str, schemas: dict[str, Any]) -> dict[str, Any]:  # noqa: ANN401
    view = app.view_functions[rule.endpoint]
    doc = (view.__doc__ or "").strip().splitlines()
    op = OPERATIONS.get(rule.endpoint) or Op({200: None}, notes="Not described yet.")
    operation: dict[str, Any] = {
        "operationId": rule.endpoint.replace(".", "_"),
        "summary": doc[0] if doc else rule.endpoint.split(".")[-1].replace("_", " "),
        "tags": [path.split("/")[2]],
        "parameters": [_path_parameter(converter, name) for converter, name in
                       re.findall(r"<(?:(\w+):)?(\w+)>", rule.rule)] + list(op.query),
        "responses": {},
    }
    if op.notes:
        operation["description"] = op.notes
    for status, answer in op.ok.items():
        operation["responses"][str(status)] = _success(status, answer, schemas)
    errors = EVERY_ERROR + (WRITE_ERRORS if method in WRITES else ()) + op.errors
    for status in sorted(set(errors)):
        operation["responses"][str(status)] = {"$ref": f"#/components/responses/{status}"}
    if op.body == CSV:
        operation["requestBody"] = {"required": True, "content": {CSV: {"schema": {"type": "string"}}}}
    elif op.body is not None:
        schema = _component(op.body, schemas, partial=op.partial)
        operation["requestBody"] = {"required": op.body_required, "content": {"application/json": {"schema": schema}}}
    elif method in WRITES:
        operation["description"] = (operation.get("description", "") + " No request body.").strip()
    return operation


def _path_parameter(converter: str | None, name: str) -> dict[str, Any]:
    if converter == "int":  # werkzeug matches digits only; beyond 64 bits answers 404 (scrm/web/edge.py)
        schema: dict[str, Any] = {"type": "integer", "minimum": 0, "maximum": MAX_ID}
    elif name == "fmt":
        schema = {"type": "string", "enum": ["pdf", "png"]}
    else:
        schema = {"type": "string", "minLength": 1}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _success(status: int, answer: str | tuple[str, ...] | None, schemas: dict[str, Any]) -> dict[str, Any]:
    if answer is None:
        return {"description": "No content"}
    if isinstance(answer, tuple) or "/" in answer:
        media = answer if isinstance(answer, tuple) else (answer,)
        return {"description": "The file", "content": {m: {"schema": {"type": "string", "format": "binary"}}
                                                       for m in media}}
    description = "Created" if status == 201 else "OK"
    return {"description": description, "content": {"application/json": {"schema": _component(answer, schemas)}}}


def _error(status: int) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": ERROR_WORDS[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if status == 429:
        answer["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}}
    return answer


def _component(name: str, schemas: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """A ``$ref`` to the model's schema, added to ``schemas`` (with the models it uses) as
    ``<domain>.<Model>``; ``partial``: a copy in which no field is required (a PATCH)."""
    module, model_name = name.split(":")
    title, found = _model_schema(module, model_name)
    for key, schema in found.items():
        if schemas.setdefault(key, schema) != schema:
            raise ValueError(f"two models described as {key}: rename one")
    if partial:
        schemas[f"{title}.Changes"] = {k: v for k, v in schemas[title].items() if k != "required"}
        title = f"{title}.Changes"
    return {"$ref": f"#/components/schemas/{title}"}


@cache
def _model_schema(module: str, model_name: str) -> tuple[str, dict[str, Any]]:
    model = __import__(module, fromlist=[model_name]).__dict__[model_name]
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"{module}:{model_name} is not a pydantic model")
    domain = module.removeprefix("scrm.").split(".")[0]
    schema = model.model_json_schema(ref_template=f"#/components/schemas/{domain}.{{model}}")
    found = {f"{domain}.{key}": value for key, value in schema.pop("$defs", {}).items()}
    title = f"{domain}.{model_name.lstrip('_')}"
    found[title] = schema
    return title, found
