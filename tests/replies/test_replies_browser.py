"""From the console alone, in headless Chromium: a manager creates a keyword rule, a follow
greeting and a menu with sub-buttons, publishes it, and the phone sandbox answers with the
rule, greets a follower, and opens the sub-buttons. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

from pathlib import Path

import pytest

from web_world import open_phone_sandbox

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_a_manager_sets_replies_and_the_menu_and_the_phone_uses_them(browser, stack, make_token):
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    console = browser.new_page(viewport={"width": 1366, "height": 900})
    console.set_default_timeout(15_000)
    errors: list[str] = []
    console.on("pageerror", lambda exc: errors.append(str(exc)))
    open_phone_sandbox(console, stack.url, make_token("admin"))  # signs in; the phone is an admin's page

    console.goto(f"{stack.url}/console/reply-rules")
    console.check("input[name=match][value=contains]")
    console.fill("#keyword", "奶粉")
    console.fill("#text", "奶粉在这里：1 段 2 段 3 段")
    console.click("#new-rule button[type=submit]")
    expect(console.locator(".flash")).to_contain_text("回复规则已创建")
    expect(console.locator("table")).to_contain_text("奶粉在这里")
    console.screenshot(path=str(ARTIFACTS / "console-reply-rules.png"), full_page=True)

    console.goto(f"{stack.url}/console/follow-greeting")
    console.fill("#text", "欢迎关注！回复「奶粉」看看")
    console.click("#greeting button[type=submit]")
    expect(console.locator(".flash")).to_contain_text("关注回复已保存")

    console.goto(f"{stack.url}/console/menu")
    console.fill("input[name=b2_name]", "会员")
    console.fill("input[name=b2_value]", "")
    console.fill("input[name=b2_s1_name]", "我的优惠券")
    console.fill("input[name=b2_s1_value]", "MY_COUPONS")
    console.fill("input[name=b2_s2_name]", "会员中心")
    console.select_option("select[name=b2_s2_kind]", "view")
    console.fill("input[name=b2_s2_value]", "https://shop.example.com/member")
    console.click("button[value=publish]")
    expect(console.locator(".flash")).to_contain_text("正在发布")
    stack.runtime.queue.run_pending()
    console.reload()
    expect(console.locator(".badge.published")).to_be_visible()
    console.screenshot(path=str(ARTIFACTS / "console-menu.png"), full_page=True)

    phone = browser.new_page(viewport={"width": 390, "height": 844})
    phone.set_default_timeout(15_000)
    phone.on("pageerror", lambda exc: errors.append(str(exc)))
    phone.goto(f"{stack.url}/sandbox/phone")  # pages of one browser share the session
    if phone.url.endswith("/login?next=/sandbox/phone"):
        open_phone_sandbox(phone, stack.url, make_token("admin"))
    phone.click("#new-customer")
    phone.click("#follow")
    account = phone.locator(".msg.account:not(.typing) .bubble")
    expect(account.last).to_have_text("欢迎关注！回复「奶粉」看看")
    phone.fill("#text", "有奶粉吗")
    phone.press("#text", "Enter")
    expect(account.last).to_have_text("奶粉在这里：1 段 2 段 3 段")
    phone.locator("#menu .slot > button", has_text="会员").click()
    expect(phone.locator("#menu .pop button", has_text="会员中心")).to_be_visible()
    phone.screenshot(path=str(ARTIFACTS / "phone-menu-open.png"))
    phone.locator("#menu .pop button", has_text="我的优惠券").click()
    expect(phone.locator(".note span").last).to_contain_text("我的优惠券")
    expect(account.last).to_contain_text("我的优惠券")
    phone.screenshot(path=str(ARTIFACTS / "phone-after-menu.png"))
    assert errors == []
