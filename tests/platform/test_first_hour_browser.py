"""A community manager's first hour (issue 16), from the console alone, in headless Chromium: a
reply rule the phone sandbox answers with; a tag group and a keyword rule with the defaults that
tag a customer on one message; a saved segment; a campaign to it, counted, launched, and its
results page watched until ``done`` with every delivery's outcome. Three customers follow in the
phone sandbox: one writes inside WeChat's 48-hour window (sent), one wrote two days before
(skipped: outside the window), one unfollows (skipped: not following).

The app runs as ``scrm demo`` runs it on the embedded backend: the in-process worker and the
scheduler (sweeping every second). Only the clock is the test's: it stops, and moves two days
once. Screenshots of each console area (1366×900) and of the phone pages (390×844) go to
``test-artifacts/first-hour/``."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from web_world import demo_processes, open_phone_sandbox, reload_until

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "first-hour"
START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Shanghai: outside quiet hours
DESK = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
CAMPAIGN_TEXT = "奶粉会员日：本周六全场 9 折"


@pytest.fixture
def config_overrides():  # noqa: ANN201
    return {"outreach.sweep_seconds": 1}


@pytest.fixture
def running(stack):  # noqa: ANN001, ANN201
    """The worker and the scheduler of ``scrm demo`` (scrm/serving.py), on a stopped clock."""
    with demo_processes(stack.runtime, START, "first-hour"):
        yield stack.runtime


def shot(page, name: str) -> None:  # noqa: ANN001
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def new_follower(phone, *, says: str | None = None) -> str:  # noqa: ANN001
    """A new customer in the phone sandbox who follows (and says ``says``); their openid."""
    from playwright.sync_api import expect

    expect(phone.locator("#new-customer")).to_be_enabled()  # the remembered customer's chat has loaded
    before = phone.locator("#customer").input_value()
    phone.click("#new-customer")
    expect(phone.locator("#customer")).not_to_have_value(before)
    openid = phone.locator("#customer").input_value()
    phone.click("#follow")
    expect(phone.locator("#status .on")).to_be_visible()
    if says:
        phone.fill("#text", says)
        phone.press("#text", "Enter")
        expect(phone.locator(".msg.me .bubble").last).to_have_text(says)
    return openid


def choose(phone, openid: str, last_said: str) -> None:  # noqa: ANN001
    """Pick a customer on the phone and wait for their chat (ending with ``last_said``)."""
    from playwright.sync_api import expect

    phone.select_option("#customer", openid)
    expect(phone).to_have_url(re.compile(f"openid={openid}$"))
    expect(phone.locator(".msg.me .bubble").last).to_have_text(last_said)


def open_profile(console, base: str, openid: str) -> None:  # noqa: ANN001
    """The customer's profile, found as a manager finds it: searching the customers page."""
    console.goto(f"{base}/console/customers")
    console.fill("#q", openid)
    console.press("#q", "Enter")
    console.locator("#customers a.name").first.click()
    console.wait_for_url(f"{base}/console/customers/*")


def compose_and_launch(console, base: str, *, name: str, expr: str, purpose: str, text: str,  # noqa: ANN001
                       expect_audience: int, expect_reached: int) -> int:
    """The composer's four steps (受众 → 内容 → 时间 → 确认): a purpose, which picks the channel
    and shows WeChat's rule for it with the live reach; the audience and its count; a text
    message, seen in the phone preview as it is typed; send now; then the confirmation page,
    which names how many customers will be reached, and launch. Returns the campaign's id."""
    from playwright.sync_api import expect

    console.goto(f"{base}/console/campaigns/new")
    console.fill("#name", name)
    console.fill("#expr", expr)
    expect(console.locator("#count b")).to_have_text(str(expect_audience))  # the audience, counted live
    console.check(f"#purpose-{purpose}")
    expect(console.locator("#rule-text")).to_contain_text("48")  # WeChat's rule for the channel, in words
    expect(console.locator("#reach-headline")).to_contain_text(str(expect_reached))
    shot(console, "desk-11a-composer-audience")
    console.click("#step-1 button.next")
    console.fill("#text", text)
    expect(console.locator("#preview-text")).to_have_text(text)  # the customer's phone, as typed
    shot(console, "desk-11b-composer-content")
    console.click("#step-2 button.next")
    console.check("#send-now")
    shot(console, "desk-11c-composer-time")
    console.click("#step-3 button.next")
    expect(console.locator("#summary-count")).to_contain_text(str(expect_reached))
    console.click("#to-confirm")
    console.wait_for_url(f"{base}/console/campaigns/*/confirm")
    campaign_id = int(console.url.rstrip("/").rsplit("/", 2)[1])
    expect(console.locator("#reach-count")).to_have_text(str(expect_reached))  # "将发送给 1 位客户"
    expect(console.locator("#consequence")).to_contain_text("将发送给")
    shot(console, "desk-11d-composer-confirm")
    console.click("#launch")
    console.wait_for_url(f"{base}/console/campaigns/{campaign_id}/results")
    return campaign_id


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_a_manager_s_first_hour_from_the_console_alone(browser, stack, running, make_token):
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):  # only this run's pictures, to look at
        old.unlink()
    base, clock = stack.url, running.clock
    errors: list[str] = []
    context = browser.new_context(viewport=DESK)  # one browser: the console and the phone share the sign-in
    context.set_default_timeout(15_000)
    console = context.new_page()
    console.on("pageerror", lambda exc: errors.append(str(exc)))
    open_phone_sandbox(console, base, make_token("admin"))

    console.goto(f"{base}/")
    shot(console, "desk-01-home")
    console.goto(f"{base}/console/dashboard")
    shot(console, "desk-02-dashboard-empty")

    # ---- a reply rule, and the phone answers with it ------------------------------------------
    console.goto(f"{base}/console/reply-rules")
    console.check("input[name=match][value=contains]")
    console.fill("#keyword", "营业时间")
    console.fill("#text", "每天 9:00-21:00 营业，欢迎到店")
    console.click("#new-rule button[type=submit]")
    expect(console.locator(".flash")).to_be_visible()
    expect(console.locator("table")).to_contain_text("每天 9:00-21:00")
    shot(console, "desk-03-reply-rules")
    console.goto(f"{base}/console/follow-greeting")
    shot(console, "desk-04-follow-greeting")
    console.goto(f"{base}/console/menu")
    shot(console, "desk-05-menu")

    phone = context.new_page()
    phone.set_viewport_size(PHONE)
    phone.on("pageerror", lambda exc: errors.append(str(exc)))
    phone.goto(f"{base}/sandbox/phone")
    shot(phone, "phone-01-sandbox-start")
    account = phone.locator(".msg.account:not(.typing) .bubble")
    first = new_follower(phone, says="请问营业时间？")
    expect(account.last).to_have_text("每天 9:00-21:00 营业，欢迎到店")
    shot(phone, "phone-02-reply-rule-answers")

    # ---- a tag group and a keyword rule with the defaults; one message tags ---------------------
    console.goto(f"{base}/console/tags")
    console.fill("#group-name", "兴趣")  # half-life and threshold left blank: no decay, threshold 1
    console.click("#new-group button[type=submit]")
    expect(console.locator(".flash")).to_be_visible()
    console.select_option("#tag-group", label="兴趣")
    console.fill("#tag-name", "奶粉")
    console.click("#new-tag button[type=submit]")
    expect(console.locator(".card[id^=group-] table")).to_contain_text("奶粉")
    console.goto(f"{base}/console/tag-rules")
    console.select_option("#rule-kind", "keyword")
    console.fill("#rule-pattern", "奶粉")
    console.select_option("#rule-tag", label="兴趣:奶粉")  # weight left blank: 2
    console.click("#new-rule button[type=submit]")
    expect(console.locator("#rules tbody tr")).to_have_count(1)
    console.fill("#try-text", "我想给宝宝买奶粉")
    console.click("#try button[type=submit]")
    expect(console.locator("#outcomes li.yes")).to_contain_text("奶粉")  # one message is enough
    shot(console, "desk-07-tag-rules")

    # Who gets the campaign: `outside` writes two days before it, `inside` in the window, `gone` then unfollows.
    phone.fill("#text", "我想给宝宝买奶粉")  # the first customer: 48 hours later they are outside
    phone.press("#text", "Enter")
    expect(phone.locator(".msg.me .bubble").last).to_have_text("我想给宝宝买奶粉")
    outside = first
    open_profile(console, base, outside)
    reload_until(console, "#tags", "兴趣:奶粉")  # one message tagged the customer
    shot(console, "desk-08-customer-profile-tagged")

    clock.advance(hours=49)  # two days later: the console's 12-hour sign-in has ended, so sign in again
    phone.click("#new-customer")
    again = phone.locator(".note.error a")  # the phone says so, in Chinese, with the way back
    expect(again).to_have_attribute("href", "/login?next=%2Fsandbox%2Fphone")
    expect(phone.locator(".note.error")).to_contain_text("登录已过期")
    shot(phone, "phone-03-after-the-sign-in-ended")
    open_phone_sandbox(phone, base, make_token("admin"))
    inside = new_follower(phone, says="有没有奶粉")
    gone = new_follower(phone, says="奶粉多少钱")
    for openid in (inside, gone):
        open_profile(console, base, openid)
        reload_until(console, "#tags", "兴趣:奶粉")
    choose(phone, gone, "奶粉多少钱")
    phone.click("#follow")  # now 取消关注
    expect(phone.locator("#status .on")).to_have_count(0)
    console.goto(f"{base}/console/tags")
    expect(console.locator(".card[id^=group-] a.count").first).to_have_text("3")
    shot(console, "desk-06-tags")
    console.goto(f"{base}/console/customers")
    expect(console.locator("#customers tbody tr")).to_have_count(3)
    shot(console, "desk-09-customers")

    # ---- a segment ---------------------------------------------------------------------------
    console.goto(f"{base}/console/audience")
    console.fill("#expr", "奶粉")
    expect(console.locator("#result .count b")).to_have_text("3")
    console.fill("#save-name", "奶粉客")
    console.click("#save button[type=submit]")
    expect(console.locator("#segments tbody tr")).to_have_count(1)
    expect(console.locator("#expr")).to_have_value("segment:奶粉客")
    shot(console, "desk-10-audience-segment")

    # ---- the campaign, launched and watched until done ------------------------------------------
    # Purpose "reply": customer-service messages, which reach only who wrote in the last 48 hours.
    compose_and_launch(console, base, name="奶粉会员日", expr="segment:奶粉客", purpose="reply",
                       text=CAMPAIGN_TEXT, expect_audience=3, expect_reached=1)
    expect(console.locator("#status")).to_have_attribute("data-status", "done", timeout=30_000)  # it polls, redraws
    expect(console.locator("#status")).to_have_text("已完成")
    expect(console.locator("#live-note")).to_contain_text("全部发送结果已确定")
    tiles = {key: console.locator(f'#tiles [data-count="{key}"]').text_content()
             for key in ("planned", "sent", "failed_all", "skipped_total", "waiting")}
    assert tiles == {"planned": "3", "sent": "1", "failed_all": "0", "skipped_total": "2", "waiting": "0"}
    reasons = sorted((row.get_attribute("data-outcome"), row.get_attribute("data-code"),
                      row.locator("td.wrap").text_content().split("：")[-1].split(" ")[0], row.locator("td.num").text_content())
                     for row in console.locator("#reasons tbody tr").all())
    assert reasons == [("skipped", "no_channel", "未关注或已取关公众号", "1"),  # gone, who unfollowed
                       ("skipped", "no_channel", "超出48小时互动窗口", "1")]  # outside, who wrote two days before
    shot(console, "desk-13-campaign-results")
    console.goto(f"{base}/console/campaigns")
    shot(console, "desk-14-campaigns")

    # Each customer's phone, against what the results say of them.
    choose(phone, inside, "有没有奶粉")
    expect(account.last).to_have_text(CAMPAIGN_TEXT)  # sent: it reached their chat
    shot(phone, "phone-04-campaign-received")
    for openid, last_said in ((outside, "我想给宝宝买奶粉"), (gone, "奶粉多少钱")):  # skipped: nothing came
        choose(phone, openid, last_said)
        expect(phone.locator(".msg.account .bubble", has_text=CAMPAIGN_TEXT)).to_have_count(0)

    # ---- a store and a guide; a customer scans the guide's code; the guide's phone pages ---------
    console.goto(f"{base}/console/stores")
    console.fill("#store-code", "S001")
    console.fill("#store-name", "上海静安店")
    console.click("#new-store button[type=submit]")
    console.wait_for_url(f"{base}/console/stores/S001")
    console.fill("#guide-code", "G001")
    console.fill("#guide-name", "李四")
    console.fill("#guide-userid", "lisi")  # a member of the sandbox's WeCom
    console.click("#new-guide button[type=submit]")
    console.wait_for_url(f"{base}/console/guides/G001")
    console.goto(f"{base}/console/stores/S001")
    expect(console.locator("#guides")).to_contain_text("李四")
    shot(console, "desk-15-store-and-guides")
    console.goto(f"{base}/console/guides/G001")
    console.click("#sign-in button[type=submit]")
    link = console.locator("#login-link").input_value()
    shot(console, "desk-16-guide")

    scene = guide_scene(phone, "李四")
    choose(phone, inside, "有没有奶粉")
    inside_name = nickname_of(phone, inside)
    phone.click("#scan")
    phone.fill("#scene", scene)
    phone.click("#scan-form button[type=submit]")
    expect(phone.locator(".note span").last).to_be_visible()
    phone.locator("#menu button", has_text="我的优惠券").click()
    article = phone.locator(".msg.account a.article").last  # the account answers with a card to the page
    expect(article).to_contain_text("我的优惠券")
    coupons_url = article.get_attribute("href")
    shot(phone, "phone-05-scanned-and-asked-for-coupons")
    phone.goto(coupons_url)  # the customer's coupons page, as the link in the chat opens it
    shot(phone, "phone-06-customer-coupons")

    guide = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)  # the guide's own phone
    guide.set_default_timeout(15_000)
    guide_phone = guide.new_page()
    guide_phone.on("pageerror", lambda exc: errors.append(str(exc)))
    guide_phone.goto(link)
    guide_phone.wait_for_url(f"{base}/m/**")
    shot(guide_phone, "phone-07-guide-home")
    guide_phone.goto(f"{base}/m/customers")
    expect(guide_phone.locator("body")).to_contain_text(inside_name)  # bound by the scan
    shot(guide_phone, "phone-08-guide-customers")
    guide.close()

    # ---- the areas a new manager also opens --------------------------------------------------
    for name, path in (("desk-17-dashboard", "/console/dashboard"), ("desk-18-stores", "/console/stores"),
                       ("desk-19-coupons", "/console/coupons"), ("desk-20-groups", "/console/groups")):
        console.goto(base + path)
        shot(console, name)
    assert errors == []
    context.close()


def guide_scene(phone, guide: str) -> str:  # noqa: ANN001
    """The scene of the guide's code as the phone's scan box offers it (labelled "guide · store"),
    once the job that asks WeChat for the code has made it: the box is drawn with the page."""
    deadline = time.monotonic() + 15
    while True:
        offered = {o.text_content(): o.get_attribute("value") for o in phone.locator("#codes option").all()}
        found = [scene for label, scene in offered.items() if label.startswith(f"{guide} · ")]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no code of {guide} to scan: {offered}"
        phone.wait_for_timeout(300)
        phone.reload()


def nickname_of(phone, openid: str) -> str:  # noqa: ANN001
    return phone.locator(f'#customer option[value="{openid}"]').text_content().split(" · ")[0]
