"""The guide's WeCom tasks page in a real browser at phone size: the home page says a task
waits, the guide opens it, sees what it says and who gets it, sends it "in WeCom" (the sandbox),
taps "check now" and finds it under sent."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from campaign_world import fire, make_campaign, wecom_customer
from platform_world import reconfigure
from guide_world import create_guide, create_store
from guides.login_links import make_link
from scrm.outreach import sender
from scrm.outreach.models import Delivery, WecomTask
from scrm.sandbox import state

PHONE = {"width": 390, "height": 844}


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_a_guide_sees_a_pending_task_sends_it_and_sees_it_sent(browser, stack, tmp_path):
    from playwright.sync_api import expect

    runtime = stack.runtime
    reconfigure(runtime, {"outreach.quiet_hours": ""})  # whatever the hour the test runs at
    create_store(runtime)
    create_guide(runtime, "G1", name="王小美")
    for name in ("韩梅梅", "李雷"):
        wecom_customer(runtime, name, "G1")
    run_id = fire(runtime, make_campaign(runtime, name="会员日", channel="work_single",
                                         content={"kind": "text", "text": "周末会员日 全场8折"}))
    with runtime.transaction() as db_session:
        ids = list(db_session.scalars(select(Delivery.id).where(Delivery.run_id == run_id)))
    assert sender.send_deliveries(ids) == {"sent": 2}
    with runtime.transaction() as db_session:
        link = make_link(runtime=runtime, db_session=db_session, guide_code="G1")

    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(link)
    expect(page.locator("#to-send")).to_have_text("1 条待发送")
    page.locator("#tasks-link").click()
    task = page.locator("#pending .task")
    expect(task).to_have_count(1)
    expect(task.locator(".campaign")).to_have_text("会员日")
    expect(task.locator(".says")).to_have_text("周末会员日 全场8折")
    expect(task.locator(".targets")).to_have_text("2 位客户")
    task.get_by_text("发给谁").click()
    expect(task.locator(".names li")).to_have_text(["韩梅梅", "李雷"])
    page.screenshot(path=str(tmp_path / "guide-tasks.png"), full_page=True)

    with runtime.transaction() as db_session:
        msgid = db_session.scalar(select(WecomTask.msgid))
    state.send_msg_task(runtime.redis, msgid, userid="member-g1")  # the guide sends it in WeCom
    page.get_by_role("button", name="我已发送，刷新").click()
    expect(page.locator("#checking")).to_be_visible()
    runtime.queue.run_pending()  # the check, as a worker would
    page.reload()
    expect(page.locator("#none-pending")).to_be_visible()
    expect(page.locator("#sent .task")).to_have_count(1)
    expect(page.locator("#sent .badge.sent")).to_contain_text("已发送")
    page.screenshot(path=str(tmp_path / "guide-tasks-sent.png"), full_page=True)
    assert errors == []
    context.close()
