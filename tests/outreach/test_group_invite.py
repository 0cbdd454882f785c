"""Invitations by tag (标签拉群, SPEC §9): a ``work_group_invite`` campaign hands each bound guide
ONE WeCom task (add_msg_template single) to their customers in the audience, carrying the text
and a card with the campaign's own join way QR on a group live code; customers without a WeCom
guide are skipped with the reason; the weekly cap and quiet hours hold; a join through the
campaign's way (the sandbox member with its state, a signed callback, the refresh job) is
credited to the campaign's results; and the composer offers it as 邀请进群."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from campaign_world import customer, fire, wecom_customer
from guide_world import create_guide, create_store, send
from guides.login_links import make_link
from scrm.groups import codes
from scrm.groups.code_schemas import GroupCodeIn
from scrm.groups.models import GroupCodeWay
from scrm.groups.sync import sync_groups
from scrm.outreach import campaigns, group_invites, results, sender
from scrm.outreach.cap import FrequencyCap
from scrm.outreach.models import Campaign, Delivery, WecomTask
from scrm.outreach.schemas import INVITE_TEXT, CampaignIn, InvalidCampaign, parse
from scrm.sandbox import state, world
from test_campaign_console import editor_form
from web_world import page_text

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
OUTREACH = {"outreach.weekly_cap": 1, "outreach.quiet_hours": "22-8"}
TEMPLATE_API = "externalcontact/add_msg_template"
JOIN_WAY_API = "externalcontact/groupchat/add_join_way"


@pytest.fixture
def frozen(frozen):  # noqa: ANN001, ANN201
    create_store(frozen)
    create_guide(frozen, "G1", name="王小美")
    create_guide(frozen, "G2", name="李大力")
    world.add_group_chat(frozen.redis, "wrFans1", owner="member-g1", name="宝妈群1", at=NOW)
    world.add_group_chat(frozen.redis, "wrFans2", owner="member-g2", name="宝妈群2", at=NOW)
    sync_groups()
    return frozen


@pytest.fixture
def code_id(frozen) -> int:  # noqa: ANN001
    """A live code over both groups, with its own way (the printed code's, state gc<code>)."""
    return codes.create(runtime=frozen, code_in=GroupCodeIn(name="宝妈福利群", chat_ids=["wrFans1", "wrFans2"]))


@pytest.fixture
def people(frozen) -> dict[str, tuple[int, str]]:  # noqa: ANN001
    """Five WeCom customers: three of G1's, two of G2's; and one who only follows the MP."""
    found = {name: wecom_customer(frozen, name, "G1") for name in ("韩梅梅", "李雷", "林涛")}
    found |= {name: wecom_customer(frozen, name, "G2") for name in ("吉姆", "露西")}
    found["公众号粉丝"] = (customer(frozen, "公众号粉丝"), "")
    return found


def invite(runtime, code: int, **changes) -> int:  # noqa: ANN001, ANN003
    body = {"name": "宝妈群邀请", "audience": {}, "channel": "work_group_invite",
            "content": {"kind": "invite", "code_id": code},
            "schedule": {"kind": "once", "at": runtime.clock.now().isoformat()}, **changes}
    with runtime.transaction() as db_session:
        return campaigns.create_campaign(db_session=db_session, campaign_in=parse(CampaignIn, body, what="campaign"),
                                         at=runtime.clock.now()).id


def run_deliveries(runtime, run_id: int) -> dict[int, Delivery]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return {d.customer_id: d for d in db_session.scalars(select(Delivery).where(Delivery.run_id == run_id))}


def send_run(runtime, run_id: int) -> dict[str, int]:  # noqa: ANN001
    return sender.send_deliveries(sorted(d.id for d in run_deliveries(runtime, run_id).values()))


def tasks(runtime) -> list[dict]:  # noqa: ANN001
    return [c["body"] for c in state.list_calls(runtime.redis, channel="work", api=TEMPLATE_API) if c["errcode"] == 0]


def campaign_way(runtime, campaign_id: int) -> GroupCodeWay:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.scalar(select(GroupCodeWay).where(GroupCodeWay.source == "campaign",
                                                            GroupCodeWay.source_id == campaign_id))


def test_each_guide_gets_one_task_with_their_customers_and_the_codes_card(frozen, code_id, people):
    campaign_id = invite(frozen, code_id)
    run_id = fire(frozen, campaign_id)
    assert send_run(frozen, run_id) == {"skipped": 1, "sent": 5}

    way = campaign_way(frozen, campaign_id)
    assert way.state == f"gc{code_id}c{campaign_id}" and way.qr_code.endswith(f"/join_way/{way.config_id}.png")
    made = world.get_join_way(frozen.redis, way.config_id)  # the sandbox's way: the code's groups, our state
    assert made["state"] == way.state and made["chat_id_list"] == ["wrFans1", "wrFans2"]

    sent = {t["sender"]: t for t in tasks(frozen)}
    assert sorted(sent) == ["member-g1", "member-g2"]  # one task per guide
    assert sorted(sent["member-g1"]["external_userid"]) == sorted(people[n][1] for n in ("韩梅梅", "李雷", "林涛"))
    assert sorted(sent["member-g2"]["external_userid"]) == sorted(people[n][1] for n in ("吉姆", "露西"))
    for task in sent.values():
        assert task["chat_type"] == "single" and task["text"] == {"content": INVITE_TEXT}
        assert task["attachments"] == [{"msgtype": "link", "link": {
            "title": "宝妈福利群", "picurl": way.qr_code, "url": way.qr_code, "desc": ""}}]

    deliveries = run_deliveries(frozen, run_id)
    fan = deliveries[people["公众号粉丝"][0]]
    assert (fan.status, fan.reason) == ("skipped", "no_channel: work_group_invite no WeCom")
    with frozen.transaction() as db_session:
        recorded = {t.sender: (t.chat_type, t.targets) for t in db_session.scalars(select(WecomTask))}
    assert recorded == {"member-g1": ("single", 3), "member-g2": ("single", 2)}  # on the guides' /m/tasks

    # A second run of the campaign reuses its way: one add_join_way for the code, one for the campaign.
    with frozen.transaction() as db_session:
        db_session.get(Campaign, campaign_id).status = "draft"
    frozen.clock.advance(days=8)  # past the weekly cap
    send_run(frozen, fire(frozen, campaign_id))
    assert len(tasks(frozen)) == 4
    assert [c["body"]["state"] for c in state.list_calls(frozen.redis, channel="work", api=JOIN_WAY_API)] == [
        f"gc{code_id}", way.state]


def test_the_guide_sees_the_invitation_among_their_tasks(frozen, code_id, people, client):
    send_run(frozen, fire(frozen, invite(frozen, code_id)))
    with frozen.transaction() as db_session:
        link = urlsplit(make_link(runtime=frozen, db_session=db_session, guide_code="G1"))
    assert client.get(f"{link.path}?{link.query}").status_code == 302
    page = page_text(client.get("/m/tasks"))
    assert f"{INVITE_TEXT} · 群二维码 group QR" in page and "3 位客户" in page
    assert "吉姆" not in page and all(f"<li>{name}</li>" in page for name in ("韩梅梅", "李雷", "林涛"))


def test_the_weekly_cap_and_quiet_hours_hold(frozen, code_id, people):
    capped_id, _ = people["韩梅梅"]
    FrequencyCap(frozen.redis, frozen.config).reserve_many([(capped_id, "other-campaign:1")], NOW, NOW, defer=False)
    run_id = fire(frozen, invite(frozen, code_id, when_capped="skip"))
    deliveries = run_deliveries(frozen, run_id)
    assert (deliveries[capped_id].status, deliveries[capped_id].reason) == ("skipped", "capped")
    send_run(frozen, run_id)
    (g1,) = [t for t in tasks(frozen) if t["sender"] == "member-g1"]
    assert people["韩梅梅"][1] not in g1["external_userid"] and len(g1["external_userid"]) == 2

    frozen.clock.set(datetime(2026, 11, 9, 15, 0, tzinfo=UTC))  # 23:00 in Shanghai, a week on
    night_run = fire(frozen, invite(frozen, code_id, name="夜里的邀请"))
    waiting = run_deliveries(frozen, night_run)
    morning = datetime(2026, 11, 10, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
    reached = [d for d in waiting.values() if d.status == "planned"]
    assert len(reached) == 6
    assert {(d.reason, d.due_at.replace(tzinfo=UTC)) for d in reached} == {("quiet_hours", morning)}
    calls = len(tasks(frozen))
    assert send_run(frozen, night_run) == {}  # not due: nothing claimed, nothing sent
    assert len(tasks(frozen)) == calls


def test_a_join_through_the_campaigns_way_is_credited_to_it(frozen, code_id, people, client, make_token):
    campaign_id = invite(frozen, code_id, content={"kind": "invite", "code_id": code_id, "text": "入群领取新人礼"})
    send_run(frozen, fire(frozen, campaign_id))
    way = campaign_way(frozen, campaign_id)
    own_state = f"gc{code_id}"
    frozen.clock.advance(hours=1)
    join(frozen, client, "wrFans1", people["韩梅梅"][1], way.state)
    join(frozen, client, "wrFans2", people["吉姆"][1], way.state)
    join(frozen, client, "wrFans2", "wmPasserby", own_state)  # scanned the printed code: not the campaign's

    with frozen.transaction() as db_session:
        found = results.campaign_results(db_session=db_session, campaign_id=campaign_id, now=frozen.clock.now())
    assert found.group_joins == 2 and found.as_json()["group_joins"] == 2
    assert found.total.sent == 5

    assert client.post("/login", data={"token": make_token("manager")}).status_code == 302
    page = page_text(client.get(f"/console/campaigns/{campaign_id}/results"))
    assert '<b id="group-joins">2</b><span>入群</span>' in page
    answer = client.get(f"/console/campaigns/{campaign_id}/results.json").get_json()
    assert answer["group_joins"] == 2


def join(runtime, client, chat_id: str, external_userid: str, way_state: str) -> None:  # noqa: ANN001
    """A customer scans a join way: WeCom adds them with the way's state, and says so (a signed
    change_external_chat callback, sample work_change_external_chat_add_member.xml)."""
    world.add_group_chat_members(runtime.redis, chat_id, external_userids=[external_userid], at=runtime.clock.now(),
                                 state=way_state, join_scene=3)
    fields = {"ToUserName": runtime.config.wechat.work.corp_id, "FromUserName": "sys",
              "CreateTime": int(runtime.clock.now().timestamp()), "MsgType": "event", "Event": "change_external_chat",
              "ChatId": chat_id, "ChangeType": "update", "UpdateDetail": "add_member", "JoinScene": 3,
              "MemChangeCnt": 1}
    body = "".join(f"<{k}>{v}</{k}>" if isinstance(v, int) else f"<{k}><![CDATA[{v}]]></{k}>"
                   for k, v in fields.items())
    xml = f"<xml>{body}<MemChangeList><Item><![CDATA[{external_userid}]]></Item></MemChangeList></xml>"
    send(runtime, client, "work", xml)
    runtime.queue.run_pending()


def test_a_retired_code_fails_the_invitations_and_cannot_be_named(frozen, code_id, people):
    campaign_id = invite(frozen, code_id)
    run_id = fire(frozen, campaign_id)
    with frozen.transaction() as db_session:
        codes.retire(runtime=frozen, db_session=db_session, code_id=code_id)
    assert send_run(frozen, run_id) == {"skipped": 1, "failed": 5}
    failed = [d for d in run_deliveries(frozen, run_id).values() if d.status == "failed"]
    assert {d.reason for d in failed} == {group_invites.RETIRED}
    assert tasks(frozen) == []
    with frozen.transaction() as db_session:
        reasons = results.campaign_results(db_session=db_session, campaign_id=campaign_id).reasons
    assert [(r.outcome, r.code, r.zh, r.count) for r in reasons if r.outcome == "failed"] == [
        ("failed", "code_retired", "群活码已停用", 5)]
    with pytest.raises(campaigns.UnknownGroupCode) as refused:
        invite(frozen, code_id)
    assert refused.value.field == "content.code_id"
    with pytest.raises(campaigns.UnknownGroupCode):
        invite(frozen, code_id + 100)


def test_wecom_busy_making_the_way_puts_the_invitations_back_to_retry(frozen, code_id, people):
    state.add_fault(frozen.redis, channel="work", api=JOIN_WAY_API, errcode=-1, times=3)  # busy, each of the transport's 3 tries
    run_id = fire(frozen, invite(frozen, code_id))
    assert send_run(frozen, run_id) == {"skipped": 1, "planned": 5}
    back = [d for d in run_deliveries(frozen, run_id).values() if d.status == "planned"]
    assert {d.attempts for d in back} == {1} and all("errcode -1" in d.last_error for d in back)
    assert tasks(frozen) == []  # nothing handed to a guide without the card
    frozen.clock.advance(minutes=10)
    assert send_run(frozen, run_id) == {"sent": 5}
    assert len(tasks(frozen)) == 2


def test_wecom_refusing_the_way_fails_the_invitations_with_its_code(frozen, code_id, people):
    state.add_fault(frozen.redis, channel="work", api=JOIN_WAY_API, errcode=40058, times=1)  # a bad parameter
    run_id = fire(frozen, invite(frozen, code_id))
    assert send_run(frozen, run_id) == {"skipped": 1, "failed": 5}
    failed = {d.reason for d in run_deliveries(frozen, run_id).values() if d.status == "failed"}
    assert failed == {"refused work_group_invite: errcode 40058"} and tasks(frozen) == []


@pytest.mark.parametrize(("changes", "field"), [
    ({"content": {"kind": "text", "text": "进群吧"}}, "content"),
    ({"channel": "work_single"}, "content"),
    ({"fallbacks": ["mp_custom"]}, "channel"),
    ({"content": {"kind": "invite"}}, "content"),
])
def test_an_invitation_is_an_invite_content_on_its_own_channel(frozen, changes, field):
    body = {"name": "邀请", "audience": {}, "channel": "work_group_invite", "content": {"kind": "invite", "code_id": 1},
            "schedule": {"kind": "once", "at": NOW.isoformat()}, **changes}
    with pytest.raises(InvalidCampaign) as refused:
        parse(CampaignIn, body, what="campaign")
    assert refused.value.field.startswith(field)


def test_the_composer_offers_the_invitation_and_the_confirmation_counts_guides(frozen, code_id, people, client,
                                                                               make_token):
    assert client.post("/login", data={"token": make_token("manager")}).status_code == 302
    page = page_text(client.get("/console/campaigns/new"))
    assert 'value="invite" data-channel="work_group_invite"' in page and "邀请进群" in page
    assert f'<option value="{code_id}" >宝妈福利群</option>' in page
    response = client.post("/console/campaigns/new", data=editor_form(
        purpose="invite", channel="work_group_invite", kind="invite", code_id=str(code_id), text="", send="now",
        action="confirm"))
    assert response.status_code == 302, page_text(response)
    with frozen.transaction() as db_session:
        made = db_session.scalars(select(Campaign)).one()
    assert made.channel == "work_group_invite" and made.content["code_id"] == code_id
    assert made.content["text"] == INVITE_TEXT
    confirm = page_text(client.get(f"/console/campaigns/{made.id}/confirm"))
    assert "将由 <b id='reach-guides'>2</b> 位导购邀请 <b id='reach-count'>5</b> 位客户进群" in confirm
    assert "不是企业微信客户：1 位" in confirm
    editor = page_text(client.get(f"/console/campaigns/{made.id}"))
    assert f'<option value="{code_id}" selected>宝妈福利群</option>' in editor


def test_an_unknown_code_in_the_composer_is_refused_and_nothing_saved(frozen, code_id, client, make_token):
    assert client.post("/login", data={"token": make_token("manager")}).status_code == 302
    response = client.post("/console/campaigns/new", data=editor_form(
        purpose="invite", channel="work_group_invite", kind="invite", code_id=str(code_id + 7), send="now"))
    assert response.status_code == 422
    with frozen.transaction() as db_session:
        assert db_session.scalars(select(Campaign)).all() == []


def test_the_dashboard_and_lists_name_the_channel(frozen, code_id, client, make_token):
    invite(frozen, code_id)
    assert client.post("/login", data={"token": make_token("manager")}).status_code == 302
    assert "企业微信邀请进群" in page_text(client.get("/console/campaigns"))


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_in_a_browser_the_purpose_picks_the_channel_and_the_code(browser, stack, frozen, code_id, people, make_token):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    context.set_default_timeout(15_000)
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(stack.url + "/login?next=/console/campaigns/new")
    page.fill("#token", make_token("manager"))
    page.click("button[type=submit]")
    page.fill("#name", "宝妈群邀请")
    page.check("#purpose-invite")
    expect(page.locator("#channel")).to_have_value("work_group_invite")
    expect(page.locator("#fallbacks")).to_be_hidden()
    expect(page.locator("#reach-headline")).to_have_text("现在可触达 5 位客户（共 6）")
    expect(page.locator("#rule-text")).to_contain_text("涉及 2 位导购")
    page.click("#step-1 button.next")
    expect(page.locator("#kind")).to_have_value("invite")
    expect(page.locator("#coupon_template_id")).to_be_hidden()
    page.select_option("#code_id", str(code_id))
    expect(page.locator("#preview-invite")).to_be_visible()
    page.fill("#text", "入群领取新人礼")
    expect(page.locator("#preview-text")).to_have_text("入群领取新人礼")
    page.click("#step-2 button.next")
    page.check("#send-now")
    page.click("#step-3 button.next")
    expect(page.locator("#summary-count")).to_have_text("5")
    page.click("#to-confirm")
    expect(page.locator("#consequence")).to_contain_text("将由 2 位导购邀请 5 位客户进群")
    assert errors == []
    with frozen.transaction() as db_session:
        made = db_session.scalars(select(Campaign)).one()
    assert made.content["kind"] == "invite" and made.content["text"] == "入群领取新人礼" and made.fallbacks == []
