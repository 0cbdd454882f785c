"""The tag API: groups and tags (CRUD, every validation error with nothing written), a
manager's tags on customers (timeline, carried tags, no decay), roles."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from scrm.clock import FrozenClock
from scrm.customers.models import Customer, Interaction
from tagging import rules, scores
from tagging.models import CustomerTag, Tag, TagGroup, TagRule

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def counts(runtime) -> tuple[int, int, int]:
    with runtime.transaction() as db_session:
        return tuple(
            db_session.scalar(select(func.count()).select_from(model)) for model in (TagGroup, Tag, CustomerTag)
        )


def create_group(client, headers, **payload):
    response = client.post("/api/tag-groups", json=payload, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def create_tag(client, headers, group, name):
    response = client.post("/api/tags", json={"group": group, "name": name}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def create_customer(runtime, nickname: str | None = None, **fields) -> int:
    with runtime.transaction() as db_session:
        customer = Customer(nickname=nickname, **fields)
        db_session.add(customer)
        db_session.flush()
        return customer.id


def create_computed_group(runtime, name: str = "RFM", tag: str = "重要价值") -> tuple[int, int]:
    with runtime.transaction() as db_session:
        group = TagGroup(name=name, computed=True)
        db_session.add(group)
        db_session.flush()
        computed_tag = Tag(group_id=group.id, name=tag)
        db_session.add(computed_tag)
        db_session.flush()
        return group.id, computed_tag.id


def test_groups_and_tags_crud_with_counts_of_carriers(runtime, client, manager, auth):
    runtime.clock = FrozenClock(START)
    interest = create_group(client, manager, name=" 兴趣 ", half_life_days=30, threshold=2)
    assert interest["name"] == "兴趣" and interest["half_life_days"] == 30 and interest["threshold"] == 2
    assert interest["computed"] is False and interest["tags"] == []
    channel = create_group(client, manager, name="渠道")
    assert channel["half_life_days"] is None and channel["threshold"] == 1

    milk = create_tag(client, manager, "兴趣", "奶粉")  # the group by name
    toys = create_tag(client, manager, interest["id"], "玩具")  # or by id
    store = create_tag(client, manager, channel["id"], "门店")
    assert milk["group_id"] == interest["id"] and milk["group"] == "兴趣" and milk["customers"] == 0

    carrier, other = create_customer(runtime), create_customer(runtime)
    for customer_id in (carrier, other):
        client.post(f"/api/customers/{customer_id}/tags", json={"tag_id": milk["id"]}, headers=manager)
    client.post(f"/api/customers/{carrier}/tags", json={"tag_id": store["id"]}, headers=manager)
    client.delete(f"/api/customers/{other}/tags/{milk['id']}", headers=manager)

    listed = client.get("/api/tags", headers=auth("guide", "G001"))  # guides may read it
    assert listed.status_code == 200
    groups = listed.get_json()["groups"]
    assert [(g["name"], [(t["name"], t["customers"]) for t in g["tags"]]) for g in groups] == [
        ("兴趣", [("奶粉", 1), ("玩具", 0)]),
        ("渠道", [("门店", 1)]),
    ]

    renamed = client.patch(f"/api/tag-groups/{interest['id']}", json={"name": "爱好"}, headers=manager)
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "爱好"
    assert renamed.get_json()["half_life_days"] == 30  # untouched fields stay
    no_decay = client.patch(f"/api/tag-groups/{interest['id']}", json={"half_life_days": None}, headers=manager)
    assert no_decay.status_code == 200 and no_decay.get_json()["half_life_days"] is None

    with runtime.transaction() as db_session:
        db_session.add(TagRule(kind="keyword", pattern="奶粉", tag_id=milk["id"]))
    version = runtime.redis.get(rules.VERSION_KEY)
    assert client.delete(f"/api/tags/{milk['id']}", headers=manager).status_code == 204
    assert runtime.redis.get(rules.VERSION_KEY) != version  # every process reloads its rule book
    assert client.delete(f"/api/tags/{milk['id']}", headers=manager).status_code == 404
    assert counts(runtime) == (2, 2, 1)  # the deleted tag's customer rows went with it
    with runtime.transaction() as db_session:
        assert db_session.scalar(select(func.count()).select_from(TagRule)) == 0
    names = [t["name"] for g in client.get("/api/tags", headers=manager).get_json()["groups"] for t in g["tags"]]
    assert names == ["玩具", "门店"]
    assert toys["id"] != store["id"]


def test_the_same_tag_name_may_live_in_two_groups(client, manager):
    create_group(client, manager, name="生命周期")
    create_group(client, manager, name="渠道")
    assert create_tag(client, manager, "生命周期", "新客")["id"] != create_tag(client, manager, "渠道", "新客")["id"]


@pytest.mark.parametrize(
    "payload, field",
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "长" * 31}, "name"),
        ({"name": 7}, "name"),
        ({"name": "bad\x07name"}, "name"),
        ({"name": "g", "half_life_days": 0}, "half_life_days"),
        ({"name": "g", "half_life_days": -3}, "half_life_days"),
        ({"name": "g", "half_life_days": "7"}, "half_life_days"),
        ({"name": "g", "half_life_days": True}, "half_life_days"),
        ({"name": "g", "threshold": 0}, "threshold"),
        ({"name": "g", "threshold": None}, "threshold"),
        ({"name": "g", "computed": True}, "computed"),
        ({"name": "g", "colour": "red"}, "colour"),
    ],
)
def test_group_validation_writes_nothing(runtime, client, manager, payload, field):
    response = client.post("/api/tag-groups", json=payload, headers=manager)
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["error"] == "unprocessable" and body["field"] == field and body["message"].startswith(field)
    assert counts(runtime) == (0, 0, 0)


def test_not_a_number_is_refused(runtime, client, manager):
    # Python's JSON parser accepts NaN; a NaN half-life would never decay nor compare
    response = client.post(
        "/api/tag-groups", data='{"name": "g", "half_life_days": NaN}', content_type="application/json", headers=manager
    )
    assert response.status_code == 422 and response.get_json()["field"] == "half_life_days"
    assert counts(runtime) == (0, 0, 0)


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '"name"', ""])
def test_bad_json_is_400(runtime, client, manager, body):
    for url in ("/api/tag-groups", "/api/tags", "/api/tag-groups/1", "/api/customers/1/tags"):
        method = client.patch if url == "/api/tag-groups/1" else client.post
        response = method(url, data=body, content_type="application/json", headers=manager)
        assert response.status_code == 400 and response.get_json()["error"] == "bad_json", url
    assert counts(runtime) == (0, 0, 0)


def test_duplicates_are_409_and_write_nothing(runtime, client, manager):
    group = create_group(client, manager, name="兴趣")
    other = create_group(client, manager, name="渠道")
    tag = create_tag(client, manager, "兴趣", "奶粉")

    again = client.post("/api/tag-groups", json={"name": " 兴趣"}, headers=manager)
    assert again.status_code == 409 and again.get_json()["existing_id"] == group["id"]
    dup_tag = client.post("/api/tags", json={"group": group["id"], "name": "奶粉 "}, headers=manager)
    assert dup_tag.status_code == 409 and dup_tag.get_json()["existing_id"] == tag["id"]
    rename = client.patch(f"/api/tag-groups/{other['id']}", json={"name": "兴趣"}, headers=manager)
    assert rename.status_code == 409 and rename.get_json()["existing_id"] == group["id"]
    assert counts(runtime) == (2, 1, 0)
    names = [g["name"] for g in client.get("/api/tags", headers=manager).get_json()["groups"]]
    assert names == ["兴趣", "渠道"]


@pytest.mark.parametrize(
    "payload, status, field",
    [
        ({"name": "奶粉"}, 422, "group"),
        ({"group": "兴趣"}, 422, "name"),
        ({"group": "兴趣", "name": "x" * 31}, 422, "name"),
        ({"group": True, "name": "奶粉"}, 422, "group"),
        ({"group": 0, "name": "奶粉"}, 422, "group"),
        ({"group": ["兴趣"], "name": "奶粉"}, 422, "group"),
        ({"group": "兴趣", "name": "奶粉", "weight": 2}, 422, "weight"),
        ({"group": "没有", "name": "奶粉"}, 404, None),
        ({"group": 999999, "name": "奶粉"}, 404, None),
    ],
)
def test_tag_validation_writes_nothing(runtime, client, manager, payload, status, field):
    create_group(client, manager, name="兴趣")
    response = client.post("/api/tags", json=payload, headers=manager)
    assert response.status_code == status, response.get_json()
    assert response.get_json().get("field") == field
    assert counts(runtime) == (1, 0, 0)


def test_patch_validation_and_unknown_group(runtime, client, manager):
    group = create_group(client, manager, name="兴趣", half_life_days=10, threshold=2)
    url = f"/api/tag-groups/{group['id']}"
    for payload, field in [
        ({"name": None}, "name"),
        ({"threshold": None}, "threshold"),
        ({"threshold": -1}, "threshold"),
        ({"half_life_days": 0}, "half_life_days"),
        ({"computed": True}, "computed"),
    ]:
        response = client.patch(url, json=payload, headers=manager)
        assert response.status_code == 422 and response.get_json()["field"] == field, payload
    assert client.patch("/api/tag-groups/999999", json={"name": "x"}, headers=manager).status_code == 404
    (stored,) = client.get("/api/tags", headers=manager).get_json()["groups"]
    assert (stored["name"], stored["half_life_days"], stored["threshold"]) == ("兴趣", 10, 2)


def test_computed_groups_are_left_to_the_recompute_job(runtime, client, manager):
    group_id, tag_id = create_computed_group(runtime)
    customer = create_customer(runtime)
    for response in (
        client.post("/api/tags", json={"group": group_id, "name": "新类"}, headers=manager),
        client.delete(f"/api/tags/{tag_id}", headers=manager),
        client.patch(f"/api/tag-groups/{group_id}", json={"threshold": 3}, headers=manager),
        client.post(f"/api/customers/{customer}/tags", json={"tag_id": tag_id}, headers=manager),
        client.delete(f"/api/customers/{customer}/tags/{tag_id}", headers=manager),
    ):
        assert response.status_code == 409 and "computed" in response.get_json()["message"]
    assert counts(runtime) == (1, 1, 0)


def test_roles(client, auth):
    guide = auth("guide", "G001")
    assert client.get("/api/tags").status_code == 401
    assert client.get("/api/tags", headers=guide).status_code == 200
    assert client.post("/api/tag-groups", json={"name": "g"}, headers=guide).status_code == 403
    assert client.post("/api/tags", json={"group": 1, "name": "t"}, headers=guide).status_code == 403
    assert client.delete("/api/tags/1", headers=guide).status_code == 403
    assert client.post("/api/customers/1/tags", json={"tag_id": 1}, headers=guide).status_code == 403
    assert client.get("/api/tags/audience?expr=a", headers=guide).status_code == 403
    assert client.post("/api/tag-groups", json={"name": "g"}, headers=auth("admin")).status_code == 201


def test_manual_tag_on_and_off_is_in_the_timeline_and_never_decays(runtime, client, auth):
    runtime.clock = FrozenClock(START)
    manager = auth("manager")  # the conftest names it manager-0
    create_group(client, manager, name="兴趣", half_life_days=1, threshold=1)
    tag = create_tag(client, manager, "兴趣", "奶粉")
    customer = create_customer(runtime, "小红")

    added = client.post(f"/api/customers/{customer}/tags", json={"tag_id": tag["id"]}, headers=manager)
    assert added.status_code == 200, added.get_json()
    body = added.get_json()
    assert body["changed"] is True and body["customer_id"] == customer
    assert body["tags"] == [{"tag_id": tag["id"], "group": "兴趣", "tag": "奶粉", "score": 0.0, "source": "manual"}]
    again = client.post(f"/api/customers/{customer}/tags", json={"tag_id": tag["id"]}, headers=manager)
    assert again.get_json()["changed"] is False

    runtime.clock.advance(days=400)  # a one-day half-life would have erased any rule score
    carried = client.get(f"/api/customers/{customer}/tags", headers=manager).get_json()
    assert [t["tag"] for t in carried["tags"]] == ["奶粉"]
    listed = client.get("/api/tags", headers=manager).get_json()["groups"][0]["tags"]
    assert listed[0]["customers"] == 1

    removed = client.delete(f"/api/customers/{customer}/tags/{tag['id']}", headers=manager)
    assert removed.status_code == 200 and removed.get_json()["changed"] is True
    assert removed.get_json()["tags"] == []
    assert client.get(f"/api/customers/{customer}/tags", headers=manager).get_json()["tags"] == []
    gone_again = client.delete(f"/api/customers/{customer}/tags/{tag['id']}", headers=manager)
    assert gone_again.status_code == 200 and gone_again.get_json()["changed"] is False

    timeline = client.get(f"/api/customers/{customer}", headers=manager).get_json()["timeline"]
    entries = [(e["kind"], e["payload"]["tag"], e["payload"]["cause"], e["occurred_at"][:10]) for e in timeline]
    assert entries == [
        ("tag_removed", "奶粉", {"kind": "manager", "ref": "manager-0"}, "2027-04-05"),
        ("tag_added", "奶粉", {"kind": "manager", "ref": "manager-0"}, "2026-03-01"),
    ]


def test_taking_off_a_rule_given_tag_by_hand(runtime, client, manager):
    runtime.clock = FrozenClock(START)
    create_group(client, manager, name="兴趣", half_life_days=30, threshold=1)
    tag = create_tag(client, manager, "兴趣", "奶粉")
    customer = create_customer(runtime)
    with runtime.transaction() as db_session:
        tag_row, group_row = db_session.get(Tag, tag["id"]), db_session.scalar(select(TagGroup))
        scores.add_score(
            db_session=db_session, customer_id=customer, tag=tag_row, group=group_row, weight=3, now=START,
            cause=scores.Cause("rule", "1"),
        )
    carried = client.get(f"/api/customers/{customer}/tags", headers=manager).get_json()["tags"]
    assert [(t["tag"], t["source"], t["score"]) for t in carried] == [("奶粉", "rule", 3.0)]
    removed = client.delete(f"/api/customers/{customer}/tags/{tag['id']}", headers=manager).get_json()
    assert removed["changed"] is True and removed["tags"] == []


def test_manual_tag_errors(runtime, client, manager):
    create_group(client, manager, name="兴趣")
    tag = create_tag(client, manager, "兴趣", "奶粉")
    customer = create_customer(runtime)
    for payload, field in [({}, "tag_id"), ({"tag_id": "1"}, "tag_id"), ({"tag_id": True}, "tag_id"),
                           ({"tag_id": 0}, "tag_id"), ({"tag_id": tag["id"], "x": 1}, "x")]:
        response = client.post(f"/api/customers/{customer}/tags", json=payload, headers=manager)
        assert response.status_code == 422 and response.get_json()["field"] == field, payload
    assert client.post(f"/api/customers/{customer}/tags", json={"tag_id": 999999}, headers=manager).status_code == 404
    assert client.post("/api/customers/999999/tags", json={"tag_id": tag["id"]}, headers=manager).status_code == 404
    assert client.delete(f"/api/customers/{customer}/tags/999999", headers=manager).status_code == 404
    assert client.delete(f"/api/customers/999999/tags/{tag['id']}", headers=manager).status_code == 404
    assert client.get("/api/customers/999999/tags", headers=manager).status_code == 404
    # past the id columns' range: still 404, not a database error
    assert client.post(f"/api/customers/{customer}/tags", json={"tag_id": 2**31}, headers=manager).status_code == 404
    assert client.delete(f"/api/customers/{2**63}/tags/{tag['id']}", headers=manager).status_code == 404
    assert client.delete(f"/api/tags/{2**40}", headers=manager).status_code == 404
    assert client.patch(f"/api/tag-groups/{2**40}", json={"name": "x"}, headers=manager).status_code == 404
    assert client.post("/api/tags", json={"group": 2**40, "name": "x"}, headers=manager).status_code == 404
    assert counts(runtime) == (1, 1, 0)
    with runtime.transaction() as db_session:
        assert db_session.scalar(select(func.count()).select_from(Interaction)) == 0


def test_a_merged_customer_id_tags_the_survivor(runtime, client, manager):
    create_group(client, manager, name="兴趣")
    tag = create_tag(client, manager, "兴趣", "奶粉")
    survivor = create_customer(runtime, "留下")
    merged = create_customer(runtime, "合并", merged_into_id=survivor)
    body = client.post(f"/api/customers/{merged}/tags", json={"tag_id": tag["id"]}, headers=manager).get_json()
    assert body["customer_id"] == survivor and [t["tag"] for t in body["tags"]] == ["奶粉"]
    assert client.get(f"/api/customers/{survivor}/tags", headers=manager).get_json()["tags"][0]["tag"] == "奶粉"


def test_changing_decay_rescores_rule_given_tags_but_not_manual_ones(runtime, client, manager):
    runtime.clock = FrozenClock(START)
    group = create_group(client, manager, name="兴趣", half_life_days=None, threshold=1)
    tag = create_tag(client, manager, "兴趣", "奶粉")
    by_rule, by_hand = create_customer(runtime), create_customer(runtime)
    add_rule_score(runtime, by_rule, tag["id"], weight=4)
    client.post(f"/api/customers/{by_hand}/tags", json={"tag_id": tag["id"]}, headers=manager)
    runtime.clock.advance(days=100)  # no decay: the rule's score is still 4
    assert carriers_of_first_tag(client, manager) == 2

    # From now on it halves every day: 4 falls below 1 in two days
    response = client.patch(f"/api/tag-groups/{group['id']}", json={"half_life_days": 1}, headers=manager)
    assert response.status_code == 200, response.get_json()
    runtime.clock.advance(days=3)
    assert carriers_of_first_tag(client, manager) == 2, "rescored before the queue ran"
    assert runtime.queue.run_pending() == 1
    assert carriers_of_first_tag(client, manager) == 1  # 4 · 0.5^3 = 0.5: lapsed
    assert client.get(f"/api/customers/{by_rule}/tags", headers=manager).get_json()["tags"] == []
    assert [t["source"] for t in client.get(f"/api/customers/{by_hand}/tags", headers=manager).get_json()["tags"]] == [
        "manual"
    ]

    # a lower threshold brings it back, with the score decayed under the one-day half-life
    client.patch(f"/api/tag-groups/{group['id']}", json={"threshold": 0.4}, headers=manager)
    runtime.queue.run_pending()
    (carried,) = client.get(f"/api/customers/{by_rule}/tags", headers=manager).get_json()["tags"]
    assert carried["score"] == 0.5 and carried["source"] == "rule"
    runtime.clock.advance(hours=7)  # 0.5 · 0.5^(7/24) ≈ 0.41
    assert carriers_of_first_tag(client, manager) == 2
    runtime.clock.advance(hours=1)  # ≈ 0.397 < 0.4
    assert carriers_of_first_tag(client, manager) == 1


def test_a_rename_or_an_unchanged_setting_queues_nothing(runtime, client, manager):
    group = create_group(client, manager, name="兴趣", half_life_days=7, threshold=2)
    url = f"/api/tag-groups/{group['id']}"
    same = {"name": "爱好", "half_life_days": 7, "threshold": 2}
    assert client.patch(url, json=same, headers=manager).status_code == 200
    assert client.patch(url, json={}, headers=manager).status_code == 200
    assert runtime.queue.stats()["depth"] == 0


def test_rescoring_works_in_batches_and_continues_in_new_jobs(runtime, client, manager, monkeypatch):
    from tagging import rescoring

    monkeypatch.setattr(rescoring, "BATCH", 2)
    monkeypatch.setattr(rescoring, "BATCHES_PER_JOB", 2)
    runtime.clock = FrozenClock(START)
    group = create_group(client, manager, name="兴趣", half_life_days=None, threshold=1)
    first, second = create_tag(client, manager, "兴趣", "奶粉"), create_tag(client, manager, "兴趣", "玩具")
    customers = [create_customer(runtime) for _ in range(5)]
    for customer_id in customers:
        for tag in (first, second):
            add_rule_score(runtime, customer_id, tag["id"], weight=2)
    assert client.patch(f"/api/tag-groups/{group['id']}", json={"threshold": 3}, headers=manager).status_code == 200
    runtime.clock.advance(minutes=1)  # the worker runs a little after the change
    assert runtime.queue.run_pending() == 3  # 10 rows, 2 a batch, 2 batches a job
    assert [t["customers"] for t in client.get("/api/tags", headers=manager).get_json()["groups"][0]["tags"]] == [0, 0]
    # a retried job finds nothing left to do: every row was rescored after the change
    with runtime.transaction() as db_session:
        before = {(r.customer_id, r.tag_id): (r.score, r.scored_at) for r in db_session.scalars(select(CustomerTag))}
    runtime.clock.advance(days=1)
    rescoring.rescore_group(group["id"], None, START.isoformat())
    with runtime.transaction() as db_session:
        after = {(r.customer_id, r.tag_id): (r.score, r.scored_at) for r in db_session.scalars(select(CustomerTag))}
    assert after == before


def add_rule_score(runtime, customer_id: int, tag_id: int, *, weight: float) -> None:
    with runtime.transaction() as db_session:
        tag = db_session.get(Tag, tag_id)
        scores.add_score(
            db_session=db_session, customer_id=customer_id, tag=tag, group=db_session.get(TagGroup, tag.group_id),
            weight=weight, now=runtime.clock.now(), cause=scores.Cause("rule", "1"),
        )


def carriers_of_first_tag(client, headers) -> int:
    return client.get("/api/tags", headers=headers).get_json()["groups"][0]["tags"][0]["customers"]
