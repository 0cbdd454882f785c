"""The defaults make one firing count (SPEC §5): a group made with a blank threshold and a rule
with a blank weight tag a customer on one message, for one half-life (for ever without decay);
the console says how long one firing keeps a tag, and the try box which tags a message would
add now, and until when, as the webhook then does."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from scrm.clock import FrozenClock
from tag_world import carried, create_tag, tag_entries, text
from tagging.console_views import one_firing
from tagging.models import Tag, TagGroup, TagRule
from web_world import log_in, page_text

START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai, the brand's zone


@pytest.fixture
def manager(runtime, client, make_token):  # noqa: ANN001, ANN201
    runtime.clock = FrozenClock(START)
    log_in(client, make_token)
    return client


def add_group_tag_rule(runtime, manager, *, group: str, word: str,  # noqa: ANN001
                       half_life: str = "", threshold: str = "", weight: str = "") -> tuple[int, int]:
    """Through the console's forms, blanks left blank: the tag's id and the rule's."""
    with runtime.transaction() as db_session:
        group_id = db_session.scalar(select(TagGroup.id).where(TagGroup.name == group))
    if group_id is None:
        made = manager.post("/console/tag-groups",
                            data={"name": group, "half_life_days": half_life, "threshold": threshold})
        assert made.status_code == 302, page_text(made)
        with runtime.transaction() as db_session:
            group_id = db_session.scalar(select(TagGroup.id).where(TagGroup.name == group))
    with runtime.transaction() as db_session:
        tag_id = db_session.scalar(select(Tag.id).where(Tag.group_id == group_id, Tag.name == word))
    if tag_id is None:
        assert manager.post("/console/tags", data={"group": str(group_id), "name": word}).status_code == 302
        with runtime.transaction() as db_session:
            tag_id = db_session.scalar(select(Tag.id).where(Tag.group_id == group_id, Tag.name == word))
    made = manager.post("/console/tag-rules", data={"kind": "keyword", "pattern": word, "synonyms": "",
                                                    "tag_id": str(tag_id), "weight": weight})
    assert made.status_code == 302, page_text(made)
    with runtime.transaction() as db_session:
        rule_id = db_session.scalar(select(TagRule.id).order_by(TagRule.id.desc()).limit(1))
    return tag_id, rule_id


def rule_row(page: str, rule_id: int) -> str:
    return page.split(f'id="rule-{rule_id}"')[1].split("</tr>")[0]


# ---- the defaults -----------------------------------------------------------------------------

def test_one_message_with_the_console_s_defaults_tags_the_customer_for_one_half_life(runtime, manager):
    tag_id, rule_id = add_group_tag_rule(runtime, manager, group="兴趣", word="奶粉", half_life="7")
    with runtime.transaction() as db_session:
        assert db_session.get(TagGroup, db_session.get(Tag, tag_id).group_id).threshold == 1.0
        assert db_session.get(TagRule, rule_id).weight == 2.0

    text(runtime, manager, "我想买奶粉")
    assert carried(runtime) == {"奶粉"}
    assert tag_entries(runtime) == [("tag_added", "奶粉", str(rule_id))]
    runtime.clock.advance(days=7)  # 2 · 0.5 = 1, the threshold: still carried
    assert carried(runtime) == {"奶粉"}
    runtime.clock.advance(seconds=1)
    assert carried(runtime) == set()


def test_without_decay_one_message_with_the_defaults_tags_for_ever(runtime, manager):
    add_group_tag_rule(runtime, manager, group="身份", word="会员")
    text(runtime, manager, "我是会员")
    runtime.clock.advance(days=3650)
    assert carried(runtime) == {"会员"}


def test_the_api_s_defaults_are_threshold_1_and_weight_2(runtime, client, auth):
    headers = auth("manager")
    group = client.post("/api/tag-groups", json={"name": "兴趣", "half_life_days": 30}, headers=headers)
    assert group.status_code == 201 and group.get_json()["threshold"] == 1.0
    tag_id = create_tag(runtime, "奶粉", group="兴趣")
    rule = client.post("/api/tag-rules", json={"kind": "keyword", "pattern": "奶粉", "tag_id": tag_id}, headers=headers)
    assert rule.status_code == 201 and rule.get_json()["weight"] == 2.0


# ---- the console says how long one firing keeps a tag ----------------------------------------

def test_the_wording_of_how_long_one_firing_keeps_a_tag(app):
    def says(*args, **kwargs) -> str:  # noqa: ANN002, ANN003
        return one_firing(*args, **kwargs).text

    assert says(2, 7, 1) == "一次触发保持标签约 7 天"
    assert says(3, 7, 1) == "一次触发保持标签约 11 天"  # 7 · log2 3
    assert says(3, 7, 2) == "一次触发保持标签约 4.1 天"
    assert says(2.1, 7, 2) == "一次触发保持标签约 12 小时"
    assert says(2.01, 7, 2) == "一次触发保持标签约 1.2 小时"
    assert says(2.001, 7, 2) == "一次触发保持标签约 7 分钟"
    assert says(2, None, 1) == "一次触发一直保持标签（不衰减）"
    assert says(2, None, 1, say_weight=True).startswith("一次触发（权重 2）一直保持标签")
    assert says(1, 7, 2) == "不足以打上标签：一次触发得 1 分，低于阈值 2"
    assert says(1, None, 2).startswith("不足以打上标签")  # no decay does not help a score below
    assert says(1, 7, 1).startswith("一次触发只在那一刻打上标签")  # the old defaults
    assert [one_firing(*case).warn for case in ((2, 7, 1), (2, None, 1), (1, 7, 2), (1, 7, 1))] == [
        False, False, True, True]
    with app.test_request_context("/console/tags", headers={"Accept-Language": "en"}):  # a reader of English
        assert says(2, 7, 1) == "One firing keeps the tag for about 7 days"
        assert says(3, 7, 2) == "One firing keeps the tag for about 4.1 days"
        assert says(2.1, 7, 2, say_weight=True) == "One firing (weight 2.1) keeps the tag for about 12 hours"
        assert says(2.001, 7, 2) == "One firing keeps the tag for about 7 minutes"
        assert says(2, None, 1) == "One firing keeps the tag for ever (no decay)"
        assert says(1, 7, 2) == "One firing scores 1, below the threshold 2: not enough to tag"
        assert says(2, 1, 1) == "One firing keeps the tag for about 1 day"


def test_rules_and_groups_say_how_long_one_firing_keeps_their_tag(runtime, manager):
    _, decaying = add_group_tag_rule(runtime, manager, group="兴趣", word="奶粉", half_life="7")
    _, held = add_group_tag_rule(runtime, manager, group="身份", word="会员")
    _, short = add_group_tag_rule(runtime, manager, group="积分", word="积分", half_life="30", threshold="5")
    rules = page_text(manager.get("/console/tag-rules"))
    assert re.search(r"<title>(.*?)</title>", rules, re.S).group(1) == "打标签规则 · SCRM"
    assert "一次触发保持标签约 7 天" in rule_row(rules, decaying)
    assert "一次触发一直保持标签（不衰减）" in rule_row(rules, held)
    assert "不足以打上标签：一次触发得 2 分，低于阈值 5" in rule_row(rules, short)

    tags = page_text(manager.get("/console/tags"))
    assert re.search(r"<title>(.*?)</title>", tags, re.S).group(1) == "标签 · SCRM"
    groups = {g.name: g.id for g in _groups(runtime)}
    assert "一次触发（权重 2）保持标签约 7 天" in tags.split(f'id="keeps-{groups["兴趣"]}"')[1].split("</p>")[0]
    assert "一次触发（权重 2）一直保持标签" in tags.split(f'id="keeps-{groups["身份"]}"')[1].split("</p>")[0]
    assert "不足以打上标签" in tags.split(f'id="keeps-{groups["积分"]}"')[1].split("</p>")[0]
    assert f'class="keeps warn" id="keeps-{groups["积分"]}"' in tags  # shown as a warning
    assert f'class="keeps" id="keeps-{groups["兴趣"]}"' in tags
    # the new group form, as first shown: the defaults, no decay
    assert "一次触发（权重 2）一直保持标签" in tags.split('id="new-group-keeps"')[1].split("</p>")[0]


def test_a_form_re_rendered_with_an_error_says_it_for_what_was_typed(runtime, manager):
    milk = create_tag(runtime, "奶粉", group="兴趣", half_life_days=7)
    refused = manager.post("/console/tag-rules", data={"kind": "keyword", "pattern": "奶 粉", "tag_id": str(milk),
                                                       "weight": "4", "synonyms": ""})
    assert refused.status_code == 422
    assert "保持标签约 14 天" in page_text(refused).split('id="rule-keeps"')[1].split("</p>")[0]  # 7 · log2 4
    group = manager.post("/console/tag-groups", data={"name": "", "half_life_days": "10", "threshold": "1"})
    assert group.status_code == 422
    assert "保持标签约 10 天" in page_text(group).split('id="new-group-keeps"')[1].split("</p>")[0]


def test_the_forms_ask_as_they_are_typed(runtime, manager, client, make_token):
    milk = create_tag(runtime, "奶粉", group="兴趣", half_life_days=7)
    rfm = create_tag(runtime, "高价值", group="RFM", computed=True)
    url = "/console/tags/one-firing"
    assert manager.get(url, query_string={"tag_id": milk, "weight": "3"}).get_json() == {
        "text": "一次触发保持标签约 11 天", "warn": False}
    assert manager.get(url, query_string={"tag_id": milk, "weight": "0.5"}).get_json()["warn"] is True
    assert manager.get(url, query_string={"tag_id": milk, "weight": ""}).get_json()["text"].startswith("一次触发保持标签约 7 天")
    assert manager.get(url, query_string={"half_life_days": "30", "threshold": ""}).get_json()["text"].startswith(
        "一次触发（权重 2）保持标签约 30 天")
    assert "不衰减" in manager.get(url, query_string={"half_life_days": "", "threshold": "2"}).get_json()["text"]
    bad_numbers = ({"weight": "heavy"}, {"threshold": "0"}, {"half_life_days": "-1"}, {"weight": "nan"},
                   {"weight": "101"})
    for bad in bad_numbers:
        assert manager.get(url, query_string=bad).status_code == 422, bad
    assert manager.get(url, query_string={"tag_id": rfm}).status_code == 404  # no rule sets a computed tag
    assert manager.get(url, query_string={"tag_id": 4242}).status_code == 404
    log_in(client, make_token, role="guide", guide_code="G1")
    assert client.get(url, query_string={"tag_id": milk}).status_code == 403


def _groups(runtime) -> list[TagGroup]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return list(db_session.scalars(select(TagGroup)))


# ---- the try box tells the truth -------------------------------------------------------------

def test_the_try_box_says_which_tags_a_message_adds_until_when_as_the_webhook_does(runtime, manager):
    add_group_tag_rule(runtime, manager, group="兴趣", word="奶粉", half_life="7")
    add_group_tag_rule(runtime, manager, group="身份", word="会员")
    add_group_tag_rule(runtime, manager, group="积分", word="积分", half_life="30", threshold="5")
    message = "我是会员，有积分，想买奶粉"

    page = page_text(manager.get("/console/tag-rules", query_string={"text": message}))
    items = page.split('id="outcomes"')[1].split("</ul>")[0].split("<li")[1:]
    outcomes = {li.split("</b>")[0].split("<b>")[1]: li for li in items}
    assert set(outcomes) == {"兴趣:奶粉", "身份:会员", "积分:积分"}
    assert "+2 — 打上，保持到 2026-11-09 10:00" in outcomes["兴趣:奶粉"] and "约 7 天" in outcomes["兴趣:奶粉"]
    assert "打上，一直保持" in outcomes["身份:会员"]
    assert "+2 — 不打上" in outcomes["积分:积分"] and "不足以打上标签" in outcomes["积分:积分"]

    text(runtime, manager, message)
    assert carried(runtime) == {"奶粉", "会员"}
    runtime.clock.advance(days=7)
    assert carried(runtime) == {"奶粉", "会员"}
    runtime.clock.advance(minutes=1)
    assert carried(runtime) == {"会员"}


def test_rules_of_one_tag_add_up_in_the_try_box_as_in_the_webhook(runtime, manager):
    tag_id, _ = add_group_tag_rule(runtime, manager, group="促销", word="优惠", half_life="30", threshold="5")
    create = {"kind": "keyword", "pattern": "兑换", "synonyms": "", "tag_id": str(tag_id), "weight": "3"}
    assert manager.post("/console/tag-rules", data=create).status_code == 302
    page = page_text(manager.get("/console/tag-rules", query_string={"text": "积分兑换有优惠吗"}))
    outcome = page.split('id="outcomes"')[1].split("</ul>")[0]
    assert "<b>促销:优惠</b> +5 — 打上" in outcome and "只在那一刻打上标签" in outcome  # 2 + 3: just the threshold
    alone = page_text(manager.get("/console/tag-rules", query_string={"text": "有优惠吗"}))
    assert "<b>促销:优惠</b> +2 — 不打上" in alone.split('id="outcomes"')[1]

    text(runtime, manager, "积分兑换有优惠吗")
    assert carried(runtime) == {"优惠"}  # at that moment, as the box said
    runtime.clock.advance(seconds=1)
    assert carried(runtime) == set()
