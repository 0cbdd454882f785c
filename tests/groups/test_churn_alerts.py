"""Churn alerts (流失提醒, SPEC §9): a customer who deletes their guide (``del_follow_user``) or
quits a group the guide owns is shown to that guide, on ``/m/`` and in one WeCom app message,
with the customer's tags and last interaction; WeCom's retries and the sync's re-reads make
one alert and one message."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from group_world import chat_xml, work_customer
from guide_world import create_guide, create_store, guide_id, send, work_add
from guides.login_links import make_link
from handlers.signed_callbacks import work_contact_xml
from scrm.clock import FrozenClock
from scrm.groups.churn import notify_churn
from scrm.groups.models import ChurnAlert
from scrm.groups.sync import sync_groups
from scrm.sandbox import world
from tag_world import create_tag
from tagging.models import Tag, TagGroup
from tagging.scores import set_manual
from web_world import page_text

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, 2 November


@pytest.fixture
def config_overrides() -> dict:
    return {"wechat.work.agent_secret": "sandbox-work-agent-secret"}  # app messages on


@pytest.fixture
def frozen(runtime):  # noqa: ANN001, ANN201
    from scrm.runtime import install

    runtime.clock = FrozenClock(NOW)
    install(runtime)
    create_store(runtime)
    create_guide(runtime, "G1", name="王小美")
    create_guide(runtime, "G2")
    return runtime


def alerts(runtime) -> list[tuple[int, int, str, str, str]]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return [(a.guide_id, a.customer_id, a.kind, a.chat_id, a.group_name)
                for a in db_session.scalars(select(ChurnAlert).order_by(ChurnAlert.id))]


def app_messages(runtime, userid: str) -> list[str]:  # noqa: ANN001
    return [m["text"]["content"] for m in world.list_messages(runtime.redis, userid, channel="work_app")]


def tag(runtime, customer_id: int, name: str) -> None:  # noqa: ANN001
    tag_id = create_tag(runtime, name)
    with runtime.transaction() as db_session:
        found = db_session.get(Tag, tag_id)
        set_manual(db_session=db_session, customer_id=customer_id, tag=found, group=db_session.get(TagGroup, found.group_id),
                   on=True, now=runtime.clock.now(), manager="test")


def deleted_xml(runtime, external_userid: str, userid: str) -> str:  # noqa: ANN001
    return work_contact_xml(corp_id=runtime.config.wechat.work.corp_id, change_type="del_follow_user", userid=userid,
                            external_userid=external_userid, create_time=int(runtime.clock.now().timestamp()))


def customer_of(runtime, external_userid: str) -> int:  # noqa: ANN001
    from scrm.customers.models import CustomerIdentity

    with runtime.transaction() as db_session:
        return db_session.scalar(select(CustomerIdentity.customer_id).where(CustomerIdentity.external_id == external_userid))


def read(response) -> str:  # noqa: ANN001
    """What the page says, its tags dropped and its spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", page_text(response)).split())


def sign_in(runtime, client, code: str) -> None:  # noqa: ANN001
    with runtime.transaction() as db_session:
        link = urlsplit(make_link(runtime=runtime, db_session=db_session, guide_code=code))
    assert client.get(f"{link.path}?{link.query}").status_code == 302


def test_a_customer_deleting_their_guide_is_one_alert_and_one_app_message_however_often_wecom_says_it(frozen, client):
    work_add(frozen, client, "wmAmy", "member-g1", None, welcome=False)  # Amy adds the guide: her last doing
    frozen.queue.run_pending()
    amy = customer_of(frozen, "wmAmy")
    tag(frozen, amy, "奶粉")
    frozen.clock.advance(hours=5)
    xml = deleted_xml(frozen, "wmAmy", "member-g1")
    for _ in range(3):  # WeCom's three tries
        send(frozen, client, "work", xml)
    frozen.clock.advance(minutes=10)
    send(frozen, client, "work", deleted_xml(frozen, "wmAmy", "member-g1"))  # told again later the same day
    frozen.queue.run_pending()

    assert alerts(frozen) == [(guide_id(frozen, "G1"), amy, "deleted_guide", "", "")]
    sent = app_messages(frozen, "member-g1")
    assert sent == ["【客户流失提醒】顾客「wmAmy」删除了您 · 标签：奶粉 · 最近互动：加企业微信 2026-11-02 10:00"]
    assert notify_churn(guide_id(frozen, "G1")) == 0  # the job again: told once
    assert len(app_messages(frozen, "member-g1")) == 1
    assert app_messages(frozen, "member-g2") == []

    send(frozen, client, "work", deleted_xml(frozen, "wmAmy", "someone-not-a-guide"))
    frozen.queue.run_pending()
    assert len(alerts(frozen)) == 1


def test_one_of_our_customers_quitting_a_guides_group_alerts_its_owner_once(frozen, client):
    amy = work_customer(frozen, "wmAmy", "艾米")
    world.add_group_chat(frozen.redis, "wrVIP", owner="member-g1", name="静安店VIP群",
                         external_userids=["wmAmy", "wmStranger"], at=NOW)
    world.add_group_chat(frozen.redis, "wrOther", owner="someone-else", name="别人的群", external_userids=["wmAmy"], at=NOW)
    sync_groups()
    assert alerts(frozen) == []  # joining is no churn

    frozen.clock.advance(days=1)
    world.remove_group_chat_members(frozen.redis, "wrVIP", userids=["wmAmy", "wmStranger"])
    world.remove_group_chat_members(frozen.redis, "wrOther", userids=["wmAmy"])
    xml = chat_xml(frozen, "wrVIP", "update", detail="del_member", members=("wmAmy", "wmStranger"))
    send(frozen, client, "work", xml)
    send(frozen, client, "work", chat_xml(frozen, "wrOther", "update", detail="del_member", members=("wmAmy",)))
    frozen.queue.run_pending()
    sync_groups()  # the hourly sync reads the same groups again
    frozen.queue.run_pending()

    # The stranger is no customer of ours; the other group has no guide for an owner.
    assert alerts(frozen) == [(guide_id(frozen, "G1"), amy, "quit_group", "wrVIP", "静安店VIP群")]
    assert app_messages(frozen, "member-g1") == [
        "【客户流失提醒】顾客「艾米」退出了群「静安店VIP群」 · 标签：无 · 最近互动：无"]


def test_alerts_arriving_together_make_one_message(frozen, client):
    for who in ("wmA", "wmB", "wmC"):
        work_customer(frozen, who)
    world.add_group_chat(frozen.redis, "wrVIP", owner="member-g1", name="VIP群", external_userids=["wmA", "wmB", "wmC"],
                         at=NOW)
    sync_groups()
    world.remove_group_chat_members(frozen.redis, "wrVIP", userids=["wmA", "wmB", "wmC"])
    sync_groups()
    frozen.queue.run_pending()
    assert len(alerts(frozen)) == 3
    sent = app_messages(frozen, "member-g1")
    assert len(sent) == 1 and sent[0].count("退出了群「VIP群」") == 3


def test_the_guide_sees_the_alerts_on_their_home_and_marks_them_seen(frozen, client):
    amy = work_customer(frozen, "wmAmy", "艾米")
    tag(frozen, amy, "高端")
    world.add_group_chat(frozen.redis, "wrVIP", owner="member-g1", name="静安店VIP群", external_userids=["wmAmy"], at=NOW)
    sync_groups()
    frozen.clock.advance(hours=1)
    world.remove_group_chat_members(frozen.redis, "wrVIP", userids=["wmAmy"])
    sync_groups()
    sign_in(frozen, client, "G1")

    home = client.get("/m/")
    text = read(home)
    assert home.status_code == 200 and "流失提醒 1" in text
    assert "艾米 退出了群「静安店VIP群」" in text and "标签：高端" in text and "11-02 11:00" in text
    assert f'href="/m/customers/{amy}"' in home.get_data(as_text=True)
    sign_in(frozen, client, "G2")
    assert "流失提醒" not in read(client.get("/m/"))  # another guide's alert is not theirs

    sign_in(frozen, client, "G1")
    refused = client.post("/m/churn/seen", data={"up_to": "many"})
    assert refused.status_code == 400 and "流失提醒" in read(client.get("/m/"))
    seen = client.post("/m/churn/seen", data={"up_to": "1"})
    assert seen.status_code == 303
    assert "流失提醒" not in read(client.get("/m/"))
    with frozen.transaction() as db_session:
        assert db_session.scalar(select(ChurnAlert.seen_at)) is not None


def test_a_guide_gets_at_most_30_app_messages_a_minute_the_rest_wait_for_the_next(frozen):
    from scrm.errors import RetryLater
    from scrm.groups.churn import record_churn

    g1 = guide_id(frozen, "G1")
    customers = [work_customer(frozen, f"wm{n}") for n in range(31)]

    def lose(customer_id: int) -> None:
        with frozen.transaction() as db_session:
            record_churn(db_session=db_session, config=frozen.config, guide_id=g1, customer_id=customer_id,
                         kind="deleted_guide", at=frozen.clock.now())

    for customer_id in customers[:30]:
        lose(customer_id)
        assert notify_churn(g1) == 1
    lose(customers[30])
    with pytest.raises(RetryLater):
        notify_churn(g1)
    assert len(app_messages(frozen, "member-g1")) == 30
    frozen.clock.advance(minutes=1)
    assert notify_churn(g1) == 1 and len(app_messages(frozen, "member-g1")) == 31


def test_an_app_message_whose_answer_is_lost_is_not_sent_again(frozen, monkeypatch, stack):
    """``message/send`` takes no idempotency key: a send that may have gone counts as told."""
    from scrm.groups.churn import record_churn
    from scrm.sandbox import state

    g1 = guide_id(frozen, "G1")
    with frozen.transaction() as db_session:
        record_churn(db_session=db_session, config=frozen.config, guide_id=g1,
                     customer_id=work_customer(frozen, "wmLost"), kind="deleted_guide", at=frozen.clock.now())
    frozen.work.send_app_message(["member-g2"], "warm the app token")  # so the fault meets the send
    monkeypatch.setattr(frozen.work._agent_transport, "_timeout", (1.0, 0.3))  # a read timeout inside the delay
    state.add_fault(frozen.redis, channel="work", api="message/send", delay_ms=1000, times=5)
    assert notify_churn(g1) == 1
    stack.wait_until_answered()  # the sandbox, like WeCom, finishes the call whose answer was lost
    assert notify_churn(g1) == 0  # told: never a second time
    assert len(app_messages(frozen, "member-g1")) == 1
    assert len(state.list_calls(frozen.redis, channel="work", api="message/send")) == 2  # the warm-up and one
