"""The guide's redeem page (核销 = redeem) in a real browser at phone size (Debian's chromium,
driven by Playwright): a typed code is checked, confirmed and redeemed once, a second phone
confirming the same coupon is refused; and a coupon QR held up to the camera is read. The
camera is chromium's fake capture device playing a .y4m video of the coupon's QR code, made
here from segno's image, so the page's own getUserMedia → canvas → jsQR path runs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from platform_world import CHROMIUM, CHROMIUM_ARGS, reconfigure, require_browser
from coupon_world import issue, make_customer, make_template
from guide_world import WECOM_USER_AGENT, create_guide, create_store, wecom_scanner
from guides import jssdk
from guides.login_links import make_link

PHONE = {"width": 390, "height": 844}
FRAME = (640, 480)


def _phone(browser, runtime, guide_code: str, errors: list[str], **options):  # noqa: ANN001, ANN003, ANN202
    """A signed-in guide's phone: a context of its own (its own session cookie)."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, **options)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    with runtime.transaction() as db_session:
        page.goto(make_link(runtime=runtime, db_session=db_session, guide_code=guide_code))
    return context, page


def _world(runtime):  # noqa: ANN001, ANN202
    create_store(runtime)
    create_guide(runtime, "G1", name="王小美")
    create_guide(runtime, "G2", name="韩梅梅")
    template = make_template(runtime, name="满100减20")
    return issue(runtime, template, make_customer(runtime, nickname="李雷", phone="13812345678"))


@pytest.mark.parametrize("backend", ["embedded", "real"], indirect=True)
def test_a_guide_redeems_a_typed_code_once_and_a_second_phone_is_refused(browser, stack, tmp_path):
    from playwright.sync_api import expect

    runtime, errors = stack.runtime, []
    coupon = _world(runtime)
    first, page = _phone(browser, runtime, "G1", errors)
    second, other = _phone(browser, runtime, "G2", errors)

    page.get_by_role("link", name="核销").click()
    expect(page).to_have_url(stack.url + "/m/redeem")
    expect(page.locator("#scan")).to_be_visible()  # a camera scanner is offered
    box = page.locator("#code").bounding_box()
    assert box["width"] >= 300 and box["height"] >= 44 and box["y"] < 200  # at the top, thumb-sized
    page.fill("#code", coupon.code.lower().replace("-", " "))
    page.get_by_role("button", name="查看").click()
    expect(page.locator("#coupon")).to_contain_text("减¥20")
    expect(page.locator("#customer")).to_contain_text("李雷")
    expect(page.locator("#customer .phone")).to_have_text("138****5678")
    assert page.locator("#confirm").bounding_box()["height"] >= 44
    page.screenshot(path=str(tmp_path / "redeem-check.png"), full_page=True)

    other.goto(stack.url + f"/m/redeem/check?code={coupon.code}")  # another guide, same coupon, same moment
    expect(other.locator("#confirm")).to_be_visible()

    page.get_by_role("button", name="确认核销").click()
    expect(page.locator("#verdict.ok")).to_contain_text("核销成功")
    expect(page.locator("#coupon")).to_contain_text(coupon.code)
    page.screenshot(path=str(tmp_path / "redeem-done.png"), full_page=True)

    other.get_by_role("button", name="确认核销").click()
    expect(other.locator("#verdict.no")).to_contain_text("已经核销过了")
    expect(other.locator("#verdict .when")).to_contain_text("王小美 (G1)")
    other.screenshot(path=str(tmp_path / "redeem-refused.png"), full_page=True)

    page.get_by_role("link", name="核销下一张").click()  # the first guide tries it again
    page.fill("#code", coupon.code)
    page.press("#code", "Enter")
    expect(page.locator("#verdict.no")).to_contain_text("已经核销过了")
    expect(page.locator("#confirm")).to_have_count(0)
    first.close()
    second.close()
    assert errors == []


def _qr_video(text: str, path: Path, frames: int = 8) -> Path:
    """The QR of ``text`` in the middle of a grey frame, as YUV4MPEG2 4:2:0 (planar Y, then Cb
    and Cr at half size in each direction): what chromium's fake camera plays, looping."""
    import segno
    from PIL import Image

    png = io.BytesIO()
    segno.make_qr(text, error="m").save(png, kind="png", scale=10, border=4)
    code = Image.open(io.BytesIO(png.getvalue())).convert("RGB")
    side = min(FRAME[1] - 60, code.width)
    frame = Image.new("RGB", FRAME, (200, 200, 200))
    frame.paste(code.resize((side, side), Image.NEAREST), ((FRAME[0] - side) // 2, (FRAME[1] - side) // 2))
    y, cb, cr = frame.convert("YCbCr").split()
    half = (FRAME[0] // 2, FRAME[1] // 2)
    body = y.tobytes() + cb.resize(half, Image.BOX).tobytes() + cr.resize(half, Image.BOX).tobytes()
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{FRAME[0]} H{FRAME[1]} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + body)
    return path


@pytest.fixture
def camera_browser(stack, tmp_path):  # noqa: ANN001, ANN201
    """A chromium whose camera shows the QR of the code put in ``camera_browser.code`` first."""
    require_browser()
    from playwright.sync_api import sync_playwright

    class Camera:
        def launch(self, code: str):  # noqa: ANN202
            video = _qr_video(code, tmp_path / "qr.y4m")
            args = [*CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                    f"--use-file-for-fake-video-capture={video}"]
            self.browser = self.playwright.chromium.launch(executable_path=CHROMIUM, args=args)
            return self.browser

    camera = Camera()
    with sync_playwright() as playwright:
        camera.playwright, camera.browser = playwright, None
        try:
            yield camera
        finally:
            if camera.browser is not None:
                camera.browser.close()


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_a_coupon_qr_held_to_the_camera_is_read_and_checked(camera_browser, stack, tmp_path):
    from playwright.sync_api import expect

    runtime, errors = stack.runtime, []
    coupon = _world(runtime)
    browser = camera_browser.launch(coupon.code)
    context, page = _phone(browser, runtime, "G1", errors)
    context.grant_permissions(["camera"], origin=stack.url)

    page.goto(stack.url + "/m/redeem")
    page.locator("#scan").click()  # this browser (its own launch) asks for English: the guide's pages are
    expect(page).to_have_url(f"{stack.url}/m/redeem/check?code={coupon.code}")
    expect(page.locator("#coupon")).to_contain_text("¥20 off over ¥100")
    expect(page.locator("#customer")).to_contain_text("李雷")
    expect(page.locator("#confirm")).to_be_visible()
    page.screenshot(path=str(tmp_path / "redeem-scanned.png"), full_page=True)
    context.close()
    assert errors == []


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_inside_wecom_the_page_signs_in_and_scans_with_wecoms_own_scanner(browser, stack):
    """guides.jssdk on, the phone is WeCom's: the page signs wx.config for its own address, the scan
    button waits for wx.ready, and WeCom's scanner's result (a link carrying ?code=) is checked."""
    from playwright.sync_api import expect

    runtime, errors = stack.runtime, []
    coupon = _world(runtime)
    reconfigure(runtime, {"guides.jssdk": True})
    context, page = _phone(browser, runtime, "G1", errors, user_agent=WECOM_USER_AGENT)
    wecom_scanner(context, f"https://example.com/c/coupons?code={coupon.code}&from=qr")

    page.goto(stack.url + "/m/redeem")
    expect(page.locator("#scan")).to_be_visible()
    signed = page.evaluate("window.wxSigned")
    assert signed["appId"] == runtime.config.wechat.work.corp_id and signed["jsApiList"] == ["scanQRCode"]
    assert signed["signature"] == jssdk.signature(
        jsapi_ticket=runtime.work.jsapi_ticket(), noncestr=signed["nonceStr"], timestamp=signed["timestamp"],
        url=stack.url + "/m/redeem")
    page.locator("#scan").click()
    expect(page).to_have_url(f"{stack.url}/m/redeem/check?code={coupon.code}")
    expect(page.locator("#confirm")).to_be_visible()
    context.close()
    assert errors == []
