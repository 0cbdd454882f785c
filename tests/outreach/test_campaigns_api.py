"""The campaign API (SPEC §8, §11): validation named field by field and nothing created, the
audience preview (saved or not), launch / pause / cancel and their refusals, journeys that
make drafts, roles."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from campaign_world import TEXT, campaign_body, customer
from coupon_world import make_template
from guide_world import create_store
from scrm.outreach.models import Campaign
from tagging.computed import DORMANT

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Shanghai


def campaign_count(runtime) -> int:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.scalar(select(func.count()).select_from(Campaign))


def create(client, headers, **changes):  # noqa: ANN001, ANN003, ANN201
    return client.post("/api/campaigns", json=campaign_body(NOW, **changes), headers=headers)


def test_a_campaign_is_created_as_a_draft_and_read_back(frozen, client, auth):
    create_store(frozen, "S1")
    template = make_template(frozen)
    headers = auth("manager")
    response = create(client, headers, audience={"store": "S1"}, coupon_template_id=template,
                      variants=[{"name": "A", "weight": 70, "content": TEXT},
                                {"name": "B", "weight": 30, "content": {"kind": "text", "text": "B"}}],
                      holdout_percent=10)
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert (created["status"], created["coupon_template_id"], created["holdout_percent"]) == ("draft", template, 10)
    assert [v["name"] for v in created["variants"]] == ["A", "B"]
    shown = client.get(f"/api/campaigns/{created['id']}", headers=headers).get_json()
    assert shown["audience"]["store"] == "S1" and shown["runs"] == []
    assert shown["results"]["total"]["planned"] == 0
    listed = client.get("/api/campaigns", headers=headers).get_json()["campaigns"]
    assert [c["id"] for c in listed] == [created["id"]]


@pytest.mark.parametrize("changes, field", [
    ({"audience": {"expr": "没有这个标签"}}, "audience.expr"),
    ({"audience": {"expr": "奶粉 &"}}, "audience.expr"),
    ({"audience": {"store": "NOPE"}}, "audience.store"),
    ({"audience": {"guide": "G404"}}, "audience.guide"),
    ({"schedule": {"kind": "cron", "cron": "0 25 * * *"}}, "schedule.cron"),
    ({"schedule": {"kind": "cron", "cron": "every monday"}}, "schedule.cron"),
    ({"schedule": {"kind": "cron"}}, "schedule.cron"),
    ({"schedule": {"kind": "once", "at": "2026-12-01T10:00:00"}}, "schedule.at"),
    ({"schedule": {"kind": "trigger", "event": "birthday"}}, "schedule.days"),
    ({"variants": [{"name": "A", "weight": 60, "content": TEXT}, {"name": "B", "weight": 30, "content": TEXT}]},
     "variants"),
    ({"variants": [{"name": "A", "weight": 50, "content": TEXT}, {"name": "A", "weight": 50, "content": TEXT}]},
     "variants"),
    ({"holdout_percent": 80}, "holdout_percent"),
    ({"coupon_template_id": 999}, "coupon_template_id"),
    ({"channel": "fax"}, "channel"),
    ({"content": {"kind": "news", "title": "新品"}}, "content.url"),
    ({"fallbacks": ["mp_custom"]}, "fallbacks"),
    ({"surprise": 1}, "surprise"),
])
def test_bad_input_is_refused_naming_the_field_and_nothing_is_created(frozen, client, auth, changes, field):
    customer(frozen, tags=("奶粉",))  # the tag exists: "奶粉 &" fails on its grammar, not the name
    response = create(client, auth("manager"), **changes)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["field"] == field
    assert campaign_count(frozen) == 0


def test_a_body_that_is_not_an_object_is_400(frozen, client, auth):
    response = client.post("/api/campaigns", data="[1]", headers={**auth(), "Content-Type": "application/json"})
    assert response.status_code == 400 and response.get_json()["error"] == "bad_json"


def test_preview_counts_the_audience_with_a_sample_before_and_after_saving(frozen, client, auth):
    fans = [customer(frozen, f"fan{i}", tags=("奶粉",)) for i in range(3)]
    customer(frozen, "other", tags=("玩具",))
    headers = auth("manager")
    unsaved = client.post("/api/campaigns/preview", json={"audience": {"expr": "奶粉"}}, headers=headers)
    assert unsaved.status_code == 200, unsaved.get_json()
    assert unsaved.get_json()["count"] == 3
    assert unsaved.get_json()["sample"] == [{"id": i, "nickname": f"fan{n}", "name": f"fan{n}"} for n, i in enumerate(fans)]
    everyone = client.post("/api/campaigns/preview", json={"audience": {}}, headers=headers).get_json()
    assert everyone["count"] == 4
    campaign_id = create(client, headers, audience={"expr": "奶粉 | 玩具"}).get_json()["id"]
    saved = client.post(f"/api/campaigns/{campaign_id}/preview", headers=headers).get_json()
    assert saved["count"] == 4 and len(saved["sample"]) == 4
    instead = client.post(f"/api/campaigns/{campaign_id}/preview", json={"audience": {"expr": "玩具"}},
                          headers=headers).get_json()
    assert instead["count"] == 1
    bad = client.post("/api/campaigns/preview", json={"audience": {"expr": "宠物"}}, headers=headers)
    assert bad.status_code == 422 and bad.get_json()["field"] == "audience.expr"
    assert client.post("/api/campaigns/preview", json={}, headers=headers).status_code == 422
    assert client.post("/api/campaigns/preview", json={"audience": {"x": 1}}, headers=headers).status_code == 422
    assert client.post("/api/campaigns/404/preview", headers=headers).status_code == 404


def test_launch_pause_cancel_and_their_refusals(frozen, client, auth):
    headers = auth("admin")
    campaign_id = create(client, headers, schedule={"kind": "cron", "cron": "0 10 * * 1"}).get_json()["id"]

    def move(action: str):  # noqa: ANN202
        return client.post(f"/api/campaigns/{campaign_id}/{action}", headers=headers)

    assert move("pause").status_code == 409 and move("pause").get_json()["error"] == "not_paused"  # a draft
    launched = move("launch")
    assert launched.status_code == 200
    assert launched.get_json()["status"] == "scheduled"
    assert launched.get_json()["next_run_at"] == NOW.isoformat()  # Monday 10:00 local is now
    again = move("launch")
    assert again.status_code == 409 and again.get_json()["error"] == "not_launchable"
    assert move("pause").get_json()["status"] == "paused"
    assert move("launch").get_json()["status"] == "scheduled"  # resumed
    cancelled = move("cancel").get_json()
    assert cancelled["status"] == "cancelled" and cancelled["next_run_at"] is None
    for action in ("launch", "pause", "cancel"):
        refused = move(action)
        assert refused.status_code == 409, action
    put = client.put(f"/api/campaigns/{campaign_id}", json=campaign_body(NOW), headers=headers)
    assert put.status_code == 409 and put.get_json()["error"] == "not_editable"
    for action in ("launch", "pause", "cancel"):
        assert client.post(f"/api/campaigns/999/{action}", headers=headers).status_code == 404
    assert client.get("/api/campaigns/999", headers=headers).status_code == 404


def test_a_draft_is_edited_with_the_same_validation(frozen, client, auth):
    headers = auth("manager")
    campaign_id = create(client, headers).get_json()["id"]
    changed = client.put(f"/api/campaigns/{campaign_id}", json=campaign_body(NOW, name="改名"), headers=headers)
    assert changed.status_code == 200 and changed.get_json()["name"] == "改名"
    bad = client.put(f"/api/campaigns/{campaign_id}", json=campaign_body(NOW, audience={"store": "X"}),
                     headers=headers)
    assert bad.status_code == 422 and bad.get_json()["field"] == "audience.store"
    assert client.get(f"/api/campaigns/{campaign_id}", headers=headers).get_json()["audience"] == {
        "expr": None, "store": None, "guide": None, "groups": []}


def test_journeys_make_drafts(frozen, client, auth):
    headers = auth("manager")
    listed = client.get("/api/journeys", headers=headers).get_json()["journeys"]
    assert [j["key"] for j in listed] == ["welcome", "birthday", "wake_up", "thank_you", "coupon_expiry",
                                             "points_expiry", "level_up"]
    customer(frozen, tags=(DORMANT,))  # the wake-up audience names the lifecycle tag: it must exist
    wake = client.post("/api/journeys/wake_up", json={}, headers=headers)
    assert wake.status_code == 201, wake.get_json()
    body = wake.get_json()
    assert (body["status"], body["audience"]["expr"], body["schedule"]) == (
        "draft", "沉睡", {"kind": "cron", "cron": "0 10 * * 1", "at": None, "event": None, "days": None, "name": None})
    assert body["when_capped"] == "skip"

    refused = client.post("/api/journeys/birthday", json={}, headers=headers)
    assert refused.status_code == 422 and refused.get_json()["field"] == "coupon_template_id"
    unknown = client.post("/api/journeys/birthday", json={"coupon_template_id": 999}, headers=headers)
    assert unknown.status_code == 422 and unknown.get_json()["field"] == "coupon_template_id"
    template = make_template(frozen, name="生日券")
    birthday = client.post("/api/journeys/birthday", json={"coupon_template_id": template, "name": "生日 11月"},
                           headers=headers)
    assert birthday.status_code == 201
    made = birthday.get_json()
    assert made["schedule"]["event"] == "birthday" and made["schedule"]["days"] == 3
    assert (made["coupon_template_id"], made["name"]) == (template, "生日 11月")
    for key, event in (("welcome", "binding"), ("thank_you", "purchase"), ("coupon_expiry", "coupon_expiring"),
                       ("points_expiry", "points_expiring")):
        made = client.post(f"/api/journeys/{key}", headers=headers)
        assert made.status_code == 201 and made.get_json()["schedule"]["event"] == event
    assert client.post("/api/journeys/nope", json={}, headers=headers).status_code == 404
    assert client.post("/api/journeys/welcome", json={"name": ""}, headers=headers).status_code == 422
    assert campaign_count(frozen) == 6


def test_only_admins_and_managers(frozen, client, auth):
    create_store(frozen, "S1")
    from guide_world import create_guide

    create_guide(frozen, "G1")
    guide = auth("guide", "G1")
    assert client.get("/api/campaigns", headers=guide).status_code == 403
    assert create(client, guide).status_code == 403
    assert client.get("/api/journeys", headers=guide).status_code == 403
    assert client.get("/api/campaigns").status_code == 401
    assert campaign_count(frozen) == 0


def test_the_openapi_description_has_the_campaign_bodies(frozen, client):
    described = client.get("/api/openapi.json").get_json()
    assert "requestBody" in described["paths"]["/api/campaigns"]["post"]
    assert "requestBody" in described["paths"]["/api/journeys/{key}"]["post"]
