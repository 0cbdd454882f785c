"""Group messages (work_group, SPEC §8, §9) against the sandbox: a launched group campaign plans
one delivery per group (no customers, no cap, quiet hours kept), is sent as one WeCom group task
per owner naming its groups in chat_id_list, skips a group we do not know or that is dismissed,
keeps each group within as many group messages a month as the month has days, and the sandbox
refuses a chat_id_list naming another owner's group. A cron group campaign (a group SOP) fires
on its times."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from campaign_world import fire
from guide_world import create_guide, create_store
from scrm.groups.models import CustomerGroup
from scrm.groups.sync import sync_groups
from scrm.outreach import campaigns, channels, planner, results, sender, wecom_tasks
from scrm.outreach.models import Campaign, CampaignRun, Delivery, WecomTask
from scrm.outreach.schemas import CampaignIn, InvalidCampaign, parse
from scrm.sandbox import state, world
from scrm.wechat.errors import WeChatError

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai; November has 30 days
OUTREACH = {"outreach.weekly_cap": 1, "outreach.quiet_hours": "22-8", "queue.max_retries": 2}
TEMPLATE_API = "externalcontact/add_msg_template"


@pytest.fixture
def frozen(frozen):  # noqa: ANN001, ANN201
    create_store(frozen)
    create_guide(frozen, "G1")
    create_guide(frozen, "G2")
    world.add_group_chat(frozen.redis, "wrVIP", owner="member-g1", name="静安店VIP群", external_userids=["wmA"], at=NOW)
    world.add_group_chat(frozen.redis, "wrNew", owner="member-g1", name="新品群", external_userids=["wmB"], at=NOW)
    world.add_group_chat(frozen.redis, "wrG2", owner="member-g2", name="G2的群", external_userids=["wmC"], at=NOW)
    world.add_group_chat(frozen.redis, "wrGone", owner="member-g2", name="解散的群", at=NOW)
    sync_groups()
    with frozen.transaction() as db_session:
        db_session.execute(update(CustomerGroup).where(CustomerGroup.chat_id == "wrGone")
                           .values(status="dismissed", dismissed_at=NOW))
    return frozen


def group_campaign(runtime, groups: list[str], **changes) -> int:  # noqa: ANN001
    body = {"name": "社群早安", "audience": {"groups": groups}, "channel": "work_group",
            "content": {"kind": "text", "text": "早安！今日新品 9 折"},
            "schedule": {"kind": "once", "at": runtime.clock.now().isoformat()}, **changes}
    with runtime.transaction() as db_session:
        return campaigns.create_campaign(db_session=db_session, campaign_in=parse(CampaignIn, body, what="campaign"),
                                         at=runtime.clock.now()).id


def by_group(runtime, run_id: int) -> dict[str, Delivery]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return {d.chat_id: d for d in db_session.scalars(select(Delivery).where(Delivery.run_id == run_id))}


def send_run(runtime, run_id: int) -> dict[str, int]:  # noqa: ANN001
    return sender.send_deliveries([d.id for d in by_group(runtime, run_id).values()])


def tasks(runtime) -> list[dict]:  # noqa: ANN001
    return [c["body"] for c in state.list_calls(runtime.redis, channel="work", api=TEMPLATE_API) if c["errcode"] == 0]


def test_one_delivery_per_group_then_one_task_per_owner_with_its_groups(frozen):
    campaign_id = group_campaign(frozen, ["wrVIP", "wrNew", "wrG2", "wrVIP"])
    run_id = fire(frozen, campaign_id)
    planned = by_group(frozen, run_id)
    assert sorted(planned) == ["wrG2", "wrNew", "wrVIP"]
    assert {(d.customer_id, d.status, d.channel) for d in planned.values()} == {(None, "planned", "work_group")}
    assert planned["wrVIP"].idempotency_key == f"{run_id}:g:wrVIP"
    assert sorted(frozen.queued) == sorted(d.id for d in planned.values())
    with frozen.transaction() as db_session:
        assert db_session.get(CampaignRun, run_id).status == "planned"
    planner.plan_run(run_id)  # planned again (a lost job run twice): nothing added
    assert len(by_group(frozen, run_id)) == 3

    assert send_run(frozen, run_id) == {"sent": 3}
    sent = tasks(frozen)
    assert len(sent) == 2
    by_sender = {t["sender"]: t for t in sent}
    assert sorted(by_sender["member-g1"]["chat_id_list"]) == ["wrNew", "wrVIP"]
    assert by_sender["member-g2"]["chat_id_list"] == ["wrG2"]
    assert {t["chat_type"] for t in sent} == {"group"} and "external_userid" not in by_sender["member-g1"]
    assert by_sender["member-g1"]["text"]["content"] == "早安！今日新品 9 折"
    after = by_group(frozen, run_id)
    assert {d.status for d in after.values()} == {"sent"}
    assert after["wrVIP"].wechat_ref == after["wrNew"].wechat_ref != after["wrG2"].wechat_ref
    with frozen.transaction() as db_session:  # each owner has a task to send, pending (wecom_tasks.py)
        handed = {(t.sender, t.chat_type, t.targets, t.status, t.msgid) for t in db_session.scalars(select(WecomTask))}
        (listed,) = wecom_tasks.tasks_of(db_session=db_session, sender="member-g1", now=NOW)
    assert handed == {("member-g1", "group", 2, "pending", after["wrVIP"].wechat_ref),
                      ("member-g2", "group", 1, "pending", after["wrG2"].wechat_ref)}
    assert sorted(listed.names) == ["新品群", "静安店VIP群"] and listed.text == "早安！今日新品 9 折"
    assert channels.group_sends_this_month(frozen, ["wrVIP", "wrG2"], NOW) == {"wrVIP": 1, "wrG2": 1}
    with frozen.transaction() as db_session:
        shown = results.campaign_results(db_session=db_session, campaign_id=campaign_id)
    assert (shown.total.planned, shown.total.sent, shown.total.orders, shown.total.opened) == (3, 3, 0, 0)


def test_an_unknown_dismissed_or_orphaned_group_is_skipped_with_the_reason(frozen):
    with frozen.transaction() as db_session:  # WeCom says its owner has left (status 1-3)
        db_session.execute(update(CustomerGroup).where(CustomerGroup.chat_id == "wrNew").values(status="handover"))
    run_id = fire(frozen, group_campaign(frozen, ["wrVIP", "wrGone", "wrNobody", "wrNew"]))
    assert send_run(frozen, run_id) == {"sent": 1, "skipped": 3}
    after = by_group(frozen, run_id)
    assert (after["wrNew"].status, after["wrNew"].reason) == ("skipped", "work_group owner left")
    assert (after["wrGone"].status, after["wrGone"].reason) == ("skipped", "work_group group dismissed")
    assert (after["wrNobody"].status, after["wrNobody"].reason) == ("skipped", "work_group unknown group")
    (task,) = tasks(frozen)
    assert (task["sender"], task["chat_id_list"]) == ("member-g1", ["wrVIP"])


def test_a_group_gets_at_most_as_many_messages_a_month_as_the_month_has_days(frozen):
    frozen.redis.set(channels.group_key(frozen, "wrVIP", NOW), 29)  # 29 of November's 30 used
    first = fire(frozen, group_campaign(frozen, ["wrVIP", "wrNew"]))
    assert send_run(frozen, first) == {"sent": 2}
    frozen.clock.advance(hours=1)
    second = fire(frozen, group_campaign(frozen, ["wrVIP", "wrNew"]))
    assert send_run(frozen, second) == {"sent": 1, "skipped": 1}
    after = by_group(frozen, second)
    assert (after["wrVIP"].status, after["wrVIP"].reason) == ("skipped", "work_group monthly limit")
    assert tasks(frozen)[-1]["chat_id_list"] == ["wrNew"]
    assert channels.group_sends_this_month(frozen, ["wrVIP"], NOW) == {"wrVIP": 30}
    frozen.clock.advance(days=29)  # December: a new month
    assert channels.group_sends_this_month(frozen, ["wrVIP"], frozen.clock.now()) == {"wrVIP": 0}


def test_quiet_hours_defer_a_group_message_but_no_weekly_cap_holds_it(frozen):
    frozen.clock.advance(hours=13)  # 23:00 in Shanghai
    run_id = fire(frozen, group_campaign(frozen, ["wrVIP"]))
    (delivery,) = by_group(frozen, run_id).values()
    assert delivery.status == "planned" and delivery.due_at.replace(tzinfo=UTC) == NOW + timedelta(hours=22)
    assert frozen.queued == []
    skipped = fire(frozen, group_campaign(frozen, ["wrVIP"], when_capped="skip"))
    assert [(d.status, d.reason) for d in by_group(frozen, skipped).values()] == [("skipped", "quiet_hours")]

    frozen.clock.advance(hours=9)  # 08:00: three group messages the same day, weekly_cap = 1 notwithstanding
    for _ in range(3):
        run_id = fire(frozen, group_campaign(frozen, ["wrVIP"]))
        assert send_run(frozen, run_id) == {"sent": 1}


def test_a_sandbox_task_naming_another_owners_group_is_refused(frozen):
    with pytest.raises(WeChatError) as refused:
        frozen.work.add_msg_template("group", "member-g1", [], "hi", chat_ids=["wrVIP", "wrG2"])
    assert refused.value.errcode == 40050 and "wrG2" in refused.value.errmsg
    with pytest.raises(ValueError, match="only a group"):
        frozen.work.add_msg_template("single", "member-g1", ["wmA"], "hi", chat_ids=["wrVIP"])


def test_a_group_our_sync_thinks_is_ours_but_wecom_does_not_fails_with_the_refusal(frozen):
    with frozen.transaction() as db_session:  # the owner changed in WeCom since our last sync
        db_session.execute(update(CustomerGroup).where(CustomerGroup.chat_id == "wrG2")
                           .values(owner_userid="member-g1"))
    run_id = fire(frozen, group_campaign(frozen, ["wrG2"]))
    assert send_run(frozen, run_id) == {"failed": 1}
    (delivery,) = by_group(frozen, run_id).values()
    assert delivery.reason.startswith("refused work_group: errcode 40050")


def test_a_group_sop_is_a_cron_group_campaign(frozen):
    campaign_id = group_campaign(frozen, ["wrVIP"], schedule={"kind": "cron", "cron": "0 10 * * 1"})
    first = fire(frozen, campaign_id)
    assert send_run(frozen, first) == {"sent": 1}
    frozen.clock.advance(days=7)
    second = fire(frozen, campaign_id, launch=False)
    assert send_run(frozen, second) == {"sent": 1}
    assert [t["chat_id_list"] for t in tasks(frozen)] == [["wrVIP"], ["wrVIP"]]


def test_a_group_campaign_has_no_fallback_coupon_or_trigger(frozen):
    for change in ({"fallbacks": ["mp_custom"]}, {"coupon_template_id": 1},
                   {"schedule": {"kind": "trigger", "event": "follow"}}):
        with pytest.raises(InvalidCampaign):
            group_campaign(frozen, ["wrVIP"], **change)


def test_the_editor_lists_synced_groups_to_tick_for_a_group_message(frozen, client, make_token):
    from test_campaign_console import editor_form

    assert client.post("/login", data={"token": make_token("manager")}).status_code == 302
    page = client.get("/console/campaigns/new").get_data(as_text=True)
    ticks = re.findall(r'name="groups" value="([^"]+)"', page)
    assert sorted(ticks) == ["wrG2", "wrNew", "wrVIP"] and "静安店VIP群" in page  # not the dismissed one
    posted = {**editor_form(channel="work_group"), "groups": ["wrVIP", "wrG2"]}
    response = client.post("/console/campaigns/new", data=posted)
    assert response.status_code == 302, response.get_data(as_text=True)
    with frozen.transaction() as db_session:
        (campaign,) = db_session.scalars(select(Campaign))
        assert (campaign.channel, campaign.audience["groups"]) == ("work_group", ["wrVIP", "wrG2"])
    page = client.get(f"/console/campaigns/{campaign.id}").get_data(as_text=True)
    assert sorted(re.findall(r'name="groups" value="([^"]+)" checked', page)) == ["wrG2", "wrVIP"]
