"""The membership pages in a real browser (Debian's chromium, driven by Playwright), at a phone's
width (390 px) and a desktop's (1366 px): the console's 会员 area (the lists empty and with data,
a member with the grant's confirmation, levels, the mall, the figures, the dashboard and a
customer's profile) and the guide's pages (a member's profile, the redeem check, the member
scanner): no sideways scroll at 390 px, tap targets of 44 px on the guide's phone. A member QR
held up to the guide's camera (chromium's fake capture device playing a video of it) opens the
member. Screenshots go to ``test-artifacts/members/``."""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from coupon_world import issue, make_template
from guide_world import WECOM_USER_AGENT, create_guide, create_store, mp_scan, wecom_scanner
from guides.login_links import make_link
from member_world import grant, make_member
from platform_world import CHROMIUM, CHROMIUM_ARGS, assert_no_sideways_scroll, reconfigure, require_browser, screenshot
from scrm.members import mall
from scrm.members.member_qr import member_qr_token
from scrm.members.schemas import MallItemIn
from web_world import console_sign_in

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "members"
WIDTHS = {"390": {"width": 390, "height": 844}, "1366": {"width": 1366, "height": 900}}
FRAME = (640, 480)


def _world(runtime, client) -> dict:  # noqa: ANN001
    create_store(runtime)
    g1 = create_guide(runtime, "G1", name="王小美")
    lilei = make_member(runtime, phone="13812345678", nickname="李雷", openid="o-lilei")
    mp_scan(runtime, client, "o-lilei", g1.mp_scene)
    grant(runtime, lilei, 320)
    grant(runtime, lilei, 80, frozen_days=7)
    for name in ("韩梅梅", "林涛", "吉姆"):
        grant(runtime, make_member(runtime, nickname=name), 50)
    template = make_template(runtime, name="满100减20")
    with runtime.transaction() as db_session:
        item = mall.create_item(db_session=db_session, at=runtime.clock.now(), item_in=MallItemIn(
            name="20元券", template_id=template, points=100, stock=50, per_member_limit=2))
        mall.exchange(runtime=runtime, db_session=db_session, customer_id=lilei, item_id=item.id, key="b1",
                      at=runtime.clock.now())
    coupon = issue(runtime, template, lilei)
    return {"lilei": lilei, "item": item.id, "coupon": coupon.code}


def _shoot(page, name: str, size: str) -> None:  # noqa: ANN001
    screenshot(page, ARTIFACTS, f"{name}-{size}")


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_every_membership_page_at_a_phone_and_a_desktop_width(browser, stack, client, make_token):
    runtime, errors = stack.runtime, []
    create_store(runtime, "S9", "空店")  # nothing else yet: the empty pages first
    console = {"members-empty": "/console/members", "mall-empty": "/console/points-mall",
               "stats-empty": "/console/member-stats"}
    for size, viewport in WIDTHS.items():
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        console_sign_in(page, stack.url, make_token("manager"), "/console/members")
        for name, url in console.items():
            page.goto(stack.url + url)
            assert_no_sideways_scroll(page, url)
            _shoot(page, name, size)
        context.close()

    world = _world(runtime, client)
    lilei = world["lilei"]
    console = {"members": "/console/members", "member": f"/console/members/{lilei}",
               "levels": "/console/member-levels", "level-edit": "/console/member-levels/3",
               "mall": "/console/points-mall", "item-edit": f"/console/points-mall/{world['item']}",
               "item-new": "/console/points-mall/new", "stats": "/console/member-stats",
               "dashboard": "/console/dashboard", "customer": f"/console/customers/{lilei}"}
    for size, viewport in WIDTHS.items():
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        console_sign_in(page, stack.url, make_token("manager"), "/console/members")
        for name, url in console.items():
            page.goto(stack.url + url)
            assert page.locator(".side-nav a[aria-current]").count() == 1, url
            assert_no_sideways_scroll(page, url)
            _shoot(page, name, size)
        page.goto(stack.url + f"/console/members/{lilei}")
        page.fill("#amount", "100")
        page.fill("#reason", "门店活动补发")
        assert page.locator("#consequence").text_content() == "将给 李雷 增加 100 积分"  # as typed
        page.click("#next")
        assert page.locator("h1#consequence").text_content() == "将给 李雷 增加 100 积分"
        assert_no_sideways_scroll(page, "confirm")
        _shoot(page, "grant-confirm", size)
        page.click("#confirm")
        page.wait_for_url(stack.url + f"/console/members/{lilei}")
        assert "已增加 100 积分" in page.locator(".flash").text_content()
        context.close()

    for size, viewport in WIDTHS.items():
        context = browser.new_context(viewport=viewport, is_mobile=size == "390", has_touch=size == "390")
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        with runtime.transaction() as db_session:
            page.goto(make_link(runtime=runtime, db_session=db_session, guide_code="G1"))
        token = member_qr_token(runtime, lilei)
        guide = {"guide-home": "/m/", "guide-member": f"/m/customers/{lilei}", "guide-scan": "/m/member",
                 "guide-redeem": f"/m/redeem/check?code={world['coupon']}",
                 "guide-scan-refused": "/m/member/open?token=Mnot-a-member-code"}
        for name, url in guide.items():
            page.goto(stack.url + url)
            assert_no_sideways_scroll(page, url)
            _shoot(page, name, size)
        page.goto(stack.url + "/m/")
        assert page.locator("#member-scan-link").bounding_box()["height"] >= 44
        page.click("#member-scan-link")
        page.fill("#token", token)
        assert page.locator("#open-button").bounding_box()["height"] >= 44
        page.click("#open-button")
        page.wait_for_url(stack.url + f"/m/customers/{lilei}")
        assert "8.5折" not in page.locator("#member").text_content()  # 普通: no discount
        assert page.locator("#member-points b").text_content() == "420"  # 320 - 100 exchanged + 2 × 100 granted
        context.close()
    assert errors == []


def _qr_video(text: str, path: Path, frames: int = 8) -> Path:
    """The QR of ``text`` in a grey frame as YUV4MPEG2 4:2:0, what chromium's fake camera plays
    (as tests/guides/test_guide_redeem_browser.py makes it)."""
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


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_a_member_qr_held_to_the_guides_camera_opens_the_member(stack, client, tmp_path):
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    runtime, errors = stack.runtime, []
    world = _world(runtime, client)
    video = _qr_video(member_qr_token(runtime, world["lilei"]), tmp_path / "member.y4m")
    args = [*CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            context = browser.new_context(viewport=WIDTHS["390"], is_mobile=True, has_touch=True, locale="zh-CN")
            context.set_default_timeout(15_000)
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            with runtime.transaction() as db_session:
                link = urlsplit(make_link(runtime=runtime, db_session=db_session, guide_code="G1"))
            page.goto(f"{stack.url}{link.path}?{link.query}")
            page.goto(stack.url + "/m/member")
            page.click("#scan")
            page.wait_for_url(stack.url + f"/m/customers/{world['lilei']}")
            expect(page.locator("#member-level")).to_have_text("普通")
            expect(page.locator("#member-points b")).to_have_text("220")  # 320 - 100 exchanged
            _shoot(page, "guide-camera-opened", "390")
        finally:
            browser.close()
    assert errors == []


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_inside_wecom_a_member_qr_read_by_wecoms_scanner_opens_the_member(browser, stack, client):
    """guides.jssdk on, the phone is WeCom's: the scan button is WeCom's own scanner (its JS-SDK is
    played by wecom_scanner), and the member QR it reads opens the member."""
    from playwright.sync_api import expect

    runtime, errors = stack.runtime, []
    world = _world(runtime, client)
    reconfigure(runtime, {"guides.jssdk": True})
    context = browser.new_context(viewport=WIDTHS["390"], is_mobile=True, has_touch=True,
                                  user_agent=WECOM_USER_AGENT)
    context.set_default_timeout(15_000)
    wecom_scanner(context, f"  {member_qr_token(runtime, world['lilei'])}\n")
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    with runtime.transaction() as db_session:
        link = urlsplit(make_link(runtime=runtime, db_session=db_session, guide_code="G1"))
    page.goto(f"{stack.url}{link.path}?{link.query}")
    page.goto(stack.url + "/m/member")
    expect(page.locator("#scan")).to_be_visible()
    assert page.evaluate("window.wxSigned.appId") == runtime.config.wechat.work.corp_id  # signed in to WeCom
    page.click("#scan")
    page.wait_for_url(stack.url + f"/m/customers/{world['lilei']}")
    expect(page.locator("#member-level")).to_have_text("普通")
    context.close()
    assert errors == []
