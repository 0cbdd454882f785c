"""The audience page's condition builder in a real browser: conditions written into the box,
counted live, saved as a segment, then offered as a condition themselves."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from campaign_world import customer, interaction
from platform_world import assert_no_sideways_scroll
from guides.models import Binding, Guide, Store
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


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "audience"


@pytest.mark.slow
@embedded_only
def test_the_builder_writes_store_and_last_interaction_rows_and_saves_them(browser, stack, make_token):
    """A store row and a last-interaction row (within / not within N days) beside a tag; the
    segment saved from them counts the same; screenshots of the page on a desktop and a phone."""
    from playwright.sync_api import expect

    runtime = stack.runtime
    now = runtime.clock.now()
    people = {name: customer(runtime, name, tags=("奶粉",)) for name in ("recent", "quiet", "elsewhere")}
    with runtime.transaction() as db_session:
        stores = [Store(code="S001", name="静安店"), Store(code="S002", name="徐汇店")]
        db_session.add_all(stores)
        db_session.flush()
        guides = [Guide(code="G001", name="王小美", store_id=stores[0].id, wecom_userid="wG001"),
                  Guide(code="G002", name="张晓雪", store_id=stores[1].id, wecom_userid="wG002")]
        db_session.add_all(guides)
        db_session.flush()
        for name, guide in (("recent", guides[0]), ("quiet", guides[0]), ("elsewhere", guides[1])):
            db_session.add(Binding(customer_id=people[name], guide_id=guide.id, bound_at=now - timedelta(days=20),
                                   channel="mp"))
    interaction(runtime, people["recent"], "text", now - timedelta(days=3))
    interaction(runtime, people["elsewhere"], "text", now - timedelta(days=3))

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1366, 900), (390, 844)):
        context = browser.new_context(viewport={"width": width, "height": height}, is_mobile=width < 500,
                                      has_touch=width < 500)
        context.set_default_timeout(15_000)
        errors: list[str] = []
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))  # noqa: B023 - read before the next loop
        page.goto(stack.url + "/login?next=/console/audience")
        page.fill("#token", make_token("manager"))
        page.click("button[type=submit]")
        expect(page.locator("#builder")).to_be_visible()

        rows = page.locator("#conditions .cond")
        rows.nth(0).locator("select.value").select_option(label="奶粉")
        page.click("#add-condition")
        rows.nth(1).locator("select.kind").select_option("store")
        expect(rows.nth(1).locator("select.value option")).to_have_text(["静安店 (S001)", "徐汇店 (S002)"])
        rows.nth(1).locator("select.value").select_option("store:S001")
        page.click("#add-condition")
        rows.nth(2).locator("select.kind").select_option("interacted")
        expect(rows.nth(2).locator(".not")).to_be_hidden()  # within / not within says it
        rows.nth(2).locator("input.days").fill("7")
        page.click("#write")
        expect(page.locator("#expr")).to_have_value("奶粉 & store:S001 & interacted:7d")
        expect(page.locator("#result .count b")).to_have_text("1")
        expect(page.locator("#result .chips li")).to_have_text([f"#{people['recent']} recent"])

        rows.nth(2).locator("select.within").select_option("!")
        page.click("#write")
        expect(page.locator("#expr")).to_have_value("奶粉 & store:S001 & !interacted:7d")
        expect(page.locator("#result .chips li")).to_have_text([f"#{people['quiet']} quiet"])
        page.screenshot(path=str(ARTIFACTS / f"builder-{width}.png"), full_page=True)
        assert_no_sideways_scroll(page)

        if width > 500:
            rows.nth(2).locator("input.days").fill("0")
            page.click("#write")
            expect(page.locator("#result")).to_contain_text("interacted: takes whole days from 1d to 3650d")
            expect(page.locator("#result mark")).to_have_text("0")
            rows.nth(2).locator("input.days").fill("7")
            page.click("#write")
            page.fill("#save-name", "静安沉默奶粉客")
            page.click("#save button[type=submit]")
            expect(page.locator(".flash")).to_contain_text("人群「静安沉默奶粉客」已保存")
            expect(page.locator("#expr")).to_have_value("segment:静安沉默奶粉客")
            expect(page.locator("#result .count b")).to_have_text("1")
            expect(page.locator("#segments tbody tr")).to_contain_text("奶粉 & store:S001 & !interacted:7d")
        assert errors == []
        context.close()
