"""Planning a campaign run: audience → deliveries in batches, variants and holdout stable per
customer, the cap and quiet hours applied, re-planning adds nothing twice."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from campaign_world import deliveries, fire, make_campaign
from coupon_world import make_customer
from platform_world import reconfigure
from scrm.outreach import campaigns, planner
from scrm.outreach.models import Campaign, CampaignRun

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
OUTREACH = {"outreach.weekly_cap": 2, "outreach.quiet_hours": "22-8"}




def test_a_run_plans_one_delivery_per_customer_and_queues_those_due(frozen, monkeypatch):
    monkeypatch.setattr(planner, "PLAN_BATCH", 3)
    customers = [make_customer(frozen) for _ in range(7)]
    run_id = fire(frozen, make_campaign(frozen))
    planned = deliveries(frozen, run_id)
    assert [d.customer_id for d in planned] == customers
    assert {d.status for d in planned} == {"planned"} and {d.variant for d in planned} == {"main"}
    assert sorted(frozen.queued) == [d.id for d in planned]
    with frozen.transaction() as db_session:
        run = db_session.get(CampaignRun, run_id)
        assert (run.status, run.planned) == ("planned", 7)
        assert db_session.get(Campaign, planned[0].campaign_id).next_run_at is None  # once


def test_planning_again_adds_nothing(frozen):
    for _ in range(4):
        make_customer(frozen)
    run_id = fire(frozen, make_campaign(frozen))
    with frozen.transaction() as db_session:
        db_session.get(CampaignRun, run_id).status = "planning"  # as if it crashed before the end
    planner.plan_run(run_id)
    assert len(deliveries(frozen, run_id)) == 4


def test_the_cap_holds_across_campaigns_deferring_or_skipping(frozen):
    amy = make_customer(frozen)
    first, second = fire(frozen, make_campaign(frozen)), fire(frozen, make_campaign(frozen))
    deferred = fire(frozen, make_campaign(frozen))
    skipped = fire(frozen, make_campaign(frozen, when_capped="skip"))
    assert [d.status for d in deliveries(frozen, first) + deliveries(frozen, second)] == ["planned", "planned"]
    (later,) = deliveries(frozen, deferred)
    assert later.status == "planned" and later.due_at.replace(tzinfo=UTC) == NOW + timedelta(days=7)
    assert later.id not in frozen.queued  # not due yet: the sweep sends it then
    (dropped,) = deliveries(frozen, skipped)
    assert (dropped.status, dropped.reason, dropped.customer_id) == ("skipped", "capped", amy)


def test_quiet_hours_move_the_run_to_the_morning(frozen):
    make_customer(frozen)
    frozen.clock.set(datetime(2026, 11, 2, 15, 0, tzinfo=UTC))  # 23:00 in Shanghai
    run_id = fire(frozen, make_campaign(frozen, schedule={"kind": "once", "at": "2026-11-02T23:00:00+08:00"}))
    (delivery,) = deliveries(frozen, run_id)
    assert delivery.due_at.replace(tzinfo=UTC) == datetime(2026, 11, 3, 0, 0, tzinfo=UTC)
    assert frozen.queued == []


def test_variants_and_holdout_split_the_audience_stably(frozen, monkeypatch):
    monkeypatch.setattr(planner, "PLAN_BATCH", 500)
    reconfigure(frozen, {"outreach.weekly_cap": 100})
    for _ in range(1000):
        make_customer(frozen)
    body = {"variants": [{"name": "A", "weight": 50, "content": {"kind": "text", "text": "A"}},
                         {"name": "B", "weight": 50, "content": {"kind": "text", "text": "B"}}],
            "holdout_percent": 10}
    campaign_id = make_campaign(frozen, **body)
    first = deliveries(frozen, fire(frozen, campaign_id))
    split = Counter(d.variant for d in first)
    assert 60 <= split["holdout"] <= 140 and 380 <= split["A"] <= 520 and 380 <= split["B"] <= 520
    assert {d.status for d in first if d.variant == "holdout"} == {"holdout"}
    with frozen.transaction() as db_session:
        db_session.get(Campaign, campaign_id).status = "draft"
    again = deliveries(frozen, fire(frozen, campaign_id))
    assert [d.variant for d in again] == [d.variant for d in first]


def test_a_cron_campaign_fires_on_its_local_times(frozen):
    make_customer(frozen)
    campaign_id = make_campaign(frozen, schedule={"kind": "cron", "cron": "0 10 * * 1"})  # cron's Monday, 10:00
    with frozen.transaction() as db_session:
        assert campaigns.launch(runtime=frozen, db_session=db_session, campaign_id=campaign_id).next_run_at == NOW
    with frozen.transaction() as db_session:
        assert len(campaigns.start_due_runs(runtime=frozen, db_session=db_session)) == 1
        assert db_session.get(Campaign, campaign_id).next_run_at.replace(tzinfo=UTC) == NOW + timedelta(days=7)
    frozen.clock.advance(days=6, hours=23)
    with frozen.transaction() as db_session:
        assert campaigns.start_due_runs(runtime=frozen, db_session=db_session) == []
    frozen.clock.advance(hours=1)
    with frozen.transaction() as db_session:
        assert len(campaigns.start_due_runs(runtime=frozen, db_session=db_session)) == 1


def test_preview_counts_the_audience_with_a_sample(frozen):
    ids = [make_customer(frozen) for _ in range(12)]
    with frozen.transaction() as db_session:
        campaign = campaigns.get_campaign(db_session=db_session, campaign_id=make_campaign(frozen))
        shown = campaigns.preview(db_session=db_session, campaign=campaign, now=NOW)
    assert shown.count == 12 and shown.sample == ids[:10]


def test_a_group_campaign_is_launched(frozen):
    campaign_id = make_campaign(frozen, channel="work_group", audience={"groups": ["wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"]})
    with frozen.transaction() as db_session:
        launched = campaigns.launch(runtime=frozen, db_session=db_session, campaign_id=campaign_id)
        assert (launched.status, launched.next_run_at) == ("scheduled", NOW)
