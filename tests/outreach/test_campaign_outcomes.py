"""Campaign results that say why, and a campaign that finishes (SPEC §11 "Campaign composer"):
every failed, skipped and waiting delivery by its reason in words with its count (waiting ones
with when they go, local time), in the API and on the results page, which polls while the
campaign runs and stops when it is done; the last delivery going final makes a one-off campaign
done in the same transaction, exactly once, also when two workers finish the last two at once."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from campaign_world import make_campaign
from scrm.customers.models import Customer, CustomerIdentity, Interaction
from scrm.outreach import finishing, results_reasons, sender
from scrm.outreach.cap import FrequencyCap
from scrm.outreach.models import Campaign, CampaignRun, Delivery
from scrm.sandbox import world
from web_world import log_in, page_text

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Shanghai
MORNING = datetime(2026, 11, 3, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai, when quiet hours end
OUTREACH = {"outreach.weekly_cap": 1, "outreach.quiet_hours": "22-8", "queue.max_retries": 0}
_ids = itertools.count(1)
postgres_only = pytest.mark.parametrize("backend", ["real"], indirect=True)
embedded_only = pytest.mark.parametrize("backend", ["embedded"], indirect=True)


def follower(runtime, *, in_sandbox: bool = True, sandbox_window: bool = True) -> int:  # noqa: ANN001
    """A following customer who wrote an hour ago (our timeline says so); the sandbox knows
    them (``in_sandbox``) and their message (``sandbox_window``), or not."""
    openid = f"o{next(_ids):08d}outcome"
    if in_sandbox:
        world.add_follower(runtime.redis, openid, last_message_at=NOW - timedelta(hours=1) if sandbox_window else None,
                           at=NOW - timedelta(days=30))
    with runtime.transaction() as db_session:
        customer = Customer(nickname=openid)
        db_session.add(customer)
        db_session.flush()
        db_session.add(CustomerIdentity(customer_id=customer.id, channel="mp", external_id=openid, following=True))
        db_session.add(Interaction(customer_id=customer.id, kind="text", channel="mp", payload={},
                                   occurred_at=NOW - timedelta(hours=1)))
        return customer.id


def fire(runtime, campaign_id: int) -> int:  # noqa: ANN001
    from scrm.outreach import campaigns, planner

    with runtime.transaction() as db_session:
        campaigns.launch(runtime=runtime, db_session=db_session, campaign_id=campaign_id)
    with runtime.transaction() as db_session:
        (run_id,) = campaigns.start_due_runs(runtime=runtime, db_session=db_session)
    planner.plan_run(run_id)
    return run_id


def status_of(runtime, campaign_id: int) -> str:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.get(Campaign, campaign_id).status


def test_results_name_every_reason_with_its_count_and_when_waiting_ones_go(frozen, client, auth, make_token):
    for _ in range(2):
        follower(frozen)  # sent
    follower(frozen, sandbox_window=False)  # WeChat says 45015: no message in 48 hours
    for _ in range(2):
        follower(frozen, in_sandbox=False)  # WeChat says 40003, naming each openid: one reason all the same
    capped = follower(frozen)  # the weekly cap is taken by another campaign: skipped
    night_owl = follower(frozen)  # planned for the morning, after quiet hours
    FrequencyCap(frozen.redis, frozen.config).reserve_many([(capped, "another campaign")], NOW, NOW, defer=False)
    campaign_id = make_campaign(frozen, name="双11预热", when_capped="skip")
    run_id = fire(frozen, campaign_id)
    with frozen.transaction() as db_session:  # as the planner leaves a delivery deferred past quiet hours
        db_session.execute(update(Delivery).where(Delivery.run_id == run_id, Delivery.customer_id == night_owl)
                           .values(reason="quiet_hours", due_at=MORNING))
    assert sender.send_deliveries(frozen.queued) == {"sent": 2, "failed": 3}  # the night owl's is not due
    assert status_of(frozen, campaign_id) == "running"  # one still waits

    body = client.get(f"/api/campaigns/{campaign_id}/results", headers=auth("manager")).get_json()
    assert body["status"] == "running"
    assert (body["total"]["sent"], body["total"]["failed"], body["total"]["waiting"]) == (2, 3, 1)
    reasons = [(r["outcome"], r["code"], r["count"], r["label"], r["when"]) for r in body["reasons"]]
    assert reasons == [
        ("failed", "40003", 2, "无效的 openid（不是本公众号的粉丝）", ""),
        ("failed", "45015", 1, "超出48小时可发消息的时间", ""),
        ("skipped", "capped", 1, "超出每周发送上限", ""),
        ("waiting", "quiet_hours", 1, "免打扰时段结束后发送", "2026-11-03 08:00"),  # Shanghai time
    ]
    assert "no message from the follower in the last 48 hours" in body["reasons"][1]["raw"]  # WeChat's words, kept
    with frozen.transaction() as db_session:  # recorded without WeChat's message, which names the openid
        assert set(db_session.scalars(select(Delivery.reason).where(Delivery.status == "failed"))) == {
            "refused mp_custom: errcode 40003", "refused mp_custom: errcode 45015"}
    assert body["reasons"][3]["due_from"].startswith("2026-11-03T00:00")  # UTC beside the local time

    log_in(client, make_token)
    page = page_text(client.get(f"/console/campaigns/{campaign_id}/results"))
    assert f'data-poll="/console/campaigns/{campaign_id}/results.json"' in page and "发送中" in page
    for words in ("超出48小时可发消息的时间", 'data-code="45015"', 'data-code="40003"', "超出每周发送上限", "免打扰时段结束后发送",
                  "2026-11-03 08:00"):
        assert words in page, words
    polled = client.get(f"/console/campaigns/{campaign_id}/results.json").get_json()
    assert polled["status"] == "running" and polled["reasons"] == body["reasons"]

    # The morning: the last delivery goes, and with it the campaign is done.
    frozen.clock.advance(hours=22)
    (waiting,) = [d.id for d in _deliveries(frozen, run_id) if d.status == "planned"]
    assert sender.send_deliveries([waiting]) == {"sent": 1}
    assert status_of(frozen, campaign_id) == "done"
    log_in(client, make_token)  # a day later: the session of yesterday has ended
    page = page_text(client.get(f"/console/campaigns/{campaign_id}/results"))
    assert "data-poll=" not in page and ">已完成</span>" in page and "免打扰" not in page
    assert client.get(f"/console/campaigns/{campaign_id}/results.json").get_json()["status"] == "done"
    assert client.get("/console/campaigns/999999/results").status_code == 404


def test_the_planner_records_why_a_delivery_waits(frozen):
    frozen.clock.advance(hours=13)  # 23:00 in Shanghai: quiet
    follower(frozen)
    run_id = fire(frozen, make_campaign(frozen))
    with frozen.transaction() as db_session:
        (row,) = db_session.scalars(select(Delivery).where(Delivery.run_id == run_id)).all()
        found = (row.status, row.reason, row.due_at.replace(tzinfo=UTC))
    assert found == ("planned", "quiet_hours", MORNING)


@pytest.mark.parametrize(("status", "reason", "error", "code", "zh"), [
    ("skipped", "no_channel: mp_custom outside 48h window; work_single no WeCom", None, "no_channel",
     "无可用渠道：超出48小时互动窗口；不是企业微信客户"),
    ("skipped", "work_group group dismissed", None, "group_dismissed", "客户群已解散"),
    ("dead", "mp_custom: errcode 45009 reach max api daily quota", None, "45009", "接口调用次数超过每日上限"),
    ("dead", "mp_custom: errcode None connection refused", None, "network", "连不上微信"),
    ("failed", "refused mp_custom: errcode 45015 response out of ti",
     "refused mp_custom: errcode 45015 x; refused work_single: not the guide's WeCom contact", "not_contact",
     "不是导购的企业微信好友"),
])
def test_recorded_reasons_read_as_words(status, reason, error, code, zh):
    found = results_reasons.classify(status, reason, error, retrying=False, due_now=False)
    assert (found.code, found.zh) == (code, zh)


# ---- done ----------------------------------------------------------------------------------


def test_the_last_delivery_going_final_makes_a_one_off_campaign_done_once(frozen, caplog):
    caplog.set_level(logging.INFO, logger="scrm.outreach.finishing")
    first, second = follower(frozen), follower(frozen)
    campaign_id = make_campaign(frozen)
    run_id = fire(frozen, campaign_id)
    ids = {d.customer_id: d.id for d in _deliveries(frozen, run_id)}
    assert sender.send_deliveries([ids[first]]) == {"sent": 1} and status_of(frozen, campaign_id) == "running"
    assert sender.send_deliveries([ids[second]]) == {"sent": 1} and status_of(frozen, campaign_id) == "done"
    with frozen.transaction() as db_session:
        assert finishing.finish(db_session=db_session, run_ids=[run_id]) == finishing.Finished()
    assert [r.getMessage() for r in caplog.records].count(f"campaign {campaign_id} done: every delivery is final") == 1


def test_a_run_planned_with_nothing_to_send_is_done_at_once(frozen):
    capped = follower(frozen)
    FrequencyCap(frozen.redis, frozen.config).reserve_many([(capped, "another campaign")], NOW, NOW, defer=False)
    campaign_id = make_campaign(frozen, when_capped="skip")
    fire(frozen, campaign_id)
    assert frozen.queued == [] and status_of(frozen, campaign_id) == "done"


def test_a_recurring_campaign_closes_its_run_and_keeps_running(frozen):
    follower(frozen)
    campaign_id = make_campaign(frozen, schedule={"kind": "cron", "cron": "0 10 * * *"})
    run_id = fire(frozen, campaign_id)
    assert sender.send_deliveries(frozen.queued) == {"sent": 1}
    with frozen.transaction() as db_session:
        assert db_session.get(CampaignRun, run_id).status == "done"
    assert status_of(frozen, campaign_id) == "running"  # its next run comes tomorrow


@postgres_only
def test_two_workers_finishing_the_last_two_at_once_make_it_done_exactly_once(frozen, monkeypatch):
    for _ in range(2):
        follower(frozen)
    campaign_id = make_campaign(frozen)
    run_id = fire(frozen, campaign_id)
    ids = [d.id for d in _deliveries(frozen, run_id)]
    # Both flushes have written their delivery and not committed when they look, and each holds
    # its transaction open a while after looking: each sees the other's as still sending.
    # Without the run's lock neither would finish the campaign.
    both_written = threading.Barrier(2, timeout=20)
    finished: list[finishing.Finished] = []
    real_finish = finishing.finish

    def racing_finish(**kwargs):  # noqa: ANN003, ANN202
        both_written.wait()
        found = real_finish(**kwargs)
        finished.append(found)
        time.sleep(0.5)  # the commit comes later
        return found

    monkeypatch.setattr(finishing, "finish", racing_finish)
    outcomes: list[dict] = []
    workers = [threading.Thread(target=lambda d=d: outcomes.append(sender.send_deliveries([d]))) for d in ids]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert outcomes == [{"sent": 1}, {"sent": 1}]
    assert sorted(f.campaigns for f in finished) == [(), (campaign_id,)]  # one of them moved it
    assert status_of(frozen, campaign_id) == "done"


@embedded_only
@pytest.mark.slow
def test_the_results_page_updates_while_running_and_stops_polling_when_done(browser, stack, make_token):
    from playwright.sync_api import expect

    runtime = stack.runtime
    now = runtime.clock.now()
    people = [follower(runtime) for _ in range(2)]
    campaign_id = make_campaign(runtime)
    with runtime.transaction() as db_session:
        db_session.execute(update(Campaign).where(Campaign.id == campaign_id).values(status="running"))
        run = CampaignRun(campaign_id=campaign_id, cause="schedule", status="planned", planned=2, started_at=now)
        db_session.add(run)
        db_session.flush()
        rows = [Delivery(campaign_id=campaign_id, run_id=run.id, customer_id=c, idempotency_key=f"{run.id}:{c}",
                         variant="main", channel="mp_custom", status=s, due_at=now, attempts=1, created_at=now,
                         sent_at=now if s == "sent" else None)
                for c, s in zip(people, ("sent", "sending"), strict=True)]
        db_session.add_all(rows)
        db_session.flush()
        last, run_id = rows[1].id, run.id
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    context.set_default_timeout(15_000)
    errors: list[str] = []
    polls: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda request: polls.append(request.url) if request.url.endswith("/results.json") else None)
    page.goto(stack.url + f"/login?next=/console/campaigns/{campaign_id}/results")
    page.fill("#token", make_token("manager"))
    page.click("button[type=submit]")
    expect(page.locator("#status")).to_have_text("发送中")
    expect(page.locator('#tiles [data-count="waiting"]')).to_have_text("1")
    expect(page.locator('#reasons tr[data-code="sending"]')).to_be_visible()
    with runtime.transaction() as db_session:  # the sender's flush: the last delivery sent, the campaign done
        db_session.execute(update(Delivery).where(Delivery.id == last).values(status="sent", sent_at=now))
        finishing.finish(db_session=db_session, run_ids=[run_id])
    expect(page.locator("#status")).to_have_text("已完成", timeout=10_000)
    expect(page.locator('#tiles [data-count="sent"]')).to_have_text("2")
    expect(page.locator("#reasons tr.empty")).to_be_visible()
    expect(page.locator("#live-note")).to_contain_text("全部发送结果已确定")  # reloaded once, drawn final
    assert page.locator("#results").get_attribute("data-poll") is None
    seen = len(polls)
    page.wait_for_timeout(4_000)
    assert len(polls) == seen >= 1  # no poll after done
    assert errors == []
    context.close()


def _deliveries(runtime, run_id: int) -> list[Delivery]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return list(db_session.scalars(select(Delivery).where(Delivery.run_id == run_id).order_by(Delivery.id)))
