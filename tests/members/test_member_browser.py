"""Membership as people see it, in headless Chromium (issue 18's "must show"): a customer on the
phone sandbox follows, taps 会员 › 会员中心, opens the member page from the card the account
answers with, asks for a code, reads it in the phone's 短信, joins, checks in; a manager grants
points (``POST /api/members/<id>/points``); the customer exchanges them for a coupon in the
points mall, sees it on /c/coupons, and a guide redeems it on /m/redeem.

Only WeChat and SMS are played (by the sandbox, over HTTP, as in ``scrm demo``); the database,
the webhook and the pages are the real ones. Screenshots (390×844 phone, 1366×900 desk) go to
``test-artifacts/members/``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
from web_world import open_phone_sandbox

from coupon_world import make_template
from guide_world import create_guide, create_store
from platform_world import assert_no_sideways_scroll, screenshot
from guides.login_links import make_link

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "members"
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1366, "height": 900}
NUMBER = "13800138000"


def shot(page, name: str) -> None:  # noqa: ANN001
    screenshot(page, ARTIFACTS, name)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_a_phone_customer_joins_with_the_sms_code_checks_in_exchanges_and_a_guide_redeems_the_coupon(
        browser, stack, make_token):
    from playwright.sync_api import expect

    from scrm.customers import service as customers

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):  # only this run's pictures, to look at
        old.unlink()
    runtime, base = stack.runtime, stack.url
    manager = {"Authorization": f"Bearer {make_token('manager')}"}
    errors: list[str] = []
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    context.on("weberror", lambda error: errors.append(str(error.error)))

    # ---- the phone: follow, then 会员 › 会员中心 ----------------------------------------------------
    phone = context.new_page()
    open_phone_sandbox(phone, base, make_token("admin"))
    phone.click("#new-customer")
    phone.click("#follow")
    expect(phone.locator("#status")).to_contain_text("已关注")
    openid = phone.locator("#customer").input_value()
    phone.locator("#menu .slot > button", has_text="会员").click()
    expect(phone.locator("#menu .pop button", has_text="会员中心")).to_be_visible()
    shot(phone, "phone-01-menu")
    phone.locator("#menu .pop button", has_text="会员中心").click()
    card = phone.locator(".msg.account .bubble.news a.article").last
    expect(card).to_contain_text("会员")
    with context.expect_page() as opened:
        card.click()
    member = opened.value
    member.wait_for_load_state()
    assert member.url == base + "/c/member"  # signed in; the token left the address bar
    expect(member.locator("#join")).to_be_visible()
    assert_no_sideways_scroll(member)
    shot(member, "member-01-join")

    # ---- the code, read off the phone's 短信 ---------------------------------------------------------
    member.fill("#phone", NUMBER)
    member.click("#send-code")
    expect(member.locator("#phone")).to_have_value(NUMBER)
    phone.bring_to_front()  # the phone's tab comes back into view: its 短信 counts the new message
    expect(phone.locator("#sms-new")).to_have_text("1")
    phone.click("#sms")
    expect(phone.locator("#sms-new")).to_be_hidden()
    sms = phone.locator("#sms-list .sms").first
    expect(sms).to_contain_text(f"发给 {NUMBER}")
    expect(sms.locator(".code")).to_have_text(re.compile(r"^\d{6}$"))
    code = sms.locator(".code").text_content()
    assert code in sms.locator("p").text_content()  # the message as the phone shows it, with the code
    shot(phone, "phone-02-sms")

    member.bring_to_front()
    member.fill("#code", code)
    member.check("#agree")
    member.click("#join-button")
    expect(member.locator("#member-card")).to_be_visible()
    expect(member.locator("#level")).to_have_text("普通")
    assert_no_sideways_scroll(member)
    shot(member, "member-02-card")

    # ---- check in -------------------------------------------------------------------------------------
    member.click("#checkin-button")
    expect(member.locator("#checkin")).to_contain_text("今日已签到")
    expect(member.locator("#history")).to_contain_text("签到")
    checkin_points = runtime.config.members.checkin_points
    expect(member.locator("#points-available")).to_have_text(str(checkin_points))
    shot(member, "member-03-checked-in")

    # ---- a manager grants points; the mall has an item --------------------------------------------------
    with runtime.transaction() as db_session:
        customer_id = customers.lookup(db_session=db_session, channel="mp", external_id=openid).id
    granted = requests.post(f"{base}/api/members/{customer_id}/points", headers=manager, timeout=10,
                            json={"amount": 300, "reason": "浏览器测试赠送", "key": "browser-grant-1"})
    assert granted.status_code == 201, granted.text
    template_id = make_template(runtime, name="10元无门槛券", amount="10", min_spend=None)
    item = requests.post(f"{base}/api/points-mall/items", headers=manager, timeout=10,
                         json={"name": "10元无门槛券", "template_id": template_id, "points": 200, "per_member_limit": 5})
    assert item.status_code == 201, item.text
    item_id = item.json()["id"]

    # ---- the customer exchanges points for the coupon, and sees it on /c/coupons ---------------------------
    member.reload()
    expect(member.locator("#points-available")).to_have_text(str(checkin_points + 300))
    member.once("dialog", lambda dialog: dialog.accept())  # 确定用 200 积分兑换「10元无门槛券」吗？
    member.locator(f"#item-{item_id} button[type=submit]").click()
    expect(member.locator("#exchanged")).to_contain_text("兑换成功：10元无门槛券")
    expect(member.locator("#points-available")).to_have_text(str(checkin_points + 300 - 200))
    expect(member.locator("#history")).to_contain_text("兑换")
    shot(member, "member-04-exchanged")
    member.locator("#exchanged a", has_text="我的优惠券").click()
    expect(member).to_have_url(base + "/c/coupons")
    coupon = member.locator(".coupon", has_text="10元无门槛券").first
    expect(coupon).to_contain_text("可使用")
    coupon_code = re.search(r"[A-Z0-9]{4}(?:-[A-Z0-9]{4})+", coupon.text_content())[0]
    shot(member, "member-05-my-coupons")

    # ---- a guide redeems it at the counter -----------------------------------------------------------------
    create_store(runtime)
    create_guide(runtime, "G1", name="王小美")
    guide = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)  # the guide's own phone
    guide.set_default_timeout(15_000)
    guide.on("weberror", lambda error: errors.append(str(error.error)))
    counter = guide.new_page()
    with runtime.transaction() as db_session:
        counter.goto(make_link(runtime=runtime, db_session=db_session, guide_code="G1"))
    counter.goto(base + "/m/redeem")
    counter.fill("#code", coupon_code)
    counter.get_by_role("button", name="查看").click()
    expect(counter.locator("#coupon")).to_contain_text("10元无门槛券")
    counter.get_by_role("button", name="确认核销").click()
    expect(counter.locator("#verdict.ok")).to_contain_text("核销成功")
    shot(counter, "guide-01-redeemed")
    member.reload()
    expect(member.locator(".coupon", has_text="10元无门槛券").first).to_contain_text("已使用")

    # ---- the phone sandbox at a desk's width --------------------------------------------------------------
    phone.set_viewport_size(DESK)
    phone.reload()
    phone.click("#sms")
    expect(phone.locator("#sms-list .sms").first).to_contain_text(code)
    shot(phone, "desk-01-phone-sandbox-sms")
    guide.close()
    context.close()
    assert errors == []
