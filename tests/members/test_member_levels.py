"""Levels on both backends: the level tag (会员等级) from joining on, a rise on the order that
crosses the threshold (the level-up coupon once, the ``level_up`` trigger once), drops only at
the yearly review (and a missed review caught up), rolling growth leaving the window, the
nightly rise after a threshold is lowered, and the birthday coupon once a year."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import count

import pytest
from sqlalchemy import select, update

from coupon_world import make_template
from member_world import make_member
from platform_world import reconfigure
from scrm.coupons.models import Coupon
from scrm.customers.models import Customer
from scrm.members import birthdays, jobs, level_jobs, levels
from scrm.members.models import Member, MemberLevel
from scrm.outreach import campaigns, planner, triggers
from scrm.outreach.models import CampaignRun
from scrm.outreach.schemas import CampaignIn, parse
from tagging import audience
from tagging.scores import carried_tags

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
_openids = count(1)


@pytest.fixture
def sent(frozen, monkeypatch):  # noqa: ANN001, ANN201
    """Deliveries the planner hands to the sender, kept here instead of sent."""
    handed: list[int] = []
    monkeypatch.setattr(planner, "enqueue_sends", lambda _runtime, ids: handed.extend(ids))
    return handed


def member(runtime) -> tuple[int, str]:  # noqa: ANN001
    openid = f"o-level-{next(_openids)}"
    return make_member(runtime, openid=openid), openid


def order(client, headers, openid: str, order_no: str, amount: str, at: datetime | None = None):  # noqa: ANN001, ANN201
    body = {"order_no": order_no, "amount": amount, "ordered_at": (at or NOW).isoformat(),
            "customer": {"openid": openid}}
    response = client.post("/api/orders", json=body, headers=headers)
    assert response.status_code in (200, 201), response.get_json()
    return response


def level_of(runtime, customer_id: int) -> str:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.get(MemberLevel, db_session.get(Member, customer_id).level_id).name


def level_tags(runtime, customer_id: int) -> list[str]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return [t["tag"] for t in carried_tags(db_session=db_session, customer_id=customer_id,
                                               now=runtime.clock.now()) if t["group"] == levels.LEVEL_GROUP]


def gifts_of(runtime, customer_id: int) -> list[str]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return list(db_session.scalars(select(Coupon.source_ref).where(Coupon.customer_id == customer_id,
                                                                       Coupon.source == "member")
                                       .order_by(Coupon.id)))


def set_level_coupons(runtime, name: str, **templates: int) -> int:  # noqa: ANN001
    with runtime.transaction() as db_session:
        levels.ensure_levels(db_session=db_session, config=runtime.config, at=runtime.clock.now())
        level = db_session.scalars(select(MemberLevel).where(MemberLevel.name == name)).one()
        for field, template_id in templates.items():
            setattr(level, field, template_id)
        return level.id


def launch_level_up(runtime) -> int:  # noqa: ANN001
    body = {"name": "升级祝贺", "audience": {}, "channel": "mp_custom", "content": {"kind": "text", "text": "恭喜升级"},
            "schedule": {"kind": "trigger", "event": "level_up"}}
    with runtime.transaction() as db_session:
        campaign_in = parse(CampaignIn, body, what="campaign")
        campaign = campaigns.create_campaign(db_session=db_session, campaign_in=campaign_in, at=runtime.clock.now())
        campaigns.launch(runtime=runtime, db_session=db_session, campaign_id=campaign.id)
    triggers.forget_cached_triggers(runtime)
    return campaign.id


def causes(runtime, campaign_id: int) -> list[str]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return list(db_session.scalars(select(CampaignRun.cause).where(CampaignRun.campaign_id == campaign_id)
                                       .order_by(CampaignRun.id)))


def test_a_member_carries_the_lowest_level_as_a_tag_from_joining(frozen):
    amy, _ = member(frozen)
    assert level_of(frozen, amy) == "普通" and level_tags(frozen, amy) == ["普通"]


def test_the_order_that_crosses_the_threshold_raises_the_level_once_with_gift_and_trigger(frozen, client, auth, sent):
    headers = auth("manager")
    gift = make_template(frozen, name="银卡升级礼")
    silver = set_level_coupons(frozen, "银卡", level_up_template_id=gift)
    campaign_id = launch_level_up(frozen)
    amy, openid = member(frozen)
    order(client, headers, openid, "SO-1", "900.00")
    assert level_of(frozen, amy) == "普通" and gifts_of(frozen, amy) == []
    assert order(client, headers, openid, "SO-2", "150.00").get_json()["member"]["points_earned"] == 150  # 普通's rate
    assert level_of(frozen, amy) == "银卡" and level_tags(frozen, amy) == ["银卡"]
    assert gifts_of(frozen, amy) == [f"level_up:{silver}"]
    frozen.queue.run_pending()
    assert causes(frozen, campaign_id) == [f"level_up:{amy}:{silver}"] and len(sent) == 1
    with frozen.transaction() as db_session:
        assert audience.count(db_session=db_session, expr="会员等级:银卡", now=frozen.clock.now()) == 1

    order(client, headers, openid, "SO-2", "150.00")  # retried: nothing more
    assert order(client, headers, openid, "SO-3", "100.00").get_json()["member"]["points_earned"] == 120  # 银卡 ×1.2
    frozen.queue.run_pending()
    assert gifts_of(frozen, amy) == [f"level_up:{silver}"]
    assert causes(frozen, campaign_id) == [f"level_up:{amy}:{silver}"]

    refunded = client.post("/api/orders/SO-2/refund", json={"amount": "150.00"}, headers=headers)
    assert refunded.get_json()["reversed"]["growth_taken_back"] == 150
    assert level_of(frozen, amy) == "银卡"  # below the threshold now, but a level drops only at the review
    assert level_jobs.review_levels(frozen)["dropped"] == 0 and level_of(frozen, amy) == "银卡"


@pytest.fixture
def config_overrides():  # noqa: ANN201
    return {"members.level_basis": "rolling_12_months"}


def test_rolling_growth_drops_the_level_only_at_the_review_and_a_missed_review_is_caught_up(frozen, client, auth):
    headers = auth("manager")
    frozen.clock.set(datetime(2026, 2, 10, 2, 0, tzinfo=UTC))
    amy, openid = member(frozen)
    bob, bob_openid = member(frozen)
    order(client, headers, openid, "SO-A", "1200.00", at=frozen.clock.now())
    order(client, headers, bob_openid, "SO-B", "1200.00", at=frozen.clock.now())
    assert level_of(frozen, amy) == level_of(frozen, bob) == "银卡"

    frozen.clock.set(datetime(2026, 12, 31, 16, 30, tzinfo=UTC))  # 2027-01-01 00:30 in Shanghai: the review
    summary = level_jobs.review_levels(frozen)
    assert (summary["review_day"], summary["drops_due"], summary["dropped"]) == ("2027-01-01", True, 0)
    assert level_of(frozen, amy) == "银卡"  # February's growth is within the year the review looks back on

    frozen.clock.set(datetime(2027, 6, 1, 2, 0, tzinfo=UTC))
    order(client, headers, bob_openid, "SO-B2", "1000.00", at=frozen.clock.now())  # Bob keeps buying
    frozen.clock.set(datetime(2027, 12, 31, 2, 0, tzinfo=UTC))  # the night before the next review
    summary = level_jobs.review_levels(frozen)
    assert (summary["drops_due"], summary["dropped"]) == (False, 0)
    assert level_of(frozen, amy) == "银卡"  # February 2026's growth has left the 12 months, but no review yet

    frozen.clock.set(datetime(2028, 1, 2, 18, 0, tzinfo=UTC))  # the review day and the next were missed
    summary = level_jobs.review_levels(frozen)
    assert (summary["review_day"], summary["drops_due"], summary["dropped"]) == ("2028-01-01", True, 1)
    assert level_of(frozen, amy) == "普通" and level_tags(frozen, amy) == ["普通"]
    assert level_of(frozen, bob) == "银卡" and level_tags(frozen, bob) == ["银卡"]
    assert summary["tags_added"] == summary["tags_removed"] == 1
    again = level_jobs.review_levels(frozen)
    assert (again["dropped"], again["tags_added"], again["tags_removed"]) == (0, 0, 0)


def test_a_review_missed_for_more_than_a_week_waits_for_the_next(frozen, client, auth):
    frozen.clock.set(datetime(2026, 2, 10, 2, 0, tzinfo=UTC))
    amy, openid = member(frozen)
    order(client, auth("manager"), openid, "SO-A", "1200.00", at=frozen.clock.now())
    frozen.clock.set(datetime(2028, 1, 9, 2, 0, tzinfo=UTC))
    assert level_jobs.review_levels(frozen)["drops_due"] is False
    assert level_of(frozen, amy) == "银卡"


def test_the_night_raises_members_a_lowered_threshold_reaches_with_gift_and_trigger(frozen, client, auth, sent):
    gift = make_template(frozen, name="金卡升级礼")
    gold = set_level_coupons(frozen, "金卡", level_up_template_id=gift)
    campaign_id = launch_level_up(frozen)
    amy, openid = member(frozen)
    order(client, auth("manager"), openid, "SO-1", "3000.00")
    assert level_of(frozen, amy) == "银卡"
    frozen.queue.run_pending()
    assert len(causes(frozen, campaign_id)) == 1  # the order's rise to 银卡
    with frozen.transaction() as db_session:
        db_session.execute(update(MemberLevel).where(MemberLevel.id == gold).values(threshold=2500))
    jobs.review_levels_nightly()
    assert level_of(frozen, amy) == "金卡" and level_tags(frozen, amy) == ["金卡"]
    assert gifts_of(frozen, amy) == [f"level_up:{gold}"]
    frozen.queue.run_pending()
    assert causes(frozen, campaign_id)[1:] == [f"level_up:{amy}:{gold}"] and len(sent) == 2
    assert level_jobs.review_levels(frozen)["raised"] == 0
    assert gifts_of(frozen, amy) == [f"level_up:{gold}"]


def test_a_renamed_level_moves_its_members_to_the_new_tag_at_night(frozen):
    amy, _ = member(frozen)
    with frozen.transaction() as db_session:
        db_session.execute(update(MemberLevel).where(MemberLevel.rank == 0).values(name="大众"))
    summary = level_jobs.review_levels(frozen)
    assert (summary["tags_added"], summary["tags_removed"]) == (1, 1)
    assert level_tags(frozen, amy) == ["大众"]


def test_the_birthday_coupon_comes_days_ahead_once_a_year_with_two_days_caught_up(frozen):
    gift = make_template(frozen, name="生日礼")
    set_level_coupons(frozen, "普通", birthday_template_id=gift)
    today = NOW.astimezone(frozen.config.brand.zone).date()  # 2026-12-07; members.birthday_days_ahead = 7
    due, missed, early, past = (member(frozen)[0] for _ in range(4))
    own_birthdays = {due: date(1990, 12, 14), missed: date(1985, 12, 12), early: date(1992, 12, 15),
                     past: date(1991, 12, 11)}
    with frozen.transaction() as db_session:
        for customer_id, birthday in own_birthdays.items():
            db_session.get(Member, customer_id).birthday = birthday
    on_record = member(frozen)[0]  # no birthday given at joining: the customer record's counts
    with frozen.transaction() as db_session:
        db_session.get(Customer, on_record).birthday = date(1988, 12, 14)
    assert birthdays.issue_birthday_coupons(frozen) == 3
    assert gifts_of(frozen, due) == gifts_of(frozen, missed) == gifts_of(frozen, on_record) == ["birthday:2026"]
    assert gifts_of(frozen, early) == gifts_of(frozen, past) == []
    assert birthdays.issue_birthday_coupons(frozen) == 0  # run again: nothing more
    frozen.clock.advance(days=1)
    assert jobs.issue_birthday_coupons() == 1 and gifts_of(frozen, early) == ["birthday:2026"]
    assert today + timedelta(days=8) == own_birthdays[early].replace(year=2026)


def test_under_lifetime_growth_a_refund_drops_the_level_at_the_next_review_only(frozen, client, auth):
    reconfigure(frozen, {"members.level_basis": "lifetime"})
    headers = auth("manager")
    amy, openid = member(frozen)
    order(client, headers, openid, "SO-L", "1200.00")
    assert level_of(frozen, amy) == "银卡"
    client.post("/api/orders/SO-L/refund", json={"amount": "600.00"}, headers=headers)
    assert level_jobs.review_levels(frozen)["dropped"] == 0 and level_of(frozen, amy) == "银卡"
    frozen.clock.set(datetime(2026, 12, 31, 16, 5, tzinfo=UTC))  # 2027-01-01 00:05 in Shanghai
    assert level_jobs.review_levels(frozen)["dropped"] == 1
    assert level_of(frozen, amy) == "普通" and level_tags(frozen, amy) == ["普通"]
