"""The points ledger (scrm/members/ledger.py) on both backends: lots spent oldest first,
frozen lots untouchable until ``available_at``, retries writing nothing, refunds taking back
what is left, the balance never below zero under concurrency, and the audit's two sums."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from member_world import grant, make_member
from platform_world import run_together
from scrm.config import load_config
from scrm.members import ledger
from scrm.members.models import Member, PointAllocation, PointEntry

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def spend(runtime, customer_id: int, amount: int, key: str, at: datetime | None = None):  # noqa: ANN001, ANN201
    with runtime.transaction() as db_session:
        posted = ledger.spend(db_session=db_session, customer_id=customer_id, amount=amount, kind="exchange",
                              source="test", source_id=None, key=key, at=at or runtime.clock.now())
        return posted.entry.id, posted.created


def balance(runtime, customer_id: int, at: datetime | None = None) -> ledger.Balance:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return ledger.balance(db_session=db_session, customer_id=customer_id, at=at or runtime.clock.now())


def test_spending_takes_the_oldest_lots_first_and_records_what_it_took(frozen):
    member = make_member(frozen)
    first = grant(frozen, member, 30, at=NOW - timedelta(days=3))
    second = grant(frozen, member, 50, at=NOW - timedelta(days=2))
    entry_id, created = spend(frozen, member, 40, "spend-1")
    assert created
    with frozen.transaction() as db_session:
        lots = {e.id: e.remaining for e in db_session.scalars(select(PointEntry).where(PointEntry.amount > 0))}
        taken = {(a.lot_id, a.amount) for a in db_session.scalars(select(PointAllocation))}
        entry = db_session.get(PointEntry, entry_id)
    assert lots == {first: 0, second: 40}
    assert taken == {(first, 30), (second, 10)}
    assert (entry.amount, entry.balance_after) == (-40, 40)
    assert balance(frozen, member).total == balance(frozen, member).available == 40


def test_the_same_key_again_writes_nothing_and_another_change_under_it_is_refused(frozen):
    member = make_member(frozen)
    grant(frozen, member, 100)
    first = spend(frozen, member, 10, "exchange:1")
    again = spend(frozen, member, 10, "exchange:1")
    assert first[1] and again == (first[0], False)
    with pytest.raises(ledger.KeyReused):
        spend(frozen, member, 20, "exchange:1")
    assert balance(frozen, member).total == 90


def test_a_member_locked_once_is_read_fresh_and_earns_without_a_second_lock(frozen):
    """lock_member's UPDATE … RETURNING is the read: a balance changed behind the session's
    back is what it returns; earn(locked=) posts on it; another customer's row is refused."""
    member, other = make_member(frozen), make_member(frozen)
    grant(frozen, member, 30)
    with frozen.transaction() as db_session:
        db_session.get(Member, member)  # in the session's identity map, with 30
        with frozen.transaction() as elsewhere:
            elsewhere.execute(update(Member).where(Member.customer_id == member).values(points_balance=35))
        locked = ledger.lock_member(db_session, member)
        assert locked.points_balance == 35
        with pytest.raises(ValueError, match="not"):
            ledger.earn(db_session=db_session, config=frozen.config, customer_id=other, amount=5, kind="product",
                        source="test", source_id=None, key="wrong-member", at=NOW, locked=locked)
        posted = ledger.earn(db_session=db_session, config=frozen.config, customer_id=member, amount=5, kind="product",
                             source="test", source_id=None, key="locked-once", at=NOW, locked=locked)
    assert posted.created and posted.entry.balance_after == 40
    with frozen.transaction() as db_session:
        assert db_session.get(Member, member).points_balance == 40
        assert db_session.scalar(select(PointEntry.id).where(PointEntry.idempotency_key == "wrong-member")) is None


def test_frozen_points_cannot_be_spent_until_available_at(frozen):
    member = make_member(frozen)
    grant(frozen, member, 100, frozen_days=7)
    now = balance(frozen, member)
    assert (now.total, now.available, now.frozen) == (100, 0, 100)
    with pytest.raises(ledger.NotEnoughPoints) as refused:
        spend(frozen, member, 1, "too-soon")
    assert refused.value.details["available"] == 0
    later = NOW + timedelta(days=7)
    assert spend(frozen, member, 100, "in-time", at=later)[1]
    assert balance(frozen, member, at=later).total == 0


def test_expired_lots_are_not_spendable_even_before_the_nightly_expiry(frozen):
    member = make_member(frozen)
    grant(frozen, member, 10, expires_at=NOW + timedelta(hours=1))
    grant(frozen, member, 5)
    with pytest.raises(ledger.NotEnoughPoints):
        spend(frozen, member, 6, "after-expiry", at=NOW + timedelta(hours=2))


def test_taking_back_starts_with_the_named_lot_and_never_goes_below_zero(frozen):
    member = make_member(frozen)
    older = grant(frozen, member, 20)
    order_lot = grant(frozen, member, 60, frozen_days=7)
    with frozen.transaction() as db_session:
        posted = ledger.take_back(db_session=db_session, customer_id=member, amount=30, lot_id=order_lot,
                                  kind="refund_reverse", source="order", source_id="A1", key="refund:A1:1",
                                  at=NOW)
        assert posted.entry.amount == -30
    with frozen.transaction() as db_session:
        assert db_session.get(PointEntry, order_lot).remaining == 30
        assert db_session.get(PointEntry, older).remaining == 20
        # More than the member has left to give: only what is there is taken.
        posted = ledger.take_back(db_session=db_session, customer_id=member, amount=500, lot_id=order_lot,
                                  kind="refund_reverse", source="order", source_id="A1", key="refund:A1:2",
                                  at=NOW)
        assert posted.entry.amount == -50
    assert balance(frozen, member).total == 0


@pytest.mark.parametrize("backend", ["embedded", "real"], indirect=True)
def test_32_concurrent_spends_of_one_member_never_take_more_than_there_is(frozen):
    member = make_member(frozen)
    grant(frozen, member, 100)
    results = run_together(lambda i: spend(frozen, member, 10, f"race:{i}")[1], 32, refusals=(ledger.NotEnoughPoints,))
    assert results.count(True) == 10 and results.count("not_enough_points") == 22
    with frozen.transaction() as db_session:
        balances = sorted(db_session.scalars(select(PointEntry.balance_after).where(PointEntry.amount < 0)))
        assert balances == list(range(0, 100, 10))
        assert ledger.audit(db_session=db_session) == []


def test_the_audit_finds_a_tampered_balance(frozen):
    member = make_member(frozen)
    honest = make_member(frozen)
    grant(frozen, member, 40)
    grant(frozen, honest, 40)
    spend(frozen, member, 15, "s")
    with frozen.transaction() as db_session:
        assert ledger.audit(db_session=db_session) == []
        db_session.execute(update(Member).where(Member.customer_id == member).values(points_balance=1000))
    with frozen.transaction() as db_session:
        assert ledger.audit(db_session=db_session) == [ledger.AuditFinding(member, 1000, 25, 25)]


@pytest.mark.parametrize(("rule", "earned", "expires"), [
    ("year_end", datetime(2026, 3, 1, 4, tzinfo=UTC), datetime(2027, 12, 31, 16, tzinfo=UTC)),
    ("rolling_months:12", datetime(2026, 1, 31, 4, tzinfo=UTC), datetime(2027, 1, 31, 4, tzinfo=UTC)),
    ("rolling_months:1", datetime(2026, 1, 31, 4, tzinfo=UTC), datetime(2026, 2, 28, 4, tzinfo=UTC)),
    ("never", datetime(2026, 1, 31, 4, tzinfo=UTC), None),
])
def test_when_points_expire(rule, earned, expires):
    config = load_config(environ={}, overrides={"members.points_expiry": rule})
    assert ledger.expires_at_for(config, earned) == expires


def test_a_member_qr_names_its_member_for_a_few_minutes_only(frozen):
    from scrm.members.member_qr import MemberQrRefused, member_qr_token, read_member_qr

    token = member_qr_token(frozen, 42)
    assert read_member_qr(frozen, token) == 42
    with pytest.raises(MemberQrRefused, match="invalid"):
        read_member_qr(frozen, token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1])
    frozen.clock.advance(minutes=frozen.config.members.qr_minutes, seconds=1)
    with pytest.raises(MemberQrRefused, match="expired"):
        read_member_qr(frozen, token)


def test_growth_raises_the_level_on_crossing_the_threshold_and_a_retry_changes_nothing(frozen):
    from scrm.members import growth, service

    member = make_member(frozen)
    with frozen.transaction() as db_session:
        below = growth.add_growth(db_session=db_session, config=frozen.config, customer_id=member, amount=999,
                                  kind="order", source_id="A1", key="growth:A1", at=NOW)
        crossing = growth.add_growth(db_session=db_session, config=frozen.config, customer_id=member, amount=1,
                                     kind="order", source_id="A2", key="growth:A2", at=NOW)
        again = growth.add_growth(db_session=db_session, config=frozen.config, customer_id=member, amount=1,
                                  kind="order", source_id="A2", key="growth:A2", at=NOW)
    assert below.level_change is None and crossing.level_change.up and not again.created
    with frozen.transaction() as db_session:
        summary = service.member_summary(db_session=db_session, config=frozen.config, customer_id=member, at=NOW)
        assert (summary.level.name, summary.member.growth, summary.next_level.name, summary.growth_to_next) == (
            "银卡", 1000, "金卡", 4000)
