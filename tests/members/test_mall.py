"""The points mall (scrm/members/mall.py) on both backends: an exchange gives one coupon for
the points, exactly once per key; every refusal (paused, level, limit, stock, points, a
template that cannot issue) leaves nothing written; and the races — one member's 64 exchanges
with points for 10, 64 members against a stock of 10, one member against a limit — end with
exactly what there was, every balance_after ≥ 0 and the audit clean."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, update

from coupon_world import make_template
from member_world import grant, make_member
from platform_world import run_together as run_together_in
from scrm.coupons.models import Coupon, CouponTemplate
from scrm.errors import InvalidInput, validated
from scrm.members import ledger, levels, mall
from scrm.members.models import MallExchange, MallItem, Member, PointEntry
from scrm.members.schemas import MallItemChangeIn, MallItemIn

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
THREADS = 64
# 32 connections: the 64 threads queue for them as requests do for a web server's pool; 64
# would take most of a shared PostgreSQL's 100 (and fail beside another race test).
CONNECTIONS = 32


@pytest.fixture
def config_overrides():
    return {"database.pool_size": CONNECTIONS, "database.max_overflow": 0}


def make_item(runtime, **fields) -> int:  # noqa: ANN001, ANN003
    body = {"name": "满100减20券", "points": 10, **fields}
    body.setdefault("template_id", make_template(runtime))
    with runtime.transaction() as db_session:
        return mall.create_item(db_session=db_session, item_in=MallItemIn(**body), at=runtime.clock.now()).id


def exchange(runtime, customer_id: int, item_id: int, key: str) -> mall.Exchanged:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return mall.exchange(runtime=runtime, db_session=db_session, customer_id=customer_id, item_id=item_id,
                             key=key, at=runtime.clock.now(), created_by="test")


def counts(runtime) -> tuple[int, int, int]:  # noqa: ANN001
    """(exchanges, coupons, spending entries) in the database."""
    with runtime.transaction() as db_session:
        return (db_session.scalar(select(func.count()).select_from(MallExchange)),
                db_session.scalar(select(func.count()).select_from(Coupon)),
                db_session.scalar(select(func.count()).select_from(PointEntry).where(PointEntry.amount < 0)))


def level_id(runtime, name: str) -> int:  # noqa: ANN001
    with runtime.transaction() as db_session:
        found = levels.ensure_levels(db_session=db_session, config=runtime.config, at=NOW)
        return next(level.id for level in found if level.name == name)


def run_together(work) -> list:  # noqa: ANN001
    """``work(i)`` in THREADS threads at one moment; each result or the refusal's code."""
    return run_together_in(work, THREADS, refusals=(mall.ItemUnavailable, ledger.NotEnoughPoints))


def assert_ledger_sound(runtime) -> None:  # noqa: ANN001
    with runtime.transaction() as db_session:
        assert db_session.scalar(select(func.min(PointEntry.balance_after))) >= 0
        assert ledger.audit(db_session=db_session) == []


def test_an_exchange_spends_the_points_and_gives_one_coupon_of_the_template(frozen):
    member = make_member(frozen)
    grant(frozen, member, 25)
    template = make_template(frozen, name="满100减20")
    item = make_item(frozen, template_id=template, stock=5)
    done = exchange(frozen, member, item, "k1")
    assert done.created and done.points == 10
    with frozen.transaction() as db_session:
        coupon = db_session.get(Coupon, done.coupon_id)
        record = db_session.get(MallExchange, done.exchange_id)
        entry = db_session.get(PointEntry, record.entry_id)
        assert (coupon.customer_id, coupon.template_id, coupon.source, coupon.source_ref) == (
            member, template, "exchange", f"exchange:{done.exchange_id}")
        assert (entry.amount, entry.kind, entry.source_id, entry.balance_after, entry.created_by) == (
            -10, "exchange", str(done.exchange_id), 15, "test")
        assert (record.customer_id, record.item_id, record.coupon_id, record.created_by) == (
            member, item, coupon.id, "test")
        assert db_session.get(MallItem, item).exchanged_count == 1
        assert db_session.get(CouponTemplate, template).issued_count == 1


def test_the_same_key_again_answers_the_first_exchange_and_writes_nothing(frozen):
    member, other = make_member(frozen), make_member(frozen)
    grant(frozen, member, 100)
    grant(frozen, other, 100)
    item = make_item(frozen)
    first = exchange(frozen, member, item, "once")
    again = exchange(frozen, member, item, "once")
    assert first.created and again == mall.Exchanged(first.exchange_id, first.coupon_id, 10, False)
    assert counts(frozen) == (1, 1, 1)
    # Keys are the member's own: another member's "once" is another exchange.
    assert exchange(frozen, other, item, "once").created
    # The key names the first exchange: another item under it is refused.
    with pytest.raises(ledger.KeyReused):
        exchange(frozen, member, make_item(frozen), "once")
    assert counts(frozen) == (2, 2, 2)


@pytest.mark.parametrize(("setup", "code"), [
    ("paused", "item_paused"),
    ("sold_out", "out_of_stock"),
    ("limit", "limit_reached"),
    ("level", "level_required"),
    ("template_paused", "template_unavailable"),
    ("template_out", "template_unavailable"),
    ("template_limit", "limit_reached"),
    ("poor", "not_enough_points"),
])
def test_a_refused_exchange_writes_nothing(frozen, setup, code):
    member = make_member(frozen)
    grant(frozen, member, 15 if setup != "poor" else 9)
    template = make_template(frozen, stock=1 if setup == "template_out" else None,
                             per_customer_limit=1 if setup == "template_limit" else None)
    fields = {"paused": {"status": "paused"}, "sold_out": {"stock": 0}, "limit": {"per_member_limit": 1},
              "level": {"min_level_id": level_id(frozen, "金卡")}}.get(setup, {})
    item = make_item(frozen, template_id=template, **fields)
    if setup == "limit":
        grant(frozen, member, 10)
        exchange(frozen, member, item, "the-one")
    if setup in ("template_out", "template_limit"):
        from coupon_world import issue

        issue(frozen, template, member)
    if setup == "template_paused":
        with frozen.transaction() as db_session:
            db_session.execute(update(CouponTemplate).where(CouponTemplate.id == template).values(status="paused"))
    before = counts(frozen)
    with frozen.transaction() as db_session:
        item_before = db_session.get(MallItem, item).exchanged_count
        issued_before = db_session.get(CouponTemplate, template).issued_count
        balance_before = db_session.get(Member, member).points_balance
    with pytest.raises((mall.ItemUnavailable, ledger.NotEnoughPoints)) as refused:
        exchange(frozen, member, item, "refused")
    assert refused.value.code == code
    assert counts(frozen) == before
    with frozen.transaction() as db_session:
        assert db_session.get(MallItem, item).exchanged_count == item_before
        assert db_session.get(CouponTemplate, template).issued_count == issued_before
        assert db_session.get(Member, member).points_balance == balance_before
        # What the member's mall says of the item, in their words.
        view = next(v for v in mall.list_items(db_session=db_session, at=NOW, customer_id=member,
                                               include_paused=True) if v.id == item)
    words = {"item_paused": "暂停兑换", "out_of_stock": "已兑完", "limit_reached": "已达兑换上限",
             "level_required": "金卡及以上可兑", "not_enough_points": "积分不足", "template_unavailable": "暂不可兑"}
    if setup != "template_limit":  # the template's own limit shows only when exchanging
        assert (view.available, view.why_not_code, view.why_not) == (False, code, words[code])


def test_an_exchange_without_membership_or_item_is_refused(frozen):
    from coupon_world import make_customer

    item = make_item(frozen)
    with pytest.raises(ledger.NotAMember):
        exchange(frozen, make_customer(frozen), item, "k")
    with pytest.raises(mall.ItemNotFound):
        exchange(frozen, make_member(frozen), item + 1000, "k")
    assert counts(frozen) == (0, 0, 0)


def test_the_list_shows_active_items_in_order_with_stock_left_and_the_level_reserved(frozen):
    member = make_member(frozen)
    grant(frozen, member, 50)
    gold = level_id(frozen, "金卡")
    a = make_item(frozen, name="A", sort=2, stock=3)
    make_item(frozen, name="B", sort=1, min_level_id=gold, description="金卡专享")
    make_item(frozen, name="C", status="paused", sort=3)
    exchange(frozen, member, a, "x")
    with frozen.transaction() as db_session:
        anyone = mall.list_items(db_session=db_session, at=NOW)
        mine = mall.list_items(db_session=db_session, at=NOW, customer_id=member)
        everything = mall.list_items(db_session=db_session, at=NOW, include_paused=True)
    assert [(v.name, v.stock_left, v.min_level_name, v.available) for v in anyone] == [
        ("B", None, "金卡", True), ("A", 2, None, True)]
    assert [(v.name, v.available, v.why_not) for v in mine] == [("B", False, "金卡及以上可兑"), ("A", True, None)]
    assert [v.name for v in everything] == ["B", "A", "C"]
    assert anyone[0].template_name == "满100减20" and anyone[0].description == "金卡专享"


def test_items_name_an_existing_template_and_level_and_keep_stock_above_what_went(frozen):
    member = make_member(frozen)
    grant(frozen, member, 100)
    with pytest.raises(mall.ItemRefused) as refused:
        make_item(frozen, template_id=999)
    assert refused.value.details["field"] == "template_id"
    with pytest.raises(mall.ItemRefused) as refused:
        make_item(frozen, min_level_id=999)
    assert refused.value.details["field"] == "min_level_id"
    item = make_item(frozen, stock=5, per_member_limit=2)
    exchange(frozen, member, item, "a")
    exchange(frozen, member, item, "b")
    with frozen.transaction() as db_session, pytest.raises(mall.ItemRefused) as refused:
        mall.update_item(db_session=db_session, item_id=item, changes=MallItemChangeIn(stock=1), at=NOW)
    assert refused.value.code == "stock_below_exchanged"
    with frozen.transaction() as db_session:
        changed = mall.update_item(db_session=db_session, item_id=item, at=NOW,
                                   changes=MallItemChangeIn.model_validate({"stock": None, "per_member_limit": None,
                                                                            "points": 20, "name": "新名字"}))
        assert (changed.stock, changed.per_member_limit, changed.points, changed.name, changed.exchanged_count) == (
            None, None, 20, "新名字", 2)
    with frozen.transaction() as db_session, pytest.raises(mall.ItemNotFound):
        mall.update_item(db_session=db_session, item_id=item + 1, changes=MallItemChangeIn(points=1), at=NOW)


@pytest.mark.parametrize("body", [
    {"name": "", "template_id": 1, "points": 1},
    {"name": "x" * 65, "template_id": 1, "points": 1},
    {"name": "a\x00b", "template_id": 1, "points": 1},
    {"name": "a", "template_id": 2**31, "points": 1},
    {"name": "a", "template_id": 1, "points": 0},
    {"name": "a", "template_id": 1, "points": 10_000_001},
    {"name": "a", "template_id": 1, "points": float("nan")},
    {"name": "a", "template_id": 1, "points": "10"},
    {"name": "a", "template_id": 1, "points": 1, "stock": -1},
    {"name": "a", "template_id": 1, "points": 1, "per_member_limit": 0},
    {"name": "a", "template_id": 1, "points": 1, "status": "closed"},
    {"name": "a", "template_id": 1, "points": 1, "description": "x" * 501},
    {"name": "a", "template_id": 1, "points": 1, "surprise": 1},
])
def test_bad_items_are_refused_by_the_schema(body):
    with pytest.raises(InvalidInput):
        validated(MallItemIn, body, error=InvalidInput, what="an item")


def test_a_change_cannot_null_what_must_have_a_value():
    with pytest.raises(InvalidInput) as refused:
        validated(MallItemChangeIn, {"points": None}, error=InvalidInput, what="a change")
    assert refused.value.field == "points"
    assert MallItemChangeIn.model_validate({"stock": None}).changes() == {"stock": None}


@pytest.mark.parametrize("backend", ["embedded", "real"], indirect=True)
def test_64_exchanges_of_one_member_with_points_for_10_give_exactly_10(frozen):
    member = make_member(frozen)
    grant(frozen, member, 100)
    item = make_item(frozen, points=10)
    results = run_together(lambda i: exchange(frozen, member, item, f"race-{i}").created)
    assert results.count(True) == 10 and results.count("not_enough_points") == THREADS - 10
    assert counts(frozen) == (10, 10, 10)
    with frozen.transaction() as db_session:
        balances = sorted(db_session.scalars(select(PointEntry.balance_after).where(PointEntry.amount < 0)))
        assert balances == list(range(0, 100, 10))
        assert db_session.get(MallItem, item).exchanged_count == 10
    assert_ledger_sound(frozen)


@pytest.mark.parametrize("backend", ["embedded", "real"], indirect=True)
def test_64_members_against_a_stock_of_10_exchange_exactly_10(frozen):
    members = [make_member(frozen) for _ in range(THREADS)]
    for member in members:
        grant(frozen, member, 10)
    item = make_item(frozen, stock=10)
    results = run_together(lambda i: exchange(frozen, members[i], item, "mine").created)
    assert results.count(True) == 10 and results.count("out_of_stock") == THREADS - 10
    assert counts(frozen) == (10, 10, 10)
    with frozen.transaction() as db_session:
        assert db_session.get(MallItem, item).exchanged_count == 10
    assert_ledger_sound(frozen)


@pytest.mark.parametrize("backend", ["embedded", "real"], indirect=True)
def test_one_member_racing_a_limit_of_3_exchanges_3_times_and_a_retried_key_once(frozen):
    member = make_member(frozen)
    grant(frozen, member, 10_000)
    item = make_item(frozen, per_member_limit=3)
    # Half the threads retry the same four keys; the other half bring new ones.
    results = run_together(lambda i: exchange(frozen, member, item, f"k{i % 4}" if i % 2 else f"new-{i}").created)
    assert results.count(True) == 3
    assert results.count("limit_reached") + results.count(True) + results.count(False) == THREADS
    assert counts(frozen) == (3, 3, 3)
    assert_ledger_sound(frozen)
