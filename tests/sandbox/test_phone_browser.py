"""The phone sandbox in a real browser: headless Chromium (Debian's ``chromium``) driven by
Playwright. A newcomer's first minute: create a customer, follow, send a keyword, see the
reply. ``make test`` installs both; with ``CI=true`` a missing one fails the test."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from handlers.models import CallbackRecord
from web_world import open_phone_sandbox

GREETING = "欢迎关注!回复 奶粉 看看有什么"
REPLY = "奶粉在这里: 1 段 2 段 3 段"


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_a_customer_follows_sends_a_keyword_and_sees_the_reply(browser, stack, client, auth, make_token, tmp_path):
    from playwright.sync_api import expect

    manager = auth("manager")
    for rule in (
        {"match": "follow", "reply_kind": "text", "text": GREETING},
        {"match": "contains", "keyword": "奶粉", "reply_kind": "text", "text": REPLY},
    ):
        assert client.post("/api/reply-rules", json=rule, headers=manager).status_code == 201

    page = browser.new_page(viewport={"width": 375, "height": 740})
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    open_phone_sandbox(page, stack.url, make_token("admin"))
    expect(page.locator("#welcome")).to_be_visible()

    page.click("#new-customer")
    expect(page.locator("#status")).to_have_text(re.compile("未关注$"))
    expect(page.locator("#text")).to_be_disabled()

    page.click("#follow")
    account = page.locator(".msg.account:not(.typing) .bubble")
    expect(account.last).to_have_text(GREETING)
    expect(page.locator("#status")).to_have_text(re.compile("已关注$"))

    page.fill("#text", "请问有奶粉吗")
    page.press("#text", "Enter")
    expect(page.locator(".msg.me .bubble").last).to_have_text("请问有奶粉吗")
    expect(account.last).to_have_text(REPLY)
    expect(page.locator("#text")).to_have_value("")

    page.locator("#menu button", has_text="新品").click()
    expect(page.locator(".note span").last).to_contain_text("新品 New in")

    shot = tmp_path / "phone-sandbox.png"
    page.screenshot(path=str(shot))
    print(f"screenshot: {shot}")

    page.reload()  # the conversation is kept, and the customer still chosen
    expect(account).to_have_text([GREETING, REPLY])
    page.set_viewport_size({"width": 1280, "height": 800})
    page.screenshot(path=str(tmp_path / "phone-sandbox-desktop.png"))
    assert errors == []

    with stack.runtime.transaction() as db_session:
        kinds = list(db_session.scalars(select(CallbackRecord.kind).order_by(CallbackRecord.id)))
    assert kinds == ["follow", "text", "click"]  # each tap reached the real webhook


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_a_tap_while_another_customer_s_chat_loads_waits_for_that_customer(browser, stack, make_token):
    """Choosing a customer reads their chat first; until it is read the page showed the one chosen
    before with its buttons live, and a quick tap (取消关注) went to that one."""
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    open_phone_sandbox(page, stack.url, make_token("admin"))
    page.click("#new-customer")
    expect(page.locator("#follow")).to_be_enabled()
    first = page.locator("#customer").input_value()
    page.click("#follow")
    expect(page.locator("#status .on")).to_be_visible()
    page.click("#new-customer")
    expect(page.locator("#customer")).not_to_have_value(first)
    second = page.locator("#customer").input_value()
    expect(page.locator("#status .on")).to_have_count(0)  # the new one does not follow yet

    held = []
    page.route("**/sandbox/phone/api/conversation*", lambda route: held.append(route))  # the first one's chat, held back
    page.select_option("#customer", first)
    page.wait_for_timeout(300)
    assert len(held) == 1
    expect(page.locator("#follow")).to_be_disabled()  # no tap reaches the second customer meanwhile
    expect(page.locator("#send")).to_be_disabled()
    held[0].continue_()
    page.unroute("**/sandbox/phone/api/conversation*")
    expect(page.locator("#status .on")).to_be_visible()  # the first one, following
    expect(page.locator("#follow")).to_be_enabled()
    assert errors == []
    assert second != first


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_an_answer_that_comes_after_another_customer_is_chosen_stays_in_its_senders_chat(browser, stack, make_token):
    """A message goes, another customer is chosen before its answer is back: the answer does not
    land in the chat on screen nor take the choice back (it did: the next tap went to the sender),
    and 新顾客 waits for it."""
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    open_phone_sandbox(page, stack.url, make_token("admin"))
    people = {}
    for says in ("甲的第一句", "乙的第一句"):
        page.click("#new-customer")
        for earlier in people.values():
            expect(page.locator("#customer")).not_to_have_value(earlier)
        expect(page.locator("#follow")).to_be_enabled()
        people[says] = page.locator("#customer").input_value()
        page.click("#follow")
        expect(page.locator("#status .on")).to_be_visible()
        page.fill("#text", says)
        page.press("#text", "Enter")
        expect(page.locator("#send")).to_be_enabled()  # answered
    first, second = people["甲的第一句"], people["乙的第一句"]
    assert first != second
    page.select_option("#customer", first)
    expect(page.locator(".msg.me .bubble").last).to_have_text("甲的第一句")

    held = []
    page.route("**/sandbox/phone/api/send", lambda route: held.append(route))  # the first one's message, held back
    page.fill("#text", "甲的第二句")
    page.press("#text", "Enter")
    page.wait_for_timeout(300)
    assert len(held) == 1
    expect(page.locator("#new-customer")).to_be_disabled()  # while a message goes
    page.select_option("#customer", second)
    expect(page.locator(".msg.me .bubble").last).to_have_text("乙的第一句")
    held[0].continue_()
    page.unroute("**/sandbox/phone/api/send")
    expect(page.locator("#new-customer")).to_be_enabled()  # the answer is back
    expect(page.locator("#customer")).to_have_value(second)
    expect(page.locator(".msg.me .bubble").last).to_have_text("乙的第一句")
    expect(page.locator("#chat")).not_to_contain_text("甲的第二句")
    page.select_option("#customer", first)  # the sender's chat has it
    expect(page.locator(".msg.me .bubble").last).to_have_text("甲的第二句")
    assert errors == []
