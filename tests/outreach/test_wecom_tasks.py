"""WeCom tasks (群发任务) a work_single campaign hands to guides: recorded pending when the task is
created, listed on the guide's own page (/m/tasks) with who gets it, asked about on WeCom's
get_groupmsg_task until the guide has sent it (the sandbox plays the guide pressing send), and
the sandbox's side of it: a member's part, its pages, the control route."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from campaign_world import fire, make_campaign, wecom_customer
from guide_world import create_guide, create_store
from guides.login_links import make_link
from scrm.clock import as_utc
from scrm.outreach import sender, wecom_tasks
from scrm.outreach.models import Delivery, WecomTask
from scrm.sandbox import state, world

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
OUTREACH = {"outreach.weekly_cap": 10, "outreach.quiet_hours": ""}
TASK_API = "externalcontact/get_groupmsg_task"


@pytest.fixture
def frozen(frozen):  # noqa: ANN001, ANN201
    create_store(frozen)
    create_guide(frozen, "G1", name="王小美")
    create_guide(frozen, "G2", name="李大力")
    return frozen


def send_campaign(runtime, text: str = "周末会员日 全场8折", name: str = "会员日") -> int:  # noqa: ANN001
    run_id = fire(runtime, make_campaign(runtime, name=name, channel="work_single",
                                         content={"kind": "text", "text": text}))
    with runtime.transaction() as db_session:
        ids = list(db_session.scalars(select(Delivery.id).where(Delivery.run_id == run_id)))
    sender.send_deliveries(ids)
    return run_id


def tasks_by_sender(runtime) -> dict[str, WecomTask]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return {t.sender: t for t in db_session.scalars(select(WecomTask))}


def sign_in(runtime, client, code: str) -> None:  # noqa: ANN001
    with runtime.transaction() as db_session:
        parts = urlsplit(make_link(runtime=runtime, db_session=db_session, guide_code=code))
    assert client.get(f"{parts.path}?{parts.query}").status_code == 302


@pytest.fixture
def handed(frozen):  # noqa: ANN001, ANN201
    """Three customers of G1 and one of G2, one campaign sent: a task each."""
    customers = [wecom_customer(frozen, name, "G1") for name in ("韩梅梅", "李雷", "林涛")]
    customers.append(wecom_customer(frozen, "吉姆", "G2"))
    run_id = send_campaign(frozen)
    return {"run_id": run_id, "customers": customers}


def test_a_work_single_send_leaves_one_pending_task_per_guide(frozen, handed):
    tasks = tasks_by_sender(frozen)
    assert sorted(tasks) == ["member-g1", "member-g2"]
    g1, g2 = tasks["member-g1"], tasks["member-g2"]
    assert (g1.chat_type, g1.status, g1.targets, g1.run_id) == ("single", "pending", 3, handed["run_id"])
    assert g2.targets == 1 and g1.msgid != g2.msgid and g1.sent_at is None
    with frozen.transaction() as db_session:
        refs = set(db_session.scalars(select(Delivery.wechat_ref).where(Delivery.run_id == handed["run_id"])))
    assert refs == {g1.msgid, g2.msgid}  # each delivery names its guide's task
    part = frozen.work.msg_tasks(g1.msgid)
    assert [(p.userid, p.sent, p.send_time) for p in part] == [("member-g1", False, None)]


def test_the_guide_sees_their_pending_tasks_and_who_gets_them(frozen, handed, client):
    sign_in(frozen, client, "G1")
    home = client.get("/m/")
    assert 'id="to-send">1 条待发送' in home.text
    page = client.get("/m/tasks")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert page.text.count('class="badge pending"') == 1 and "群发助手" in page.text
    assert "会员日" in page.text and "周末会员日 全场8折" in page.text and "3 位客户" in page.text
    for name in ("韩梅梅", "李雷", "林涛"):
        assert f"<li>{name}</li>" in page.text
    assert "吉姆" not in page.text  # G2's customer, in G2's task
    assert 'id="sent"' not in page.text


def test_once_the_guide_sends_it_in_wecom_the_check_marks_it_sent(frozen, handed, client):
    g1 = tasks_by_sender(frozen)["member-g1"]
    frozen.clock.advance(minutes=20)
    state.send_msg_task(frozen.redis, g1.msgid, userid="member-g1")  # the guide presses send in WeCom
    (external,) = [e for _, e in handed["customers"][:1]]
    (received,) = world.list_messages(frozen.redis, external, channel="work")
    assert received["content"] == {"text": {"content": "周末会员日 全场8折"}} and received["msgid"] == g1.msgid

    frozen.clock.advance(minutes=10)
    assert wecom_tasks.check_tasks([t.id for t in tasks_by_sender(frozen).values()]) == {"sent": 1, "pending": 1}
    after = tasks_by_sender(frozen)
    assert after["member-g1"].status == "sent"
    assert as_utc(after["member-g1"].sent_at) == NOW + timedelta(minutes=20)  # WeCom's send_time
    assert after["member-g2"].status == "pending" and as_utc(after["member-g2"].checked_at) == NOW + timedelta(minutes=30)
    assert wecom_tasks.check_tasks([after["member-g1"].id]) == {"sent": 0, "pending": 0}  # sent: not asked again

    sign_in(frozen, client, "G1")
    page = client.get("/m/tasks")
    assert 'id="none-pending"' in page.text and 'id="sent"' in page.text
    assert "已发送 11-02 10:20" in page.text  # in Shanghai time
    assert 'id="to-send"' not in client.get("/m/").text


def test_pending_tasks_are_queued_for_a_check_every_five_minutes_for_thirty_days(frozen, handed):
    runtime = frozen
    assert wecom_tasks.enqueue_checks() == 2
    assert runtime.queue.run_pending() == 1  # one job for both
    assert all(t.checked_at is not None for t in tasks_by_sender(runtime).values())
    assert wecom_tasks.enqueue_checks() == 0  # just asked
    runtime.clock.advance(minutes=5)
    state.send_msg_task(runtime.redis, tasks_by_sender(runtime)["member-g2"].msgid)
    assert wecom_tasks.enqueue_checks() == 2
    runtime.queue.run_pending()
    assert {s: t.status for s, t in tasks_by_sender(runtime).items()} == {"member-g1": "pending", "member-g2": "sent"}
    runtime.clock.advance(days=wecom_tasks.WATCH_DAYS, minutes=1)
    assert wecom_tasks.enqueue_checks() == 0  # too old to ask about
    with runtime.transaction() as db_session:
        assert wecom_tasks.tasks_of(db_session=db_session, sender="member-g1", now=runtime.clock.now()) == []


def test_a_wecom_error_leaves_the_task_pending_to_be_asked_again(frozen, handed):
    state.send_msg_task(frozen.redis, tasks_by_sender(frozen)["member-g1"].msgid)
    state.add_fault(frozen.redis, channel="work", api=TASK_API, errcode=60011, times=2)  # no permission
    ids = [t.id for t in tasks_by_sender(frozen).values()]
    assert wecom_tasks.check_tasks(ids) == {"sent": 0, "pending": 2}
    assert {t.status for t in tasks_by_sender(frozen).values()} == {"pending"}
    frozen.clock.advance(minutes=5)
    assert wecom_tasks.check_tasks(ids) == {"sent": 1, "pending": 1}


def test_check_now_asks_wecom_about_this_guides_tasks_only(frozen, handed, client):
    tasks = tasks_by_sender(frozen)
    state.send_msg_task(frozen.redis, tasks["member-g1"].msgid)
    state.send_msg_task(frozen.redis, tasks["member-g2"].msgid)
    sign_in(frozen, client, "G1")
    answer = client.post("/m/tasks/check")
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/m/tasks?checking=1")
    assert 'id="checking"' in client.get("/m/tasks?checking=1").text
    frozen.queue.run_pending()
    assert {s: t.status for s, t in tasks_by_sender(frozen).items()} == {"member-g1": "sent", "member-g2": "pending"}
    calls = state.list_calls(frozen.redis, channel="work", api=TASK_API)
    assert [c["body"]["msgid"] for c in calls] == [tasks["member-g1"].msgid]


def test_the_tasks_page_is_a_guides_own(frozen, handed, client, auth):
    assert client.get("/m/tasks").status_code == 302  # no session: to the sign-in
    for role in ("admin", "manager"):
        assert client.get("/m/tasks", headers=auth(role)).status_code == 403
        assert client.post("/m/tasks/check", headers=auth(role)).status_code == 403
    assert state.list_calls(frozen.redis, channel="work", api=TASK_API) == []


# ---- the sandbox's side --------------------------------------------------------------------


def test_without_a_sender_each_member_gets_a_part_and_the_task_list_pages(frozen):
    external = "wm-two-guides"
    world.add_external_contact(frozen.redis, external, userid="member-g1")
    world.add_external_contact(frozen.redis, external, userid="member-g2")
    msgid = frozen.work._wx.external_contact.add_msg_template(  # noqa: SLF001 - no sender: WeCom picks the members
        {"chat_type": "single", "external_userid": [external], "text": {"content": "你好"}})["msgid"]
    first = frozen.work.transport.call("POST", TASK_API, body={"msgid": msgid, "limit": 1})
    assert [t["userid"] for t in first["task_list"]] == ["member-g1"] and first["next_cursor"] == "member-g1"
    state.send_msg_task(frozen.redis, msgid, userid="member-g2")
    assert [(p.userid, p.sent) for p in frozen.work.msg_tasks(msgid)] == [("member-g1", False), ("member-g2", True)]
    state.send_msg_task(frozen.redis, msgid, userid="member-g2")  # pressed twice: received once
    assert len(world.list_messages(frozen.redis, external, channel="work")) == 1


def test_the_control_route_plays_the_member_sending(frozen, handed, client, auth):
    msgid = tasks_by_sender(frozen)["member-g1"].msgid
    headers = auth("admin")
    assert client.post("/api/sandbox/work/msg_tasks/msg-nope/send", headers=headers).status_code == 404
    refused = client.post(f"/api/sandbox/work/msg_tasks/{msgid}/send", json={"userid": "member-g2"}, headers=headers)
    assert refused.status_code == 400 and refused.json["error"] == "not_a_member"
    assert client.post(f"/api/sandbox/work/msg_tasks/{msgid}/send", json={"userid": 7}, headers=headers).status_code == 400
    assert not any(p.sent for p in frozen.work.msg_tasks(msgid))  # refused: nothing changed
    assert client.post(f"/api/sandbox/work/msg_tasks/{msgid}/send", headers=auth("guide", "G1")).status_code == 403
    done = client.post(f"/api/sandbox/work/msg_tasks/{msgid}/send", json={"userid": "member-g1"}, headers=headers)
    assert done.status_code == 200 and done.json["members"]["member-g1"]["status"] == 2
    assert [p.sent for p in frozen.work.msg_tasks(msgid)] == [True]
