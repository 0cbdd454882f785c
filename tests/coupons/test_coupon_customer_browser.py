"""The customer's coupon page in a real browser (Debian's chromium, driven by Playwright) on a
phone-sized screen: a customer on the phone sandbox taps "我的优惠券 My coupons" in the
account's menu, opens the card it answers with, and sees their coupon with a QR code. The QR
is checked by decoding a screenshot of it (zxing-cpp), as the guide's scanner would read it."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from PIL import Image

from coupon_world import issue, make_template
from scrm.coupons import redemption
from web_world import open_phone_sandbox

PHONE = {"width": 390, "height": 844}
IMAGE_LOADED = "sel => { const i = document.querySelector(sel); return !!i && i.complete && i.naturalWidth > 0; }"


def decoded(element) -> list[str]:  # noqa: ANN001
    """What a scanner reads in the element as the screen shows it."""
    shot = Image.open(io.BytesIO(element.screenshot()))
    return [found.text for found in zxingcpp.read_barcodes(shot)]


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_the_customer_opens_my_coupons_from_the_menu_and_its_qr_decodes_to_the_code(browser, stack, make_token, tmp_path):
    from playwright.sync_api import expect

    from scrm.customers import service as customers

    runtime = stack.runtime
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    errors: list[str] = []
    context.on("weberror", lambda error: errors.append(str(error.error)))

    phone = context.new_page()
    open_phone_sandbox(phone, stack.url, make_token("admin"))
    phone.click("#new-customer")
    expect(phone.locator("#status")).to_contain_text("未关注")
    openid = phone.locator("#customer").input_value()
    phone.click("#follow")
    expect(phone.locator("#status")).to_contain_text("已关注")

    with runtime.transaction() as db_session:
        customer_id = customers.lookup(db_session=db_session, channel="mp", external_id=openid).id
    template = make_template(runtime, name="满100减20", amount="20", min_spend="100", valid_days=30)
    coupon = issue(runtime, template, customer_id)
    used = issue(runtime, make_template(runtime, name="赠品券", kind="gift", gift="试用装", amount=None,
                                        min_spend=None), customer_id)
    with runtime.transaction() as db_session:
        counter = redemption.Counter(user_id=None, store_id=None)
        assert redemption.redeem(runtime=runtime, db_session=db_session, code=used.code, counter=counter).result == "ok"

    phone.locator("#menu button", has_text="我的优惠券").click()
    card = phone.locator(".msg.account .bubble.news a.article").last
    expect(card).to_contain_text("我的优惠券")
    with context.expect_page() as opened:
        card.click()
    page = opened.value
    page.wait_for_load_state()
    assert page.url == stack.url + "/c/coupons"  # signed in; the token left the address bar

    shown = page.locator(f"#coupon-{coupon.id}")
    expect(shown).to_contain_text(coupon.code)
    expect(shown).to_contain_text("满100减20")
    expect(shown).to_contain_text("可使用")
    page.wait_for_function(IMAGE_LOADED, arg=f"#coupon-{coupon.id} .qr img")
    qr = shown.locator(".qr img")
    box = qr.bounding_box()
    assert box["width"] >= 250 and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]  # large, on screen
    assert decoded(qr) == [coupon.code.replace("-", "")]

    ended = page.locator(f"#coupon-{used.id}")
    expect(ended).to_contain_text("已使用")
    expect(ended.locator(".qr")).to_have_count(0)  # a used coupon shows no QR
    page.screenshot(path=str(tmp_path / "my-coupons.png"), full_page=True)

    qr.click()  # the counter view: the QR as large as the screen
    expect(page).to_have_url(f"{stack.url}/c/coupons/{coupon.id}")
    page.wait_for_function(IMAGE_LOADED, arg=".coupon.big .qr img")
    big = page.locator(".coupon.big .qr img")
    box = big.bounding_box()
    assert box["width"] >= 320 and box["x"] + box["width"] <= PHONE["width"]
    assert decoded(big) == [coupon.code.replace("-", "")]
    page.screenshot(path=str(tmp_path / "coupon-counter.png"))
    context.close()
    assert errors == []
