"""The tag rule API: CRUD, validation naming the field (nothing written), 404s, roles, and the
rule-book version bumped after each commit only."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from tag_world import create_tag

from tagging.models import TagRule
from tagging.rules import VERSION_KEY

URL = "/api/tag-rules"


@pytest.fixture
def milk(runtime) -> int:
    return create_tag(runtime, "奶粉")


def rule_count(runtime) -> int:
    with runtime.transaction() as db_session:
        return db_session.scalar(select(func.count()).select_from(TagRule))


def version(runtime) -> int:
    return int(runtime.redis.get(VERSION_KEY) or 0)


def test_create_read_list_update_delete(client, manager, runtime, milk):
    created = client.post(
        URL, json={"kind": "keyword", "pattern": " 奶粉 ", "tag_id": milk, "weight": 0.5, "synonyms": ["配方奶"]}, headers=manager
    )
    assert created.status_code == 201, created.get_json()
    rule = created.get_json()
    assert rule["pattern"] == "奶粉" and rule["synonyms"] == ["配方奶"] and rule["weight"] == 0.5
    assert rule["substring"] is False and rule["enabled"] is True and rule["created_at"]
    assert client.get(f"{URL}/{rule['id']}", headers=manager).get_json() == rule
    assert client.get(URL, headers=manager).get_json() == {"rules": [rule]}
    assert client.get(f"{URL}?tag_id={milk + 1}", headers=manager).get_json() == {"rules": []}

    patched = client.patch(f"{URL}/{rule['id']}", json={"substring": True, "weight": 2}, headers=manager)
    assert patched.status_code == 200, patched.get_json()
    assert patched.get_json()["substring"] is True and patched.get_json()["synonyms"] == ["配方奶"]
    scene = client.patch(f"{URL}/{rule['id']}", json={"kind": "scene", "pattern": "g:*"}, headers=manager)
    assert scene.status_code == 200, scene.get_json()
    assert scene.get_json()["synonyms"] == [] and scene.get_json()["substring"] is False  # keyword-only fields dropped

    assert client.delete(f"{URL}/{rule['id']}", headers=manager).status_code == 204
    assert client.get(f"{URL}/{rule['id']}", headers=manager).status_code == 404
    assert client.delete(f"{URL}/{rule['id']}", headers=manager).status_code == 404
    assert rule_count(runtime) == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "regex", "pattern": "x"}, "kind"),
        ({"kind": "keyword"}, "pattern"),
        ({"kind": "keyword", "pattern": "   "}, "pattern"),
        ({"kind": "keyword", "pattern": "奶" * 33}, "pattern"),
        ({"kind": "keyword", "pattern": "奶 粉"}, "pattern"),  # two words: only as a substring
        ({"kind": "keyword", "pattern": "奶粉", "synonyms": ["配方奶", "牛奶 粉"]}, "synonyms.1"),
        ({"kind": "keyword", "pattern": "奶粉", "synonyms": ["奶粉"]}, "synonyms.0"),
        ({"kind": "keyword", "pattern": "奶粉", "synonyms": "配方奶"}, "synonyms"),
        ({"kind": "keyword", "pattern": "奶粉", "synonyms": ["x"] * 21}, "synonyms"),
        ({"kind": "click", "pattern": "K", "synonyms": ["x"]}, "synonyms"),
        ({"kind": "click", "pattern": "K", "substring": True}, "substring"),
        ({"kind": "click", "pattern": "键" * 43}, "pattern"),  # 129 bytes
        ({"kind": "view", "pattern": "javascript:alert(1)"}, "pattern"),
        ({"kind": "view", "pattern": "https://" + "a" * 250}, "pattern"),
        ({"kind": "scene", "pattern": "g*:1"}, "pattern"),
        ({"kind": "event", "pattern": "buy"}, "pattern"),
        ({"kind": "keyword", "pattern": "奶粉", "weight": 0}, "weight"),
        ({"kind": "keyword", "pattern": "奶粉", "weight": -1}, "weight"),
        ({"kind": "keyword", "pattern": "奶粉", "weight": 100.5}, "weight"),
        ({"kind": "keyword", "pattern": "奶粉", "weight": "1"}, "weight"),
        ({"kind": "keyword", "pattern": "奶粉", "weight": True}, "weight"),
        ({"kind": "keyword", "pattern": "奶粉", "enabled": "yes"}, "enabled"),
        ({"kind": "keyword", "pattern": "奶粉", "colour": "red"}, "colour"),
        ({"kind": "keyword", "pattern": "奶粉", "tag_id": "1"}, "tag_id"),
    ],
)
def test_invalid_input_names_the_field_and_writes_nothing(client, manager, runtime, milk, payload, field):
    body = {"tag_id": milk, **payload}
    before = version(runtime)
    response = client.post(URL, json=body, headers=manager)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["field"] == field, response.get_json()
    assert rule_count(runtime) == 0 and version(runtime) == before


def test_limits_that_are_allowed(client, manager, milk):
    for payload in (
        {"kind": "keyword", "pattern": "奶" * 32, "weight": 100},
        {"kind": "keyword", "pattern": "奶 粉", "substring": True},
        {"kind": "keyword", "pattern": "C++"},
        {"kind": "click", "pattern": "键" * 42},
        {"kind": "scene", "pattern": "*"},
        {"kind": "event", "pattern": "purchase", "weight": 0.01},
    ):
        response = client.post(URL, json={"tag_id": milk, **payload}, headers=manager)
        assert response.status_code == 201, (payload, response.get_json())


def test_an_invalid_change_is_refused_whole(client, manager, runtime, milk):
    rule = client.post(URL, json={"kind": "click", "pattern": "K", "tag_id": milk}, headers=manager).get_json()
    response = client.patch(f"{URL}/{rule['id']}", json={"kind": "event"}, headers=manager)  # "K" is not an event
    assert response.status_code == 422 and response.get_json()["field"] == "pattern"
    assert client.get(f"{URL}/{rule['id']}", headers=manager).get_json() == rule


def test_unknown_tag_or_rule_is_404(client, manager, milk):
    response = client.post(URL, json={"kind": "click", "pattern": "K", "tag_id": 999_999}, headers=manager)
    assert response.status_code == 404 and "tag 999999" in response.get_json()["message"]
    rule = client.post(URL, json={"kind": "click", "pattern": "K", "tag_id": milk}, headers=manager).get_json()
    assert client.patch(f"{URL}/{rule['id']}", json={"tag_id": 999_999}, headers=manager).status_code == 404
    assert client.patch(f"{URL}/999999", json={"weight": 2}, headers=manager).status_code == 404
    assert client.patch(f"{URL}/99999999999", json={"weight": 2}, headers=manager).status_code == 404
    assert client.get(f"{URL}/999999", headers=manager).status_code == 404


def test_a_tag_of_a_computed_group_cannot_have_rules(client, manager, runtime):
    vip = create_tag(runtime, "重要价值客户", group="RFM", computed=True)
    response = client.post(URL, json={"kind": "click", "pattern": "K", "tag_id": vip}, headers=manager)
    assert response.status_code == 422 and response.get_json()["field"] == "tag_id"


def test_admin_and_manager_only(client, auth, milk):
    body = {"kind": "click", "pattern": "K", "tag_id": milk}
    assert client.get(URL).status_code == 401
    assert client.post(URL, json=body).status_code == 401
    assert client.get(URL, headers=auth("guide", "G001")).status_code == 403
    assert client.post(URL, json=body, headers=auth("guide", "G001")).status_code == 403
    assert client.post(URL, json=body, headers=auth("admin")).status_code == 201


def test_each_write_bumps_the_version_after_its_commit(client, manager, runtime, milk):
    start = version(runtime)
    rule = client.post(URL, json={"kind": "click", "pattern": "K", "tag_id": milk}, headers=manager).get_json()
    assert version(runtime) == start + 1
    client.patch(f"{URL}/{rule['id']}", json={"weight": 3}, headers=manager)
    assert version(runtime) == start + 2
    client.delete(f"{URL}/{rule['id']}", headers=manager)
    assert version(runtime) == start + 3
    client.get(URL, headers=manager)
    assert version(runtime) == start + 3


def test_a_rolled_back_write_does_not_bump(runtime, milk):
    from tagging import rules
    from tagging.schemas import parse_rule

    before = version(runtime)
    with pytest.raises(RuntimeError), runtime.transaction() as db_session:
        rules.create_rule(
            db_session=db_session, redis=runtime.redis, rule_in=parse_rule({"kind": "click", "pattern": "K", "tag_id": milk})
        )
        raise RuntimeError("the caller fails after the write")
    assert version(runtime) == before and rule_count(runtime) == 0


def test_bad_json_is_400(client, manager):
    response = client.post(URL, data="[1, 2]", headers={**manager, "Content-Type": "application/json"})
    assert response.status_code == 400 and response.get_json()["error"] == "bad_json"
