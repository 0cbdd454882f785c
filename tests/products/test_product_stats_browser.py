"""The product-code figures in a real browser (Debian's chromium, driven by Playwright), at a
phone's width (390 px) and a desktop's (1366 px): the 扫码数据 page empty and with the fortnight
of tests/product_stats_world.py (and narrowed to a store), the dashboard's 一物一码 card, the
console's guide page, a customer's timeline with a claim, and the guide's home. No sideways
scroll; the filter bar's controls are 44 px tall; the trend's two lines are drawn. Screenshots
go to ``test-artifacts/products/``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from platform_world import assert_no_sideways_scroll, screenshot
from guides.login_links import make_link
from product_stats_world import CONFIG, NOW, PERIOD, build
from web_world import console_sign_in

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "products"
WIDTHS = {"390": {"width": 390, "height": 844}, "1366": {"width": 1366, "height": 900}}
STATS = "/console/product-codes/stats"
assert NOW  # the clock of the `frozen` fixture


def _shoot(page, name: str, size: str) -> None:  # noqa: ANN001
    screenshot(page, ARTIFACTS, f"{name}-{size}")


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
@pytest.mark.parametrize("config_overrides", [CONFIG])
def test_the_figures_pages_at_a_phone_and_a_desktop_width(browser, stack, frozen, make_token):
    errors: list[str] = []
    query = f"?from={PERIOD['from']}&to={PERIOD['to']}"
    for size, viewport in WIDTHS.items():  # nothing yet: the page says what to do first
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        console_sign_in(page, stack.url, make_token("manager"), STATS)
        assert page.locator("#empty").is_visible()
        assert_no_sideways_scroll(page, STATS)
        _shoot(page, "stats-empty", size)
        page.goto(stack.url + "/console/dashboard")
        assert page.locator("#no-batches").is_visible()
        context.close()

    world = build(frozen)
    console = {"stats": STATS + query, "stats-store": STATS + query + "&store=S2", "dashboard": "/console/dashboard",
               "guide-console": "/console/guides/G1", "customer-timeline": f"/console/customers/{world['bob']}"}
    for size, viewport in WIDTHS.items():
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        console_sign_in(page, stack.url, make_token("manager"), STATS)
        for name, url in console.items():
            page.goto(stack.url + url)
            assert page.locator(".side-nav a[aria-current]").count() == 1, url
            assert_no_sideways_scroll(page, url)
            _shoot(page, name, size)
        page.goto(stack.url + STATS + query)
        assert page.locator("#t-claims b").text_content() == "15"
        assert page.locator("polyline.line.now").count() == 1 and page.locator("polyline.line.before").count() == 1
        for control in ("#from", "#to", "#batch", "#product", "#store", "#guide", "#filters button"):
            assert page.locator(control).bounding_box()["height"] >= 44, control
        page.select_option("#store", "S2")
        page.click("#filters button")
        page.wait_for_url("**store=S2**")
        assert page.locator("#t-claims b").text_content() == "1"
        page.goto(stack.url + "/console/dashboard")
        assert page.locator("#c-week").text_content() == "2"
        context.close()

    for size, viewport in {**WIDTHS, "360": {"width": 360, "height": 740}}.items():
        phone = size != "1366"
        context = browser.new_context(viewport=viewport, is_mobile=phone, has_touch=phone)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        with frozen.transaction() as db_session:
            link = urlsplit(make_link(runtime=frozen, db_session=db_session, guide_code="G1"))
        page.goto(f"{stack.url}{link.path}?{link.query}")
        page.goto(stack.url + "/m/")
        assert page.locator("#n-claims b").text_content() == "1"
        assert_no_sideways_scroll(page, "/m/")
        _shoot(page, "guide-home", size)
        page.goto(stack.url + f"/m/customers/{world['amy']}")
        assert_no_sideways_scroll(page, "/m/customers")
        if size != "360":
            _shoot(page, "guide-customer-timeline", size)
        context.close()
    assert errors == []
