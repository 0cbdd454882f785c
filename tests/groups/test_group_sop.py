"""Group SOP (群SOP): a plan over the groups of two owners; a due step makes one WeCom group task
per owner with that owner's groups (however often the sweep runs), the check marks the one the
sandbox sent, the other owner is reminded once by app message at the deadline; each owner sees
their task on /m/tasks; the console shows the plan; bad plans are refused with nothing written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from group_world import scan_and_join
from guide_world import create_guide, create_store, sign_in_guide
from scrm.clock import as_utc, utc_bounds
from scrm.groups import codes, sop, sop_jobs
from scrm.groups.models import GroupSop, GroupSopStep, GroupSopTask
from scrm.groups.sync import sync_groups
from scrm.sandbox import state, world
from web_world import page_text

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
TEMPLATE_API = "externalcontact/add_msg_template"
REMINDER = "【群SOP提醒】您有一条群发任务「新品周 · 第1步」尚未发送，请在企业微信「客户群群发」中发送。"


@pytest.fixture
def config_overrides() -> dict:
    return {"wechat.work.agent_secret": "sandbox-work-agent-secret"}


@pytest.fixture
def groups(frozen):  # noqa: ANN001, ANN201
    create_store(frozen)
    create_guide(frozen, "G1", name="王小美")
    create_guide(frozen, "G2", name="李大力")
    for chat_id, owner, name in (("wrA", "member-g1", "静安店VIP群"), ("wrB", "member-g1", "静安店新客群"),
                                 ("wrC", "member-g2", "徐汇店VIP群"), ("wrX", "member-g2", "员工群")):
        world.add_group_chat(frozen.redis, chat_id, owner=owner, name=name, at=NOW - timedelta(days=3))
    sync_groups()
    return frozen


def plan(**changes) -> dict:  # noqa: ANN003
    body = {"name": "新品周", "selector": {"kind": "name", "value": "*店*群"},
            "steps": [{"weekday": 1, "time": "10:30", "text": "本周新品到店，欢迎来试！", "deadline_minutes": 60,
                       "link": {"title": "新品目录", "url": "https://example.com/new"}}]}
    return {**body, **changes}


def make_plan(client, auth, body: dict | None = None) -> dict:  # noqa: ANN001
    response = client.post("/api/group-sops", json=body or plan(),
                           headers=auth("manager"))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def group_calls(runtime) -> list[dict]:  # noqa: ANN001
    """The group tasks WeCom made (a call answered with an expired token is tried again)."""
    return [c["body"] for c in state.list_calls(runtime.redis, channel="work", api=TEMPLATE_API)
            if not c.get("errcode")]


def tasks(runtime) -> dict[str, GroupSopTask]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return {t.owner_userid: t for t in db_session.scalars(select(GroupSopTask))}


def run_sweep(runtime) -> dict:  # noqa: ANN001
    counts = sop_jobs.sweep()
    runtime.queue.run_pending()
    return counts


def test_a_due_step_is_one_task_per_owner_tracked_and_reminded_once(groups, client, auth):
    runtime = groups
    made = make_plan(client, auth)
    assert (made["groups"], made["tasks"]) == (3, 0)  # 员工群 is not a 店…群
    assert run_sweep(runtime)["made"] == 0 and group_calls(runtime) == []  # 10:30 has not come

    runtime.clock.advance(minutes=31)
    assert run_sweep(runtime)["made"] == 2
    calls = sorted(group_calls(runtime), key=lambda body: body["sender"])
    assert [(c["chat_type"], c["sender"], sorted(c["chat_id_list"])) for c in calls] == [
        ("group", "member-g1", ["wrA", "wrB"]), ("group", "member-g2", ["wrC"])]
    assert calls[0]["text"] == {"content": "本周新品到店，欢迎来试！"}
    assert calls[0]["attachments"][0]["link"]["url"] == "https://example.com/new"
    runtime.clock.advance(minutes=1)
    assert run_sweep(runtime)["made"] == 0 and len(group_calls(runtime)) == 2  # the same moment: no new task

    made_tasks = tasks(runtime)
    assert all(t.msgid and t.status == "pending" for t in made_tasks.values())
    runtime.clock.advance(minutes=10)
    state.send_msg_task(runtime.redis, made_tasks["member-g1"].msgid, userid="member-g1")  # G1 sends in WeCom
    runtime.clock.advance(minutes=5)
    run_sweep(runtime)
    after = tasks(runtime)
    assert after["member-g1"].status == "sent" and as_utc(after["member-g1"].sent_at) == NOW + timedelta(minutes=42)
    assert after["member-g2"].status == "pending"

    assert world.list_messages(runtime.redis, "member-g2", channel="work_app") == []
    runtime.clock.advance(minutes=45)  # 11:32, past the 11:30 deadline
    run_sweep(runtime)
    (reminder,) = world.list_messages(runtime.redis, "member-g2", channel="work_app")
    assert reminder["text"]["content"] == REMINDER
    assert world.list_messages(runtime.redis, "member-g1", channel="work_app") == []  # sent: no reminder
    runtime.clock.advance(minutes=5)
    run_sweep(runtime)
    assert len(world.list_messages(runtime.redis, "member-g2", channel="work_app")) == 1
    assert tasks(runtime)["member-g2"].reminded_at is not None

    first, last = utc_bounds(runtime.config, NOW.date(), NOW.date())
    with runtime.transaction() as db_session:
        assert sop.sop_on_time(db_session, first, last) == {"member-g1": (1, 1), "member-g2": (0, 1)}

    runtime.clock.advance(days=1)
    assert run_sweep(runtime)["missed"] == 1 and tasks(runtime)["member-g2"].status == "missed"

    sign_in_guide(runtime, client, "G2")
    page = client.get("/m/tasks").text
    assert "新品周" in page and "本周新品到店，欢迎来试！" in page and "徐汇店VIP群" in page and "静安店VIP群" not in page
    assert 'id="sop-missed' in page
    assert "1 条待发送" in client.get("/m/").text


def test_the_owner_sees_the_sop_task_beside_campaign_tasks(groups, client, auth):
    make_plan(client, auth)
    groups.clock.advance(minutes=31)
    run_sweep(groups)
    sign_in_guide(groups, client, "G1")
    assert 'id="to-send">1 条待发送' in client.get("/m/").text
    page = client.get("/m/tasks").text
    assert "静安店VIP群" in page and "静安店新客群" in page and "徐汇店VIP群" not in page
    assert "本周新品到店，欢迎来试！" in page and "11-02 10:30" in page


def test_a_paused_plan_makes_no_tasks(groups, client, auth):
    made = make_plan(client, auth)
    assert client.patch(f"/api/group-sops/{made['id']}", json={"status": "paused"},
                        headers=auth("manager")).get_json()["status"] == "paused"
    groups.clock.advance(minutes=31)
    assert run_sweep(groups)["made"] == 0 and group_calls(groups) == []


def test_a_day_offset_step_is_due_days_after_the_group_came_in(groups, client, auth):
    make_plan(client, auth, plan(selector={"kind": "owner", "value": "G2"},
                                 steps=[{"day_offset": 1, "time": "09:00", "text": "第二天的问候"}]))
    groups.clock.advance(hours=23)  # Tuesday 09:00
    assert run_sweep(groups)["made"] == 1
    (call,) = group_calls(groups)
    assert call["sender"] == "member-g2" and sorted(call["chat_id_list"]) == ["wrC", "wrX"]
    groups.clock.advance(days=1)
    assert run_sweep(groups)["made"] == 0  # day 1 only once


def test_a_plan_over_a_live_code_follows_its_groups_as_it_rotates(groups, client, auth):
    """Selector ``code``: the groups on the live code now (by its name or id); when a group
    fills and the code takes it off, the plan's groups follow and no task is made for it."""
    runtime, manager = groups, auth("manager")
    made = client.post("/api/group-codes", json={"name": "VIP活码", "chat_ids": ["wrA", "wrC"], "member_limit": 2},
                       headers=manager)
    assert made.status_code == 201, made.get_json()
    code_id = made.get_json()["id"]
    by_name = make_plan(client, auth, plan(selector={"kind": "code", "value": "VIP活码"}))
    by_id = make_plan(client, auth, plan(name="按编号", selector={"kind": "code", "value": str(code_id)}))

    def chats(made_plan: dict) -> list[str]:
        return sorted(client.get(f"/api/group-sops/{made_plan['id']}", headers=manager).get_json()["chat_ids"])

    assert chats(by_name) == chats(by_id) == ["wrA", "wrC"]  # not wrB nor wrX: they are not on the code
    with runtime.transaction() as db_session:
        config_id = codes.own_way(db_session=db_session, code_id=code_id).config_id
    assert scan_and_join(runtime, client, config_id, "wmAmy") == "wrA"  # 2 of 2: the code takes wrA off
    assert chats(by_name) == chats(by_id) == ["wrC"]

    runtime.clock.advance(minutes=31)
    assert run_sweep(runtime)["made"] == 2  # one task per plan, both for wrC's owner only
    assert [(c["sender"], c["chat_id_list"]) for c in group_calls(runtime)] == [("member-g2", ["wrC"])] * 2


@pytest.mark.parametrize(("body", "field"), [
    (plan(steps=[{"weekday": 1, "time": "25:00", "text": "x"}]), "steps.0.time"),
    (plan(steps=[{"weekday": 1, "day_offset": 2, "time": "10:00", "text": "x"}]), "steps.0.day_offset"),
    (plan(steps=[]), "steps"),
    (plan(selector={"kind": "owner", "value": "G1,G9"}), "selector.value"),
    (plan(selector={"kind": "store", "value": "S404"}), "selector.value"),
    (plan(selector={"kind": "tag", "value": "x"}), "selector.kind"),
    (plan(selector={"kind": "code", "value": "没有这个活码"}), "selector.value"),
    (plan(selector={"kind": "code", "value": "999999"}), "selector.value"),
])
def test_bad_plans_are_refused_and_nothing_is_written(groups, client, auth, body, field):
    response = client.post("/api/group-sops", json=body, headers=auth("manager"))
    assert response.status_code == 422 and response.get_json()["field"] == field
    with groups.transaction() as db_session:
        assert db_session.scalar(select(func.count()).select_from(GroupSop)) == 0
        assert db_session.scalar(select(func.count()).select_from(GroupSopStep)) == 0


def test_the_api_shows_a_plan_with_its_tasks_and_is_for_managers(groups, client, auth):
    made = make_plan(client, auth)
    groups.clock.advance(minutes=31)
    run_sweep(groups)
    detail = client.get(f"/api/group-sops/{made['id']}", headers=auth("manager")).get_json()
    assert sorted(detail["chat_ids"]) == ["wrA", "wrB", "wrC"] and detail["tasks"] == 2
    assert sorted(t["owner_userid"] for t in detail["task_list"]) == ["member-g1", "member-g2"]
    assert client.get("/api/group-sops", headers=auth("guide", "G1")).status_code == 403
    assert client.get("/api/group-sops/999999", headers=auth("manager")).status_code == 404
    assert client.get(f"/api/group-sops/{2**40}", headers=auth("manager")).status_code == 404



def test_the_console_creates_a_plan_by_form_shows_its_tasks_and_pauses_it(groups, client, make_token):
    assert client.post("/login", data={"token": make_token("manager")}).status_code == 302
    form = {"rows": "2", "name": "新群欢迎", "selector_kind": "owner", "selector_value": "G1",
            "step-0-timing": "day", "step-0-n": "0", "step-0-time": "10:30", "step-0-text": "欢迎入群！",
            "step-0-deadline": "60", "step-1-text": ""}
    refused = client.post("/console/group-sops/new", data={**form, "step-0-time": "24:10"})
    assert refused.status_code == 422 and "steps.0.time" in page_text(refused)
    unknown = client.post("/console/group-sops/new", data={**form, "selector_value": "G1,G9"})
    assert unknown.status_code == 422 and "G9" in page_text(unknown)
    with groups.transaction() as db_session:
        assert db_session.scalar(select(func.count()).select_from(GroupSop)) == 0
    created = client.post("/console/group-sops/new", data=form)
    assert created.status_code == 303
    listed = page_text(client.get("/console/group-sops"))
    assert "新群欢迎" in listed and 'class="num groups">2<' in listed

    groups.clock.advance(minutes=31)
    run_sweep(groups)
    shown = page_text(client.get(created.headers["Location"]))
    assert "欢迎入群！" in shown and "王小美" in shown and shown.count('class="task pending"') == 1
    paused = client.post(created.headers["Location"] + "/status", data={"status": "paused"})
    assert paused.status_code == 303
    assert "已暂停" in page_text(client.get(created.headers["Location"]))
    edit = client.get(created.headers["Location"] + "/edit")
    assert edit.status_code == 200 and "欢迎入群！" in edit.text
    assert client.get("/console/group-sops/999999").status_code == 404


def test_a_task_claimed_but_never_answered_is_not_handed_to_wecom_twice(groups, client, auth):
    make_plan(client, auth)
    groups.clock.advance(minutes=31)
    assert sop_jobs.sweep()["send"] == 2
    with groups.transaction() as db_session:  # a worker took them and died during the WeCom call
        db_session.execute(update(GroupSopTask).values(claimed_at=groups.clock.now()))
    groups.queue.run_pending()
    assert group_calls(groups) == []
    groups.clock.advance(minutes=1)
    assert run_sweep(groups)["send"] == 0 and group_calls(groups) == []


def test_a_task_whose_answer_is_lost_is_not_handed_to_wecom_twice(groups, client, auth, monkeypatch, stack):
    """WeCom may have made the task when its answer did not come back: a second task would make
    the owner send the step twice, so the task stays claimed (and shows as not sent)."""
    make_plan(client, auth)
    groups.clock.advance(minutes=31)
    monkeypatch.setattr(groups.work.transport, "_timeout", (1.0, 0.3))  # a read timeout inside the delay
    state.add_fault(groups.redis, channel="work", api="externalcontact/add_msg_template", delay_ms=1000, times=5)
    assert sop_jobs.sweep()["send"] == 2
    groups.queue.run_pending()
    stack.wait_until_answered()  # the sandbox, like WeCom, finishes the calls whose answers were lost
    made = len(group_calls(groups))
    assert made == 2
    assert all(t.msgid is None and t.claimed_at is not None and "may have" in (t.error or "")
               for t in tasks(groups).values())
    groups.clock.advance(minutes=1)
    run_sweep(groups)
    assert len(group_calls(groups)) == made  # never a second time
