"""Triggered campaigns on a frozen clock: each trigger (follow, binding, purchase, custom event,
birthday minus 3 days, 30 days without interaction, coupon about to expire) plans exactly one
delivery for the customer it happened to, and never a second for the same occurrence.
Sending is not tested here: planner.enqueue_sends is replaced by a list."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select, update

from coupon_world import issue, make_customer, make_template
from guide_world import create_guide, create_store, guide_info, mp_scan, openid, send, work_add
from scrm.coupons import expiry
from scrm.coupons.models import CouponReminder
from scrm.customers.models import Customer, CustomerIdentity, Interaction
from scrm.outreach import campaigns, daily_triggers, triggers
from scrm.outreach.models import Campaign, CampaignRun, Delivery
from scrm.outreach.schemas import CampaignIn, parse
from scrm.scheduler import SCHEDULE

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, 2 November
OUTREACH = {"outreach.weekly_cap": 5, "outreach.quiet_hours": "22-8"}




def launch_trigger(runtime, event: str, **schedule) -> int:  # noqa: ANN001, ANN003
    body = {"name": f"{event} journey", "audience": schedule.pop("audience", {}), "channel": "mp_custom",
            "content": {"kind": "text", "text": "感谢关注"}, "schedule": {"kind": "trigger", "event": event, **schedule}}
    with runtime.transaction() as db_session:
        campaign_in = parse(CampaignIn, body, what="campaign")
        campaign = campaigns.create_campaign(db_session=db_session, campaign_in=campaign_in, at=runtime.clock.now())
        campaigns.launch(runtime=runtime, db_session=db_session, campaign_id=campaign.id)
    triggers.forget_cached_triggers(runtime)  # as the hooks of another process would, CACHE_SECONDS later
    return campaign.id


def deliveries(runtime, campaign_id: int) -> list[Delivery]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return list(db_session.scalars(select(Delivery).where(Delivery.campaign_id == campaign_id)
                                       .order_by(Delivery.id)))


def causes(runtime, campaign_id: int) -> list[str]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return list(db_session.scalars(select(CampaignRun.cause).where(CampaignRun.campaign_id == campaign_id)
                                       .order_by(CampaignRun.id)))


def customer_of(runtime, channel: str, external_id: str) -> int:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.scalar(select(CustomerIdentity.customer_id).where(
            CustomerIdentity.channel == channel, CustomerIdentity.external_id == external_id))


def mp_follow(runtime, client, who: str):  # noqa: ANN001, ANN201
    from handlers.signed_callbacks import mp_event_xml

    xml = mp_event_xml(to=runtime.config.wechat.mp.original_id, openid=who, event="subscribe",
                       create_time=int(runtime.clock.now().timestamp()))
    return send(runtime, client, "mp", xml)


def test_a_follow_fires_once_per_customer(frozen, client):
    campaign_id = launch_trigger(frozen, "follow")
    amy = openid()
    mp_follow(frozen, client, amy)
    assert frozen.queue.run_pending() >= 1
    (first,) = deliveries(frozen, campaign_id)
    customer = customer_of(frozen, "mp", amy)
    assert (first.customer_id, first.status) == (customer, "planned") and frozen.queued == [first.id]
    assert causes(frozen, campaign_id) == [f"follow:{customer}"]
    frozen.clock.advance(hours=1)
    mp_follow(frozen, client, amy)  # unfollowed and followed again: the journey is not repeated
    frozen.queue.run_pending()
    assert len(deliveries(frozen, campaign_id)) == 1

    create_store(frozen)
    guide = create_guide(frozen, "G1")
    work_add(frozen, client, "wmBob", guide.wecom_userid, None, welcome=False)  # WeCom's follow
    frozen.queue.run_pending()
    assert [d.customer_id for d in deliveries(frozen, campaign_id)] == [customer, customer_of(frozen, "work", "wmBob")]


def test_a_paused_campaign_or_one_for_another_event_does_not_fire(frozen, client):
    paused = launch_trigger(frozen, "follow")
    other = launch_trigger(frozen, "purchase")
    mp_follow(frozen, client, openid())
    frozen.queue.run_pending()
    assert len(deliveries(frozen, paused)) == 1  # and this process now holds the list of follow campaigns
    with frozen.transaction() as db_session:
        campaigns.set_status(db_session=db_session, campaign_id=paused, status="paused")
    mp_follow(frozen, client, openid())
    assert frozen.queue.rq_queue("outreach").count == 1  # the cached list still says yes: the job looks again
    frozen.queue.run_pending()
    assert len(deliveries(frozen, paused)) == 1 and deliveries(frozen, other) == []


def test_a_new_binding_fires_once(frozen, client):
    create_store(frozen)
    guide = create_guide(frozen, "G1")
    campaign_id = launch_trigger(frozen, "binding")
    amy = openid()
    mp_scan(frozen, client, amy, guide.mp_scene)
    frozen.queue.run_pending()
    frozen.clock.advance(minutes=5)
    mp_scan(frozen, client, amy, guide_info(frozen, "G1").mp_scene, event="SCAN")  # the same guide again
    frozen.queue.run_pending()
    (delivery,) = deliveries(frozen, campaign_id)
    assert delivery.customer_id == customer_of(frozen, "mp", amy)


def test_each_new_order_fires_once_however_often_it_is_posted(frozen, client, auth):
    campaign_id = launch_trigger(frozen, "purchase")
    amy_openid = openid()
    amy = make_customer(frozen, openid=amy_openid)
    headers = auth("manager")
    order = {"order_no": "SO-1", "amount": "199.00", "ordered_at": NOW.isoformat(), "customer": {"openid": amy_openid}}
    assert client.post("/api/orders", json=order, headers=headers).status_code == 201
    assert client.post("/api/orders", json=order, headers=headers).status_code == 200
    frozen.queue.run_pending()
    assert [d.customer_id for d in deliveries(frozen, campaign_id)] == [amy]
    assert client.post("/api/orders", json={**order, "order_no": "SO-2"}, headers=headers).status_code == 201
    frozen.queue.run_pending()
    assert len(deliveries(frozen, campaign_id)) == 2 and len(frozen.queued) == 2


def test_a_custom_event_fires_the_campaigns_waiting_for_its_name(frozen, client, auth):
    create_store(frozen)
    create_guide(frozen, "G9")  # nobody is bound to G9
    wanted = launch_trigger(frozen, "custom", name="cart_abandoned")
    other = launch_trigger(frozen, "custom", name="membership_renewed")
    g9_only = launch_trigger(frozen, "custom", name="cart_abandoned", audience={"guide": "G9"})
    amy = make_customer(frozen)
    event = {"name": "cart_abandoned", "customer_id": amy, "event_key": "cart-77", "payload": {"sku": "A1"}}
    assert client.post("/api/events", json=event, headers=auth("manager")).status_code == 201
    assert client.post("/api/events", json=event, headers=auth("manager")).status_code == 200
    frozen.queue.run_pending()
    assert [d.customer_id for d in deliveries(frozen, wanted)] == [amy]
    assert deliveries(frozen, other) == [] and deliveries(frozen, g9_only) == []
    with frozen.transaction() as db_session:
        (cause,) = db_session.scalars(select(CampaignRun.cause).where(CampaignRun.campaign_id == wanted))
    assert cause.startswith(f"custom:{amy}:")


def set_birthday(runtime, customer_id: int, birthday: date) -> None:  # noqa: ANN001
    with runtime.transaction() as db_session:
        db_session.execute(update(Customer).where(Customer.id == customer_id).values(birthday=birthday))


def test_birthday_three_days_before_once_a_year(frozen):
    campaign_id = launch_trigger(frozen, "birthday", days=3)
    amy, bob, cat = make_customer(frozen), make_customer(frozen), make_customer(frozen)
    set_birthday(frozen, amy, date(1990, 11, 5))  # in 3 days (2 November today)
    set_birthday(frozen, bob, date(1985, 11, 6))  # in 4 days
    set_birthday(frozen, cat, date(1992, 11, 2))  # today: too late this year
    assert daily_triggers.fire_birthdays() == 1
    assert daily_triggers.fire_birthdays() == 0  # the scan again: nothing twice
    assert [d.customer_id for d in deliveries(frozen, campaign_id)] == [amy]
    frozen.clock.advance(days=1)
    assert daily_triggers.fire_birthdays() == 1  # Bob's turn; Amy's birthday is still ahead, but done
    assert [d.customer_id for d in deliveries(frozen, campaign_id)] == [amy, bob]
    assert causes(frozen, campaign_id) == [f"birthday:{amy}:2026", f"birthday:{bob}:2026"]


def timeline(runtime, customer_id: int, kind: str, at: datetime) -> None:  # noqa: ANN001
    with runtime.transaction() as db_session:
        db_session.add(Interaction(customer_id=customer_id, kind=kind, channel="mp", occurred_at=at, payload={}))


def test_thirty_days_without_interaction_fires_once_per_sleep(frozen):
    campaign_id = launch_trigger(frozen, "inactive", days=30)
    amy, bob, cat = make_customer(frozen), make_customer(frozen), make_customer(frozen)
    timeline(frozen, amy, "text", NOW - timedelta(days=31))
    timeline(frozen, amy, "tag_added", NOW - timedelta(days=1))  # our doing, not hers
    timeline(frozen, bob, "click", NOW - timedelta(days=10))
    timeline(frozen, cat, "text", NOW - timedelta(days=400))  # asleep long before the campaign
    assert daily_triggers.fire_inactive() == 1
    assert daily_triggers.fire_inactive() == 0
    assert [d.customer_id for d in deliveries(frozen, campaign_id)] == [amy]
    frozen.clock.advance(days=21)
    timeline(frozen, amy, "text", frozen.clock.now() - timedelta(days=1))  # Amy woke up
    assert daily_triggers.fire_inactive() == 1  # Bob crossed 30 days
    assert [d.customer_id for d in deliveries(frozen, campaign_id)] == [amy, bob]


def test_a_coupon_about_to_expire_fires_once_and_its_reminder_is_sent(frozen):
    campaign_id = launch_trigger(frozen, "coupon_expiring", days=3)
    amy, bob = make_customer(frozen), make_customer(frozen)
    frozen.clock.set(NOW - timedelta(days=28))
    soon = issue(frozen, make_template(frozen, valid_days=30), amy)  # ends in 2 days
    frozen.clock.set(NOW)
    issue(frozen, make_template(frozen, valid_days=30), bob)  # ends in 30 days
    with frozen.transaction() as db_session:
        assert expiry.remind_due(runtime=frozen, db_session=db_session) == 1
    assert daily_triggers.fire_expiring_coupons() == 1
    assert daily_triggers.fire_expiring_coupons() == 0
    assert [d.customer_id for d in deliveries(frozen, campaign_id)] == [amy]
    assert causes(frozen, campaign_id) == [f"coupon_expiring:{amy}:{soon.id}"]
    with frozen.transaction() as db_session:
        assert db_session.get(CouponReminder, soon.id).state == "sent"


def test_a_trigger_in_quiet_hours_waits_for_the_morning(frozen):
    campaign_id = launch_trigger(frozen, "custom", name="visit")
    amy = make_customer(frozen)
    frozen.clock.set(datetime(2026, 11, 2, 15, 0, tzinfo=UTC))  # 23:00 in Shanghai
    assert triggers.fire(frozen, campaign_id, amy, triggers.cause_of("custom", amy, "1")) is not None
    assert triggers.fire(frozen, campaign_id, amy, triggers.cause_of("custom", amy, "1")) is None
    (delivery,) = deliveries(frozen, campaign_id)
    assert delivery.due_at.replace(tzinfo=UTC) == datetime(2026, 11, 3, 0, 0, tzinfo=UTC)
    assert frozen.queued == []  # not due yet: the sender's sweep queues it then
    with frozen.transaction() as db_session:
        assert db_session.get(Campaign, campaign_id).status == "scheduled"


def test_the_daily_triggers_and_the_group_sync_are_scheduled():
    jobs = {job.id: job.func for job in SCHEDULE}
    assert jobs["triggers-birthday"] == "scrm.outreach.daily_triggers:fire_birthdays"
    assert jobs["triggers-inactive"] == "scrm.outreach.daily_triggers:fire_inactive"
    assert jobs["triggers-coupon-expiring"] == "scrm.outreach.daily_triggers:fire_expiring_coupons"
    assert jobs["groups-sync"] == "scrm.groups.sync:sync_groups"
