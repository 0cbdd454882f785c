"""Check-in (scrm/members/checkin.py) on both backends: once per local day whatever the
retries and the concurrency, the streak across days with its tier bonus (repeating after the
highest tier), a broken streak starting again at 1, the brand's local day boundary, the growth
and the level it raises (scrm/flows.py fires ``level_up``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from member_world import make_member
from platform_world import run_together
from scrm import flows
from scrm.config import StreakTier
from scrm.members import checkin, growth, ledger
from scrm.members.models import Checkin, GrowthEntry, Member, PointEntry

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai


def check_in(runtime, customer_id: int, at: datetime | None = None) -> checkin.CheckedIn:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return flows.check_in(runtime=runtime, db_session=db_session, customer_id=customer_id,
                              at=at or runtime.clock.now())


def state(runtime, customer_id: int, at: datetime) -> checkin.CheckinState:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return checkin.checkin_state(db_session=db_session, config=runtime.config, customer_id=customer_id, at=at)


def ledger_of(runtime, customer_id: int) -> list[tuple[int, str, str]]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return [tuple(row) for row in db_session.execute(
            select(PointEntry.amount, PointEntry.kind, PointEntry.idempotency_key)
            .where(PointEntry.customer_id == customer_id).order_by(PointEntry.id))]


def test_one_check_in_a_day_and_the_same_again_answers_the_first(frozen):
    member = make_member(frozen)
    first = check_in(frozen, member)
    assert first == checkin.CheckedIn(NOW.date(), 1, 5, 0, 1, True, None)
    frozen.clock.advance(hours=5)
    again = check_in(frozen, member)
    assert again == checkin.CheckedIn(NOW.date(), 1, 5, 0, 1, False, None)
    assert ledger_of(frozen, member) == [(5, "checkin", f"checkin:{member}:2026-12-07")]
    with frozen.transaction() as db_session:
        assert db_session.scalar(select(func.count()).select_from(GrowthEntry)) == 1
        row = db_session.get(Member, member)
        assert (row.points_balance, row.growth, row.checkin_streak, str(row.last_checkin_day)) == (
            5, 1, 1, "2026-12-07")


def test_the_streak_grows_day_by_day_and_pays_the_tiers_then_the_highest_again_and_again(frozen):
    member = make_member(frozen)
    days = [check_in(frozen, member, NOW + timedelta(days=n)) for n in range(21)]
    assert [d.streak for d in days] == list(range(1, 22))
    bonus = {3: 5, 7: 20, 14: 20, 21: 20}  # tiers 3 and 7 days; after 7, every 7th day
    assert [d.bonus for d in days] == [bonus.get(n, 0) for n in range(1, 22)]
    assert [d.points for d in days] == [5 + bonus.get(n, 0) for n in range(1, 22)]
    with frozen.transaction() as db_session:
        assert ledger.balance(db_session=db_session, customer_id=member, at=NOW + timedelta(days=21)).total == (
            21 * 5 + 65)


def test_a_missed_day_breaks_the_streak_and_the_next_check_in_starts_at_1(frozen):
    member = make_member(frozen)
    check_in(frozen, member, NOW)
    check_in(frozen, member, NOW + timedelta(days=1))
    assert state(frozen, member, NOW + timedelta(days=2)) == checkin.CheckinState(False, 2, (3, 5))
    assert state(frozen, member, NOW + timedelta(days=3)) == checkin.CheckinState(False, 0, (3, 5))
    after_gap = check_in(frozen, member, NOW + timedelta(days=3))
    assert (after_gap.streak, after_gap.bonus, after_gap.points) == (1, 0, 5)
    assert state(frozen, member, NOW + timedelta(days=3)) == checkin.CheckinState(True, 1, (3, 5))


def test_23_59_and_00_01_in_shanghai_are_two_days(frozen):
    member = make_member(frozen)
    late = datetime(2026, 12, 7, 15, 59, tzinfo=UTC)  # 23:59 on the 7th in Asia/Shanghai
    early = datetime(2026, 12, 7, 16, 1, tzinfo=UTC)  # 00:01 on the 8th
    first, second = check_in(frozen, member, late), check_in(frozen, member, early)
    assert (str(first.day), str(second.day)) == ("2026-12-07", "2026-12-08")
    assert (first.created, second.created, second.streak) == (True, True, 2)
    # 01:00 UTC on the 8th is still the 8th in Shanghai: the same day as 00:01.
    assert not check_in(frozen, member, datetime(2026, 12, 8, 1, 0, tzinfo=UTC)).created


def test_the_next_bonus_after_the_highest_tier_comes_at_its_next_multiple():
    tiers = [StreakTier(days=7, points=20), StreakTier(days=3, points=5)]
    assert checkin.next_bonus(tiers, 0) == (3, 5)
    assert checkin.next_bonus(tiers, 3) == (7, 20)
    assert checkin.next_bonus(tiers, 7) == (14, 20)
    assert checkin.next_bonus(tiers, 15) == (21, 20)
    assert checkin.next_bonus([], 4) is None
    assert [checkin.streak_bonus(tiers, n) for n in (1, 3, 6, 7, 8, 14, 28)] == [0, 5, 0, 20, 0, 20, 20]


def test_a_customer_who_has_not_joined_cannot_check_in(frozen):
    from coupon_world import make_customer

    stranger = make_customer(frozen)
    with pytest.raises(ledger.NotAMember):
        check_in(frozen, stranger)
    with pytest.raises(ledger.NotAMember):
        state(frozen, stranger, NOW)
    with frozen.transaction() as db_session:
        assert db_session.scalar(select(func.count()).select_from(Checkin)) == 0


def test_the_growth_of_a_check_in_can_raise_the_level_and_the_flow_fires_level_up(frozen):
    member = make_member(frozen)
    with frozen.transaction() as db_session:
        growth.add_growth(db_session=db_session, config=frozen.config, customer_id=member, amount=999,
                          kind="order", source_id="A1", key="growth:A1", at=NOW)
    done = check_in(frozen, member)  # no campaign waits for level_up: fires nothing, raises nothing
    assert done.level_change is not None and done.level_change.up
    with frozen.transaction() as db_session:
        summary_level = db_session.get(Member, member).level_id
    assert done.level_change.new_level_id == summary_level
    assert check_in(frozen, member).level_change is None  # the retry


@pytest.fixture
def config_overrides():
    return {"database.pool_size": 16, "database.max_overflow": 0}


def test_16_check_ins_of_one_member_at_once_make_one(frozen):
    member = make_member(frozen)
    results = run_together(lambda i: check_in(frozen, member).created, 16)
    assert results.count(True) == 1 and results.count(False) == 15
    assert len(ledger_of(frozen, member)) == 1
    with frozen.transaction() as db_session:
        assert ledger.audit(db_session=db_session) == []
