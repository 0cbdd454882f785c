"""The console pages for tags, tag rules and the audience builder (SPEC §5, §11), driven as a
manager's browser would: a login session, form posts, redirects, and the HTML that comes back."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from scrm.clock import FrozenClock
from scrm.customers.models import Customer
from tag_world import create_tag
from tagging import service
from tagging.models import Tag, TagGroup, TagRule
from web_world import log_in, page_text
from platform_world import count

START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
embedded_only = pytest.mark.parametrize("backend", ["embedded"], indirect=True)


def group_named(runtime, name: str) -> TagGroup | None:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.scalar(select(TagGroup).where(TagGroup.name == name))


def only_rule(runtime) -> TagRule:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.scalars(select(TagRule)).one()


def customers_with(runtime, tag_id: int, n: int, *, prefix: str) -> list[int]:  # noqa: ANN001
    """``n`` new customers, each tagged ``tag_id`` by hand."""
    with runtime.transaction() as db_session:
        rows = [Customer(nickname=f"{prefix}-{i}") for i in range(n)]
        db_session.add_all(rows)
        db_session.flush()
        ids = [row.id for row in rows]
    for customer_id in ids:
        with runtime.transaction() as db_session:
            service.tag_customer(db_session=db_session, customer_id=customer_id, tag_id=tag_id, on=True,
                                 now=runtime.clock.now(), manager="test")
    return ids


@pytest.fixture
def manager(runtime, client, make_token):  # noqa: ANN001, ANN201
    runtime.clock = FrozenClock(START)
    log_in(client, make_token)
    return client


# ---- groups and tags ------------------------------------------------------------------------

def test_a_manager_creates_a_group_and_a_tag_through_the_forms(runtime, manager):
    assert "标签与人群" in page_text(manager.get("/"))
    created = manager.post("/console/tag-groups", data={"name": " 兴趣 ", "half_life_days": "30", "threshold": "2"})
    assert created.status_code == 302 and created.headers["Location"].endswith("/console/tags")
    group = group_named(runtime, "兴趣")
    assert (group.half_life_days, group.threshold, group.computed) == (30.0, 2.0, False)

    added = manager.post("/console/tags", data={"group": str(group.id), "name": "奶粉"})
    assert added.status_code == 302 and added.headers["Location"].endswith(f"/console/tags#group-{group.id}")
    with runtime.transaction() as db_session:
        assert db_session.scalars(select(Tag.name).where(Tag.group_id == group.id)).all() == ["奶粉"]

    page = page_text(manager.get("/console/tags"))
    assert "标签 兴趣:奶粉 已创建" in page
    assert "奶粉" in page and "30 天" in page and "阈值: 2" in page

    no_decay = manager.post("/console/tag-groups", data={"name": "渠道", "half_life_days": "", "threshold": ""})
    assert no_decay.status_code == 302
    assert (group_named(runtime, "渠道").half_life_days, group_named(runtime, "渠道").threshold) == (None, 1.0)


@embedded_only
@pytest.mark.parametrize(
    ("url", "form", "field"),
    [
        ("/console/tag-groups", {"name": "   ", "half_life_days": "", "threshold": ""}, "name"),
        ("/console/tag-groups", {"name": "一" * 31, "half_life_days": "", "threshold": ""}, "name"),
        ("/console/tag-groups", {"name": "兴趣", "half_life_days": "abc", "threshold": ""}, "half_life_days"),
        ("/console/tag-groups", {"name": "兴趣", "half_life_days": "-1", "threshold": ""}, "half_life_days"),
        ("/console/tag-groups", {"name": "兴趣", "half_life_days": "", "threshold": "nan"}, "threshold"),
        ("/console/tags", {"group": "", "name": "奶粉"}, "group"),
        ("/console/tags", {"group": "GROUP", "name": "奶\x01粉"}, "name"),
        ("/console/tags", {"group": "GROUP", "name": ""}, "name"),
        ("/console/tags", {"group": "99999", "name": "奶粉"}, ""),  # not one of the choices
    ],
)
def test_bad_input_re_renders_422_with_what_was_typed_and_creates_nothing(runtime, manager, url, form, field):
    group_id = create_tag(runtime, "玩具", group="已有")
    with runtime.transaction() as db_session:
        group_id = db_session.get(Tag, group_id).group_id
    form = {k: v.replace("GROUP", str(group_id)) for k, v in form.items()}
    groups, tags = count(runtime, TagGroup), count(runtime, Tag)

    response = manager.post(url, data=form)
    assert response.status_code == 422
    page = page_text(response)
    assert "未保存，没有任何改动" in page and 'role="alert"' in page
    if field:
        assert f"<b>{field}</b>" in page
    if form.get("name", "").strip() and "\x01" not in form["name"]:
        assert f'value="{form["name"].strip()}"' in page  # what was typed is kept
    assert (count(runtime, TagGroup), count(runtime, Tag)) == (groups, tags)


@embedded_only
def test_names_taken_are_conflicts(runtime, manager):
    tag_id = create_tag(runtime, "奶粉", group="兴趣")
    group_id = group_named(runtime, "兴趣").id
    again = manager.post("/console/tag-groups", data={"name": "兴趣", "half_life_days": "", "threshold": ""})
    assert again.status_code == 409 and "exists already" in page_text(again)
    same = manager.post("/console/tags", data={"group": str(group_id), "name": "奶粉"})
    assert same.status_code == 409 and "has a tag 奶粉 already" in page_text(same)
    assert (count(runtime, TagGroup), count(runtime, Tag)) == (1, 1) and tag_id


def test_a_guide_gets_403_and_a_stranger_the_login_page(runtime, client, make_token):
    for path in ("/console/tags", "/console/tag-rules", "/console/audience"):
        assert client.get(path).status_code == 302  # to /login
    log_in(client, make_token, "guide", "G1")
    for path in ("/console/tags", "/console/tag-rules", "/console/audience"):
        assert client.get(path).status_code == 403
    refused = client.post("/console/tag-groups", data={"name": "兴趣", "half_life_days": "", "threshold": ""})
    assert refused.status_code == 403 and count(runtime, TagGroup) == 0
    assert "标签与人群" not in page_text(client.get("/"))


@embedded_only
def test_a_group_s_decay_changes_and_a_tag_is_deleted_after_confirming(runtime, manager):
    milk = create_tag(runtime, "奶粉", group="兴趣", half_life_days=30)
    group_id = group_named(runtime, "兴趣").id

    changed = manager.post(f"/console/tag-groups/{group_id}", data={"half_life_days": "", "threshold": "3"})
    assert changed.status_code == 302 and changed.headers["Location"].endswith(f"#group-{group_id}")
    assert (group_named(runtime, "兴趣").half_life_days, group_named(runtime, "兴趣").threshold) == (None, 3.0)
    bad = manager.post(f"/console/tag-groups/{group_id}", data={"half_life_days": "7", "threshold": "0"})
    assert bad.status_code == 422 and "<b>threshold</b>" in page_text(bad)
    assert 'value="7"' in page_text(bad) and group_named(runtime, "兴趣").half_life_days is None
    assert manager.post("/console/tag-groups/4242", data={"half_life_days": "", "threshold": "1"}).status_code == 404

    unconfirmed = manager.post(f"/console/tags/{milk}/delete", data={})
    assert unconfirmed.status_code == 422 and "<b>confirm</b>" in page_text(unconfirmed) and count(runtime, Tag) == 1
    deleted = manager.post(f"/console/tags/{milk}/delete", data={"confirm": "1"})
    assert deleted.status_code == 302 and count(runtime, Tag) == 0
    assert "标签已删除" in page_text(manager.get("/console/tags"))
    assert manager.post(f"/console/tags/{milk}/delete", data={"confirm": "1"}).status_code == 404
    assert manager.post(f"/console/tags/{milk}/delete", data={}).status_code == 404


@embedded_only
def test_a_computed_group_is_read_only(runtime, manager):
    vip = create_tag(runtime, "高价值", group="RFM", threshold=1.0, computed=True)
    rfm = group_named(runtime, "RFM")
    page = page_text(manager.get("/console/tags"))
    assert "计算</span>" in page and "高价值" in page
    assert f"/console/tag-groups/{rfm.id}" not in page  # no decay form
    assert f"/console/tags/{vip}/delete" not in page  # no delete
    assert f'<option value="{rfm.id}"' not in page  # not offered for new tags

    edit = manager.post(f"/console/tag-groups/{rfm.id}", data={"half_life_days": "5", "threshold": "9"})
    assert edit.status_code == 409 and "is computed" in page_text(edit)
    assert (group_named(runtime, "RFM").half_life_days, group_named(runtime, "RFM").threshold) == (None, 1.0)
    assert manager.post(f"/console/tags/{vip}/delete", data={"confirm": "1"}).status_code == 409
    assert manager.post("/console/tags", data={"group": str(rfm.id), "name": "新"}).status_code == 409
    assert count(runtime, Tag) == 1


def test_the_tag_page_counts_the_customers_carrying_each_tag(runtime, manager):
    milk = create_tag(runtime, "奶粉", group="兴趣")
    toys = create_tag(runtime, "玩具", group="兴趣")
    create_tag(runtime, "门店", group="渠道")
    customers_with(runtime, milk, 4, prefix="m")
    customers_with(runtime, toys, 1, prefix="t")

    page = page_text(manager.get("/console/tags"))
    rows = dict(re.findall(r'<tr id="tag-(\d+)">.*?<a class="count" [^>]*>(\d+)</a>', page, re.S))
    assert rows == {str(milk): "4", str(toys): "1", str(milk + 2): "0"}
    assert re.search(rf'id="tag-{milk}">.*?width:100\.0%', page, re.S)
    assert re.search(rf'id="tag-{toys}">.*?width:25\.0%', page, re.S)
    assert "/console/audience?expr=" in page  # each count opens its audience


# ---- rules ----------------------------------------------------------------------------------

@embedded_only
def test_a_keyword_rule_through_the_form_fires_in_the_try_box_until_disabled(runtime, manager):
    milk = create_tag(runtime, "奶粉", group="兴趣")
    created = manager.post("/console/tag-rules", data={
        "kind": "keyword", "pattern": "奶粉", "synonyms": "配方奶、牛奶粉", "tag_id": str(milk), "weight": "2",
    })
    assert created.status_code == 302, page_text(created)
    rule = only_rule(runtime)
    assert (rule.kind, rule.pattern, rule.synonyms, rule.weight, rule.enabled, rule.substring) == (
        "keyword", "奶粉", ["配方奶", "牛奶粉"], 2.0, True, False)
    listed = page_text(manager.get("/console/tag-rules"))
    assert f'id="rule-{rule.id}"' in listed and "配方奶、牛奶粉" in listed and "兴趣:奶粉" in listed

    tried = manager.get("/console/tag-rules", query_string={"text": "我想给宝宝买配方奶"})
    assert tried.status_code == 200
    page = page_text(tried)
    tokens = re.findall(r"<li(?: class=\"hit\"[^>]*)?>([^<]+)</li>", page.split('aria-label="分词"')[1].split("</ul>")[0])
    assert "配方奶" in tokens and "".join(tokens) == "我想给宝宝买配方奶"
    assert '<li class="hit" title="关键词">配方奶</li>' in page
    fired = page.split('id="fired"')[1]
    assert f"#{rule.id}</a>" in fired and "兴趣:奶粉" in fired

    disabled = manager.post(f"/console/tag-rules/{rule.id}/enabled", data={"enabled": "0"})
    assert disabled.status_code == 302 and only_rule(runtime).enabled is False
    assert ">停用</span>" in page_text(manager.get("/console/tag-rules"))
    quiet = page_text(manager.get("/console/tag-rules", query_string={"text": "我想给宝宝买配方奶"}))
    assert "没有关键词规则命中" in quiet

    assert manager.post(f"/console/tag-rules/{rule.id}/enabled", data={"enabled": "1"}).status_code == 302
    assert only_rule(runtime).enabled is True
    assert manager.post(f"/console/tag-rules/{rule.id}/delete", data={}).status_code == 422
    assert manager.post(f"/console/tag-rules/{rule.id}/delete", data={"confirm": "1"}).status_code == 302
    assert count(runtime, TagRule) == 0
    assert manager.post(f"/console/tag-rules/{rule.id}/enabled", data={"enabled": "0"}).status_code == 404
    assert manager.post(f"/console/tag-rules/{rule.id}/delete", data={"confirm": "1"}).status_code == 404


@embedded_only
@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"kind": "keyword", "pattern": "奶 粉"}, "pattern"),  # no space in a whole-word keyword
        ({"kind": "keyword", "pattern": "奶粉", "synonyms": "奶粉"}, "synonyms.0"),
        ({"kind": "keyword", "pattern": "奶粉", "weight": "heavy"}, "weight"),
        ({"kind": "event", "pattern": "dance"}, "pattern"),
        ({"kind": "click", "pattern": "K", "synonyms": "x"}, "synonyms"),
        ({"kind": "magic", "pattern": "x"}, "kind"),
        ({"kind": "keyword", "pattern": "奶粉", "tag_id": ""}, "tag_id"),
        ({"kind": "keyword", "pattern": "奶粉", "tag_id": "777"}, "tag_id"),
        ({"kind": "keyword", "pattern": "奶粉", "tag_id": "COMPUTED"}, "tag_id"),
    ],
)
def test_a_bad_rule_re_renders_422_and_creates_nothing(runtime, manager, form, field):
    milk = create_tag(runtime, "奶粉", group="兴趣")
    computed = create_tag(runtime, "流失", group="生命周期", computed=True)
    data = {"synonyms": "", "weight": "", "tag_id": str(milk), **form}
    data["tag_id"] = data["tag_id"].replace("COMPUTED", str(computed))
    response = manager.post("/console/tag-rules", data=data)
    assert response.status_code == 422
    assert f"<b>{field}</b>" in page_text(response) and count(runtime, TagRule) == 0


@embedded_only
def test_rules_filter_by_kind_and_tag(runtime, manager):
    milk = create_tag(runtime, "奶粉", group="兴趣")
    toys = create_tag(runtime, "玩具", group="兴趣")
    for kind, pattern, tag in (("keyword", "奶粉", milk), ("click", "MENU_TOYS", toys), ("keyword", "积木", toys)):
        assert manager.post("/console/tag-rules", data={"kind": kind, "pattern": pattern, "tag_id": str(tag),
                                                        "synonyms": "", "weight": ""}).status_code == 302

    def shown(**query) -> set[str]:  # noqa: ANN003
        page = page_text(manager.get("/console/tag-rules", query_string=query))
        return set(re.findall(r"<td class=\"wrap\"><code>([^<]+)</code>", page))

    assert shown() == {"奶粉", "MENU_TOYS", "积木"}
    assert shown(kind="keyword") == {"奶粉", "积木"}
    assert shown(tag_id=toys) == {"MENU_TOYS", "积木"}
    assert shown(kind="keyword", tag_id=toys) == {"积木"}
    assert shown(kind="nonsense", tag_id="x") == {"奶粉", "MENU_TOYS", "积木"}  # a bad filter is no filter
    # An action keeps the filters it was taken under.
    rule_id = only_rule_named(runtime, "积木").id
    back = manager.post(f"/console/tag-rules/{rule_id}/enabled",
                        data={"enabled": "0", "filter_kind": "keyword", "filter_tag_id": str(toys)})
    assert back.headers["Location"].endswith(f"/console/tag-rules?kind=keyword&tag_id={toys}#rule-{rule_id}")


def only_rule_named(runtime, pattern: str) -> TagRule:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.scalars(select(TagRule).where(TagRule.pattern == pattern)).one()


@embedded_only
def test_the_try_box_refuses_an_empty_message(runtime, manager):
    response = manager.get("/console/tag-rules", query_string={"text": "  "})
    assert response.status_code == 422 and "<b>text</b>" in page_text(response)


# ---- audiences ------------------------------------------------------------------------------

def test_the_audience_page_counts_a_valid_expression_and_marks_a_bad_one(runtime, manager):
    milk = create_tag(runtime, "奶粉", group="兴趣")
    lost = create_tag(runtime, "流失", group="生命周期")
    create_tag(runtime, "双十一 活动", group="活动")
    milk_buyers = customers_with(runtime, milk, 3, prefix="m")
    with runtime.transaction() as db_session:
        service.tag_customer(db_session=db_session, customer_id=milk_buyers[0], tag_id=lost, on=True,
                             now=runtime.clock.now(), manager="test")

    blank = manager.get("/console/audience")
    assert blank.status_code == 200
    builder = page_text(blank)
    assert 'data-term="奶粉"' in builder and 'data-term=""双十一 活动""' in builder  # quoted: it has a space
    assert "/console/audience/count" in builder and "setTimeout(ask, 300)" in builder

    counted = manager.get("/console/audience", query_string={"expr": "奶粉 & !流失"})
    assert counted.status_code == 200
    page = page_text(counted)
    assert re.search(r'<p class="count"><b>2</b>', page)
    assert "#%d m-1" % milk_buyers[1] in page and "#%d m-0" % milk_buyers[0] not in page
    assert 'value="奶粉 & !流失"' in page

    bad = manager.get("/console/audience", query_string={"expr": "奶粉 & ("})
    assert bad.status_code == 422
    page = page_text(bad)
    assert "expected a tag name at 6" in page and "位置 6" in page
    assert '<code class="expr">奶粉 & (<mark> </mark></code>' in page
    unknown = page_text(manager.get("/console/audience", query_string={"expr": "奶粉 | 奶茶"}))
    assert '<code class="expr">奶粉 | <mark>奶</mark>茶</code>' in unknown

    # The live count asks the API's view at a console path, with the page's session: no token in
    # the page, and the session does not open /api/ itself (Bearer only).
    live = manager.get("/console/audience/count", query_string={"expr": "奶粉 & ("})
    assert live.status_code == 422 and live.get_json()["position"] == 6
    assert manager.get("/console/audience/count", query_string={"expr": "奶粉"}).get_json()["count"] == 3
    assert manager.get("/api/tags/audience", query_string={"expr": "奶粉"}).status_code == 401


@embedded_only
def test_a_tag_in_two_groups_is_offered_as_group_and_tag(runtime, manager):
    create_tag(runtime, "新客", group="生命周期")
    create_tag(runtime, "新客", group="渠道")
    create_tag(runtime, "a(b)", group="兴趣")
    page = page_text(manager.get("/console/audience"))
    assert 'data-term="生命周期:新客"' in page and 'data-term="渠道:新客"' in page
    assert 'data-term=""a(b)""' in page  # quoted: ( and ) are operators
    assert manager.get("/console/audience", query_string={"expr": '"a(b)" | 渠道:新客'}).status_code == 200


# ---- the live count, in a real browser -----------------------------------------------------

@pytest.mark.slow
@embedded_only
def test_the_audience_count_follows_the_typing_in_a_browser(browser, stack, make_token):
    from playwright.sync_api import expect

    runtime = stack.runtime
    milk = create_tag(runtime, "奶粉", group="兴趣")
    create_tag(runtime, "流失", group="生命周期")
    customers_with(runtime, milk, 2, prefix="m")

    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(stack.url + "/login?next=/console/audience")
    page.fill("#token", make_token("manager"))
    page.click("button[type=submit]")
    expect(page).to_have_url(stack.url + "/console/audience")

    page.locator("#expr").press_sequentially("奶粉 & (")
    expect(page.locator("#result mark")).to_have_text(" ")  # past the end: where the tag name is missing
    expect(page.locator("#result")).to_contain_text("位置 6")
    assert page.locator("#expr").get_attribute("aria-invalid") == "true"

    page.locator("#expr").fill("")
    page.locator("a.pick[data-term='奶粉']").click()  # the picker inserts the tag's term
    page.locator("button[data-op='!']").click()
    expect(page.locator("#expr")).to_have_value("奶粉!")
    expect(page.locator("#result mark")).to_have_text("!")
    page.locator("#expr").fill("奶粉")
    page.locator("#expr").press("End")
    page.locator("a.pick[data-term='流失']").click()
    expect(page.locator("#expr")).to_have_value("奶粉 & 流失")
    expect(page.locator("#result .count b")).to_have_text("0")
    page.locator("#expr").fill("奶粉 & !流失")
    expect(page.locator("#result .count b")).to_have_text("2")
    expect(page.locator("#result .chips li")).to_have_count(2)
    assert page.url == stack.url + "/console/audience"  # counted without leaving the page
    assert errors == []
    context.close()
