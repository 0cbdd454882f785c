"""Scores with decay, thresholds, manual and computed tags (tagging/scores.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from scrm.clock import FrozenClock
from scrm.customers.models import Customer, Interaction
from tagging import scores
from tagging.models import Tag, TagGroup

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def world(runtime):
    runtime.clock = FrozenClock(T0)
    with runtime.transaction() as db_session:
        interest = TagGroup(name="兴趣", half_life_days=10, threshold=1.0)
        channel = TagGroup(name="渠道", half_life_days=None, threshold=1.0)
        rfm = TagGroup(name="RFM", computed=True)
        db_session.add_all([interest, channel, rfm])
        db_session.flush()
        tags = {
            "奶粉": Tag(group_id=interest.id, name="奶粉"),
            "门店": Tag(group_id=channel.id, name="门店"),
            "重要价值客户": Tag(group_id=rfm.id, name="重要价值客户"),
            "一般保持客户": Tag(group_id=rfm.id, name="一般保持客户"),
        }
        db_session.add_all(tags.values())
        customer = Customer(nickname="小王")
        db_session.add(customer)
        db_session.flush()
        return {"customer": customer.id, "groups": {g.name: g.id for g in (interest, channel, rfm)}, "tags": {k: v.id for k, v in tags.items()}}


def _add(runtime, world, tag: str, weight: float, rule: str = "1"):
    with runtime.transaction() as db_session:
        t = db_session.get(Tag, world["tags"][tag])
        return scores.add_score(
            db_session=db_session,
            customer_id=world["customer"],
            tag=t,
            group=db_session.get(TagGroup, t.group_id),
            weight=weight,
            now=runtime.clock.now(),
            cause=scores.Cause("rule", rule),
        )


def _carried(runtime, world) -> dict[str, str]:
    with runtime.transaction() as db_session:
        return {
            t["tag"]: t["source"]
            for t in scores.carried_tags(db_session=db_session, customer_id=world["customer"], now=runtime.clock.now())
        }


def _timeline(runtime) -> list[tuple[str, str, dict]]:
    with runtime.transaction() as db_session:
        rows = db_session.scalars(select(Interaction).order_by(Interaction.id)).all()
        return [(r.kind, r.payload["tag"], r.payload["cause"]) for r in rows]


def test_decay_halves_the_score_each_half_life():
    assert scores.decayed(4.0, T0, T0.replace(day=11), 10) == pytest.approx(2.0)
    assert scores.decayed(4.0, T0, T0.replace(day=21), 10) == pytest.approx(1.0)
    assert scores.decayed(4.0, T0, T0.replace(day=21), None) == 4.0


def test_active_until_is_the_first_moment_the_decayed_score_is_below_the_threshold():
    # 4 → 1 in two half-lives; at that moment it is still "at least" 1, a microsecond later not
    assert scores.active_until(4.0, T0, 10, 1.0) == T0.replace(day=21) + scores.RESOLUTION
    assert scores.active_until(1.0, T0, 10, 1.0) == T0 + scores.RESOLUTION  # equal: carried at T0 only
    assert scores.active_until(0.5, T0, 10, 1.0) == T0  # below already: never carried
    assert scores.active_until(5.0, T0, None, 1.0) == scores.HELD
    assert scores.active_until(1.0, T0, None, 1.0) == scores.HELD
    assert scores.active_until(100.0, T0, 36_500, 1e-300) == scores.HELD  # past the calendar's end


def test_a_sum_of_weights_that_should_equal_the_threshold_reaches_it():
    assert 0.7 + 0.1 < 0.8  # the float trap
    assert scores.reaches(0.7 + 0.1, 0.8) and scores.active_until(0.7 + 0.1, T0, 10, 0.8) > T0
    assert not scores.reaches(0.79, 0.8) and not scores.reaches(0.0, 0.0)
    assert scores.carried_for(2.0, 7, 1.0) == timedelta(days=7)
    assert scores.carried_for(1.0, 7, 1.0) == timedelta(0)
    assert scores.carried_for(1.0, 7, 2.0) is None
    assert scores.carried_for(1.0, None, 1.0) == timedelta.max


def test_a_score_equal_to_the_threshold_carries_the_tag_at_the_moment_it_is_scored(runtime, world):
    change = _add(runtime, world, "奶粉", 1.0)  # threshold 1, half-life 10 days
    assert change == scores.TagChange(world["customer"], world["tags"]["奶粉"], True)
    assert _carried(runtime, world) == {"奶粉": "rule"}  # through SQL: active_until > now
    runtime.clock.advance(microseconds=1)
    assert _carried(runtime, world) == {}
    assert _timeline(runtime) == [("tag_added", "奶粉", {"kind": "rule", "ref": "1"})]


def test_two_weights_adding_up_to_the_threshold_carry_the_tag(runtime, world):
    with runtime.transaction() as db_session:
        db_session.get(TagGroup, world["groups"]["兴趣"]).threshold = 0.8
    assert _add(runtime, world, "奶粉", 0.7) is None
    assert _add(runtime, world, "奶粉", 0.1) is not None
    assert _carried(runtime, world) == {"奶粉": "rule"}


def test_twice_the_threshold_carries_the_tag_for_one_half_life_exactly(runtime, world):
    _add(runtime, world, "奶粉", 2.0)
    runtime.clock.advance(days=10)  # decayed to 1.0, the threshold: still at least it
    assert _carried(runtime, world) == {"奶粉": "rule"}
    runtime.clock.advance(microseconds=1)
    assert _carried(runtime, world) == {}


def test_weights_add_up_to_the_threshold_then_the_tag_lapses_by_decay(runtime, world):
    assert _add(runtime, world, "奶粉", 0.6) is None
    assert _carried(runtime, world) == {}
    change = _add(runtime, world, "奶粉", 0.6)
    assert change == scores.TagChange(world["customer"], world["tags"]["奶粉"], True)
    assert _carried(runtime, world) == {"奶粉": "rule"}
    runtime.clock.advance(days=2)  # 1.2 · 0.5^(2/10) ≈ 1.04: still carried
    assert _carried(runtime, world) == {"奶粉": "rule"}
    runtime.clock.advance(days=1)  # ≈ 0.97: lapsed
    assert _carried(runtime, world) == {}
    assert _timeline(runtime) == [("tag_added", "奶粉", {"kind": "rule", "ref": "1"})]


def test_a_new_score_builds_on_the_decayed_one(runtime, world):
    _add(runtime, world, "奶粉", 2.0)
    runtime.clock.advance(days=10)  # decayed to 1.0
    _add(runtime, world, "奶粉", 1.0)  # 2.0 again, from now
    runtime.clock.advance(days=9)
    assert _carried(runtime, world) == {"奶粉": "rule"}
    runtime.clock.advance(days=2)
    assert _carried(runtime, world) == {}


def test_a_group_without_half_life_never_decays(runtime, world):
    _add(runtime, world, "门店", 1.0)
    runtime.clock.advance(days=3650)
    assert _carried(runtime, world) == {"门店": "rule"}


def test_manual_tags_never_decay_and_are_in_the_timeline(runtime, world):
    with runtime.transaction() as db_session:
        tag = db_session.get(Tag, world["tags"]["奶粉"])
        group = db_session.get(TagGroup, tag.group_id)
        scores.set_manual(
            db_session=db_session, customer_id=world["customer"], tag=tag, group=group, on=True, now=runtime.clock.now(), manager="amy"
        )
    runtime.clock.advance(days=400)
    assert _carried(runtime, world) == {"奶粉": "manual"}
    _add(runtime, world, "奶粉", 0.1)  # a rule firing does not end a manual tag
    assert _carried(runtime, world) == {"奶粉": "manual"}
    with runtime.transaction() as db_session:
        tag = db_session.get(Tag, world["tags"]["奶粉"])
        scores.set_manual(
            db_session=db_session,
            customer_id=world["customer"],
            tag=tag,
            group=db_session.get(TagGroup, tag.group_id),
            on=False,
            now=runtime.clock.now(),
            manager="amy",
        )
    assert _carried(runtime, world) == {}
    assert _timeline(runtime) == [
        ("tag_added", "奶粉", {"kind": "manager", "ref": "amy"}),
        ("tag_removed", "奶粉", {"kind": "manager", "ref": "amy"}),
    ]


def test_a_computed_group_holds_one_tag_at_a_time(runtime, world):
    def compute(name):
        with runtime.transaction() as db_session:
            group = db_session.get(TagGroup, world["groups"]["RFM"])
            tag = db_session.get(Tag, world["tags"][name]) if name else None
            return scores.set_computed(
                db_session=db_session, customer_id=world["customer"], group=group, tag=tag, now=runtime.clock.now(), computation="rfm"
            )

    assert len(compute("重要价值客户")) == 1
    assert compute("重要价值客户") == []  # unchanged: nothing written
    changes = compute("一般保持客户")
    assert sorted((c.tag_id, c.added) for c in changes) == sorted(
        [(world["tags"]["重要价值客户"], False), (world["tags"]["一般保持客户"], True)]
    )
    runtime.clock.advance(days=1000)
    assert _carried(runtime, world) == {"一般保持客户": "computed"}
    compute(None)
    assert _carried(runtime, world) == {}
    assert [k for k, _, c in _timeline(runtime)] == ["tag_added", "tag_removed", "tag_added", "tag_removed"]


def test_merging_customers_carries_their_tags_and_orders_over(runtime, world):
    from decimal import Decimal

    from scrm import flows
    from tagging.models import CustomerTag, Order

    _add(runtime, world, "奶粉", 1.5)  # the first customer's
    with runtime.transaction() as db_session:
        twin = Customer(nickname="王先生")
        db_session.add(twin)
        db_session.flush()
        for name, weight in (("奶粉", 3.0), ("门店", 2.0)):
            t = db_session.get(Tag, world["tags"][name])
            scores.add_score(
                db_session=db_session, customer_id=twin.id, tag=t, group=db_session.get(TagGroup, t.group_id),
                weight=weight, now=runtime.clock.now(), cause=scores.Cause("rule", "2"),
            )
        db_session.add(Order(order_no="A1", customer_id=twin.id, amount=Decimal("99.00"), ordered_at=runtime.clock.now()))
        db_session.flush()
        flows.merge_customers(runtime=runtime, db_session=db_session, keep=db_session.get(Customer, world["customer"]),
                              drop=twin)
        twin_id = twin.id
    runtime.clock.advance(days=12)  # 1.5 would have lapsed; the twin's 3.0 holds longer and wins
    assert _carried(runtime, world) == {"奶粉": "rule", "门店": "rule"}
    with runtime.transaction() as db_session:
        assert db_session.scalars(select(CustomerTag).where(CustomerTag.customer_id == twin_id)).all() == []
        assert db_session.scalars(select(Order.customer_id)).all() == [world["customer"]]
