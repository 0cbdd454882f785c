"""The guide's phone pages in a real browser (Debian's chromium, driven by Playwright), next to
the phone sandbox: the guide signs in by link and shows their code; a customer scans it on the
phone sandbox; the guide finds them in "my customers" with the binding on their timeline."""

from __future__ import annotations

import pytest

from guide_world import create_guide, create_store
from guides.login_links import make_link
from web_world import open_phone_sandbox

PHONE = {"width": 390, "height": 844}
IMAGE_LOADED = "sel => { const i = document.querySelector(sel); return !!i && i.complete && i.naturalWidth > 0; }"


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_a_guide_shows_their_code_and_finds_the_customer_who_scanned_it(browser, stack, make_token, tmp_path):
    from playwright.sync_api import expect

    runtime = stack.runtime
    create_store(runtime)
    guide = create_guide(runtime, "G1", name="王小美")
    with runtime.transaction() as db_session:
        link = make_link(runtime=runtime, db_session=db_session, guide_code="G1")
    assert link.startswith(stack.url)

    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(link)
    expect(page.locator("header h1")).to_contain_text("王小美")
    expect(page.locator("#n-customers b")).to_have_text("0")

    page.get_by_role("link", name="我的码").click()
    expect(page).to_have_url(stack.url + "/m/code")
    page.wait_for_function(IMAGE_LOADED, arg="#code-mp img")
    assert page.locator("#code-mp a[download]").get_attribute("href") == "/m/guides/G1/qrcode.png?channel=mp"
    page.screenshot(path=str(tmp_path / "guide-code.png"))

    # The customer's WeChat: the phone sandbox, in its own browser (it needs an admin's session,
    # and one browser holds one session for the site: the guide's here).
    phone_context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    phone_context.set_default_timeout(15_000)
    phone = phone_context.new_page()
    phone.on("pageerror", lambda exc: errors.append(str(exc)))
    open_phone_sandbox(phone, stack.url, make_token("admin"))
    phone.click("#new-customer")
    expect(phone.locator("#status")).to_contain_text("未关注")
    who = phone.locator("#customer").input_value()
    nickname = phone.locator("#status b").inner_text()
    phone.click("#scan")
    phone.fill("#scene", guide.mp_scene)
    phone.press("#scene", "Enter")
    expect(phone.locator(".msg.account .bubble.news").last).to_contain_text("王小美")
    expect(phone.locator("#status")).to_contain_text("已关注")
    runtime.queue.run_pending()  # the new follower's profile (nickname), as a worker would

    page.bring_to_front()
    page.get_by_role("link", name="我的客户").click()
    expect(page.locator("#customers li")).to_have_count(1)
    page.fill("#q", who)
    page.press("#q", "Enter")
    listed = page.locator("#customers li")
    expect(listed).to_have_count(1)
    expect(listed.locator(".name")).to_have_text(nickname)

    listed.locator("a").click()
    expect(page.locator("#profile")).to_contain_text(nickname)
    expect(page.locator("#timeline")).to_contain_text("绑定导购")
    expect(page.locator("#timeline")).to_contain_text("王小美 (G1)")
    page.screenshot(path=str(tmp_path / "guide-customer.png"), full_page=True)

    page.get_by_role("link", name="首页").click()
    expect(page.locator("#n-customers b")).to_have_text("1")
    page.screenshot(path=str(tmp_path / "guide-home.png"))
    context.close()
    phone_context.close()

    stranger = browser.new_context(viewport=PHONE, is_mobile=True)  # a customer: no session
    card = stranger.new_page()
    card.on("pageerror", lambda exc: errors.append(str(exc)))
    card.goto(stack.url + "/card/G1")
    expect(card.locator("#card")).to_contain_text("上海静安店")
    card.wait_for_function(IMAGE_LOADED, arg=".qr img")
    card.screenshot(path=str(tmp_path / "guide-card.png"))
    stranger.close()
    assert errors == []
