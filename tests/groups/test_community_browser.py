"""Community operations (社群运营, issue 17) as a person sees them, in headless Chromium: a manager
creates a live code (群活码) over two synced groups and sees its page with the QR; creates a group
SOP over the code's groups; a new customer in the phone sandbox scans the code and joins a
group; then 社群数据 shows the join on the day and for the code, and so does the code's page.

The app runs as ``scrm demo`` runs it on the embedded backend: the in-process worker (the
``change_external_chat`` callbacks' re-reads of the group) and the scheduler (the SOP's steps).
Only the clock is the test's, stopped at a Monday 10:00 in Shanghai. Screenshots (1366×900
console, 390×844 phone) go to ``test-artifacts/community/``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from web_world import console_sign_in, demo_processes, reload_until

from scrm.sandbox import world

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "community"
START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Shanghai
TODAY = "2026-11-02"
DESK = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
GROUPS = (("wrCommunity01", "zhangsan", "静安店宝妈群"), ("wrCommunity02", "lisi", "三里屯育儿交流群"))
CODE_NAME = "宝妈福利群活码"
SOP_NAME = "新群七天SOP"


@pytest.fixture
def running(stack):  # noqa: ANN001, ANN201
    """The worker and the scheduler of ``scrm demo`` (scrm/serving.py), on a stopped clock."""
    with demo_processes(stack.runtime, START, "community"):
        yield stack.runtime


def shot(page, name: str) -> None:  # noqa: ANN001
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_a_live_code_and_an_sop_from_the_console_a_phone_customer_joins_and_the_statistics_show_it(
        browser, stack, running, make_token):
    from playwright.sync_api import expect

    from scrm.groups.sync import sync_groups

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):  # only this run's pictures, to look at
        old.unlink()
    base = stack.url
    for chat_id, owner, name in GROUPS:  # groups of 40 days ago (before 社群数据's 30 days), read by the sync
        world.add_group_chat(running.redis, chat_id, owner=owner, name=name,
                             external_userids=[f"wm{chat_id}Old{n}" for n in range(3)], at=START - timedelta(days=40))
    assert sync_groups() == len(GROUPS)
    errors: list[str] = []
    context = browser.new_context(viewport=DESK)  # one browser: the console and the phone share the sign-in
    context.set_default_timeout(15_000)
    console = context.new_page()
    console.on("pageerror", lambda exc: errors.append(str(exc)))
    console_sign_in(console, base, make_token("admin"), "/console/group-codes")
    shot(console, "desk-01-group-codes-empty")

    # ---- the live code, from the form; its page with the QR -------------------------------------
    console.goto(f"{base}/console/group-codes/new")
    console.fill("#name", CODE_NAME)
    console.fill("#member_limit", "200")
    for _, _, name in GROUPS:
        console.get_by_label(name, exact=True).check()
    shot(console, "desk-02-group-code-form")
    console.click("#save")
    console.wait_for_url(f"{base}/console/group-codes/*")
    code_id = int(console.url.split("?")[0].rstrip("/").rsplit("/", 1)[1])
    expect(console.locator("h1")).to_contain_text(CODE_NAME)
    expect(console.locator("#limit")).to_have_text("200")
    expect(console.locator("#on-code")).to_contain_text(GROUPS[0][2])
    expect(console.locator("#on-code")).to_contain_text(GROUPS[1][2])
    expect(console.locator("#today")).to_have_text("0")
    first = console.locator("#on-code tbody tr td a").first.text_content()  # who scans goes here: it has room
    first_chat = next(chat_id for chat_id, _, name in GROUPS if name == first)
    qr = console.locator("#qr")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0"), "the code's QR image did not load"
    shot(console, "desk-03-group-code-page")

    # ---- the SOP over the code's groups ----------------------------------------------------------
    console.goto(f"{base}/console/group-sops/new")
    console.fill("#name", SOP_NAME)
    console.select_option("#selector_kind", "code")
    console.fill("#selector_value", CODE_NAME)
    for index, (day, at, text) in enumerate(((0, "10:00", "欢迎新朋友！"), (3, "20:00", "育儿小课堂开讲啦"))):
        console.fill(f"[name=step-{index}-n]", str(day))
        console.fill(f"[name=step-{index}-time]", at)
        console.fill(f"#step-{index}-text", text)
    shot(console, "desk-04-group-sop-form")
    console.click("#save")
    console.wait_for_url(f"{base}/console/group-sops/*")
    expect(console.locator("h1")).to_contain_text(SOP_NAME)
    expect(console.locator(".facts")).to_contain_text("2 个群")
    expect(console.locator("#steps li")).to_have_count(2)
    expect(console.locator("#steps")).to_contain_text("育儿小课堂开讲啦")
    shot(console, "desk-05-group-sop-page")

    # ---- a new customer scans the code on the phone and joins -------------------------------------
    phone = context.new_page()
    phone.set_viewport_size(PHONE)
    phone.on("pageerror", lambda exc: errors.append(str(exc)))
    phone.goto(f"{base}/sandbox/phone")
    expect(phone.locator("#new-customer")).to_be_enabled()
    phone.click("#new-customer")
    expect(phone.locator("#scan-group")).to_be_enabled()
    phone.click("#scan-group")
    way = phone.locator("#join-way option", has_text=CODE_NAME)
    expect(way).to_have_count(1)  # the code's join way, by its remark (the code's name)
    phone.select_option("#join-way", way.get_attribute("value"))
    phone.click("#join-group")
    expect(phone.locator(".note span").last).to_have_text(f"你已加入群「{first}」")  # the code's first group
    expect(phone.locator(f'#group-list .group[data-chat-id="{first_chat}"]')).to_contain_text("5 人")
    shot(phone, "phone-01-joined-through-the-code")

    # ---- 社群数据 and the code's page show the join ------------------------------------------------
    console.goto(f"{base}/console/group-stats")
    reload_until(console, f'#days tr[data-day="{TODAY}"] .joined', "1")  # the worker re-reads the group
    expect(console.locator(f'#days tr[data-day="{TODAY}"] .joined')).to_have_text("1")
    expect(console.locator("#t-joined b")).to_have_text("1")
    expect(console.locator(f'#groups tr[data-chat="{first_chat}"] .joined')).to_have_text("1")
    shot(console, "desk-06-group-stats")
    console.goto(f"{base}/console/group-codes/{code_id}")
    expect(console.locator("#today")).to_have_text("1")
    expect(console.locator("#week")).to_have_text("1")
    expect(console.locator("#joined")).to_have_text("1")
    shot(console, "desk-07-group-code-page-with-the-join")
    assert errors == []

    console.goto(f"{base}/console/group-stats")
    row = console.locator(f'#codes tr[data-code="{code_id}"]')
    expect(row).to_contain_text(CODE_NAME)
    expect(row.locator(".joined")).to_have_text("1")
