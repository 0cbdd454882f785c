"""The member page in a real browser (Debian's chromium, driven by Playwright) on a phone: a
customer opens the account's member link, asks for a code (the button counts down), types the
code the sandbox's SMS delivered, joins, sees the card whose QR (read from a screenshot, as
the guide's scanner reads it) names them, checks in and exchanges points for a coupon after
confirming. Nothing scrolls sideways at 360 px. Screenshots (390 px and 1366 px) go to
``test-artifacts/member-page/``."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from coupon_world import make_customer, make_template
from member_world import grant
from platform_world import assert_no_sideways_scroll
from scrm.members.links import member_link
from scrm.members.member_qr import read_member_qr
from scrm.members.models import MallItem
from scrm.sandbox.sms_api import messages_to

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "member-page"
PHONE = {"width": 390, "height": 844}
NARROW = {"width": 360, "height": 740}
DESKTOP = {"width": 1366, "height": 900}
IMAGE_LOADED = "sel => { const i = document.querySelector(sel); return !!i && i.complete && i.naturalWidth > 0; }"


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_a_customer_joins_checks_in_and_exchanges_on_the_member_page(browser, stack):  # noqa: ANN001
    from playwright.sync_api import expect

    runtime = stack.runtime
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    amy = make_customer(runtime, nickname="Amy")
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    errors: list[str] = []
    context.on("weberror", lambda error: errors.append(str(error.error)))
    page = context.new_page()
    page.goto(member_link(runtime, amy))
    assert page.url == stack.url + "/c/member"
    page.screenshot(path=str(ARTIFACTS / "join-390.png"), full_page=True)

    page.fill("#phone", "138 0013 8000")
    page.click("#send-code")
    expect(page.locator("#sms-status")).to_contain_text("验证码已发送至 138****8000")
    expect(page.locator("#send-code")).to_contain_text("秒后重发")
    expect(page.locator("#send-code")).to_be_disabled()
    code = re.search(r"验证码是(\d{6})", messages_to(runtime, "13800138000")[0].text).group(1)
    page.fill("#code", code)
    page.click("#join-button")
    expect(page.locator("#error")).to_contain_text("请先阅读并同意会员协议")  # the agreement is not ticked
    page.fill("#code", code)
    page.check("#agree")
    page.click("#join-button")
    expect(page.locator("#member-no")).to_have_text(re.compile(r"^[1-9]\d{11}$"))
    expect(page.locator("#level")).to_have_text("普通")

    page.wait_for_function(IMAGE_LOADED, arg="#member-qr")
    shot = Image.open(io.BytesIO(page.locator("#member-qr").screenshot()))
    [token] = [found.text for found in zxingcpp.read_barcodes(shot)]
    assert read_member_qr(runtime, token) == amy

    grant(runtime, amy, 100)
    template = make_template(runtime, name="满100减20券", valid_days=30)
    with runtime.transaction() as db_session:
        db_session.add(MallItem(name="满100减20券", description="全场通用", template_id=template, points=40, stock=10,
                                status="active", sort=0, created_at=runtime.clock.now(),
                                updated_at=runtime.clock.now()))
    page.reload()
    page.click("#checkin-button")
    expect(page.locator(".notice")).to_contain_text("签到成功，获得 5 积分")
    expect(page.locator("#points-available")).to_have_text("105")

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#mall form button").first.click()
    expect(page.locator("#exchanged")).to_contain_text("兑换成功：满100减20券")
    expect(page.locator("#points-available")).to_have_text("65")
    expect(page.locator("#history")).to_contain_text("兑换 满100减20券 使用")
    page.screenshot(path=str(ARTIFACTS / "card-390.png"), full_page=True)

    for size, name in ((NARROW, "card-360.png"), (DESKTOP, "card-1366.png")):
        page.set_viewport_size(size)
        page.reload()
        assert_no_sideways_scroll(page, name)
        page.screenshot(path=str(ARTIFACTS / name), full_page=True)
    assert errors == []
