"""One console (SPEC §11): every console page — each GET route under /console/ in the URL map,
its ids filled from a small seeded brand — has the same side bar with every area's link, the
current area marked, the brand's name and the signed-in user with log out. The phone sandbox's
link is an admin's, in sandbox mode. Pages outside the console keep their own look."""

from __future__ import annotations

import re
from pathlib import Path
from datetime import UTC, datetime

import pytest

from campaign_world import make_campaign
from coupon_world import make_template
from guide_world import create_guide, create_store
from member_world import make_member
from platform_world import assert_no_sideways_scroll, sideways
from product_world import make_batch
from scrm.groups.models import CustomerGroup, GroupCode
from scrm.members.models import Member
from web_world import log_in, page_text

BRAND = "英氏测试旗舰"
AREAS = {  # every area's link, as the side bar shows it to a manager
    "/console/dashboard": "概览", "/console/customers": "顾客", "/console/reply-rules": "关键词回复",
    "/console/follow-greeting": "关注回复", "/console/menu": "菜单", "/console/tags": "标签",
    "/console/tag-rules": "标签规则", "/console/audience": "人群", "/console/stores": "门店与导购",
    "/console/coupons": "优惠券", "/console/campaigns": "活动", "/console/groups": "客户群",
    "/console/group-codes": "群活码",
    "/console/group-welcome": "入群欢迎语",
    "/console/group-sops": "群SOP",
    "/console/group-stats": "社群数据",
    "/console/members": "会员", "/console/member-levels": "会员等级", "/console/points-mall": "积分商城",
    "/console/member-stats": "会员数据",
    "/console/product-codes": "码批次",
    "/console/product-codes/stats": "扫码数据",
}
NOT_PAGES = {"guide_console.guide_qrcode", "guide_console.store_qrcode", "guide_console.store_poster",
             "campaign_console.results_json", "tag_console.audience_count", "tag_console.one_firing",
             "group_code_console.qrcode", "product_console.codes_csv", "product_console.sheet_pdf"}


@pytest.fixture
def config_overrides():  # noqa: ANN201
    return {"brand.name": BRAND}


@pytest.fixture
def seeded(runtime, client, auth):  # noqa: ANN001, ANN201
    """A store, a guide, a customer, a coupon template, a campaign, a reply rule, a group, a live
    code, a group welcome template and a group SOP: an id for every console page that needs one."""
    create_store(runtime, "S1")
    create_guide(runtime, "G1", store="S1", name="王小美")
    reply = client.post("/api/reply-rules", json={"match": "contains", "keyword": "奶粉", "text": "有货"},
                        headers=auth("manager"))
    assert reply.status_code == 201, reply.get_data(as_text=True)
    welcome = client.post("/api/group-welcome-templates", json={"name": "VIP welcome", "text": "Hi %NICKNAME%"},
                          headers=auth("manager"))
    assert welcome.status_code == 201, welcome.get_data(as_text=True)
    now = datetime.now(UTC)
    with runtime.transaction() as db_session:
        db_session.add(CustomerGroup(chat_id="wrVIP", name="静安店VIP群", owner_userid="g1",
                                     created_at=now, updated_at=now))
        code = GroupCode(name="VIP live code", created_at=now)
        db_session.add(code)
        db_session.flush()
        code_id = code.id
    sop = client.post("/api/group-sops", headers=auth("manager"), json={
        "name": "新群欢迎", "selector": {"kind": "owner", "value": "G1"},
        "steps": [{"day_offset": 0, "time": "10:30", "text": "欢迎入群"}]})
    assert sop.status_code == 201, sop.get_data(as_text=True)
    member = make_member(runtime, nickname="艾米")  # a customer who joined: their member page too
    batch = make_batch(runtime, store_code="S1")  # a batch of product codes (英氏多维营养米粉)
    return {"customer_id": member, "template_id": make_template(runtime),
            "sop_id": sop.get_json()["id"],
            "campaign_id": make_campaign(runtime), "rule_id": reply.get_json()["id"], "chat_id": "wrVIP",
            "code_id": code_id,
            "template_pk": welcome.get_json()["id"],
            "level_id": _level_of(runtime, member), "item_id": _an_item(runtime), "batch_id": batch.id,
            "code": {"guide_console.guide": "G1", "guide_console.store": "S1"}}


def _an_item(runtime) -> int:  # noqa: ANN001
    from scrm.members import mall
    from scrm.members.schemas import MallItemIn

    template = make_template(runtime, name="满100减20")
    with runtime.transaction() as db_session:
        return mall.create_item(db_session=db_session, at=runtime.clock.now(),
                                item_in=MallItemIn(name="满100减20", template_id=template, points=100)).id


def _level_of(runtime, customer_id: int) -> int:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.get(Member, customer_id).level_id


def console_pages(app, ids: dict) -> dict[str, str]:  # noqa: ANN001
    """Every console page (endpoint → URL): the GET routes under /console/ that answer HTML,
    their arguments filled from ``ids``. A new route with an argument not known here fails."""
    pages = {"pages.home": "/"}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/console/") or "GET" not in rule.methods or rule.endpoint in NOT_PAGES:
            continue
        values = {}
        for name in rule.arguments:
            assert name in ids, f"{rule.rule}: no id for <{name}> in the seeded brand; add one"
            value = ids[name]
            values[name] = value[rule.endpoint] if isinstance(value, dict) else value
        pages[rule.endpoint] = rule.build(values)[1]
    return pages


def side_bar(text: str) -> str:
    found = re.search(r'<nav class="side-nav".*?</nav>', text, re.S)
    assert found, "no side bar"
    return found.group(0)


def current(nav: str) -> list[str]:
    return re.findall(r'<a href="([^"]+)" aria-current="(?:page|true)"', nav)


# The area each page is in: its own link, or the link it lies under.
EXPECTED_AREA = {
    "pages.home": None, "reply_console.rule": "/console/reply-rules", "guide_console.guide": "/console/stores",
    "guide_console.store": "/console/stores", "coupon_console.lookup": "/console/coupons",
    "coupon_console.coupon_stats": "/console/coupons", "campaign_console.new_campaign": "/console/campaigns",
    "campaign_console.campaign_results": "/console/campaigns", "customer_console.customer": "/console/customers",
    "group_console.group": "/console/groups", "sop_console.new_sop": "/console/group-sops",
    "sop_console.sop_page": "/console/group-sops", "sop_console.edit_sop": "/console/group-sops",
    "member_console.member": "/console/members", "member_console.edit_level": "/console/member-levels",
    "member_console.new_level": "/console/member-levels", "member_console.new_item": "/console/points-mall",
    "member_console.edit_item": "/console/points-mall",
    "product_console.batch": "/console/product-codes", "product_console.new_batch": "/console/product-codes",
}


def test_every_console_page_has_the_side_bar_the_brand_and_the_user(app, client, make_token, seeded):
    log_in(client, make_token, "manager")
    pages = console_pages(app, seeded)
    assert len(pages) >= 24, pages  # every area's pages, not a lucky few
    for endpoint, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        text = page_text(response)
        nav = side_bar(text)
        for href, label in AREAS.items():
            assert f'<a href="{href}"' in nav and label in nav, (url, href)
        assert "手机沙盒" not in nav, url  # a manager's console: the phone sandbox is an admin's
        assert BRAND in text, url
        assert 'id="side-me"><span>manager-' in text and "<small>运营</small>" in text and ">退出<" in text, url
        assert 'action="/logout"' in text, url
        assert text.count('aria-label="控制台"') == 1, url  # one side bar, not nested twice
        area = EXPECTED_AREA.get(endpoint, url if url in AREAS else "?")
        if area != "?":
            assert current(nav) == ([area] if area else []), (url, current(nav))
        else:
            assert len(current(nav)) == 1, (url, current(nav))


def test_the_area_of_a_page_is_marked_page_on_its_own_url_and_true_inside_it(client, make_token, seeded):
    log_in(client, make_token, "manager")
    own = page_text(client.get("/console/reply-rules"))
    assert '<a href="/console/reply-rules" aria-current="page">' in own
    inside = page_text(client.get(f"/console/reply-rules/{seeded['rule_id']}"))
    assert '<a href="/console/reply-rules" aria-current="true">' in inside
    refused = client.post("/console/tag-rules", data={"tag_id": "", "kind": "keyword", "value": ""})
    assert refused.status_code in (400, 422)  # a refused form is shown in its area too
    assert current(side_bar(page_text(refused))) == ["/console/tag-rules"]


def test_an_admin_in_sandbox_mode_also_has_the_phone_sandbox(client, make_token, runtime):
    assert runtime.config.wechat.sandbox
    log_in(client, make_token, "admin")
    nav = side_bar(page_text(client.get("/console/dashboard")))
    assert '<a href="/sandbox/phone/">手机沙盒' in nav or '<a href="/sandbox/phone">手机沙盒' in nav
    assert "<small>管理员</small>" in page_text(client.get("/console/dashboard"))


CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]+")


def visible_text(html_text: str) -> str:
    """What a person reads: the page without its tags, scripts and styles."""
    html_text = re.sub(r"<(script|style)\b.*?</\1>", " ", html_text, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html_text)


def test_every_console_page_reads_in_english_when_english_is_chosen(app, client, make_token, seeded):
    """Switched to English, a console page shows no Chinese but the brand's own data (its name,
    a guide's, a store's, a customer's, a group's, a coupon template's, a campaign's, a reply rule's
    keyword and text, a group SOP's name and step, the member levels and their benefits, and their
    tag group, a batch's product)."""
    data = (BRAND, "王小美", "艾米", "静安店VIP群", "奶粉", "有货", "上海静安店", "满100减20", "双11预热",
            "双11 全场满300减50", "新群欢迎", "欢迎入群", "中文",  # 中文: the switch names itself
            "普通", "银卡", "金卡", "钻石", "生日礼券", "专属客服", "新品优先购",  # the levels as [members] names them
            "会员等级",  # the computed tag group members' levels are tags of: audiences name it (会员等级:金卡)
            "英氏多维营养米粉")  # a batch of product codes' product (tests/product_world.py)
    log_in(client, make_token, "manager")
    pages = console_pages(app, seeded)
    for url in pages.values():  # drawn in Chinese first: no word may stay in the first language drawn
        assert client.get(url).status_code == 200, url
    client.post("/language", data={"lang": "en", "next": "/"})
    chinese: dict[str, list[str]] = {}
    for endpoint, url in pages.items():
        text = visible_text(page_text(client.get(url)))
        for word in data:
            text = text.replace(word, " ")
        if found := CJK.findall(text):
            chinese[url] = found
    assert chinese == {}, f"Chinese left on English pages: {chinese}"


def test_pages_outside_the_console_keep_their_own_look(client, make_token):
    visitor = page_text(client.get("/"))
    assert 'class="side-nav"' not in visitor and "登录" in visitor
    login = page_text(client.get("/login"))
    assert 'class="side-nav"' not in login and 'name="token"' in login
    log_in(client, make_token, "manager")
    home = page_text(client.get("/"))
    assert 'class="side-nav"' in home and current(side_bar(home)) == []


# ---- in a browser: a side bar on a desktop, a menu on a phone, nothing scrolls sideways -------

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console-layout"


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_the_side_bar_on_a_desktop_the_menu_on_a_phone_and_no_page_scrolls_sideways(browser, stack, app, make_token,
                                                                                   seeded):
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pages = console_pages(app, seeded)
    token = make_token("manager")
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    desk = context.new_page()
    desk.set_default_timeout(15_000)
    errors: list[str] = []
    desk.on("pageerror", lambda exc: errors.append(str(exc)))
    desk.goto(f"{stack.url}/login")
    desk.fill("#token", token)
    desk.click("button[type=submit]")
    desk.wait_for_url(f"{stack.url}/")
    phone = context.new_page()  # the same session, a phone's width
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.set_default_timeout(15_000)
    phone.on("pageerror", lambda exc: errors.append(str(exc)))
    wide: dict[str, int] = {}
    for endpoint, url in pages.items():
        name = endpoint.replace(".", "-")
        desk.goto(stack.url + url)
        expect(desk.locator("#side-nav")).to_be_visible()
        expect(desk.locator(".menu-button")).to_be_hidden()
        expect(desk.locator("#side-me")).to_contain_text("运营")
        tallest = desk.evaluate("Math.max(...[...document.querySelectorAll('#side-nav a')].map(a => a.offsetHeight))")
        assert tallest < 48, f"{url}: a side bar link wraps ({tallest} px): a page's style reaches into the bar?"
        if sideways(desk) > 0:
            wide[f"{url} at 1366"] = sideways(desk)
        desk.screenshot(path=str(ARTIFACTS / f"desktop-{name}.png"), full_page=True)

        phone.goto(stack.url + url)
        expect(phone.locator("#side-nav")).to_be_hidden()  # the menu starts closed
        expect(phone.locator(".side-top b")).to_have_text(BRAND)
        box = phone.locator(".menu-button").bounding_box()
        assert box and box["x"] > 200 and box["x"] + box["width"] <= 390, (url, box)  # at the bar's right end
        if sideways(phone) > 0:
            wide[f"{url} at 390"] = sideways(phone)
        phone.screenshot(path=str(ARTIFACTS / f"phone-{name}.png"), full_page=True)
    assert wide == {}, f"pages that scroll sideways (by px): {wide}"

    phone.goto(f"{stack.url}/console/coupons")
    phone.click(".menu-button")  # the menu button opens the side bar
    expect(phone.locator("#side-nav")).to_be_visible()
    expect(phone.locator('#side-nav a[aria-current="page"]')).to_have_text("优惠券")
    assert_no_sideways_scroll(phone)
    phone.screenshot(path=str(ARTIFACTS / "phone-menu-open.png"))
    phone.click("#side-nav >> text=人群")
    phone.wait_for_url(f"{stack.url}/console/audience")
    expect(phone.locator("#side-nav")).to_be_hidden()  # a new page starts closed again
    phone.click(".menu-button")
    phone.click(".menu-button")  # and closes it
    expect(phone.locator("#side-nav")).to_be_hidden()
    assert errors == []
    context.close()
