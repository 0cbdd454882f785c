"""Expiry by the scheduler's job, and the reminders recorded before it, on a frozen clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from coupon_world import issue, make_customer, make_template
from scrm.coupons import expiry
from scrm.coupons.models import Coupon, CouponReminder
from scrm.scheduler import SCHEDULE

NOW = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)


def states(runtime) -> dict[int, str]:
    with runtime.transaction() as db_session:
        return dict(db_session.execute(select(Coupon.id, Coupon.status)).all())


def test_the_scheduler_expires_coupons_when_their_validity_ends(frozen, client, auth):
    one_day = issue(frozen, make_template(frozen, valid_days=1), make_customer(frozen))
    week = issue(frozen, make_template(frozen, valid_days=7), make_customer(frozen))
    assert expiry.expire_due() == 0
    frozen.clock.advance(hours=23, minutes=59)
    assert expiry.expire_due() == 0
    frozen.clock.advance(minutes=1)
    assert expiry.expire_due() == 1
    assert states(frozen) == {one_day.id: "expired", week.id: "issued"}
    with frozen.transaction() as db_session:
        assert db_session.get(Coupon, one_day.id).expired_at.replace(tzinfo=UTC) == NOW + timedelta(days=1)
    assert expiry.expire_due() == 0  # nothing twice
    redeemed = client.post("/api/coupons/redeem", json={"code": one_day.code, "store_code": "S1"},
                           headers=auth("manager"))
    assert redeemed.status_code in (409, 422)


def test_redeemed_and_voided_coupons_never_expire(frozen, client, auth):
    from guide_world import create_store

    create_store(frozen, "S1")
    template_id = make_template(frozen, valid_days=1)
    used = issue(frozen, template_id, make_customer(frozen))
    voided = issue(frozen, template_id, make_customer(frozen))
    client.post("/api/coupons/redeem", json={"code": used.code, "store_code": "S1"}, headers=auth())
    client.post(f"/api/coupons/{voided.code}/void", json={"reason": "test"}, headers=auth())
    frozen.clock.advance(days=2)
    assert expiry.expire_due() == 0
    assert states(frozen) == {used.id: "redeemed", voided.id: "voided"}


def test_expiry_runs_in_batches_until_done(frozen, monkeypatch):
    monkeypatch.setattr(expiry, "BATCH", 2)
    template_id = make_template(frozen, valid_days=1)
    for _ in range(5):
        issue(frozen, template_id, make_customer(frozen))
    frozen.clock.advance(days=1)
    assert expiry.expire_due() == 5
    assert set(states(frozen).values()) == {"expired"}


def test_reminders_are_recorded_once_the_configured_days_before_expiry(frozen):
    default = make_template(frozen, valid_days=10)  # coupons.remind_days_before = 3
    own = make_template(frozen, valid_days=10, remind_days_before=7)
    silent = make_template(frozen, valid_days=10, remind_days_before=0)
    coupons = {name: issue(frozen, t, make_customer(frozen)) for name, t in
               (("default", default), ("own", own), ("silent", silent))}
    assert expiry.record_reminders() == 0
    frozen.clock.advance(days=3)
    assert expiry.record_reminders() == 1  # 7 days left: the template that says 7
    frozen.clock.advance(days=4)
    assert expiry.record_reminders() == 1  # 3 days left: the default
    assert expiry.record_reminders() == 0  # once each
    with frozen.transaction() as db_session:
        reminded = {r.coupon_id: r for r in db_session.scalars(select(CouponReminder))}
    assert set(reminded) == {coupons["own"].id, coupons["default"].id}
    assert reminded[coupons["own"].id].state == "pending"
    assert reminded[coupons["default"].id].customer_id == coupons["default"].customer_id


def test_expiry_and_reminders_are_on_the_schedule():
    jobs = {job.id: job.func for job in SCHEDULE}
    assert jobs["coupons-expire"] == "scrm.coupons.expiry:expire_due"
    assert jobs["coupon-reminders"] == "scrm.coupons.expiry:record_reminders"
    assert jobs["coupon-announcements"] == "scrm.coupons.announce:announce_waiting"
