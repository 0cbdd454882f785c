"""Saved segments on the console's audience page, driven as a manager's browser without script
would: save the counted expression under a name, see it listed with its live count, use it,
change it, and refusals that re-render the page with the errors and change nothing."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from campaign_world import customer, make_campaign
from scrm.clock import FrozenClock
from tag_world import create_tag
from tagging.models import Segment, Tag
from web_world import log_in, page_text

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
def manager(runtime, client, make_token):  # noqa: ANN001, ANN201
    runtime.clock = FrozenClock(NOW)
    for name, tags in (("milk", ("奶粉",)), ("toys", ("玩具",)), ("both", ("奶粉", "玩具"))):
        customer(runtime, name, tags=tags)
    log_in(client, make_token)
    return client


def saved(runtime) -> list[tuple[str, str]]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return [tuple(row) for row in db_session.execute(select(Segment.name, Segment.expr).order_by(Segment.id))]


def test_a_counted_expression_is_saved_as_a_segment_and_listed_with_its_count(runtime, manager):
    counted = page_text(manager.get("/console/audience", query_string={"expr": "奶粉 & 玩具"}))
    assert 'name="expr" id="save-expr" value="奶粉 &amp; 玩具"' in manager.get(
        "/console/audience", query_string={"expr": "奶粉 & 玩具"}).get_data(as_text=True)
    assert "保存为人群" in counted
    answer = manager.post("/console/segments", data={"name": " 双宝妈 ", "expr": "奶粉 & 玩具"})
    assert answer.status_code == 302 and "#segments" in answer.headers["Location"]
    assert saved(runtime) == [("双宝妈", "奶粉 & 玩具")]
    page = page_text(manager.get(answer.headers["Location"]))
    assert "人群「双宝妈」已保存" in page and "segment:双宝妈" in page
    assert '<b>1</b> 位顾客' in page  # the redirect counts segment:双宝妈
    assert "已保存人群" in page and "奶粉 & 玩具" in page
    manager.post("/language", data={"lang": "en", "next": "/"})
    english = page_text(manager.get("/console/audience", query_string={"expr": "segment:双宝妈"}))
    assert "Saved segments" in english and "<b>1</b> customers match now" in english


def test_a_segment_is_changed_and_deleted_from_the_list(runtime, manager):
    manager.post("/console/segments", data={"name": "奶粉客", "expr": "奶粉"})
    (segment_id,) = [row for row in _ids(runtime)]
    changed = manager.post(f"/console/segments/{segment_id}", data={"name": "奶粉客", "expr": "奶粉 | 玩具"})
    assert changed.status_code == 302 and saved(runtime) == [("奶粉客", "奶粉 | 玩具")]
    page = page_text(manager.get("/console/audience", query_string={"expr": "segment:奶粉客"}))
    assert "<b>3</b> 位顾客" in page
    unconfirmed = manager.post(f"/console/segments/{segment_id}/delete", data={})
    assert unconfirmed.status_code == 422 and saved(runtime) == [("奶粉客", "奶粉 | 玩具")]
    assert manager.post(f"/console/segments/{segment_id}/delete", data={"confirm": "1"}).status_code == 302
    assert saved(runtime) == []
    assert manager.post(f"/console/segments/{segment_id}/delete", data={"confirm": "1"}).status_code == 404


@pytest.mark.parametrize("form, status, shown", [
    ({"name": "坏", "expr": "奶粉 &"}, 422, "expected a tag name at 4"),
    ({"name": "坏", "expr": "segment:坏"}, 422, "segment 坏 would use itself (坏 → 坏) at 0"),
    ({"name": "坏", "expr": "segment:没有"}, 422, "unknown segment 没有 at 0"),
    ({"name": "", "expr": "奶粉"}, 422, "至少 1 个字符"),
    ({"name": "坏", "expr": ""}, 422, "至少 1 个字符"),
])
def test_a_refused_save_shows_why_and_saves_nothing(runtime, manager, form, status, shown):
    answer = manager.post("/console/segments", data=form)
    assert answer.status_code == status
    page = page_text(answer)
    assert shown in page and "未保存，没有任何改动" in page
    assert f'value="{form["name"]}"' in answer.get_data(as_text=True)  # what was typed is kept
    assert saved(runtime) == []


def test_a_taken_name_and_a_segment_in_use_are_conflicts(runtime, manager):
    manager.post("/console/segments", data={"name": "玩具客", "expr": "玩具"})
    (segment_id,) = _ids(runtime)
    taken = manager.post("/console/segments", data={"name": "玩具客", "expr": "奶粉"})
    assert taken.status_code == 409 and "已有同名的人群" in page_text(taken)
    campaign_id = make_campaign(runtime, name="周末玩具", audience={"expr": "segment:玩具客"})
    refused = manager.post(f"/console/segments/{segment_id}/delete", data={"confirm": "1"})
    assert refused.status_code == 409
    assert "正被使用，不能改名或删除" in page_text(refused)
    assert f"活动 campaign #{campaign_id} 周末玩具" in page_text(refused)
    assert saved(runtime) == [("玩具客", "玩具")]


def test_the_builder_offers_tags_lifecycle_stores_guides_and_segments(runtime, manager):
    from guides.models import Guide, Store

    create_tag(runtime, "沉睡", group="生命周期")
    with runtime.transaction() as db_session:
        store = Store(code="S001", name="静安店")
        db_session.add(store)
        db_session.flush()
        db_session.add_all([Guide(code="G001", name="王小美", store_id=store.id, wecom_userid="w1"),
                            Guide(code="G 2", name="走了", store_id=store.id, wecom_userid="w2", status="left")])
    manager.post("/console/segments", data={"name": "玩具客", "expr": "玩具"})
    page = manager.get("/console/audience").get_data(as_text=True)
    builder = json.loads(re.search(r"var choices = (.*?);\n", page).group(1))
    assert builder["segments"] == [{"name": "玩具客", "term": "segment:玩具客"}]
    assert [group["name"] for group in builder["tags"]] == ["兴趣"]  # lifecycle stages apart:
    assert builder["lifecycle"] == [{"name": "沉睡", "term": "沉睡"}]
    assert builder["stores"] == [{"name": "静安店 (S001)", "term": "store:S001"}]
    assert builder["guides"] == [{"name": "王小美 · 静安店 (G001)", "term": "guide:G001"}]  # not one who left
    assert 'id="builder" hidden' in page  # shown by its script only


def _ids(runtime) -> list[int]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return list(db_session.scalars(select(Segment.id).order_by(Segment.id)))


def test_the_tags_page_refuses_to_delete_a_tag_a_segment_names(runtime, manager):
    manager.post("/console/segments", data={"name": "玩具客", "expr": "兴趣:玩具 | 奶粉"})
    with runtime.transaction() as db_session:
        toy = db_session.scalar(select(Tag.id).where(Tag.name == "玩具"))
    refused = manager.post(f"/console/tags/{toy}/delete", data={"confirm": "1"})
    assert refused.status_code == 409
    assert "tag 兴趣:玩具 is named by the segments 玩具客" in page_text(refused)
    with runtime.transaction() as db_session:
        assert db_session.get(Tag, toy) is not None
