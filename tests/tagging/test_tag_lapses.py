"""A tag that decays below its threshold leaves a ``tag_removed`` entry, cause decay, dated
when it lapsed (tagging/lapses.py), once however often the sweep runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from scrm.clock import FrozenClock
from scrm.customers.models import Interaction
from tag_world import carried, create_tag, text
from tagging.lapses import record_lapsed_tags

START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


def lapses(runtime) -> list[tuple[str, datetime, dict]]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        rows = db_session.execute(select(Interaction.payload, Interaction.occurred_at)
                                  .where(Interaction.kind == "tag_removed")).all()
    return [(p["tag"], at.replace(tzinfo=UTC) if at.tzinfo is None else at, p["cause"]) for p, at in rows]


def test_a_decayed_tag_lapses_into_the_timeline_once(runtime, client, auth):
    runtime.clock = FrozenClock(START)
    milk = create_tag(runtime, "奶粉", half_life_days=7, threshold=1.0)
    held = create_tag(runtime, "会员", group="身份")  # no half-life: never lapses
    for tag_id, word in ((milk, "奶粉"), (held, "会员")):
        rule = {"kind": "keyword", "pattern": word, "tag_id": tag_id, "weight": 2}
        assert client.post("/api/tag-rules", json=rule, headers=auth("manager")).status_code == 201
    text(runtime, client, "我想买奶粉，我是会员")
    assert carried(runtime) == {"奶粉", "会员"}
    assert record_lapsed_tags() == 0  # nothing lapsed yet

    runtime.clock.advance(days=8)  # 2 · 0.5^(8/7) < 1: lapsed after 7 days
    assert carried(runtime) == {"会员"}
    assert record_lapsed_tags() == 1
    # at 7 days the score is 1, the threshold, still carried; it lapses the microsecond after
    assert lapses(runtime) == [("奶粉", START + timedelta(days=7, microseconds=1), {"kind": "decay", "ref": "兴趣"})]
    runtime.clock.advance(hours=1)
    assert record_lapsed_tags() == 0
    runtime.redis.delete("tagging:lapses:last-sweep")  # a sweep that looks back again writes nothing twice
    runtime.clock.advance(hours=1)
    assert record_lapsed_tags() == 0
    assert len(lapses(runtime)) == 1


def test_a_manager_removal_is_not_a_lapse(runtime, client, auth):
    runtime.clock = FrozenClock(START)
    tag_id = create_tag(runtime, "奶粉", half_life_days=7)
    from scrm.customers.models import Customer

    with runtime.transaction() as db_session:
        customer = Customer()
        db_session.add(customer)
        db_session.flush()
        customer_id = customer.id
    manager = auth("manager")
    assert client.post(f"/api/customers/{customer_id}/tags", json={"tag_id": tag_id}, headers=manager).status_code == 200
    assert client.delete(f"/api/customers/{customer_id}/tags/{tag_id}", headers=manager).status_code == 200
    runtime.clock.advance(days=30)
    assert record_lapsed_tags() == 0
    assert [cause["kind"] for _tag, _at, cause in lapses(runtime)] == ["manager"]
