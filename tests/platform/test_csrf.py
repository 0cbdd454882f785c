"""Writes from a browser (scrm/web/csrf.py, SPEC §12): every state-changing request a cookie
authenticates carries the session's CSRF token or is refused (403) with nothing changed;
``/api/`` takes a Bearer token only (a session cookie gets 401) and JSON only (415).

The other tests send writes through ``PageClient``, which adds the token as our pages do; here
the token is left out, taken from another session, or read from the page's own form."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from scrm.db import Base
from scrm.web.csrf import NOT_BY_COOKIE, WRITES
from tagging.models import TagGroup
from web_world import log_in, page_text

ROOT = Path(__file__).resolve().parents[2]
# Pages of the fake WeChat (its sign-in screens), not of our site: they post to /sandbox/wechat/.
WECHAT_PAGES = {"sandbox_authorize.html", "sandbox_mp_authorize.html"}


def _rows(runtime) -> dict[str, int]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return {table.name: db_session.scalar(select(func.count()).select_from(table))
                for table in Base.metadata.sorted_tables}


def _path(rule) -> str:  # noqa: ANN001
    """A URL for ``rule`` with a made-up value for each part (the check comes before the view)."""
    return re.sub(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>",
                  lambda m: "1" if m[1] == "int" else m[2].split(",")[0].strip(" '\"") if m[1] == "any"
                  else "png" if m[3] == "fmt" else "X1",
                  rule.rule)


def _cookie_writes(app) -> list[tuple[str, str]]:  # noqa: ANN001
    return sorted((method, _path(rule)) for rule in app.url_map.iter_rules()
                  for method in rule.methods & WRITES if not rule.rule.startswith(NOT_BY_COOKIE))


def test_every_form_on_every_page_carries_the_token():
    templates = [p for package in ("scrm", "guides", "tagging", "qrcodes", "handlers")
                 for p in (ROOT / package).rglob("*.html") if p.name not in WECHAT_PAGES]
    forms = 0
    for template in templates:
        for form in re.findall(r"<form\b[^>]*>.*?</form>", template.read_text(), re.S | re.I):
            if re.search(r'method="post"', form.split(">", 1)[0], re.I):
                forms += 1
                assert 'name="csrf_token" value="{{ csrf_token() }}"' in form, (template.name, form[:120])
    assert forms >= 30  # the console's, the guide's redeem and tasks, log in and out


def test_no_cookie_authenticated_write_goes_through_without_the_token(app, client, make_token, runtime):
    log_in(client, make_token, "admin")
    writes = _cookie_writes(app)
    assert ("POST", "/m/redeem") in writes and ("POST", "/console/tags") in writes and ("POST", "/logout") in writes
    assert ("POST", "/sandbox/phone/api/send") in writes and len(writes) >= 30
    rows, keys = _rows(runtime), runtime.redis.dbsize()
    for method, path in writes:
        answer = client.open(path, method=method, data={"name": "x", "code": "S9"}, csrf=False)
        assert answer.status_code == 403, (method, path, answer.status_code)
        assert "页面已过期" in page_text(answer), (method, path)
    json_answer = client.post("/sandbox/phone/api/customers", json={}, headers={"Accept": "application/json"}, csrf=False)
    assert json_answer.status_code == 403 and json_answer.get_json()["error"] == "csrf_failed"
    assert (_rows(runtime), runtime.redis.dbsize()) == (rows, keys)  # nothing written, no session ended
    assert client.get("/console/tags").status_code == 200  # still signed in: the refused logout did nothing


def test_the_token_in_the_page_works_and_one_from_another_session_does_not(app, client, make_token, runtime):
    log_in(client, make_token, "manager")
    form = client.get("/console/tags").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    other = app.test_client()
    log_in(other, make_token, "manager")
    foreign = other.post("/console/tag-groups", data={"name": "偷偷", "csrf_token": token}, csrf=False)
    assert foreign.status_code == 403
    forged = client.post("/console/tag-groups", data={"name": "偷偷", "csrf_token": token[:-2] + "xx"}, csrf=False)
    assert forged.status_code == 403
    assert _rows(runtime)["tag_groups"] == 0
    made = client.post("/console/tag-groups", data={"name": "兴趣", "csrf_token": token}, csrf=False)
    assert made.status_code == 302
    with runtime.transaction() as db_session:
        assert db_session.scalars(select(TagGroup.name)).all() == ["兴趣"]


def test_signing_in_again_makes_a_new_token(client, make_token):
    login_page = client.get("/login").get_data(as_text=True)
    before = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)
    assert client.post("/login", data={"token": make_token("manager"), "csrf_token": before}, csrf=False).status_code == 302
    assert client.post("/console/tag-groups", data={"name": "兴趣", "csrf_token": before}, csrf=False).status_code == 403


def test_a_sign_in_without_the_token_is_refused(client, make_token):
    answer = client.post("/login", data={"token": make_token("admin")}, csrf=False)
    assert answer.status_code == 403
    assert client.get("/console/tags").headers["Location"] == "/login?next=/console/tags"


def test_the_api_takes_a_bearer_token_only(client, make_token, auth, runtime):
    log_in(client, make_token, "admin")
    for method, path, body in (("POST", "/api/tag-groups", {"name": "兴趣"}), ("GET", "/api/users", None),
                               ("DELETE", "/api/tags/1", None)):
        answer = client.open(path, method=method, json=body)
        assert answer.status_code == 401 and "bearer" in answer.get_json()["message"]
    assert _rows(runtime)["tag_groups"] == 0
    assert client.post("/api/tag-groups", json={"name": "兴趣"}, headers=auth("manager")).status_code == 201


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                          "application/xml", None])
def test_the_api_takes_json_only(client, auth, runtime, content_type):
    headers = {**auth("manager"), **({"Content-Type": content_type} if content_type else {})}
    answer = client.post("/api/tag-groups", data='{"name": "兴趣"}', headers=headers)
    assert answer.status_code == 415 and answer.get_json()["error"] == "unsupported_media_type"
    assert _rows(runtime)["tag_groups"] == 0
    group = client.post("/api/tag-groups", data='{"name": "兴趣"}', headers={**auth("manager"), "Content-Type":
                                                                           "application/json; charset=utf-8"})
    assert group.status_code == 201
    tag = client.post("/api/tags", data=f'{{"group_id": {group.get_json()["id"]}, "name": "奶粉"}}',
                      headers={**headers, "Content-Type": "text/plain"})
    assert tag.status_code == 415 and _rows(runtime)["tags"] == 0
    assert client.delete("/api/tags/1", headers=auth("manager")).status_code == 404  # no body: nothing to refuse


def test_the_guides_csv_import_is_the_one_other_body(client, auth, runtime):
    from guides.models import Guide

    assert client.post("/api/stores", json={"code": "S1", "name": "静安店"}, headers=auth("manager")).status_code == 201
    refused = client.post("/api/guides/import", data="code,name,store\nG1,王小美,S1\n",
                          headers={**auth("manager"), "Content-Type": "text/plain"})
    assert refused.status_code == 415 and "text/csv" in refused.get_json()["message"]
    assert _rows(runtime)["guides"] == 0
    imported = client.post("/api/guides/import", data="code,name,store,wecom_userid\nG1,王小美,S1,wx-g1\n",
                           headers={**auth("manager"), "Content-Type": "text/csv"})
    assert imported.status_code in (200, 201), imported.get_json()
    with runtime.transaction() as db_session:
        assert db_session.scalars(select(Guide.code)).all() == ["G1"]


def test_pages_scripts_send_the_token_in_a_header(client, make_token):
    log_in(client, make_token, "manager")
    editor = client.get("/console/campaigns/new").get_data(as_text=True)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', editor).group(1)
    counted = client.post("/console/campaigns/preview", json={"audience": {}}, headers={"X-CSRFToken": token},
                          csrf=False)
    assert counted.status_code == 200 and counted.get_json()["count"] == 0
    refused = client.post("/console/campaigns/preview", json={"audience": {}}, csrf=False)
    assert refused.status_code == 403 and refused.get_json()["error"] == "csrf_failed"
