"""Sending deliveries against the sandbox: each channel's rule (48 h window, template, mass send
with its monthly quota and clientmsgid, WeCom through the bound guide, one task per guide),
fallback, retries and the dead letter with fault injection, the claim (two workers, one send),
recovery of a delivery left 'sending', the cap slot given back when nothing was sent, and a
run (and a once campaign) done when nothing is left to send."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from campaign_world import deliveries, fire, make_campaign
from guide_world import create_guide, create_store
from scrm.customers.models import Customer, CustomerIdentity, Interaction
from scrm.outreach import campaigns, cap, channels, sender, sweeps
from scrm.outreach.models import Campaign, CampaignRun, Delivery
from scrm.sandbox import state, world

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
OUTREACH = {"outreach.weekly_cap": 10, "outreach.quiet_hours": "", "queue.max_retries": 2}
CUSTOM = "message/custom/send"
_ids = itertools.count(1)




def follower(runtime, *, in_window: bool = True, following: bool = True,  # noqa: ANN001
             sandbox_window: bool | None = None, external_userid: str | None = None) -> tuple[int, str]:
    """A customer with an MP identity (and a WeCom one); ``in_window``: wrote an hour ago, as
    our timeline and (unless ``sandbox_window`` says otherwise) the sandbox both know."""
    openid = f"o{next(_ids):08d}sending"
    sandbox_window = in_window if sandbox_window is None else sandbox_window
    world.add_follower(runtime.redis, openid, last_message_at=NOW - timedelta(hours=1) if sandbox_window else None,
                       at=NOW - timedelta(days=30))
    if not following:
        world.unfollow(runtime.redis, openid)
    with runtime.transaction() as db_session:
        customer = Customer(nickname=openid)
        db_session.add(customer)
        db_session.flush()
        db_session.add(CustomerIdentity(customer_id=customer.id, channel="mp", external_id=openid, following=following,
                                        unfollowed_at=None if following else NOW - timedelta(days=1)))
        if external_userid:
            db_session.add(CustomerIdentity(customer_id=customer.id, channel="work", external_id=external_userid))
        if in_window:
            db_session.add(Interaction(customer_id=customer.id, kind="text", channel="mp", payload={},
                                       occurred_at=NOW - timedelta(hours=1)))
        return customer.id, openid


def bind(runtime, customer_id: int, guide_code: str, external_userid: str) -> None:  # noqa: ANN001
    from guides.models import Binding, Guide

    with runtime.transaction() as db_session:
        guide = db_session.scalar(select(Guide).where(Guide.code == guide_code))
        db_session.add(Binding(customer_id=customer_id, guide_id=guide.id, channel="work", bound_at=NOW))
        userid = guide.wecom_userid
    world.add_external_contact(runtime.redis, external_userid, userid=userid)


def send_run(runtime, run_id: int) -> dict[str, int]:  # noqa: ANN001
    return sender.send_deliveries([d.id for d in deliveries(runtime, run_id)])


def calls(runtime, api: str, channel: str = "mp") -> list[dict]:  # noqa: ANN001
    return [c for c in state.list_calls(runtime.redis, channel=channel, api=api) if c["errcode"] == 0]


def holds_slot(runtime, delivery: Delivery) -> bool:  # noqa: ANN001
    return runtime.redis.zscore(cap.key(delivery.customer_id), delivery.idempotency_key) is not None


# ---- channels and their rules --------------------------------------------------------------


def test_inside_the_window_a_custom_message_goes_with_a_tracked_link(frozen):
    amy, amy_openid = follower(frozen)
    run_id = fire(frozen, make_campaign(frozen, content={"kind": "news", "title": "双11", "description": "满减",
                                                         "url": "https://shop.example.com/1111"}))
    assert send_run(frozen, run_id) == {"sent": 1}
    (delivery,) = deliveries(frozen, run_id)
    assert (delivery.status, delivery.channel, delivery.attempts, delivery.customer_id) == ("sent", "mp_custom", 1, amy)
    (message,) = world.list_messages(frozen.redis, amy_openid)
    article = message["content"]["articles"][0]
    assert message["kind"] == "custom" and article["title"] == "双11"
    assert article["url"].startswith(frozen.config.server.public_base_url + "/t/")
    assert frozen.redis.get(sender.sent_key(delivery.idempotency_key)) is not None


def test_outside_the_window_nothing_reaches_and_the_slot_is_given_back(frozen):
    follower(frozen, in_window=False)
    run_id = fire(frozen, make_campaign(frozen, fallbacks=["work_single"]))
    (planned,) = deliveries(frozen, run_id)
    assert holds_slot(frozen, planned)
    assert send_run(frozen, run_id) == {"skipped": 1}
    (delivery,) = deliveries(frozen, run_id)
    assert delivery.status == "skipped"
    assert delivery.reason == "no_channel: mp_custom outside 48h window; work_single no WeCom"
    assert not holds_slot(frozen, delivery) and calls(frozen, CUSTOM) == []


def test_outside_the_window_it_falls_back_to_the_guide_one_task_per_guide(frozen):
    create_store(frozen)
    create_guide(frozen, "G1")
    create_guide(frozen, "G2")
    customers = []
    for i, guide in enumerate(("G1", "G2", "G1")):
        external = f"wm-sending-{next(_ids)}"
        customer_id, _ = follower(frozen, in_window=False, external_userid=external)
        bind(frozen, customer_id, guide, external)
        customers.append((customer_id, external, i))
    inside, inside_openid = follower(frozen)
    run_id = fire(frozen, make_campaign(frozen, fallbacks=["work_single"]))
    assert send_run(frozen, run_id) == {"sent": 4}
    by_customer = {d.customer_id: d for d in deliveries(frozen, run_id)}
    assert by_customer[inside].channel == "mp_custom" and len(world.list_messages(frozen.redis, inside_openid)) == 1
    tasks = calls(frozen, "externalcontact/add_msg_template", channel="work")
    assert sorted((t["body"]["sender"], sorted(t["body"]["external_userid"])) for t in tasks) == [
        ("member-g1", sorted([customers[0][1], customers[2][1]])), ("member-g2", [customers[1][1]])]
    refs = {by_customer[c].wechat_ref for c, _, _ in customers}
    assert {by_customer[c].channel for c, _, _ in customers} == {"work_single"}
    assert by_customer[customers[0][0]].wechat_ref == by_customer[customers[2][0]].wechat_ref and len(refs) == 2
    assert all(t["body"]["chat_type"] == "single" and t["body"]["text"]["content"] == "双11 全场满300减50"
               for t in tasks)


def test_runs_sent_in_one_job_make_a_task_each_for_the_same_guide(frozen):
    create_store(frozen)
    create_guide(frozen, "G1")
    external = f"wm-sending-{next(_ids)}"
    customer_id, _ = follower(frozen, in_window=False, external_userid=external)
    bind(frozen, customer_id, "G1", external)
    first = fire(frozen, make_campaign(frozen, channel="work_single", content={"kind": "text", "text": "早鸟价"}))
    second = fire(frozen, make_campaign(frozen, channel="work_single",
                                        content={"kind": "image", "media_id": "MEDIA-1"}))
    ids = [d.id for d in deliveries(frozen, first) + deliveries(frozen, second)]
    assert sender.send_deliveries(ids) == {"sent": 2}
    tasks = calls(frozen, "externalcontact/add_msg_template", channel="work")
    assert [(t["body"].get("text"), t["body"].get("attachments")) for t in tasks] == [
        ({"content": "早鸟价"}, None), (None, [{"msgtype": "image", "image": {"media_id": "MEDIA-1"}}])]


def test_a_template_goes_to_followers_only(frozen):
    _, openid = follower(frozen, in_window=False)
    follower(frozen, following=False)
    content = {"kind": "template", "template_id": "TPL-1", "data": {"first": {"value": "双11"}},
               "url": "https://shop.example.com/t"}
    run_id = fire(frozen, make_campaign(frozen, channel="mp_template", content=content))
    assert send_run(frozen, run_id) == {"sent": 1, "skipped": 1}
    sent, skipped = deliveries(frozen, run_id)
    assert (sent.status, sent.channel) == ("sent", "mp_template") and int(sent.wechat_ref) > 0
    assert (skipped.status, skipped.reason) == ("skipped", "no_channel: mp_template not following")
    (message,) = world.list_messages(frozen.redis, openid)
    assert message["content"]["template_id"] == "TPL-1" and "/t/" in message["content"]["url"]


def test_a_mass_send_is_one_sendall_per_chunk_within_the_monthly_quota(frozen):
    people = [follower(frozen, in_window=False) for _ in range(3)]
    frozen.redis.set(channels.mass_key(frozen, people[2][0], NOW), channels.MASS_PER_MONTH)  # used up this month
    bystander = follower(frozen, in_window=False)[1]
    run_id = fire(frozen, make_campaign(frozen, channel="mp_mass"))
    planned = deliveries(frozen, run_id)
    assert sender.send_deliveries([d.id for d in planned[:3]]) == {"sent": 2, "skipped": 1}
    (mass,) = calls(frozen, "message/mass/sendall")
    assert mass["body"]["clientmsgid"] == f"run-{run_id}-{planned[0].id}"
    assert [len(world.list_messages(frozen.redis, o)) for _, o in people] == [1, 1, 0]
    assert world.list_messages(frozen.redis, bystander) == []  # its delivery was not in this chunk
    assert all(world.follower_tags(frozen.redis, o) == [] for _, o in people)  # untagged after the send
    assert [int(frozen.redis.get(channels.mass_key(frozen, c, NOW))) for c, _ in people] == [1, 1, 4]
    assert deliveries(frozen, run_id)[2].reason == "no_channel: mp_mass quota used"
    assert send_run(frozen, run_id) == {"sent": 1}  # the next chunk: only the bystander
    assert len(world.list_messages(frozen.redis, bystander)) == 1
    assert [len(world.list_messages(frozen.redis, o)) for _, o in people] == [1, 1, 0]


def test_a_refusal_falls_back_or_fails_with_the_reason(frozen):
    create_store(frozen)
    create_guide(frozen, "G1")
    external = f"wm-sending-{next(_ids)}"
    # Our timeline says inside the window; WeChat says otherwise (45015).
    bound, _ = follower(frozen, sandbox_window=False, in_window=True, external_userid=external)
    bind(frozen, bound, "G1", external)
    alone, _ = follower(frozen, sandbox_window=False, in_window=True)
    run_id = fire(frozen, make_campaign(frozen, fallbacks=["work_single"]))
    assert send_run(frozen, run_id) == {"sent": 1, "failed": 1}
    by_customer = {d.customer_id: d for d in deliveries(frozen, run_id)}
    assert (by_customer[bound].status, by_customer[bound].channel) == ("sent", "work_single")
    failed = by_customer[alone]
    assert failed.status == "failed" and failed.reason.startswith("refused mp_custom: errcode 45015")
    assert "work_single no WeCom" in failed.last_error and not holds_slot(frozen, failed)


# ---- retries, the dead letter ----------------------------------------------------------------


def _open_the_api(runtime) -> None:  # noqa: ANN001
    """WeChat's 45009 paused the api for 60 s (of real time): as if they had passed."""
    runtime.redis.delete(*runtime.redis.keys("scrm:wechat:pause:*") or ["-"])
    runtime.clock.advance(seconds=60)


def test_throttled_twice_then_sent_on_the_third_try(frozen):
    _, openid = follower(frozen)
    follower(frozen)
    run_id = fire(frozen, make_campaign(frozen))
    state.add_fault(frozen.redis, channel="mp", api=CUSTOM, errcode=45009, times=2)
    ids = [d.id for d in deliveries(frozen, run_id)]
    assert sender.send_deliveries(ids) == {"planned": 2}
    first, second = deliveries(frozen, run_id)
    assert (first.attempts, second.attempts) == (1, 0)  # the second was handed back untried
    assert first.due_at.replace(tzinfo=UTC) == NOW + timedelta(seconds=60) and "45009" in first.last_error
    assert sender.send_deliveries(ids) == {}  # not due yet
    _open_the_api(frozen)
    assert sender.send_deliveries(ids) == {"planned": 2}
    _open_the_api(frozen)
    assert sender.send_deliveries(ids) == {"sent": 2}
    first, second = deliveries(frozen, run_id)
    assert (first.status, first.attempts, second.attempts) == ("sent", 3, 1)
    assert len(world.list_messages(frozen.redis, openid)) == 1


def test_a_send_whose_answer_is_lost_counts_sent_unconfirmed_and_never_goes_again(frozen, monkeypatch, stack):
    _, openid = follower(frozen)
    run_id = fire(frozen, make_campaign(frozen))
    monkeypatch.setattr(frozen.mp.transport, "_timeout", (1.0, 0.3))  # a read timeout inside the delay
    state.add_fault(frozen.redis, channel="mp", api=CUSTOM, delay_ms=1000, times=5)
    assert send_run(frozen, run_id) == {"sent": 1}
    (delivery,) = deliveries(frozen, run_id)
    assert (delivery.status, delivery.wechat_ref, delivery.attempts) == ("sent", sender.UNCONFIRMED, 1)
    assert send_run(frozen, run_id) == {}  # never a second try
    stack.wait_until_answered()  # the sandbox, like WeChat, finishes the call whose answer was lost
    assert len(calls(frozen, CUSTOM)) == 1 and len(world.list_messages(frozen.redis, openid)) == 1


def test_our_own_throttle_hands_deliveries_back_without_spending_a_try(frozen):
    follower(frozen)
    run_id = fire(frozen, make_campaign(frozen))
    frozen.mp.transport.limiter.pause(CUSTOM, 30)  # as a 45009 seen by another worker does
    assert send_run(frozen, run_id) == {"planned": 1}
    (delivery,) = deliveries(frozen, run_id)
    assert (delivery.attempts, delivery.status) == (0, "planned") and calls(frozen, CUSTOM) == []
    assert delivery.due_at.replace(tzinfo=UTC) > NOW + timedelta(seconds=25)


def test_token_refusals_are_retried(frozen):
    follower(frozen)
    run_id = fire(frozen, make_campaign(frozen))
    state.add_fault(frozen.redis, channel="mp", api=CUSTOM, errcode=40001, times=2)  # the refresh is refused too
    assert send_run(frozen, run_id) == {"planned": 1}
    assert send_run(frozen, run_id) == {"sent": 1}
    assert deliveries(frozen, run_id)[0].attempts == 2


def test_always_busy_ends_dead_after_the_last_try_and_gives_the_slot_back(frozen):
    follower(frozen)
    run_id = fire(frozen, make_campaign(frozen))
    state.add_fault(frozen.redis, channel="mp", api=CUSTOM, errcode=-1, times=1000)
    outcomes = [send_run(frozen, run_id) for _ in range(4)]
    assert outcomes == [{"planned": 1}, {"planned": 1}, {"dead": 1}, {}]  # 1 + queue.max_retries tries
    (delivery,) = deliveries(frozen, run_id)
    assert (delivery.status, delivery.attempts) == ("dead", 3)
    assert "errcode -1" in delivery.reason and not holds_slot(frozen, delivery)


# ---- the claim, recovery, paused and cancelled -----------------------------------------------


def test_two_workers_on_the_same_ids_send_each_once(frozen):
    for _ in range(20):
        follower(frozen)
    run_id = fire(frozen, make_campaign(frozen))
    ids = [d.id for d in deliveries(frozen, run_id)]
    start = threading.Barrier(2)
    results: list[dict] = []

    def work() -> None:
        start.wait()
        results.append(sender.send_deliveries(ids))

    workers = [threading.Thread(target=work) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert sum(r.get("sent", 0) for r in results) == 20
    assert len(calls(frozen, CUSTOM)) == 20
    assert {d.status for d in deliveries(frozen, run_id)} == {"sent"}


def _left_sending(runtime, run_id: int) -> Delivery:  # noqa: ANN001
    (delivery,) = deliveries(runtime, run_id)
    with runtime.transaction() as db_session:
        row = db_session.get(Delivery, delivery.id)
        row.status, row.claimed_at, row.attempts = "sending", NOW, 1
    runtime.clock.advance(minutes=6)
    return delivery


def test_a_delivery_left_sending_with_its_key_is_marked_sent_without_a_call(frozen):
    follower(frozen)
    run_id = fire(frozen, make_campaign(frozen))
    delivery = _left_sending(frozen, run_id)
    # WeChat took it, then the worker died
    frozen.redis.set(sender.sent_key(delivery.idempotency_key), "mp_mass 1000042")
    assert sweeps.recover_stuck(frozen) == (1, 0)
    (after,) = deliveries(frozen, run_id)
    assert (after.status, after.channel, after.wechat_ref) == ("sent", "mp_mass", "1000042")
    assert calls(frozen, CUSTOM) == [] and sweeps.recover_stuck(frozen) == (0, 0)


def test_a_delivery_left_sending_without_its_key_is_sent_again_once(frozen):
    _, openid = follower(frozen)
    run_id = fire(frozen, make_campaign(frozen))
    _left_sending(frozen, run_id)
    assert sweeps.recover_stuck(frozen) == (0, 1)
    assert sweeps.sweep_due_deliveries() == 1 and sweeps.sweep_due_deliveries() == 0  # queued once
    assert sender.send_deliveries(frozen.queued[-1:]) == {"sent": 1}
    assert sender.send_deliveries(frozen.queued[-1:]) == {}
    assert deliveries(frozen, run_id)[0].attempts == 2 and len(world.list_messages(frozen.redis, openid)) == 1


def test_a_claimed_delivery_whose_key_exists_is_not_sent_again(frozen):
    follower(frozen)
    run_id = fire(frozen, make_campaign(frozen))
    (delivery,) = deliveries(frozen, run_id)
    frozen.redis.set(sender.sent_key(delivery.idempotency_key), "work_single msgABC")
    assert send_run(frozen, run_id) == {"sent": 1} and calls(frozen, CUSTOM) == []
    (after,) = deliveries(frozen, run_id)
    assert (after.status, after.channel, after.wechat_ref) == ("sent", "work_single", "msgABC")


def test_paused_waits_and_cancelled_is_skipped_giving_back_the_slot(frozen):
    follower(frozen)
    paused = fire(frozen, make_campaign(frozen))
    cancelled = fire(frozen, make_campaign(frozen))
    with frozen.transaction() as db_session:
        campaigns.set_status(db_session=db_session, campaign_id=deliveries(frozen, paused)[0].campaign_id,
                             status="paused")
        campaigns.set_status(db_session=db_session, campaign_id=deliveries(frozen, cancelled)[0].campaign_id,
                             status="cancelled")
    assert send_run(frozen, paused) == {} and deliveries(frozen, paused)[0].status == "planned"
    frozen.queued.clear()
    assert sweeps.sweep_due_deliveries() == 1 and frozen.queued == [deliveries(frozen, cancelled)[0].id]
    assert send_run(frozen, cancelled) == {"skipped": 1}
    (dropped,) = deliveries(frozen, cancelled)
    assert (dropped.status, dropped.reason) == ("skipped", "cancelled") and not holds_slot(frozen, dropped)
    assert calls(frozen, CUSTOM) == []


def test_the_scheduler_fires_plans_and_sends_through_the_queue(frozen, monkeypatch):
    monkeypatch.undo()  # the real enqueue_sends
    _, openid = follower(frozen)
    campaign_id = make_campaign(frozen)
    with frozen.transaction() as db_session:
        campaigns.launch(runtime=frozen, db_session=db_session, campaign_id=campaign_id)
    (run_id,) = sweeps.start_campaign_runs()
    frozen.queue.run_pending()
    assert [d.status for d in deliveries(frozen, run_id)] == ["sent"]
    assert len(world.list_messages(frozen.redis, openid)) == 1
    # The flush that made its last delivery sent made the run and the once campaign done.
    with frozen.transaction() as db_session:
        assert db_session.get(CampaignRun, run_id).status == "done"
        assert db_session.get(Campaign, campaign_id).status == "done"
    assert sweeps.sweep_due_deliveries() == 0  # nothing left to queue


def test_a_run_with_a_delivery_still_planned_is_not_done(frozen):
    follower(frozen)
    run_id = fire(frozen, make_campaign(frozen))
    assert sweeps.finish_runs(frozen) == []
    with frozen.transaction() as db_session:  # as a flush that lost its finish would leave it
        db_session.execute(update(Delivery).where(Delivery.run_id == run_id).values(status="sent", sent_at=NOW))
    assert sweeps.finish_runs(frozen) == [run_id]  # the sweep's safety net
    assert sweeps.finish_runs(frozen) == []
