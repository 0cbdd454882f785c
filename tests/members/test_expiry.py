"""The nightly points expiry (scrm/members/expiry.py) on a frozen clock, on both backends: it
takes exactly what is left of the expired lots, chains balances, runs once, holds against
concurrent spends; and the ``points_expiring`` reminder trigger fires once per member and date."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from member_world import grant, make_member
from scrm.members import expiry, ledger
from scrm.members.models import Member, PointAllocation, PointEntry
from scrm.scheduler import SCHEDULE

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def spend(runtime, customer_id: int, amount: int, key: str, at: datetime | None = None) -> None:  # noqa: ANN001
    with runtime.transaction() as db_session:
        ledger.spend(db_session=db_session, customer_id=customer_id, amount=amount, kind="exchange", source="test",
                     source_id=None, key=key, at=at or runtime.clock.now())


def expire_entries(runtime) -> list[tuple[int, int, int, str]]:  # noqa: ANN001
    """(customer, amount, balance_after, key) of the expire entries, in id order."""
    with runtime.transaction() as db_session:
        return [tuple(row) for row in db_session.execute(
            select(PointEntry.customer_id, PointEntry.amount, PointEntry.balance_after, PointEntry.idempotency_key)
            .where(PointEntry.kind == "expire").order_by(PointEntry.id))]


def remaining(runtime, lot_id: int) -> int:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.get(PointEntry, lot_id).remaining


def points(runtime, customer_id: int) -> int:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.get(Member, customer_id).points_balance


def audit(runtime) -> list:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return ledger.audit(db_session=db_session)


def test_expiry_takes_exactly_what_is_left_of_the_expired_lots(frozen):
    amy, bob = make_member(frozen), make_member(frozen)
    spent = grant(frozen, amy, 100, at=NOW - timedelta(days=400), expires_at=NOW + timedelta(days=1))
    kept = grant(frozen, amy, 50, expires_at=NOW + timedelta(days=1, seconds=1))
    spend(frozen, amy, 70, "amy-spends-70")  # from the oldest lot: 30 of it left
    frozen_lot = grant(frozen, bob, 40, frozen_days=7, expires_at=NOW + timedelta(days=1))  # never spendable
    assert expiry.expire_due() == 0
    frozen.clock.advance(days=1)  # exactly expires_at of two lots; a second early for the third
    assert expiry.expire_due() == 2
    assert (remaining(frozen, spent), remaining(frozen, kept), remaining(frozen, frozen_lot)) == (0, 50, 0)
    assert (points(frozen, amy), points(frozen, bob)) == (50, 0)
    assert expire_entries(frozen) == [(amy, -30, 50, f"expire:{spent}"), (bob, -40, 0, f"expire:{frozen_lot}")]
    with frozen.transaction() as db_session:
        taken = sorted((a.lot_id, a.amount) for a in db_session.scalars(
            select(PointAllocation).join(PointEntry, PointEntry.id == PointAllocation.entry_id)
            .where(PointEntry.kind == "expire")))
        entry = db_session.scalar(select(PointEntry).where(PointEntry.idempotency_key == f"expire:{spent}"))
    assert taken == sorted([(spent, 30), (frozen_lot, 40)])
    assert (entry.source, entry.source_id, entry.created_at.replace(tzinfo=UTC)) == ("expire", str(spent), frozen.clock.now())
    assert expiry.expire_due() == 0  # twice: nothing more
    assert len(expire_entries(frozen)) == 2
    frozen.clock.advance(seconds=1)
    assert expiry.expire_due() == 1 and points(frozen, amy) == 0
    assert audit(frozen) == []


def test_several_lots_expiring_at_once_chain_their_balances(frozen):
    amy = make_member(frozen)
    lots = [grant(frozen, amy, amount, expires_at=NOW + timedelta(hours=1)) for amount in (10, 20, 30)]
    grant(frozen, amy, 5)  # never expires under the default rule this year
    frozen.clock.advance(hours=2)
    assert expiry.expire_due() == 3
    assert expire_entries(frozen) == [(amy, -10, 55, f"expire:{lots[0]}"), (amy, -20, 35, f"expire:{lots[1]}"),
                                      (amy, -30, 5, f"expire:{lots[2]}")]
    assert points(frozen, amy) == 5
    assert audit(frozen) == []


def test_expiry_runs_in_batches_and_a_member_split_across_them_still_chains(frozen, monkeypatch):
    monkeypatch.setattr(expiry, "BATCH", 2)
    members = [make_member(frozen) for _ in range(3)]
    for member in members:
        for amount in (1, 2, 4):
            grant(frozen, member, amount, expires_at=NOW + timedelta(hours=1))
        grant(frozen, member, 100)
    frozen.clock.advance(hours=1)
    assert expiry.expire_due() == 9
    assert [points(frozen, m) for m in members] == [100, 100, 100]
    for member in members:
        chain = [(amount, after) for who, amount, after, _ in expire_entries(frozen) if who == member]
        assert sorted(chain, key=lambda c: -c[1]) == chain and chain[-1][1] == 100
        assert sum(amount for amount, _ in chain) == -7
    assert audit(frozen) == []


@pytest.mark.parametrize("backend", ["embedded", "real"], indirect=True)
def test_expiry_racing_spends_made_just_before_midnight_never_takes_a_point_twice(frozen):
    members = [make_member(frozen) for _ in range(4)]
    for member in members:
        grant(frozen, member, 50, expires_at=NOW + timedelta(minutes=1))
        grant(frozen, member, 50)
    frozen.clock.advance(minutes=1)
    barrier = threading.Barrier(9)
    refused: list[int] = []

    def spender(member: int, n: int) -> None:  # requests that came in before the lot expired
        barrier.wait()
        for i in range(6):
            try:
                spend(frozen, member, 10, f"race:{member}:{n}:{i}", at=NOW)
            except ledger.NotEnoughPoints:
                refused.append(member)

    threads = [threading.Thread(target=spender, args=(m, n)) for m in members for n in range(2)]
    for thread in threads:
        thread.start()
    barrier.wait()
    expiry.expire_due()
    for thread in threads:
        thread.join()
    assert audit(frozen) == []
    with frozen.transaction() as db_session:
        lots = db_session.scalars(select(PointEntry).where(PointEntry.amount > 0)).all()
        taken = dict(db_session.execute(select(PointAllocation.lot_id, func.sum(PointAllocation.amount))
                                        .group_by(PointAllocation.lot_id)).all())
        spent = db_session.execute(select(PointEntry.customer_id, func.sum(PointEntry.amount))
                                   .where(PointEntry.kind == "exchange").group_by(PointEntry.customer_id)).all()
    assert all(lot.remaining >= 0 and taken.get(lot.id, 0) == lot.amount - lot.remaining for lot in lots)
    expiring = {lot.customer_id: lot for lot in lots if lot.expires_at is not None
                and lot.expires_at.replace(tzinfo=UTC) == NOW + timedelta(minutes=1)}
    assert all(lot.remaining == 0 for lot in expiring.values())  # spent or expired, nothing left
    expired = {who: -amount for who, amount, _, _ in expire_entries(frozen)}
    for member, total in spent:  # what was not spent of the 100 is still there or expired
        assert points(frozen, member) == 100 + total - expired.get(member, 0) >= 0
    assert len(refused) == 4 * 12 - sum(-total // 10 for _, total in spent)
    assert expiry.expire_due() == 0


def test_points_about_to_expire_fire_the_reminder_once_per_member_and_expiry_date(frozen, monkeypatch):
    from scrm.outreach import campaigns, daily_triggers, planner, triggers
    from scrm.outreach.models import CampaignRun
    from scrm.outreach.schemas import CampaignIn, parse

    monkeypatch.setattr(planner, "enqueue_sends", lambda _runtime, ids: None)  # sending is not tested here
    body = {"name": "积分提醒", "audience": {}, "channel": "mp_custom", "content": {"kind": "text", "text": "积分快过期啦"},
            "schedule": {"kind": "trigger", "event": "points_expiring"}}  # days: members.expiry_remind_days (30)
    with frozen.transaction() as db_session:
        campaign = campaigns.create_campaign(db_session=db_session, campaign_in=parse(CampaignIn, body, what="c"),
                                             at=NOW)
        campaigns.launch(runtime=frozen, db_session=db_session, campaign_id=campaign.id)
    triggers.forget_cached_triggers(frozen)
    amy, bob, cid, dan = (make_member(frozen) for _ in range(4))
    grant(frozen, amy, 10, expires_at=NOW + timedelta(days=10))
    grant(frozen, amy, 20, expires_at=NOW + timedelta(days=12))
    grant(frozen, amy, 30, expires_at=NOW + timedelta(days=60))
    grant(frozen, bob, 10, expires_at=NOW + timedelta(days=31))  # beyond the 30 days
    grant(frozen, cid, 10, frozen_days=7, expires_at=NOW + timedelta(days=5))  # not available: nothing to use
    spent = grant(frozen, dan, 10, expires_at=NOW + timedelta(days=3))
    spend(frozen, dan, 10, "dan-spends-it-all")  # nothing left to expire

    def causes() -> list[str]:
        with frozen.transaction() as db_session:
            return list(db_session.scalars(select(CampaignRun.cause).where(CampaignRun.campaign_id == campaign.id)
                                           .order_by(CampaignRun.id)))

    assert remaining(frozen, spent) == 0
    assert daily_triggers.fire_expiring_points() == 1
    assert daily_triggers.fire_expiring_points() == 0  # once per member and date
    assert causes() == [f"points_expiring:{amy}:2026-12-17"]
    frozen.clock.advance(days=1)
    assert daily_triggers.fire_expiring_points() == 1  # bob's lot is now within 30 days
    frozen.clock.advance(days=10)
    assert expiry.expire_due() == 2  # amy's first lot, and cid's that never thawed in time
    assert daily_triggers.fire_expiring_points() == 1  # amy's next lot expires on another day
    assert causes() == [f"points_expiring:{amy}:2026-12-17", f"points_expiring:{bob}:2027-01-07",
                        f"points_expiring:{amy}:2026-12-19"]


def test_the_nightly_expiry_is_on_the_schedule_after_midnight():
    (job,) = [job for job in SCHEDULE if job.id == "members-points-expire"]
    assert job.func == "scrm.members.expiry:expire_due"
    assert job.trigger == "cron" and job.trigger_args["hour"] == 0
    jobs = {job.id: job.func for job in SCHEDULE}
    assert jobs["triggers-points-expiring"] == "scrm.outreach.daily_triggers:fire_expiring_points"
