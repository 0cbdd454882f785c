"""``scrm demo``'s first hour and history (SPEC §10): reply rules, the menu, tag rules that fire
on one message, a campaign and a journey, seeded once; 30 days of backfilled history whose
funnel adds up; simulated customers that exist in the sandbox's WeChat world, so a campaign
reaches them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

import tag_world
from campaign_world import deliveries, fire
from guides.models import Binding, Guide
from scrm import demo_history
from scrm import simulator_corpus as corpus
from scrm.demo import seed_demo_brand
from scrm.demo_seed import KEYWORD_REPLIES, TAG_GROUPS, seed_first_hour
from scrm.demo_groups import CODE_NAME, seed_community
from scrm.groups.models import (
    CustomerGroup,
    GroupCode,
    GroupCodeChat,
    GroupCodeWay,
    GroupMember,
    GroupSop,
    GroupSopStep,
    GroupWelcomeTemplate,
)
from scrm.groups.sync import sync_groups
from scrm.outreach import campaigns
from scrm.outreach.models import Campaign
from scrm.outreach.schemas import CampaignIn, parse
from scrm.replies.models import MPMenu, ReplyRule
from scrm.sandbox import world
from scrm.simulator import make_plan
from scrm.simulator_world import World
from tagging.models import Tag, TagGroup, TagRule


@pytest.fixture
def config_overrides():  # noqa: ANN201
    return {"outreach.quiet_hours": ""}  # whatever the hour the test runs at, a campaign goes now


def _counts(runtime) -> dict[str, int]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return {model.__name__: db_session.scalar(select(func.count()).select_from(model))
                for model in (ReplyRule, MPMenu, TagGroup, Tag, TagRule, Campaign)}


def test_seeding_the_first_hour_twice_adds_nothing_the_second_time(runtime):
    seed_demo_brand(runtime)
    made = seed_first_hour(runtime)
    counts = _counts(runtime)

    assert seed_first_hour(runtime) == []
    seed_demo_brand(runtime)
    assert _counts(runtime) == counts
    rules = sum(len(tags) for _, _, tags in TAG_GROUPS)
    assert counts == {"ReplyRule": 1 + len(KEYWORD_REPLIES), "MPMenu": 1, "TagGroup": len(TAG_GROUPS),
                      "Tag": rules, "TagRule": rules, "Campaign": 2}
    assert "follow greeting" in made and any(line.startswith("journey") for line in made)
    runtime.queue.run_pending()  # menu/create, played by the sandbox
    with runtime.transaction() as db_session:
        menu = db_session.scalar(select(MPMenu))
        assert menu.status == "published", menu.error
        assert [b["name"] for b in menu.buttons] == ["新品", "我的优惠券", "会员"]
        assert menu.buttons[1]["key"] == runtime.config.coupons.menu_key
        assert [(b["name"], b.get("key") or b.get("url")) for b in menu.buttons[2]["sub_button"]] == [
            ("会员中心", runtime.config.members.menu_key), ("商城", "https://shop.example.com/")]
        statuses = {name: status for name, status in db_session.execute(select(Campaign.name, Campaign.status))}
    assert sorted(statuses.values()) == ["draft", "scheduled"]  # the campaign to 兴趣:奶粉, the welcome journey


@pytest.mark.parametrize(("message", "tag", "answer"), [
    ("我想给宝宝买点辅食", "辅食", None),  # jieba cuts 辅/食 unless the rule's word is in its dictionary
    ("你好，请问飞鹤奶粉有货吗？", "奶粉", "奶粉满 299 元"),
    ("拉拉裤和尿不湿哪个好", "尿不湿", None),
])
def test_one_keyword_message_tags_its_sender_with_the_seeded_rules(runtime, client, message, tag, answer):
    seed_first_hour(runtime)
    before = tag_world.carried(runtime, "oDemoSeed")

    reply = tag_world.text(runtime, client, message, openid="oDemoSeed")
    runtime.queue.run_pending()

    assert tag not in before and tag in tag_world.carried(runtime, "oDemoSeed")
    if answer is not None:
        assert answer in reply.get_data(as_text=True)


def test_the_backfilled_history_binds_customers_to_guides_and_its_funnel_adds_up(stack, client):
    runtime = stack.runtime
    brand = seed_demo_brand(runtime)
    seed_first_hour(runtime)
    runtime.queue.run_pending()  # the guides' codes and the menu, as the demo's worker makes them
    assert not demo_history.has_history(runtime)
    lines: list[str] = []

    summary = demo_history.backfill(runtime, stack.url, brand.admin_token, echo=lines.append, customers=30)
    runtime.queue.run_pending()

    assert summary.all_accepted, summary.lines()
    assert demo_history.has_history(runtime)
    assert any("guides G001, G002, G003" in line for line in lines), lines
    headers = {"Authorization": f"Bearer {brand.admin_token}"}
    stages = client.get("/api/stats/funnel", headers=headers).get_json()["stages"]
    counts = [stage["count"] for stage in stages]
    assert counts[0] > 0 and all(later <= earlier for earlier, later in zip(counts, counts[1:])), stages
    with runtime.transaction() as db_session:
        query = select(Guide.code, func.count()).join(Binding, Binding.guide_id == Guide.id).group_by(Guide.code)
        bound = {code: count for code, count in db_session.execute(query)}
    assert len(bound) >= 2 and sum(bound.values()) > 0, bound
    with runtime.transaction() as db_session:  # customer groups of the customers who added a guide, linked to them
        groups = {g.name: (g.owner_guide_id, g.external_count) for g in db_session.scalars(select(CustomerGroup))}
        linked = db_session.scalar(select(func.count()).select_from(GroupMember)
                                   .where(GroupMember.customer_id.is_not(None)))
    assert groups and all(owner and count for owner, count in groups.values()), groups
    assert linked > 0 and any(f"customer groups: {len(groups)}" in line for line in lines), lines

    # Every simulated follower is in the sandbox's WeChat world: a campaign to all of them is
    # delivered to those within WeChat's 48 h window, refused for the others as WeChat would
    # (45015), and never fails as an unknown openid (40003).
    followers = world.follower_openids(runtime.redis, subscribed=True)
    assert len(followers) >= 20
    body = {"name": "回访", "audience": {}, "channel": "mp_custom", "content": {"kind": "text", "text": "好久不见"},
            "schedule": {"kind": "once", "at": (runtime.clock.now() - timedelta(minutes=1)).isoformat()}}
    with runtime.transaction() as db_session:
        campaign = campaigns.create_campaign(db_session=db_session, campaign_in=parse(CampaignIn, body, what="campaign"),
                                             at=runtime.clock.now())
    run_id = fire(runtime, campaign.id)
    runtime.queue.run_pending()
    done = deliveries(runtime, run_id)
    assert done and not any("40003" in (d.last_error or "") or d.reason == "invalid_openid" for d in done), \
        {(d.status, d.reason, d.last_error) for d in done}
    assert any(d.status == "sent" for d in done), {(d.status, d.reason) for d in done}


def test_scrm_simulate_puts_its_customers_in_the_sandbox_world_it_shares(served_cli, stack):
    result = served_cli("simulate", "--customers", "4", "--days", "2", "--rate", "0", "--seed", "9",
                        "--retry-fraction", "0", "--order-fraction", "0", "--work-fraction", "0")

    assert result.exit_code == 0, result.output
    assert "the server's sandbox WeChat learns each simulated customer" in result.output
    plan = make_plan(customers=4, days=2, seed=9, retry_fraction=0, work_fraction=0,
                     world=World((), (), corpus.TEXTS, (stack.runtime.config.coupons.menu_key,), (), ""))
    openids = {c.user for c in plan.callbacks}
    left = {c.user for c in plan.callbacks if c.kind == "unfollow"}
    assert set(world.follower_openids(stack.runtime.redis)) >= openids
    assert set(world.follower_openids(stack.runtime.redis, subscribed=True)) & openids == openids - left


def test_scrm_simulate_with_a_token_leaves_the_sandbox_world_alone(served_cli, stack, make_token):
    result = served_cli("simulate", "--customers", "2", "--days", "1", "--rate", "0", "--seed", "9",
                        "--order-fraction", "0", "--work-fraction", "0", "--token", make_token("manager"))

    assert result.exit_code == 0, result.output
    assert "sandbox WeChat learns" not in result.output
    assert world.follower_openids(stack.runtime.redis) == []


def _community(runtime) -> dict[str, int]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return {model.__name__: db_session.scalar(select(func.count()).select_from(model))
                for model in (GroupWelcomeTemplate, GroupCode, GroupCodeChat, GroupCodeWay, GroupSop, GroupSopStep,
                              GroupMember)}


def test_the_demo_s_groups_get_a_live_code_a_welcome_an_sop_and_joins_on_past_days_once(stack, client):
    runtime = stack.runtime
    brand = seed_demo_brand(runtime)
    chat_ids = [chat_id for chat_id, _, _ in demo_history.GROUPS]
    for chat_id, owner, name in demo_history.GROUPS:  # as the history leaves them: two guides' groups, read
        world.add_group_chat(runtime.redis, chat_id, owner=owner, name=name, external_userids=[f"wm{chat_id}{n}"
                             for n in range(3)], at=runtime.clock.now() - timedelta(days=20))
    sync_groups()

    made = seed_community(runtime, chat_ids)
    counts = _community(runtime)

    assert len(made) == 3 and "10 joins through it" in made[1], made
    assert seed_community(runtime, chat_ids) == []  # a second scrm demo adds nothing
    assert _community(runtime) == counts
    headers = {"Authorization": f"Bearer {brand.admin_token}"}
    code = client.get("/api/group-codes", headers=headers).get_json()["group_codes"]
    assert [(c["name"], c["member_limit"], [g["chat_id"] for g in c["groups"]]) for c in code] == [
        (CODE_NAME, 200, chat_ids)]
    detail = client.get(f"/api/group-codes/{code[0]['id']}", headers=headers).get_json()
    days = [d for d in detail["days"] if d["joined"]]
    assert detail["joined"] == 10 and len(days) == 6, detail["days"]  # on the six days before today
    assert detail["joined_7_days"] == 10 and detail["joined_today"] == 0
    welcome = client.get("/api/group-welcome-templates", headers=headers).get_json()
    template = next(t for t in welcome["templates"] if t["name"] == "新人欢迎")
    assert detail["welcome_template_id"] == template["id"] and "%NICKNAME%" in template["text"]
    applied = {chat_id: world.get_group_chat(runtime.redis, chat_id).get("welcome_template_id") for chat_id in chat_ids}
    assert applied == dict.fromkeys(chat_ids, template["template_id"])  # the owners set it in (the sandbox's) WeCom
    sops = client.get("/api/group-sops", headers=headers).get_json()["sops"]
    assert [(s["name"], s["selector"], s["groups"], [(st["day_offset"], st["time"]) for st in s["steps"]])
            for s in sops] == [("新群七天SOP", {"kind": "code", "value": str(code[0]["id"])}, 2,
                                [(0, "10:00"), (3, "20:00")])]
    by_day = client.get("/api/group-stats?by=day", headers=headers).get_json()["rows"]  # 社群数据
    assert sum(row["joined"] for row in by_day[-7:]) == 10, by_day
