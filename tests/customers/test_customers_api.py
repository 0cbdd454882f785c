from __future__ import annotations

import time

import pytest

from handlers.signed_callbacks import mp_text_xml


def _message(runtime, wechat, openid: str, msg_id: str, content: str = "hi") -> None:
    xml = mp_text_xml(
        to=runtime.config.wechat.mp.original_id, openid=openid, content=content, msg_id=msg_id, create_time=int(time.time())
    )
    assert wechat.mp(xml).status_code == 200


def test_lookup_by_openid_and_profile_with_paginated_timeline(runtime, client, wechat, auth):
    for i in range(5):
        _message(runtime, wechat, "oTimeline", f"50{i}", content=f"message {i}")
    headers = auth("manager")
    found = client.get("/api/customers/lookup?openid=oTimeline", headers=headers).get_json()
    assert found["identities"][0] == {
        "channel": "mp",
        "external_id": "oTimeline",
        "following": False,
        "followed_at": None,
        "unfollowed_at": None,
    }
    first = client.get(f"/api/customers/{found['id']}?limit=2", headers=headers).get_json()
    assert [e["payload"]["content"] for e in first["timeline"]] == ["message 4", "message 3"]
    second = client.get(f"/api/customers/{found['id']}?limit=2&before={first['next_before']}", headers=headers).get_json()
    assert [e["payload"]["content"] for e in second["timeline"]] == ["message 2", "message 1"]
    last = client.get(f"/api/customers/{found['id']}?limit=2&before={second['next_before']}", headers=headers).get_json()
    assert [e["payload"]["content"] for e in last["timeline"]] == ["message 0"] and last["next_before"] is None


@pytest.mark.parametrize(
    "query, status",
    [
        ("", 400),
        ("?openid=a&external_userid=b", 400),
        ("?openid=oNobody", 404),
        ("?external_userid=wmNobody", 404),
    ],
)
def test_lookup_errors(client, auth, query, status):
    response = client.get(f"/api/customers/lookup{query}", headers=auth("manager"))
    assert response.status_code == status
    assert response.get_json()["error"] in ("bad_query", "not_found")


@pytest.mark.parametrize("query", ["?limit=0", "?limit=201", "?limit=x", "?before=-1"])
def test_profile_rejects_bad_paging(runtime, client, wechat, auth, query):
    _message(runtime, wechat, "oPaging", "601")
    customer_id = client.get("/api/customers/lookup?openid=oPaging", headers=auth("admin")).get_json()["id"]
    assert client.get(f"/api/customers/{customer_id}{query}", headers=auth("admin")).status_code == 400


def test_unknown_customer_is_404(client, auth):
    assert client.get("/api/customers/999999", headers=auth("admin")).status_code == 404


def test_customers_need_a_token_and_guides_see_only_their_own(runtime, client, wechat, auth):
    _message(runtime, wechat, "oPrivate", "701")
    customer_id = client.get("/api/customers/lookup?openid=oPrivate", headers=auth("admin")).get_json()["id"]
    assert client.get(f"/api/customers/{customer_id}").status_code == 401
    assert client.get(f"/api/customers/{customer_id}", headers=auth("guide", "G001")).status_code == 403


def test_merged_customer_id_resolves_to_the_survivor(runtime, client, auth):
    from scrm import flows
    from scrm.customers import service
    from scrm.customers.models import Customer

    with runtime.transaction() as db_session:
        keep = Customer(unionid="uX")
        db_session.add(keep)
        db_session.flush()
        identity, first = service.contact(db_session=db_session, channel="mp", external_id="oMerge")
        assert first
        db_session.get(Customer, identity.customer_id).nickname = "old"
        flows.attach_profile(runtime=runtime, db_session=db_session, identity_id=identity.id, unionid="uX")
        keep_id, drop_id = keep.id, identity.customer_id
    body = client.get(f"/api/customers/{drop_id}", headers=auth("admin")).get_json()
    assert body["id"] == keep_id and body["nickname"] == "old"
    assert [i["external_id"] for i in body["identities"]] == ["oMerge"]


def test_phone_is_masked_for_guides():
    from scrm.customers.schemas import mask_phone

    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone(None) is None


def test_a_manager_sets_and_forgets_a_birthday_and_bad_ones_change_nothing(runtime, client, wechat, auth):
    from scrm.customers.models import Customer

    _message(runtime, wechat, "oBirthday", "7001")
    headers = auth("manager")
    customer_id = client.get("/api/customers/lookup?openid=oBirthday", headers=headers).get_json()["id"]
    answer = client.patch(f"/api/customers/{customer_id}", json={"birthday": "1990-05-12"}, headers=headers)
    assert answer.status_code == 200 and answer.get_json()["birthday"] == "1990-05-12"
    assert client.get(f"/api/customers/{customer_id}", headers=headers).get_json()["birthday"] == "1990-05-12"

    for body, field in (({"birthday": "12/05/1990"}, "birthday"), ({"birthday": 642470400}, "birthday"),
                        ({"birthday": "1990-02-30"}, "birthday"), ({"birthday": "2999-01-01"}, "birthday"),
                        ({"birthday": "1899-12-31"}, "birthday"), ({"birthday": "1991-01-01", "phone": "1"}, "phone"),
                        ({}, "birthday")):
        refused = client.patch(f"/api/customers/{customer_id}", json=body, headers=headers)
        assert refused.status_code == 422, body
        assert [e["field"] for e in refused.get_json()["errors"]] == [field], body
    assert client.patch(f"/api/customers/{customer_id}", data="[]", headers=headers, content_type="application/json").status_code == 400
    assert client.patch("/api/customers/999999", json={"birthday": None}, headers=headers).status_code == 404
    from guide_world import create_guide, create_store

    create_store(runtime)
    create_guide(runtime, "G1")
    assert client.patch(f"/api/customers/{customer_id}", json={"birthday": None},
                        headers=auth("guide", "G1")).status_code == 403
    with runtime.transaction() as db_session:
        assert str(db_session.get(Customer, customer_id).birthday) == "1990-05-12"  # nothing refused changed it

    cleared = client.patch(f"/api/customers/{customer_id}", json={"birthday": None}, headers=headers)
    assert cleared.status_code == 200 and cleared.get_json()["birthday"] is None
