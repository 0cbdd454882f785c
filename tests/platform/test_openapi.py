"""``GET /api/openapi.json`` describes every API route with what it reads and answers (SPEC §11):
query parameters as the views read them, a request body for every view that reads one, a
success answer for every operation, the error answers; and real answers fit what it says."""

from __future__ import annotations

import inspect
import re

import jsonschema_rs
import pytest

from scrm.customers.service import contact
from scrm.sandbox import world
from scrm.web.openapi_operations import OPERATIONS

pytestmark = pytest.mark.parametrize("backend", ["embedded"], indirect=True)

# What a view's source reads from the query: request.args.get("x"), query_id("x"), _int_arg("x", …), …
_QUERY_READS = re.compile(
    r"""(?:request\.args\.get|request\.args\[|query_id|query_id_of|query_int|_int_arg)\(?\s*["'](\w+)["']""")
_HELPERS = {"day_range(": ("from", "to"), "_channel()": ("channel",), "_days()": ("days",)}
_READS_JSON = ("json_object(", "get_json(", "_manager_move(", "_preview(")


def post_store(client, headers):  # noqa: ANN001, ANN201
    return client.post("/api/stores", json={"code": "S1", "name": "上海静安店"}, headers=headers)


def post_guide(runtime, client, headers):  # noqa: ANN001, ANN201
    world.add_member(runtime.redis, "member-g1", "王小美")
    body = {"code": "G1", "name": "王小美", "store": "S1", "wecom_userid": "member-g1"}
    return client.post("/api/guides", json=body, headers=headers)


@pytest.fixture
def spec(client):  # noqa: ANN001, ANN201
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def _operations(app):  # noqa: ANN001, ANN202
    """(path, method, endpoint, the view's source) of every /api/ operation."""
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") and rule.endpoint != "openapi.openapi":
            source = inspect.getsource(inspect.unwrap(app.view_functions[rule.endpoint]))
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield path, method.lower(), rule.endpoint, source


def test_every_api_route_is_described_and_every_description_names_a_route(app, spec):
    described = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    routes = {(path, method) for path, method, _, _ in _operations(app)}
    assert routes == described
    endpoints = {endpoint for _, _, endpoint, _ in _operations(app)}
    assert endpoints == set(OPERATIONS)  # a renamed or new view is noticed here
    assert any(path.startswith("/api/sandbox/") for path, _ in routes)  # the tests run in sandbox mode


def test_every_operation_has_a_success_answer_with_a_schema_or_says_no_content(spec):
    for path, ops in spec["paths"].items():
        for method, operation in ops.items():
            successes = {status: answer for status, answer in operation["responses"].items() if status.startswith("2")}
            assert successes, (path, method)
            for status, answer in successes.items():
                if status == "204":
                    assert "content" not in answer, (path, method)
                    continue
                (media, content), *_ = answer["content"].items()
                assert content["schema"], (path, method)
                if media == "application/json":
                    name = content["schema"]["$ref"].rsplit("/", 1)[1]
                    assert spec["components"]["schemas"][name]["properties"], (path, method, name)


def test_every_view_that_reads_a_body_describes_it_and_no_other_does(app, spec):
    for path, method, endpoint, source in _operations(app):
        operation = spec["paths"][path][method]
        if endpoint == "guides_api.import_csv":
            assert list(operation["requestBody"]["content"]) == ["text/csv"]
        elif any(read in source for read in _READS_JSON):
            assert "application/json" in operation["requestBody"]["content"], (path, method)
        else:
            assert "requestBody" not in operation, (path, method)
            if method != "get":
                assert "No request body" in operation["description"], (path, method)


def test_every_query_parameter_a_view_reads_is_described(app, spec):
    for path, method, _, source in _operations(app):
        read = set(_QUERY_READS.findall(source))
        read.update(name for helper, names in _HELPERS.items() if helper in source for name in names)
        parameters = spec["paths"][path][method]["parameters"]
        described = {p["name"] for p in parameters if p["in"] == "query"}
        assert read == described, (path, method)


def test_the_query_parameters_of_known_routes_say_their_type_and_bounds(spec):
    def parameters(path):  # noqa: ANN001, ANN202
        return {p["name"]: p for p in spec["paths"][path]["get"]["parameters"]}

    lookup = parameters("/api/customers/lookup")
    assert set(lookup) == {"openid", "external_userid"} and not any(p["required"] for p in lookup.values())
    funnel = parameters("/api/stats/funnel")
    assert funnel["from"]["schema"] == funnel["to"]["schema"] == {"type": "string", "format": "date"}
    assert {"store", "guide"} <= set(funnel)
    page = parameters("/api/guides/{code}/customers")["limit"]["schema"]
    assert (page["minimum"], page["maximum"]) == (1, 200)
    assert parameters("/api/tags/audience")["expr"]["required"] is True
    assert parameters("/api/coupons")["customer_id"]["required"] is True
    assert parameters("/api/tag-rules")["tag_id"]["schema"]["maximum"] == 2**31 - 1
    assert parameters("/api/customers/{customer_id}")["customer_id"]["schema"]["type"] == "integer"


def test_errors_auth_and_json_only_are_described(spec):
    assert "Bearer" in spec["info"]["description"] and "415" in spec["info"]["description"]
    assert spec["security"] == [{"bearer": []}]
    for path, ops in spec["paths"].items():
        for method, operation in ops.items():
            statuses = set(operation["responses"])
            assert {"400", "401", "403", "404", "422"} <= statuses, (path, method)
            if "requestBody" in operation and "application/json" in operation["requestBody"]["content"]:
                assert "415" in statuses, (path, method)
    assert "429" in spec["paths"]["/api/coupons/redeem"]["post"]["responses"]
    error = spec["components"]["responses"]["415"]["content"]["application/json"]["schema"]["$ref"]
    assert spec["components"]["schemas"][error.rsplit("/", 1)[1]]["required"] == ["error", "message"]
    # Two models of one name in two domains stay two: replies' and coupons' RuleIn.
    reply = spec["paths"]["/api/reply-rules"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    coupon = spec["paths"]["/api/coupon-rules"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert reply != coupon


def test_a_patch_of_some_fields_requires_none(spec):
    ref = spec["paths"]["/api/tag-rules/{rule_id}"]["patch"]["requestBody"]["content"]["application/json"]["schema"]
    partial = spec["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]
    assert "required" not in partial and {"pattern", "tag_id", "enabled"} <= set(partial["properties"])


def test_real_answers_fit_the_schemas_described(runtime, client, manager, spec):
    with runtime.transaction() as db_session:
        contact(db_session=db_session, channel="mp", external_id="o-described")
    calls = [
        ("post", "/api/stores", lambda: post_store(client, manager)),
        ("post", "/api/guides", lambda: post_guide(runtime, client, manager)),
        ("get", "/api/guides/{code}", lambda: client.get("/api/guides/G1", headers=manager)),
        ("get", "/api/stores/{code}", lambda: client.get("/api/stores/S1", headers=manager)),
        ("post", "/api/tag-groups", lambda: client.post("/api/tag-groups", json={"name": "兴趣"}, headers=manager)),
        ("post", "/api/tags", lambda: client.post("/api/tags", json={"group": "兴趣", "name": "奶粉"}, headers=manager)),
        ("get", "/api/tags", lambda: client.get("/api/tags", headers=manager)),
        ("get", "/api/customers/lookup",
         lambda: client.get("/api/customers/lookup?openid=o-described", headers=manager)),
        ("get", "/api/customers/{customer_id}", lambda: client.get("/api/customers/1", headers=manager)),
        ("get", "/api/stats/funnel", lambda: client.get("/api/stats/funnel", headers=manager)),
        ("get", "/api/me", lambda: client.get("/api/me", headers=manager)),
        ("get", "/api/journeys", lambda: client.get("/api/journeys", headers=manager)),
        ("post", "/api/stores", lambda: post_store(client, manager)),  # the same code again: 409
        ("post", "/api/tag-groups", lambda: client.post("/api/tag-groups", json={"name": 7}, headers=manager)),  # 422
        ("get", "/api/me", lambda: client.get("/api/me")),  # no token: 401
    ]
    seen = set()
    for method, path, call in calls:
        response = call()
        seen.add(response.status_code)
        answer = spec["paths"][path][method]["responses"][str(response.status_code)]
        if "$ref" in answer:
            answer = spec["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
        schema = {**answer["content"]["application/json"]["schema"], "components": spec["components"]}
        errors = [e.message for e in jsonschema_rs.validator_for(schema).iter_errors(response.get_json())]
        assert not errors, (method, path, response.status_code, errors)
    assert {200, 201, 401, 409, 422} <= seen


def test_a_described_answer_that_a_route_contradicts_is_noticed(runtime, client, manager, spec):
    """The check above can fail: a guide without its ``store`` does not fit GuideOut."""
    post_store(client, manager)
    guide = post_guide(runtime, client, manager).get_json()
    del guide["store"]
    schema = {"$ref": "#/components/schemas/guides.GuideOut", "components": spec["components"]}
    assert not jsonschema_rs.validator_for(schema).is_valid(guide)
