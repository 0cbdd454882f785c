"""The phone sandbox in a real browser: headless Chromium (Debian's ``chromium``) driven by
Playwright. A newcomer's first minute: create a customer, follow, send a keyword, see the
reply. ``make test`` installs both; with ``CI=true`` a missing one fails the test."""

from __future__ import annotations

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
    expect(page.locator("#status")).to_contain_text("not following")
    expect(page.locator("#text")).to_be_disabled()

    page.click("#follow")
    account = page.locator(".msg.account:not(.typing) .bubble")
    expect(account.last).to_have_text(GREETING)
    expect(page.locator("#status")).to_contain_text("已关注 following")

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
