"""The claim page /p/<code> in a real browser (Debian's chromium, driven by Playwright) on
phones 360 and 390 px wide: every state a customer can meet (unclaimed, claimed for a coupon,
for points, points kept until joining, claimed by someone else, not genuine, ended, the follow
page, the daily limit, no reward left), each with nothing scrolling sideways and the 领取
button a thumb can hit. The follow page's QR, read from a screenshot as a phone reads it, is
the code WeChat made for the product code. Screenshots go to ``test-artifacts/products/``."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from coupon_world import issue, make_customer, make_template
from member_world import make_member
from platform_world import assert_no_sideways_scroll, screenshot
from product_world import claim, code_of, make_batch
from scrm.clock import FrozenClock, local_day
from scrm.coupons.links import coupons_link
from scrm.sandbox import state, world

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "products"
WIDTHS = (360, 390)
STRANGER = "oProductBrowserStranger00001"


@pytest.fixture
def config_overrides():
    return {"products.daily_claims": 2}


def shoot(page, name: str) -> None:  # noqa: ANN001
    """The page at each phone width: a screenshot, and nothing wider than the screen."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 780})
        assert_no_sideways_scroll(page, f"{name} at {width}")
        screenshot(page, ARTIFACTS, f"{name}-{width}")


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_every_state_of_the_claim_page_on_a_phone(browser, stack):  # noqa: ANN001
    from playwright.sync_api import expect

    runtime = stack.runtime
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    gift = make_template(runtime, name="英氏到店礼", kind="gift", gift="米粉试用装", amount=None, min_spend=None)
    coupons = make_batch(runtime, reward={"coupon_template_id": gift})
    points = make_batch(runtime, product="英氏婴幼儿有机米饼（原味）", sku="YS-MB-02", reward={"points": 50},
                        valid_until=local_day(runtime.config, runtime.clock.now()).isoformat())
    amy, member, newcomer = make_customer(runtime, nickname="Amy"), make_member(runtime), make_customer(runtime)
    context = browser.new_context(viewport={"width": 390, "height": 780}, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    errors: list[str] = []
    context.on("weberror", lambda error: errors.append(str(error.error)))

    page = context.new_page()
    page.goto(coupons_link(runtime, amy))
    page.goto(f"{stack.url}/p/{code_of(runtime, coupons, 1)}")
    expect(page.locator("#reward")).to_have_text("英氏到店礼（赠 米粉试用装）")
    button = page.locator("#claim-button").bounding_box()
    assert button["height"] >= 44 and button["width"] >= 300
    shoot(page, "unclaimed")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.screenshot(path=str(ARTIFACTS / "unclaimed-1366.png"), full_page=True)
    page.click("#claim-button")
    expect(page.locator("#state-title")).to_have_text("领取成功")
    shoot(page, "claimed-coupon")
    page.click("#open-reward")
    expect(page.locator("body")).to_contain_text("英氏到店礼")  # the coupon page, with its QR

    page.goto(f"{stack.url}/p/{code_of(runtime, coupons, 1)}")  # scanned again later
    expect(page.locator("#state-title")).to_have_text("已领取")

    claim(runtime, coupons, 2, member)  # someone else's
    page.goto(f"{stack.url}/p/{code_of(runtime, coupons, 2)}")
    expect(page.locator("#warning")).to_contain_text("商品可能已被使用或为仿冒品")
    shoot(page, "claimed-by-other")

    bad = code_of(runtime, coupons, 3)
    page.goto(f"{stack.url}/p/{bad[:-1]}{'a' if bad[-1] != 'a' else 'b'}")
    expect(page.locator("#state-title")).to_have_text("不是正品码")
    shoot(page, "not-genuine")

    page.goto(coupons_link(runtime, member))
    page.goto(f"{stack.url}/p/{code_of(runtime, points, 1)}")
    page.click("#claim-button")
    expect(page.locator("#what")).to_have_text("50 积分已到账")
    shoot(page, "claimed-points")
    page.goto(f"{stack.url}/p/{code_of(runtime, coupons, 5)}")
    page.click("#claim-button")  # the member's third today (coupon 2, rice cake 1): over products.daily_claims
    expect(page.locator("#message")).to_have_text("今天已领取 2 次，请明天再来")
    shoot(page, "daily-limit")

    page.goto(coupons_link(runtime, newcomer))
    page.goto(f"{stack.url}/p/{code_of(runtime, points, 2)}")
    page.click("#claim-button")
    expect(page.locator("#what")).to_have_text("50 积分已为你保留，加入会员后到账")
    shoot(page, "pending-points")

    scarce = make_template(runtime, name="限量礼", stock=1)
    issue(runtime, scarce, amy)
    gone = make_batch(runtime, reward={"coupon_template_id": scarce})
    page.goto(f"{stack.url}/p/{code_of(runtime, gone, 1)}")
    page.click("#claim-button")
    expect(page.locator("#state-title")).to_have_text("奖品已领完")
    shoot(page, "reward-unavailable")

    world.add_follower(runtime.redis, STRANGER)
    world.unfollow(runtime.redis, STRANGER)
    stranger = context.browser.new_context(viewport={"width": 390, "height": 780}, is_mobile=True, has_touch=True,
                                           locale="zh-CN")
    phone = stranger.new_page()
    code = code_of(runtime, coupons, 6)
    phone.goto(f"{stack.url}/p/{code}")  # the sandbox plays WeChat's silent sign-in
    phone.fill("#openid", STRANGER)
    phone.click("button[type=submit]")
    expect(phone.locator("#scan")).to_have_text("长按识别二维码关注公众号，关注后自动领取")
    phone.wait_for_function("() => document.querySelector('#follow-qr').naturalWidth > 0")
    shot = Image.open(io.BytesIO(phone.locator("#follow-qr").screenshot()))
    [read] = [found.text for found in zxingcpp.read_barcodes(shot)]
    [made] = state.list_calls(runtime.redis, channel="mp", api="qrcode/create")
    assert made["body"]["action_info"]["scene"]["scene_str"] == f"pc_{code}"
    assert read.startswith(stack.url + "/sandbox/wechat/mp/q/")
    box = phone.locator("#follow-qr").bounding_box()
    assert box["width"] >= 200
    shoot(phone, "follow")
    phone.set_viewport_size({"width": 1366, "height": 900})
    phone.screenshot(path=str(ARTIFACTS / "follow-1366.png"), full_page=True)
    stranger.close()

    runtime.clock = FrozenClock(runtime.clock.now() + timedelta(days=2))  # the rice-cake batch has ended
    page.goto(f"{stack.url}/p/{code_of(runtime, points, 3)}")
    expect(page.locator("#state-title")).to_have_text("活动已结束")
    shoot(page, "expired")
    context.close()
    assert errors == []
