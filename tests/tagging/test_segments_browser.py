"""The audience page's condition builder in a real browser: conditions written into the box,
counted live, saved as a segment, then offered as a condition themselves."""

from __future__ import annotations

import pytest

from campaign_world import customer
from tag_world import create_tag
from tagging import service

embedded_only = pytest.mark.parametrize("backend", ["embedded"], indirect=True)


@pytest.mark.slow
@embedded_only
def test_the_builder_writes_the_expression_and_a_segment_is_saved(browser, stack, make_token):
    from playwright.sync_api import expect

    runtime = stack.runtime
    new = create_tag(runtime, "新客", group="生命周期")
    customer(runtime, "milk", tags=("奶粉",))
    fresh = customer(runtime, "fresh milk", tags=("奶粉",))
    customer(runtime, "toys", tags=("玩具",))
    with runtime.transaction() as db_session:
        service.tag_customer(db_session=db_session, customer_id=fresh, tag_id=new, on=True, now=runtime.clock.now(),
                             manager="test")

    context = browser.new_context(viewport={"width": 1366, "height": 900})
    context.set_default_timeout(15_000)
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(stack.url + "/login?next=/console/audience")
    page.fill("#token", make_token("manager"))
    page.click("button[type=submit]")
    expect(page.locator("#builder")).to_be_visible()

    rows = page.locator("#conditions .cond")
    rows.nth(0).locator("select").nth(1).select_option(label="奶粉")  # a tag, grouped by 兴趣
    page.click("#add-condition")
    rows.nth(1).locator("select").nth(0).select_option("lifecycle")
    rows.nth(1).locator("select").nth(1).select_option(label="新客")
    rows.nth(1).locator("input[type=checkbox]").check()
    page.click("#write")
    expect(page.locator("#expr")).to_have_value("奶粉 & !新客")
    expect(page.locator("#result .count b")).to_have_text("1")

    page.select_option("#combine", "|")
    page.click("#write")
    expect(page.locator("#expr")).to_have_value("奶粉 | !新客")
    expect(page.locator("#result .count b")).to_have_text("3")

    page.locator("#expr").fill("奶粉 & !新客")  # the box stays the source: typed text is what is saved
    page.fill("#save-name", "老奶粉客")
    page.click("#save button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("人群「老奶粉客」已保存")
    expect(page.locator("#expr")).to_have_value("segment:老奶粉客")
    expect(page.locator("#result .count b")).to_have_text("1")
    expect(page.locator("#segments tbody tr")).to_have_count(1)

    rows.nth(0).locator("select").nth(0).select_option("segment")
    expect(rows.nth(0).locator("select").nth(1).locator("option")).to_have_text(["老奶粉客"])
    page.click("#write")
    expect(page.locator("#expr")).to_have_value("segment:老奶粉客")
    assert errors == []
    context.close()
