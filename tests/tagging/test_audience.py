"""Audience expressions: grammar and precedence, errors with positions, what "carries a tag"
means (decay, merges), one SQL statement, and the preview API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import event

from scrm.clock import FrozenClock
from scrm.customers.models import Customer
from tagging import audience, scores
from tagging.audience import AudienceError
from tagging.models import Tag, TagGroup

START = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)

# Who carries what (tags of group G unless qualified); c0 carries nothing.
CARRIED = {
    "c0": [],
    "c1": ["a"],
    "c2": ["b"],
    "c3": ["b", "c"],
    "c4": ["a", "c"],
    "c5": ["c"],
    "c6": ["生命周期:新客"],
    "c7": ["渠道:新客"],
    "c8": ["活动:双十一 活动", "兴趣:奶粉"],
}


@dataclass
class World:
    customers: dict[str, int]
    tags: dict[str, int]
    groups: dict[str, TagGroup]

    def names(self, ids) -> set[str]:
        by_id = {customer_id: name for name, customer_id in self.customers.items()}
        return {by_id[customer_id] for customer_id in ids}


@pytest.fixture
def world(runtime) -> World:
    runtime.clock = FrozenClock(START)
    with runtime.transaction() as db_session:
        groups = {}
        for name in ("G", "生命周期", "渠道", "活动", "兴趣"):
            groups[name] = TagGroup(name=name, half_life_days=30, threshold=1)
        groups["行为"] = TagGroup(name="行为", half_life_days=1, threshold=1)
        db_session.add_all(groups.values())
        db_session.flush()
        tag_rows = {}
        for label in ["G:a", "G:b", "G:c", "生命周期:新客", "渠道:新客", "活动:双十一 活动", "兴趣:奶粉", "行为:浏览"]:
            group, name = label.split(":")
            tag_rows[label] = Tag(group_id=groups[group].id, name=name)
        db_session.add_all(tag_rows.values())
        customers = {name: Customer(nickname=f"nick-{name}") for name in CARRIED}
        db_session.add_all(customers.values())
        db_session.flush()
        for name, labels in CARRIED.items():
            for label in labels:
                label = label if ":" in label else f"G:{label}"
                group = groups[label.split(":")[0]]
                scores.set_manual(
                    db_session=db_session, customer_id=customers[name].id, tag=tag_rows[label], group=group,
                    on=True, now=START, manager="test",
                )
        return World(
            {name: customer.id for name, customer in customers.items()},
            {label: tag.id for label, tag in tag_rows.items()},
            groups,
        )


def members(runtime, world: World, text: str) -> set[str]:
    with runtime.transaction() as db_session:
        ids = db_session.scalars(
            audience.customer_ids_query(db_session=db_session, expr=text, now=runtime.clock.now())
        ).all()
        assert audience.count(db_session=db_session, expr=text, now=runtime.clock.now()) == len(ids)
    return world.names(ids)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a", {"c1", "c4"}),
        ("a | b & !c", {"c1", "c2", "c4"}),  # a | (b & (!c))
        ("a | (b & (!c))", {"c1", "c2", "c4"}),
        ("(a | b) & !c", {"c1", "c2"}),
        ("!c & b | a", {"c4", "c1", "c2"}),
        ("!a & b", {"c2", "c3"}),  # (!a) & b, not !(a & b)
        ("!(a & b)", {"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"}),
        ("!(a | c)", {"c0", "c2", "c6", "c7", "c8"}),
        ("!!a", {"c1", "c4"}),
        ("!a & !c", {"c0", "c2", "c6", "c7", "c8"}),
        ("!a & !c & b", {"c2"}),
        ("a | b | 生命周期:新客 | (c & 奶粉) | (c & !b)", {"c1", "c2", "c3", "c4", "c5", "c6"}),
        ("a&c", {"c4"}),
        ("G:a | G:b", {"c1", "c2", "c3", "c4"}),
        ("生命周期:新客", {"c6"}),
        ("渠道:新客 | 生命周期:新客", {"c6", "c7"}),
        ('"双十一 活动"', {"c8"}),
        ('活动:"双十一 活动" & 奶粉', {"c8"}),
        ('"活动" : "双十一 活动"', {"c8"}),
        ("奶粉\u3000&\u3000!a", {"c8"}),  # a full-width space separates too
        ("浏览", set()),
    ],
)
def test_expressions(runtime, world, text, expected):
    assert members(runtime, world, text) == expected


@pytest.mark.parametrize(
    "text, message, position",
    [
        ("", "expected a tag name at 0", 0),
        ("   ", "expected a tag name at 3", 3),
        ("a &", "expected a tag name at 3", 3),
        ("a | b |", "expected a tag name at 7", 7),
        ("!", "expected a tag name at 1", 1),
        ("a & | b", "expected a tag name at 4", 4),
        ("(a | b", "expected ) at 6 to close the ( at 0", 6),
        ("((a) | b", "expected ) at 8 to close the ( at 0", 8),
        ("a | b)", "unbalanced ) at 5", 5),
        ("()", "expected a tag name at 1", 1),
        ("a b", "expected & or | at 2", 2),
        ("渠道:", "expected a tag name at 3", 3),
        (":a", "expected a tag name at 0", 0),
        ('a & "双十一', "unterminated quoted name at 4", 4),
        ('a | ""', "empty tag name at 4", 4),
        ("a & 奶茶", "unknown tag 奶茶 at 4", 4),
        ("b | 兴趣:新客", "no tag 新客 in group 兴趣 at 4", 4),
        ("a | (新客)", "tag 新客 is in groups 渠道, 生命周期; write 渠道:新客 or 生命周期:新客 at 5", 5),
        ("(" * 60 + "a" + ")" * 60, "nested more than 50 deep at 50", 50),
    ],
)
def test_errors_point_at_the_character(runtime, world, text, message, position):
    with runtime.transaction() as db_session, pytest.raises(AudienceError) as caught:
        audience.count(db_session=db_session, expr=text, now=runtime.clock.now())
    assert (caught.value.message, caught.value.position) == (message, position)


def test_a_score_that_decayed_below_the_threshold_is_not_carried(runtime, world):
    with runtime.transaction() as db_session:
        scores.add_score(
            db_session=db_session, customer_id=world.customers["c0"], tag=db_session.get(Tag, world.tags["行为:浏览"]),
            group=db_session.get(TagGroup, world.groups["行为"].id), weight=1.5, now=START,
            cause=scores.Cause("rule", "1"),
        )
    assert members(runtime, world, "浏览") == {"c0"}
    runtime.clock.advance(hours=14)  # 1.5 halves below 1 after log2(1.5) ≈ 0.585 days ≈ 14.04 h
    assert members(runtime, world, "浏览") == {"c0"}
    runtime.clock.advance(days=1)
    assert members(runtime, world, "浏览") == set()
    assert "c0" in members(runtime, world, "!浏览")
    assert members(runtime, world, "a") == {"c1", "c4"}  # held tags do not lapse


def test_merged_customers_are_left_out(runtime, world):
    with runtime.transaction() as db_session:
        db_session.get(Customer, world.customers["c4"]).merged_into_id = world.customers["c1"]
    assert members(runtime, world, "a") == {"c1"}
    assert "c4" not in members(runtime, world, "!b")


def test_sample_is_the_oldest_few(runtime, world):
    with runtime.transaction() as db_session:
        ids = audience.sample(db_session=db_session, expr="!a", now=runtime.clock.now(), limit=3)
    assert ids == [world.customers[name] for name in ("c0", "c2", "c3")]


def test_a_resolved_audience_counts_in_one_statement(runtime, world):
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):  # noqa: ANN001, ANN202
        statements.append(statement)

    text = '(a | b & !c) & !"双十一 活动" | 生命周期:新客'
    with runtime.transaction() as db_session:
        db_session.connection()  # begin before listening
        resolved = audience.resolve(db_session=db_session, text=text)
        event.listen(runtime.engine, "before_cursor_execute", record)
        try:
            total = audience.count(db_session=db_session, expr=resolved, now=runtime.clock.now())
            one = list(statements)
            statements.clear()
            assert audience.count(db_session=db_session, expr=text, now=runtime.clock.now()) == total
        finally:
            event.remove(runtime.engine, "before_cursor_execute", record)
    assert total == 4  # c1, c2, c4 and c6
    assert len(one) == 1 and one[0].count("EXISTS") == 5 and "merged_into_id IS NULL" in one[0]
    assert len(statements) == 2  # a text expression first looks up its tags, in one SELECT


def test_the_terms_of_one_or_share_one_exists_and_so_do_the_negated_terms_of_one_and(runtime, world):
    from sqlalchemy.dialects import postgresql

    def sql(text: str) -> str:
        with runtime.transaction() as db_session:
            query = audience.customer_ids_query(db_session=db_session, expr=text, now=runtime.clock.now())
        return str(query.compile(dialect=postgresql.dialect()))

    assert sql("a | b | 生命周期:新客").count("EXISTS") == 1
    assert sql("a | b | (c & 奶粉)").count("EXISTS") == 3
    negated = sql("!a & b & !c")
    assert negated.count("NOT (EXISTS") == 1 and negated.count("EXISTS") == 2


def test_preview_api(runtime, client, auth, world):
    manager = auth("manager")
    response = client.get("/api/tags/audience", query_string={"expr": "!a & !生命周期:新客"}, headers=manager)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "expr": "!a & !生命周期:新客",
        "count": 6,
        "sample": [
            {"id": world.customers[name], "nickname": f"nick-{name}"} for name in ("c0", "c2", "c3", "c5", "c7", "c8")
        ],
    }
    with runtime.transaction() as db_session:
        db_session.add_all(Customer(nickname=f"extra-{i}") for i in range(10))
    body = client.get("/api/tags/audience", query_string={"expr": "!a"}, headers=manager).get_json()
    assert body["count"] == 17 and len(body["sample"]) == 10


def test_preview_api_errors(client, auth, world):
    manager = auth("manager")
    bad = client.get("/api/tags/audience", query_string={"expr": "奶粉 & 奶茶"}, headers=manager)
    assert bad.status_code == 422
    assert bad.get_json() == {"error": "bad_expression", "message": "unknown tag 奶茶 at 5", "position": 5}
    syntax = client.get("/api/tags/audience", query_string={"expr": "a |"}, headers=manager)
    assert syntax.status_code == 422 and syntax.get_json()["position"] == 3
    empty = client.get("/api/tags/audience", query_string={"expr": ""}, headers=manager)
    assert empty.status_code == 422 and empty.get_json()["message"] == "expected a tag name at 0"
    missing = client.get("/api/tags/audience", headers=manager)
    assert missing.status_code == 400 and missing.get_json()["error"] == "bad_query"
