"""Saved segments (SPEC §11): the API, ``segment:名字`` in expressions (resolved when used),
refusals that save nothing (bad expression, unknown segment, a cycle, a name taken), and a
campaign to a segment reaching its customers; a segment a campaign names cannot be deleted."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from campaign_world import customer, deliveries, fire, make_campaign
from tagging import audience
from tagging.models import Segment, Tag

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
def people(frozen):  # noqa: ANN001, ANN201
    """Customers carrying 兴趣 tags: milk, toys, both, neither."""
    return {
        "milk": customer(frozen, "milk", tags=("奶粉",)),
        "toys": customer(frozen, "toys", tags=("玩具",)),
        "both": customer(frozen, "both", tags=("奶粉", "玩具")),
        "none": customer(frozen, "none", tags=("尿布",)),
    }


def ids_of(runtime, text: str) -> set[int]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return set(db_session.scalars(audience.customer_ids_query(db_session=db_session, expr=text,
                                                                  now=runtime.clock.now())))


def saved(runtime) -> list[tuple[str, str]]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return [tuple(row) for row in db_session.execute(select(Segment.name, Segment.expr).order_by(Segment.id))]


def create(client, manager, name: str, expr: str):  # noqa: ANN001, ANN201
    return client.post("/api/segments", json={"name": name, "expr": expr}, headers=manager)


def test_a_segment_saved_through_the_api_counts_as_its_expression(frozen, client, manager, people):
    answer = create(client, manager, "宝妈", "奶粉 & !玩具")
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert (body["name"], body["expr"], body["term"], body["count"], body["error"]) == (
        "宝妈", "奶粉 & !玩具", "segment:宝妈", 1, None)
    assert body["created_by"].startswith("manager-") and body["updated_by"] == body["created_by"]
    assert ids_of(frozen, "segment:宝妈") == ids_of(frozen, "奶粉 & !玩具") == {people["milk"]}
    assert ids_of(frozen, "segment:宝妈 | 玩具") == {people["milk"], people["toys"], people["both"]}
    assert ids_of(frozen, "!segment:宝妈 & !尿布") == {people["toys"], people["both"]}
    preview = client.get("/api/tags/audience", query_string={"expr": "segment:宝妈"}, headers=manager).get_json()
    assert preview["count"] == 1 and preview["sample"][0]["id"] == people["milk"]
    listed = client.get("/api/segments", headers=manager).get_json()["segments"]
    assert [(s["name"], s["count"]) for s in listed] == [("宝妈", 1)]
    assert client.get(f"/api/segments/{body['id']}", headers=manager).get_json()["count"] == 1


def test_a_changed_segment_changes_every_audience_naming_it(frozen, client, manager, people):
    inner = create(client, manager, "奶粉客", "奶粉").get_json()["id"]
    assert create(client, manager, "奶粉玩具", "segment:奶粉客 & 玩具").status_code == 201
    assert ids_of(frozen, "segment:奶粉玩具") == {people["both"]}
    changed = client.patch(f"/api/segments/{inner}", json={"expr": "奶粉 | 尿布"}, headers=manager)
    assert changed.status_code == 200 and changed.get_json()["count"] == 3
    assert ids_of(frozen, "segment:奶粉客") == {people["milk"], people["both"], people["none"]}
    assert ids_of(frozen, "segment:奶粉玩具") == {people["both"]}
    assert client.patch(f"/api/segments/{inner}", json={"expr": "尿布"}, headers=manager).status_code == 200
    assert ids_of(frozen, "segment:奶粉玩具") == set()


def test_a_name_with_spaces_is_named_quoted(frozen, client, manager, people):
    body = create(client, manager, '双十一 "活动"', "玩具").get_json()
    assert body["term"] == 'segment:"双十一 \\"活动\\""'
    assert ids_of(frozen, body["term"]) == {people["toys"], people["both"]}


@pytest.mark.parametrize("name, expr, status, message", [
    ("坏", "奶粉 &", 422, "expected a tag name at 4"),
    ("坏", "宠物", 422, "unknown tag 宠物 at 0"),
    ("坏", "奶粉 | segment:没有", 422, "unknown segment 没有 at 5"),
    ("坏", "segment:坏", 422, "segment 坏 would use itself (坏 → 坏) at 0"),
    ("坏", "", 422, "at least 1 character"),
    ("坏", "  ", 422, "must be a tag expression"),
    (" ", "奶粉", 422, "must be 1-32 characters"),
    ("x" * 33, "奶粉", 422, "at most 32"),
])
def test_bad_segments_are_refused_and_nothing_is_saved(frozen, client, manager, people, name, expr, status, message):
    answer = create(client, manager, name, expr)
    assert answer.status_code == status, answer.get_json()
    assert message in answer.get_json()["message"]
    assert saved(frozen) == []


def test_a_cycle_through_other_segments_is_refused(frozen, client, manager, people):
    a = create(client, manager, "A", "奶粉").get_json()["id"]
    assert create(client, manager, "B", "segment:A & 玩具").status_code == 201
    assert create(client, manager, "C", "segment:B | 尿布").status_code == 201
    answer = client.patch(f"/api/segments/{a}", json={"expr": "奶粉 & !segment:C"}, headers=manager)
    assert answer.status_code == 422
    assert answer.get_json()["message"] == "segment A would use itself (A → C → B → A) at 6"
    assert answer.get_json()["error"] == "bad_expression" and answer.get_json()["position"] == 6
    assert saved(frozen) == [("A", "奶粉"), ("B", "segment:A & 玩具"), ("C", "segment:B | 尿布")]


def test_a_taken_name_is_refused(frozen, client, manager, people):
    assert create(client, manager, "VIP", "奶粉").status_code == 201
    again = create(client, manager, "vip", "玩具")
    assert again.status_code == 409 and again.get_json()["error"] == "name_taken"
    other = create(client, manager, "其他", "玩具").get_json()["id"]
    renamed = client.patch(f"/api/segments/{other}", json={"name": "VIP"}, headers=manager)
    assert renamed.status_code == 409
    assert saved(frozen) == [("VIP", "奶粉"), ("其他", "玩具")]


def test_a_segment_in_use_is_neither_deleted_nor_renamed(frozen, client, manager, people):
    inner = create(client, manager, "奶粉客", "奶粉").get_json()["id"]
    outer = create(client, manager, "外", "segment:奶粉客").get_json()["id"]
    refused = client.delete(f"/api/segments/{inner}", headers=manager)
    assert refused.status_code == 409 and refused.get_json()["error"] == "segment_in_use"
    assert "人群 segment 外" in refused.get_json()["message"]
    assert client.patch(f"/api/segments/{inner}", json={"name": "新名"}, headers=manager).status_code == 409
    assert client.delete(f"/api/segments/{outer}", headers=manager).status_code == 204
    assert client.delete(f"/api/segments/{inner}", headers=manager).status_code == 204
    assert saved(frozen) == []
    assert client.delete(f"/api/segments/{inner}", headers=manager).status_code == 404


def test_guides_may_not_use_segments(client, auth):
    headers = auth("guide", "G1")
    assert client.get("/api/segments", headers=headers).status_code == 403
    assert client.post("/api/segments", json={"name": "x", "expr": "y"}, headers=headers).status_code == 403


def test_a_campaign_to_a_segment_reaches_its_customers(frozen, client, manager, people):
    assert create(client, manager, "玩具客", "玩具 & !尿布").status_code == 201
    campaign_id = make_campaign(frozen, audience={"expr": "segment:玩具客"})
    preview = client.post(f"/api/campaigns/{campaign_id}/preview", json={}, headers=manager)
    assert preview.status_code == 200 and preview.get_json()["count"] == 2
    run_id = fire(frozen, campaign_id)
    assert {d.customer_id for d in deliveries(frozen, run_id)} == {people["toys"], people["both"]}


def test_a_campaign_to_an_unknown_segment_is_refused(frozen, client, manager, people):
    bad = client.post("/api/campaigns/preview", json={"audience": {"expr": "segment:没有"}}, headers=manager)
    assert bad.status_code == 422 and bad.get_json()["field"] == "audience.expr"
    assert "unknown segment 没有" in bad.get_json()["message"]


def test_a_segment_a_campaign_names_cannot_be_deleted(frozen, client, manager, people):
    segment_id = create(client, manager, "玩具客", "玩具").get_json()["id"]
    campaign_id = make_campaign(frozen, name="双11 玩具", audience={"expr": "奶粉 | segment:玩具客"})
    refused = client.delete(f"/api/segments/{segment_id}", headers=manager)
    assert refused.status_code == 409
    assert f"活动 campaign #{campaign_id} 双11 玩具" in refused.get_json()["message"]
    assert refused.get_json()["used_by"] == [f"活动 campaign #{campaign_id} 双11 玩具"]
    with frozen.transaction() as db_session:
        assert db_session.scalar(select(func.count(Segment.id))) == 1


def test_segments_nest_at_most_eight_deep(frozen, client, manager, people):
    assert create(client, manager, "S1", "奶粉").status_code == 201
    for n in range(2, 9):
        assert create(client, manager, f"S{n}", f"segment:S{n - 1}").status_code == 201
    assert ids_of(frozen, "segment:S8") == {people["milk"], people["both"]}
    deep = create(client, manager, "S9", "segment:S8")
    assert deep.status_code == 422 and "nested more than 8 deep" in deep.get_json()["message"]
    assert len(saved(frozen)) == 8


def test_a_tag_a_segment_names_is_not_deleted_and_its_group_not_renamed(frozen, client, manager, people):
    create(client, manager, "玩具客", "玩具")
    create(client, manager, "宝妈", "兴趣:奶粉 & !尿布")
    with frozen.transaction() as db_session:
        toy, milk, nappy = (db_session.scalar(select(Tag.id).where(Tag.name == name)) for name in ("玩具", "奶粉", "尿布"))
        group_id = db_session.scalar(select(Tag.group_id).where(Tag.id == toy))
    refused = client.delete(f"/api/tags/{toy}", headers=manager)
    assert refused.status_code == 409, refused.get_json()
    assert refused.get_json()["error"] == "tag_in_use" and refused.get_json()["used_by"] == ["玩具客"]
    assert "兴趣:玩具" in refused.get_json()["message"]
    assert client.delete(f"/api/tags/{milk}", headers=manager).get_json()["used_by"] == ["宝妈"]
    renamed = client.patch(f"/api/tag-groups/{group_id}", json={"name": "爱好"}, headers=manager)
    assert renamed.status_code == 409 and renamed.get_json()["used_by"] == ["宝妈"]
    with frozen.transaction() as db_session:
        assert db_session.scalar(select(func.count(Tag.id)).where(Tag.id.in_((toy, milk)))) == 2
    listed = client.get("/api/segments", headers=manager).get_json()["segments"]
    assert [(s["name"], s["count"]) for s in listed] == [("宝妈", 2), ("玩具客", 2)]
    # Once no segment names it, the tag goes.
    assert client.delete(f"/api/tags/{nappy}", headers=manager).get_json()["used_by"] == ["宝妈"]
    assert client.patch(f"/api/segments/{listed[0]['id']}", json={"expr": "兴趣:奶粉"}, headers=manager).status_code == 200
    assert client.delete(f"/api/tags/{nappy}", headers=manager).status_code == 204


def test_a_segment_made_ambiguous_by_a_new_tag_is_listed_as_broken(frozen, client, manager, people):
    """Deleting is refused; a second group's tag of the same name still breaks a bare name,
    and the list says so rather than counting nothing."""
    create(client, manager, "玩具客", "玩具")
    group = client.post("/api/tag-groups", json={"name": "渠道"}, headers=manager).get_json()
    assert client.post("/api/tags", json={"group": group["id"], "name": "玩具"}, headers=manager).status_code == 201
    (listed,) = client.get("/api/segments", headers=manager).get_json()["segments"]
    assert listed["count"] is None and listed["error"].startswith("tag 玩具 is in groups 兴趣, 渠道")
    bad = client.get("/api/tags/audience", query_string={"expr": "奶粉 | segment:玩具客"}, headers=manager)
    assert bad.status_code == 422 and bad.get_json()["message"].startswith("segment 玩具客: tag 玩具 is in groups")


def test_two_saves_racing_for_one_name_end_in_one_segment_and_a_409(runtime, people):  # noqa: ANN001
    """Both look the name up before either commits; the database's unique name decides, and the
    loser is the same 409 ``name_taken`` as a name found taken, not a 500."""
    import threading

    from tagging.segments.service import SegmentConflict, SegmentIn, create_segment

    def save(db_session, expr: str) -> None:  # noqa: ANN001
        create_segment(db_session=db_session, segment_in=SegmentIn(name="奶粉客", expr=expr), by="t", now=NOW)

    outcome: list[BaseException | None] = []

    def second() -> None:
        try:
            with runtime.transaction() as db_session:
                save(db_session, "玩具")  # looks, finds it free, then waits for the first's commit
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001
            outcome.append(exc)

    with runtime.transaction() as db_session:
        save(db_session, "奶粉")  # written, not yet committed
        racer = threading.Thread(target=second)
        racer.start()
        racer.join(1.0)  # it is blocked on the first's uncommitted name
    racer.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], SegmentConflict) and outcome[0].code == "name_taken"
    assert saved(runtime) == [("奶粉客", "奶粉")]
