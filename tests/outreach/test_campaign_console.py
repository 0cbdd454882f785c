"""The campaign console pages (SPEC §8, §11), driven as a manager's browser would: a login
session, form posts, redirects and the HTML that comes back; the audience's live count in a
real browser."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from campaign_world import customer, delivery, make_campaign
from coupon_world import make_template
from guide_world import create_guide, create_store
from scrm.outreach.models import Campaign
from web_world import page_text


def visible(html: str) -> str:
    """What a person reads: the markup without its tags."""
    return re.sub(r"<[^>]+>", " ", html)

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Shanghai
embedded_only = pytest.mark.parametrize("backend", ["embedded"], indirect=True)


@pytest.fixture
def manager(frozen, client, make_token):  # noqa: ANN001, ANN201
    response = client.post("/login", data={"token": make_token("manager")})
    assert response.status_code == 302
    return client


def campaigns(runtime) -> list[Campaign]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return list(db_session.scalars(select(Campaign).order_by(Campaign.id)))


def editor_form(**given: object) -> dict[str, object]:
    """The composer as the browser posts it: every field, a blank one as ""."""
    form = {"name": "双11预热", "purpose": "reply", "expr": "", "store": "", "guide": "", "groups": "",
            "channel": "mp_custom", "kind": "text", "text": "双11 全场满300减50", "title": "", "description": "",
            "url": "", "picurl": "", "media_id": "", "appid": "", "pagepath": "", "thumb_media_id": "",
            "template_id": "", "coupon_template_id": "", "send": "at", "at": "2026-11-11T10:00", "time": "10:00",
            "monthday": "", "event": "", "days": "", "event_name": "", "when_capped": "defer",
            "holdout_percent": "0", "action": "save"}
    for i in range(1, 7):
        form.update({f"template_key_{i}": "", f"template_value_{i}": ""})
    for i in (1, 2, 3):
        form.update({f"variant_name_{i}": "", f"variant_weight_{i}": "", f"variant_copy_{i}": ""})
    form.update(given)
    return form


def test_the_list_shows_campaigns_with_their_counts_and_the_journeys(frozen, manager):
    campaign_id = make_campaign(frozen, name="周末上新")
    for status in ("sent", "sent", "failed"):
        delivery(frozen, campaign_id, customer(frozen), status=status)
    page = page_text(manager.get("/console/campaigns"))
    row = re.search(rf'<tr data-campaign="{campaign_id}" data-status="draft">(.*?)</tr>', page, re.S).group(1)
    assert "周末上新" in row and "草稿" in row and "公众号客服消息" in row
    assert "draft" not in visible(row) and "mp_custom" not in visible(row)
    assert re.findall(r'<td class="num">(\d+)</td>', row) == ["3", "2", "1", "0"]
    for key in ("welcome", "birthday", "wake_up", "thank_you", "coupon_expiry", "points_expiry"):
        assert f'action="/console/journeys/{key}"' in page
    assert "/console/campaigns" in page_text(manager.get("/"))


def test_a_guide_is_forbidden_and_a_stranger_sent_to_log_in(frozen, client, make_token):
    campaign_id = make_campaign(frozen)
    assert client.get("/console/campaigns").status_code == 302
    create_store(frozen, "S1")
    create_guide(frozen, "G1")
    client.post("/login", data={"token": make_token("guide", "G1")})
    for path in ("/console/campaigns", "/console/campaigns/new", f"/console/campaigns/{campaign_id}"):
        assert client.get(path).status_code == 403, path
    assert client.post("/console/campaigns/new", data=editor_form()).status_code == 403
    assert client.post(f"/console/campaigns/{campaign_id}/launch").status_code == 403
    assert len(campaigns(frozen)) == 1


def test_the_editor_creates_a_draft_from_the_form(frozen, manager):
    create_store(frozen, "S1")
    customer(frozen, tags=("奶粉",))
    template = make_template(frozen)
    response = manager.post("/console/campaigns/new", data=editor_form(
        expr="奶粉", store="S1", fallbacks=["work_single"], coupon_template_id=str(template), holdout_percent="10",
        variant_name_1="A", variant_weight_1="60", variant_copy_1="A 文案",
        variant_name_2="B", variant_weight_2="40"))
    assert response.status_code == 302, page_text(response)
    (made,) = campaigns(frozen)
    assert response.headers["Location"].endswith(f"/console/campaigns/{made.id}")
    assert (made.status, made.audience["expr"], made.audience["store"]) == ("draft", "奶粉", "S1")
    assert made.schedule == {"kind": "once", "at": "2026-11-11T02:00:00Z", "cron": None, "event": None,
                             "days": None, "name": None}  # 10:00 typed in Shanghai
    assert (made.fallbacks, made.coupon_template_id, made.holdout_percent) == (["work_single"], template, 10)
    assert [(v["name"], v["weight"], v["content"]["text"]) for v in made.variants] == [
        ("A", 60, "A 文案"), ("B", 40, "双11 全场满300减50")]
    page = page_text(manager.get(f"/console/campaigns/{made.id}"))
    assert 'value="2026-11-11T10:00"' in page  # shown back in local time
    assert 'value="A 文案"' in page and 'id="launch-link"' in page and "启动…" in page


@pytest.mark.parametrize("given, field", [
    ({"expr": "宠物"}, "audience.expr"),
    ({"store": "NOPE"}, "audience.store"),
    ({"send": "weekly", "time": "25:00", "weekdays": ["1"]}, "schedule.time"),
    ({"send": "at", "at": "tomorrow"}, "schedule.at"),
    ({"variant_name_1": "A", "variant_weight_1": "60", "variant_name_2": "B", "variant_weight_2": "30"}, "variants"),
    ({"holdout_percent": "lots"}, "holdout_percent"),
    ({"name": ""}, "name"),
    ({"kind": "news"}, "content.title"),
])
def test_bad_input_re_renders_with_the_field_and_creates_nothing(frozen, manager, given, field):
    response = manager.post("/console/campaigns/new", data=editor_form(**given))
    assert response.status_code == 422
    page = page_text(response)
    assert f"<b>{field}</b>" in page
    assert 'value="双11 全场满300减50"' in page or "双11 全场满300减50</textarea>" in page  # as typed
    assert campaigns(frozen) == []


def test_the_count_button_counts_on_the_server_without_saving(frozen, manager):
    customer(frozen, "安安", tags=("奶粉",))
    customer(frozen, tags=("玩具",))
    page = page_text(manager.post("/console/campaigns/new", data=editor_form(expr="奶粉", action="count")))
    assert "<b>1</b> 位顾客" in page and "安安" in page
    assert "现在可触达 0 位客户（共 1）" in page and "48 小时" in page  # nobody wrote in the last 48 h
    refused = page_text(manager.post("/console/campaigns/new", data=editor_form(expr="宠物", action="count")))
    assert "<b>audience.expr</b>" in refused
    assert campaigns(frozen) == []


def test_launch_pause_cancel_from_the_page(frozen, manager):
    campaign_id = make_campaign(frozen)
    base = f"/console/campaigns/{campaign_id}"
    assert manager.post(base + "/pause").status_code == 409  # a draft is not paused
    assert manager.post(base + "/launch").status_code == 302
    assert campaigns(frozen)[0].status == "scheduled"
    assert 'id="pause"' in page_text(manager.get(base))
    refused = manager.post(base, data=editor_form(name="改名"))
    assert refused.status_code == 409 and "only a draft is edited" in page_text(refused)
    assert campaigns(frozen)[0].name == "双11预热"
    assert manager.post(base + "/pause").status_code == 302 and campaigns(frozen)[0].status == "paused"
    assert manager.post(base + "/cancel").status_code == 302 and campaigns(frozen)[0].status == "cancelled"
    again = manager.post(base + "/launch")
    assert again.status_code == 409 and "cancelled" in page_text(again)
    assert manager.post("/console/campaigns/999/launch").status_code == 404
    assert manager.get("/console/campaigns/999").status_code == 404


def test_a_draft_is_edited_and_a_refused_edit_changes_nothing(frozen, manager):
    campaign_id = make_campaign(frozen)
    base = f"/console/campaigns/{campaign_id}"
    assert manager.post(base, data=editor_form(name="改名", text="新文案")).status_code == 302
    assert (campaigns(frozen)[0].name, campaigns(frozen)[0].content["text"]) == ("改名", "新文案")
    refused = manager.post(base, data=editor_form(name="再改", expr="宠物"))
    assert refused.status_code == 422 and "<b>audience.expr</b>" in page_text(refused)
    assert campaigns(frozen)[0].name == "改名"


def test_journeys_make_drafts_from_the_list(frozen, manager):
    response = manager.post("/console/journeys/thank_you")
    assert response.status_code == 302
    (made,) = campaigns(frozen)
    assert made.schedule["event"] == "purchase" and made.status == "draft"
    refused = manager.post("/console/journeys/birthday", data={"coupon_template_id": ""})
    assert refused.status_code == 422 and "<b>coupon_template_id</b>" in page_text(refused)
    template = make_template(frozen, name="生日券")
    assert manager.post("/console/journeys/birthday", data={"coupon_template_id": str(template)}).status_code == 302
    assert campaigns(frozen)[-1].coupon_template_id == template
    assert manager.post("/console/journeys/nope").status_code == 404
    assert len(campaigns(frozen)) == 2


def test_results_are_drawn_per_variant(frozen, manager):
    campaign_id = make_campaign(frozen)
    for variant, status in (("A", "sent"), ("A", "sent"), ("A", "failed"), ("B", "sent"), ("B", "skipped")):
        delivery(frozen, campaign_id, customer(frozen), variant=variant, status=status,
                 reason="capped" if status == "skipped" else None)
    page = page_text(manager.get(f"/console/campaigns/{campaign_id}"))
    assert page.count('<svg class="chart"') == 2
    bars = re.findall(r'<rect class="sent" x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)"><title>(\w+)', page)
    heights = {variant: float(h) for h, variant in bars}
    assert heights["A"] == pytest.approx(2 * heights["B"]) and heights["B"] > 0
    assert '<tr data-variant="B">' in page
    reasons = re.search(r'<table id="editor-reasons".*?</table>', page, re.S).group(0)
    assert '<tr data-outcome="skipped" data-code="capped">' in reasons and "超出每周发送上限" in reasons
    assert "capped" not in visible(reasons)


# ---- the live count, in a real browser -----------------------------------------------------

@pytest.mark.slow
@embedded_only
def test_the_editor_counts_the_audience_as_it_is_typed(browser, stack, make_token):
    from playwright.sync_api import expect

    runtime = stack.runtime
    for name in ("安安", "乐乐"):
        customer(runtime, name, tags=("奶粉",))
    customer(runtime, "其他", tags=("玩具",))
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(stack.url + "/login?next=/console/campaigns/new")
    page.fill("#token", make_token("manager"))
    page.click("button[type=submit]")
    expect(page).to_have_url(stack.url + "/console/campaigns/new")
    expect(page.locator("#count b")).to_have_text("3")  # everyone, before any tag is typed
    page.locator("#expr").press_sequentially("奶粉")
    expect(page.locator("#count b")).to_have_text("2")
    expect(page.locator("#count")).to_contain_text("安安")
    page.locator("#expr").fill("宠物")
    expect(page.locator("#count")).to_contain_text("宠物")
    page.locator("#expr").fill("奶粉 | 玩具")
    expect(page.locator("#count b")).to_have_text("3")
    assert page.url == stack.url + "/console/campaigns/new"
    assert errors == []
    context.close()
