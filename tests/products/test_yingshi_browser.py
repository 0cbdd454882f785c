"""The 英氏 flow as people see it, in headless Chromium (issue 19's "must show"): a customer on the
phone sandbox scans a guide's code and follows, buys (the brand's ERP posts ``POST /api/orders``),
scans the code on the package with the phone's 扫商品码, and the claim page opens in WeChat's
browser signed in as them; they tap 领取, find the gift coupon 英氏到店礼 on /c/coupons, and the
guide who sold it redeems it on /m/redeem. The claim credits that guide and renews the binding.

Only WeChat is played (by the sandbox, over HTTP, as in ``scrm demo``); the database, the webhook
and the pages are the real ones. Screenshots (390×844 phone; the claim page at 360 too; the
phone sandbox at 1366×900) go to ``test-artifacts/products/``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
from sqlalchemy import select
from web_world import open_phone_sandbox

from coupon_world import make_template
from guide_world import create_guide, create_store
from platform_world import assert_no_sideways_scroll, screenshot
from guides.binding import current_binding
from guides.login_links import make_link
from product_world import code_of, make_batch
from scrm.coupons.models import Coupon
from scrm.customers import service as customers
from scrm.products.models import ProductClaim

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "products"
PHONE = {"width": 390, "height": 844}
NARROW = {"width": 360, "height": 740}
DESK = {"width": 1366, "height": 900}
SERIAL = 42
GIFT = "英氏到店礼"


def shot(page, name: str) -> None:  # noqa: ANN001
    screenshot(page, ARTIFACTS, f"yingshi-{name}")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_a_customer_follows_a_guide_buys_scans_the_package_claims_the_gift_and_the_guide_redeems_it(
        browser, stack, make_token):
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("yingshi-*.png"):  # only this run's pictures, to look at
        old.unlink()
    runtime, base = stack.runtime, stack.url
    create_store(runtime, "S1", "上海静安店")
    guide = create_guide(runtime, "G1", store="S1", name="王小美")
    gift = make_template(runtime, name=GIFT, amount="20", min_spend="99", stores=["S1"])
    batch = make_batch(runtime, quantity=2000, reward={"coupon_template_id": gift}, store_code="S1")
    code = code_of(runtime, batch, SERIAL)
    errors: list[str] = []
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    context.on("weberror", lambda error: errors.append(str(error.error)))

    # ---- the phone: a new customer scans the guide's code in the store, and follows ------------------
    phone = context.new_page()
    open_phone_sandbox(phone, base, make_token("admin"))
    phone.click("#new-customer")
    phone.click("#scan")
    phone.fill("#scene", guide.mp_scene)
    phone.click("#scan-form button[type=submit]")
    expect(phone.locator("#status")).to_contain_text("已关注")
    expect(phone.locator(".note span").last).to_contain_text("并关注")
    openid = phone.locator("#customer").input_value()
    shot(phone, "01-phone-followed-the-guide")
    with runtime.transaction() as db_session:
        customer_id = customers.lookup(db_session=db_session, channel="mp", external_id=openid).id
        bound = current_binding(db_session=db_session, customer_id=customer_id)
        assert bound.guide_id == guide.id
        protected_before = bound.protected_until

    # ---- the purchase, posted by the brand's ERP --------------------------------------------------------
    manager = {"Authorization": f"Bearer {make_token('manager')}"}
    order = requests.post(f"{base}/api/orders", headers=manager, timeout=10, json={
        "order_no": "YS-20261207-0001", "amount": "128.00", "customer": {"openid": openid}, "guide_code": "G1",
        "ordered_at": runtime.clock.now().isoformat()})
    assert order.status_code == 201, order.text

    # ---- 扫商品码: the package's code opens the claim page in WeChat's browser, signed in ----------------
    phone.click("#scan-product")
    expect(phone.locator(f"#product-batch option[value='{batch.id}']")).to_be_attached()
    phone.select_option("#product-batch", str(batch.id))
    phone.fill("#product-serial", str(SERIAL))
    assert_no_sideways_scroll(phone)
    shot(phone, "02-phone-scan-product")
    with context.expect_page() as opened:
        phone.click("#open-product")
    claim = opened.value
    # Through the sandbox's WeChat sign-in, which asked nothing (a browser keeps the authorize
    # URL's #wechat_redirect across the redirects; WeChat's own browser drops it).
    claim.wait_for_url(re.compile(rf"{re.escape(base)}/p/{code}(#wechat_redirect)?$"))
    claim_button = claim.locator("#claim-button")
    expect(claim_button).to_be_visible()
    expect(claim.locator("body")).to_contain_text(batch.product)
    expect(claim.locator("body")).to_contain_text(GIFT)
    assert_no_sideways_scroll(claim)
    shot(claim, "03-claim-page")
    claim.set_viewport_size(NARROW)
    assert_no_sideways_scroll(claim)
    shot(claim, "03b-claim-page-360")
    claim.set_viewport_size(PHONE)
    expect(phone.locator(".note.link span").last).to_contain_text(f"{batch.product} 第 {SERIAL} 号")

    # ---- 领取 -------------------------------------------------------------------------------------------
    claim_button.click()
    expect(claim.locator("#state-title")).to_have_text("领取成功")
    assert_no_sideways_scroll(claim)
    shot(claim, "04-claimed")
    with runtime.transaction() as db_session:
        claimed = db_session.scalar(select(ProductClaim).where(ProductClaim.batch_id == batch.id,
                                                               ProductClaim.serial == SERIAL))
        assert (claimed.customer_id, claimed.guide_id, claimed.attribution) == (customer_id, guide.id, "bound")
        coupon = db_session.get(Coupon, claimed.coupon_id)
        assert (coupon.template_id, coupon.status, coupon.customer_id) == (gift, "issued", customer_id)
        renewed = current_binding(db_session=db_session, customer_id=customer_id)
        assert renewed.guide_id == guide.id and renewed.protected_until >= protected_before

    # ---- the gift on the customer's coupons ---------------------------------------------------------------
    claim.goto(base + "/c/coupons")
    card = claim.locator(".coupon", has_text=GIFT).first
    expect(card).to_contain_text("可使用")
    coupon_code = re.search(r"[A-Z0-9]{4}(?:-[A-Z0-9]{4})+", card.text_content())[0]
    assert_no_sideways_scroll(claim)
    shot(claim, "05-my-coupons")

    # ---- the guide redeems it at the counter ---------------------------------------------------------------
    counter_context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)  # the guide's phone
    counter_context.set_default_timeout(15_000)
    counter_context.on("weberror", lambda error: errors.append(str(error.error)))
    counter = counter_context.new_page()
    with runtime.transaction() as db_session:
        counter.goto(make_link(runtime=runtime, db_session=db_session, guide_code="G1"))
    counter.goto(base + "/m/redeem")
    counter.fill("#code", coupon_code)
    counter.get_by_role("button", name="查看").click()
    expect(counter.locator("#coupon")).to_contain_text(GIFT)
    shot(counter, "06-guide-sees-the-gift")
    counter.get_by_role("button", name="确认核销").click()
    expect(counter.locator("#verdict.ok")).to_contain_text("核销成功")
    shot(counter, "07-guide-redeemed")
    claim.reload()
    expect(claim.locator(".coupon", has_text=GIFT).first).to_contain_text("已使用")
    with runtime.transaction() as db_session:
        used = db_session.get(Coupon, claimed.coupon_id)
        assert (used.status, used.redeemed_guide_id) == ("redeemed", guide.id)

    # ---- scanned again: already theirs; the phone sandbox at a desk's width ------------------------------------
    phone.bring_to_front()
    with context.expect_page() as again:
        phone.locator(".note.link a").last.click()
    again.value.wait_for_url(re.compile(rf"{re.escape(base)}/p/{code}$"))  # signed in already: no sign-in
    expect(again.value.locator("#state-title")).to_have_text("已领取")
    phone.set_viewport_size(DESK)
    shot(phone, "08-desk-phone-sandbox")
    counter_context.close()
    context.close()
    assert errors == []
