"""Claiming product codes (scrm/products/claiming.py) on both backends: a genuine code gives its
reward exactly once whatever the concurrency; a code with one character changed is not genuine
before any statement runs; expired and unknown batches are refused; the daily limit holds; the
bound guide is credited and their protection renewed, and a customer with no guide is routed
to a guide of the batch's store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from coupon_world import make_customer, make_template
from guides.binding import bind, current_binding, guide_card
from guide_world import create_guide, create_store
from member_world import make_member
from platform_world import run_together
from product_world import claim, code_of, make_batch, statements
from scrm.clock import as_utc
from scrm.coupons.models import Coupon
from scrm.customers.models import Interaction
from scrm.members.models import Member, PointEntry
from scrm.products import claiming
from scrm.products.codes import CODE_CHARS, ProductCodec
from scrm.products.models import ProductClaim, ProductScan

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
THREADS = 16


@pytest.fixture
def config_overrides():
    return {"database.pool_size": THREADS, "database.max_overflow": 0}


def scans(runtime, result: str) -> int:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.scalar(select(func.count()).select_from(ProductScan).where(ProductScan.result == result))


def claims(runtime) -> list[ProductClaim]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        rows = db_session.scalars(select(ProductClaim).order_by(ProductClaim.id)).all()
        db_session.expunge_all()
        return rows


def check(runtime, code: str) -> claiming.Checked:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return claiming.check_code(runtime=runtime, db_session=db_session, code=code)


def bind_to(runtime, customer_id: int, guide_id: int, at: datetime) -> None:  # noqa: ANN001
    with runtime.transaction() as db_session:
        bind(runtime=runtime, db_session=db_session, customer_id=customer_id,
             guide=guide_card(db_session=db_session, guide_id=guide_id), code_id=None, channel="mp", at=at,
             previous_guide_id=None)


# ---- the codec ------------------------------------------------------------------------------


def test_codes_round_trip_and_hide_their_serials(frozen):
    codec = ProductCodec.from_config(frozen.config)
    made = list(codec.codes("k3m7d", 1, 2000))
    assert all(len(code) == CODE_CHARS and code.startswith("k3m7d") for _, code in made)
    assert [codec.decode(code).serial for _, code in made] == list(range(1, 2001))
    assert codec.decode(made[41][1].upper()).serial == 42  # a scanner that shouts
    assert codec.encode("k3m7d", 7) == made[6][1]
    # consecutive serials do not give neighbouring codes: no counting from one label to the next
    middles = [code[5:13] for _, code in made]
    assert len(set(middles)) == 2000 and sorted(middles) != middles


def test_another_key_makes_every_code_not_genuine(frozen):
    code = ProductCodec("a" * 32).encode("k3m7d", 1)
    assert ProductCodec("b" * 32).decode(code) is None
    assert ProductCodec("a" * 32).decode(code).serial == 1


def test_every_one_character_change_is_not_genuine_without_a_statement(frozen):
    batch = make_batch(frozen)
    code = code_of(frozen, batch, 7)
    changed = [code[:i] + other + code[i + 1:] for i in range(CODE_CHARS) for other in "abcdefghijklmnopqrstuvwxyz234567"
               if other != code[i]]
    assert len(changed) == CODE_CHARS * 31
    with statements(frozen) as seen:
        refused = {check(frozen, bad).refused for bad in changed}
    assert refused == {"not_genuine"}
    assert seen == []  # not one statement: the MAC refused each before any table was read
    assert check(frozen, code).serial == 7


def test_unknown_batch_serial_beyond_the_batch_and_expired_batch_are_refused(frozen):
    batch = make_batch(frozen, quantity=10, valid_until="2026-12-08")
    codec = ProductCodec.from_config(frozen.config)
    assert check(frozen, codec.encode("zzzzz", 1)).refused == "not_genuine"  # a prefix no batch has
    assert check(frozen, codec.encode(batch.prefix, 11)).refused == "not_genuine"
    assert check(frozen, codec.encode(batch.prefix, 10)).refused is None
    frozen.clock.advance(days=1, hours=12)  # 2026-12-08 23:00 local: still valid
    assert check(frozen, codec.encode(batch.prefix, 10)).refused is None
    frozen.clock.advance(hours=2)  # 2026-12-09 01:00 local
    assert check(frozen, codec.encode(batch.prefix, 10)).refused == "expired"
    for bad in ("", "k3m7d", "!" * CODE_CHARS, code_of(frozen, batch, 1) + "a", "\x00" * CODE_CHARS):
        assert check(frozen, bad).refused == "not_genuine"


# ---- exactly once -------------------------------------------------------------------------


def test_sixteen_customers_claiming_one_code_at_once_give_one_reward(frozen):
    template_id = make_template(frozen, name="英氏到店礼")
    batch = make_batch(frozen, reward={"coupon_template_id": template_id})
    customers = [make_customer(frozen) for _ in range(THREADS)]

    results = run_together(lambda i: claim(frozen, batch, 5, customers[i]).result, THREADS)

    assert sorted(results) == ["claimed"] + ["claimed_by_other"] * (THREADS - 1)
    made = claims(frozen)
    assert len(made) == 1 and made[0].coupon_id is not None
    winner = customers[results.index("claimed")]
    assert made[0].customer_id == winner
    with frozen.transaction() as db_session:
        assert db_session.scalars(select(Coupon.customer_id)).all() == [winner]
    assert scans(frozen, "claimed_by_other") == THREADS - 1


def test_one_member_claiming_one_code_sixteen_times_at_once_gets_the_points_once(frozen):
    batch = make_batch(frozen, reward={"points": 30})
    member = make_member(frozen)

    results = run_together(lambda i: claim(frozen, batch, 9, member).result, THREADS)

    assert sorted(results) == ["already_yours"] * (THREADS - 1) + ["claimed"]
    with frozen.transaction() as db_session:
        assert db_session.get(Member, member).points_balance == 30
        entries = db_session.scalars(select(PointEntry).where(PointEntry.customer_id == member)).all()
        assert [(e.kind, e.amount, e.source) for e in entries] == [("product", 30, "product_claim")]


def test_a_second_scan_says_already_yours_and_a_stranger_sees_when_it_was_claimed(frozen):
    batch = make_batch(frozen)
    owner, stranger = make_member(frozen), make_member(frozen)
    first = claim(frozen, batch, 3, owner)
    assert first.result == "claimed" and first.claim.points == 50 and not first.claim.points_pending
    frozen.clock.advance(hours=5)
    again = claim(frozen, batch, 3, owner)
    assert again.result == "already_yours" and as_utc(again.claim.claimed_at) == NOW
    other = claim(frozen, batch, 3, stranger)
    assert other.result == "claimed_by_other" and as_utc(other.claim.claimed_at) == NOW
    with frozen.transaction() as db_session:
        assert db_session.get(Member, owner).points_balance == 50
        assert db_session.get(Member, stranger).points_balance == 0
        timeline = db_session.scalars(select(Interaction.payload).where(
            Interaction.customer_id == owner, Interaction.kind == "product_claimed")).all()
    assert [(p["product"], p["serial"], p["points"]) for p in timeline] == [("英氏多维营养米粉", 3, 50)]


# ---- rewards --------------------------------------------------------------------------------


def test_points_for_a_customer_who_is_not_a_member_wait_until_they_join(frozen):
    from scrm.members import service

    batch = make_batch(frozen, reward={"points": 40})
    customer = make_customer(frozen, phone="13900001111")
    claimed = claim(frozen, batch, 1, customer)
    assert claimed.result == "claimed" and claimed.claim.points_pending
    with frozen.transaction() as db_session:
        service.create_member(db_session=db_session, config=frozen.config, customer_id=customer, phone="13900001111",
                              at=NOW, joined_via="test")
        added = claiming.credit_pending_points(runtime=frozen, db_session=db_session, customer_id=customer, at=NOW)
    assert added == 40
    with frozen.transaction() as db_session:
        assert db_session.get(Member, customer).points_balance == 40
        assert claiming.credit_pending_points(runtime=frozen, db_session=db_session, customer_id=customer, at=NOW) == 0
    assert [c.points_pending for c in claims(frozen)] == [False]


def test_a_coupon_that_cannot_be_issued_leaves_the_code_unclaimed(frozen):
    template_id = make_template(frozen, stock=1)
    batch = make_batch(frozen, reward={"coupon_template_id": template_id})
    first, second = make_customer(frozen), make_customer(frozen)
    assert claim(frozen, batch, 1, first).result == "claimed"
    refused = claim(frozen, batch, 2, second)
    assert (refused.result, refused.reason) == ("reward_unavailable", "out_of_stock")
    assert [(c.serial, c.customer_id) for c in claims(frozen)] == [(1, first)]
    assert scans(frozen, "reward_unavailable") == 1


# ---- the daily limit ------------------------------------------------------------------------


@pytest.mark.parametrize("config_overrides", [{"products.daily_claims": 2}])
def test_the_daily_limit_refuses_the_next_claim_until_the_next_local_day(frozen):
    batch = make_batch(frozen)
    member = make_member(frozen)
    assert [claim(frozen, batch, serial, member).result for serial in (1, 2, 3)] == [
        "claimed", "claimed", "daily_limit"]
    assert scans(frozen, "daily_limit") == 1
    assert [c.serial for c in claims(frozen)] == [1, 2]
    frozen.clock.advance(hours=13)  # 16:00 UTC: midnight in Shanghai
    assert claim(frozen, batch, 3, member).result == "claimed"


@pytest.mark.parametrize("config_overrides", [{"products.daily_claims": 3, "database.pool_size": THREADS,
                                                "database.max_overflow": 0}])
def test_sixteen_codes_claimed_at_once_by_one_customer_stop_at_the_limit(frozen):
    batch = make_batch(frozen)
    member = make_member(frozen)
    results = run_together(lambda i: claim(frozen, batch, i + 1, member).result, THREADS)
    assert sorted(results) == ["claimed"] * 3 + ["daily_limit"] * (THREADS - 3)
    with frozen.transaction() as db_session:
        assert db_session.get(Member, member).points_balance == 150


# ---- attribution ----------------------------------------------------------------------------


@pytest.mark.parametrize("config_overrides", [{"binding.protect_days": 30}])
def test_the_bound_guide_is_credited_and_their_protection_renewed(frozen):
    create_store(frozen, "S1")
    guide = create_guide(frozen, "G1", store="S1")
    member = make_member(frozen)
    bind_to(frozen, member, guide.id, NOW - timedelta(days=20))
    batch = make_batch(frozen)
    claimed = claim(frozen, batch, 4, member)
    assert claimed.claim.guide_id == guide.id and not claimed.new_binding
    assert [(c.attribution, c.guide_id) for c in claims(frozen)] == [("bound", guide.id)]
    with frozen.transaction() as db_session:
        binding = current_binding(db_session=db_session, customer_id=member)
        assert as_utc(binding.protected_until) == NOW + timedelta(days=30)  # was NOW + 10 days


def test_a_customer_with_no_guide_is_routed_to_a_guide_of_the_batchs_store(frozen):
    create_store(frozen, "S1")
    guide = create_guide(frozen, "G1", store="S1")
    customer = make_customer(frozen)
    batch = make_batch(frozen, store_code="S1", reward={"coupon_template_id": make_template(frozen)})
    claimed = claim(frozen, batch, 1, customer)
    assert claimed.new_binding and claimed.claim.guide_id == guide.id
    with frozen.transaction() as db_session:
        binding = current_binding(db_session=db_session, customer_id=customer)
        assert binding.guide_id == guide.id
        coupon = db_session.scalars(select(Coupon)).one()
        assert coupon.issued_guide_id == guide.id  # the coupon the guide will redeem is theirs
        bound = db_session.scalars(select(Interaction.payload).where(Interaction.kind == "guide_bound")).one()
    assert bound["via"] == "product_code"
    assert [(c.attribution, c.store_id is not None) for c in claims(frozen)] == [("routed", True)]


def test_a_batch_without_a_store_credits_no_one_when_the_customer_has_no_guide(frozen):
    customer = make_customer(frozen)
    claimed = claim(frozen, make_batch(frozen, reward={"coupon_template_id": make_template(frozen)}), 1, customer)
    assert claimed.result == "claimed" and claimed.claim.guide_id is None and not claimed.new_binding
