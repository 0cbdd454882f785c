"""``scrm demo``'s first hour (SPEC §10): what a community manager sets up before anything
happens, so the demo's customers hear something and get tagged from their first message.

- reply rules: a follow greeting in Chinese and keyword replies to what the simulator's
  customers say (:mod:`scrm.simulator_corpus`: 优惠券, 营业时间, 门店, 奶粉);
- the account's menu: 新品 / 我的优惠券 (``coupons.menu_key``) / 会员 (会员中心 on
  ``members.menu_key``, 商城), saved and published through the queued ``menu/create``;
- tag groups and rules with the console's defaults (weight 2, threshold 1: one firing carries
  the tag for a half-life): 兴趣 from keywords, 行为 from menu clicks and views (渠道 comes
  from the code that binds a customer: guides/channel_tags.py makes those tags itself). Every keyword is one jieba
  token in the corpus's sentences once it is in the rules' dictionary (辅食 is cut 辅/食
  without it; tagging/keywords.py adds every rule's words);
- a draft campaign to a tag (兴趣:奶粉), and the welcome journey, launched (it greets every
  customer a guide binds from then on).

Idempotent, as :mod:`scrm.demo`: each thing is looked up by its name (a rule by its keyword
or pattern) and made only when missing, so a second run adds nothing.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from scrm.coupons.models import CouponTemplate
from scrm.outreach import campaigns, journeys
from scrm.outreach.models import Campaign
from scrm.outreach.schemas import CampaignIn
from scrm.outreach.schemas import parse as parse_campaign
from scrm.replies import menu as menu_service
from scrm.replies import service as replies
from scrm.replies.models import ReplyRule
from scrm.replies.schemas import parse_rule as parse_reply_rule
from tagging import rules as tag_rules
from tagging import service as tags
from tagging.models import Tag, TagGroup, TagRule
from tagging.schemas import GroupIn, TagIn
from tagging.schemas import parse_rule as parse_tag_rule

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

GREETING = ("欢迎关注英氏母婴！🎉\n回复「优惠券」领取新客礼，回复「门店」查看附近门店，"
            "点击菜单「我的优惠券」随时查看您的券。")
# match, keyword, reply text: the words the simulator's customers use (scrm/simulator_corpus.py)
KEYWORD_REPLIES = (
    ("contains", "优惠券", "您的优惠券都在菜单「我的优惠券」里；新客扫导购码添加导购即送婴儿围兜一份。"),
    ("contains", "营业时间", "门店营业时间：每天 10:00-22:00，节假日照常营业。"),
    ("contains", "门店", "上海静安店：南京西路 1 号；北京三里屯店：三里屯路 19 号。欢迎到店体验！"),
    ("contains", "奶粉", "奶粉满 299 元赠英氏米粉试用装；想了解适合宝宝的段数，回复「导购」或到店咨询。"),
)
SHOP_URL = "https://shop.example.com/"
NEW_ARRIVALS_KEY = "MENU_NEW_ARRIVALS"
# group, half-life in days, [(tag, kind, pattern, synonyms)]. No 渠道 rules: guides/channel_tags.py
# already tags a customer bound by a code with its kind and channel (渠道: 导购码-公众号, 门店码-企业微信…).
TAG_GROUPS = (
    ("兴趣", 30.0, (
        ("奶粉", "keyword", "奶粉", ("配方奶",)),
        ("辅食", "keyword", "辅食", ("米粉",)),
        ("尿不湿", "keyword", "尿不湿", ("拉拉裤", "纸尿裤")),
        ("玩具", "keyword", "玩具", ()),
        ("湿巾", "keyword", "湿巾", ()),
    )),
    ("行为", 30.0, (
        ("看新品", "click", NEW_ARRIVALS_KEY, ()),
        ("查看优惠券", "click", "{coupons_key}", ()),
        ("逛商城", "view", SHOP_URL, ()),
    )),
)
CAMPAIGN_NAME = "奶粉新客 满100减20"
JOURNEY_KEY = "welcome"


def seed_first_hour(runtime: Runtime) -> list[str]:
    """Seed what is missing; returns one line per kind of thing made (empty: all was there)."""
    made: list[str] = []
    with runtime.transaction() as db_session:
        made += _reply_rules(runtime, db_session)
        made += _menu(runtime, db_session)
        made += _tags(runtime, db_session)
        made += _campaigns(runtime, db_session)
    return made


def _reply_rules(runtime: Runtime, db_session: Session) -> list[str]:
    made = []
    if db_session.scalar(select(ReplyRule.id).where(ReplyRule.match == "follow")) is None:
        replies.create_rule(db_session=db_session, redis=runtime.redis,
                            rule_in=parse_reply_rule({"match": "follow", "text": GREETING}))
        made.append("follow greeting")
    for match, keyword, text in KEYWORD_REPLIES:
        if db_session.scalar(select(ReplyRule.id).where(ReplyRule.keyword == keyword)) is None:
            replies.create_rule(db_session=db_session, redis=runtime.redis,
                                rule_in=parse_reply_rule({"match": match, "keyword": keyword, "text": text}))
            made.append(f"reply rule {keyword}")
    return made


def _menu(runtime: Runtime, db_session: Session) -> list[str]:
    if menu_service.current_menu(db_session=db_session) is not None:
        return []
    buttons = menu_service.buttons_in(demo_menu(runtime.config.coupons.menu_key, runtime.config.members.menu_key))
    menu_service.save_menu(db_session=db_session, buttons=buttons)
    menu_service.request_publish(db_session=db_session)  # menu/create once the worker runs
    return ["menu 新品 / 我的优惠券 / 会员 (会员中心, 商城) (publishing)"]


def demo_menu(coupons_key: str, members_key: str) -> list[dict]:
    """The default menu with its third slot a sub-menu 会员: 会员中心 (the key the webhook
    answers with the member page's link, ``members.menu_key``) above the shop (WeChat allows
    three top buttons)."""
    new_in, coupons, shop = menu_service.default_buttons(coupons_key)
    members = {"type": "click", "name": "会员中心", "key": members_key}
    return [new_in, coupons, {"name": "会员", "sub_button": [members, shop]}]


def _tags(runtime: Runtime, db_session: Session) -> list[str]:
    made = []
    for group_name, half_life, tag_list in TAG_GROUPS:
        group = db_session.scalar(select(TagGroup).where(TagGroup.name == group_name))
        if group is None:
            group = tags.create_group(db_session=db_session,
                                      group_in=GroupIn(name=group_name, half_life_days=half_life))
            made.append(f"tag group {group_name}")
        for tag_name, kind, pattern, synonyms in tag_list:
            tag_id = db_session.scalar(select(Tag.id).where(Tag.group_id == group.id, Tag.name == tag_name))
            if tag_id is None:
                tag_id = tags.create_tag(db_session=db_session, tag_in=TagIn(group=group.id, name=tag_name))[0].id
            pattern = pattern.format(coupons_key=runtime.config.coupons.menu_key)
            if db_session.scalar(select(TagRule.id).where(TagRule.tag_id == tag_id, TagRule.kind == kind,
                                                          TagRule.pattern == pattern)) is None:
                rule_in = parse_tag_rule({"kind": kind, "pattern": pattern, "tag_id": tag_id,
                                          "synonyms": list(synonyms)})
                tag_rules.create_rule(db_session=db_session, redis=runtime.redis, rule_in=rule_in)
                made.append(f"tag rule {group_name}:{tag_name}")
    return made


def _campaigns(runtime: Runtime, db_session: Session) -> list[str]:
    made = []
    now = runtime.clock.now()
    if db_session.scalar(select(Campaign.id).where(Campaign.name == CAMPAIGN_NAME)) is None:
        coupon = db_session.scalar(select(CouponTemplate.id).where(CouponTemplate.name == "满100减20"))
        tomorrow = datetime.combine((now.astimezone(runtime.config.brand.zone) + timedelta(days=1)).date(),
                                    time(10), runtime.config.brand.zone)
        body = {"name": CAMPAIGN_NAME, "audience": {"expr": "兴趣:奶粉"}, "channel": "mp_custom",
                "fallbacks": ["work_single"], "coupon_template_id": coupon,
                "content": {"kind": "text", "text": "宝宝的奶粉该囤货啦！送您一张满100减20券，到店或商城下单可用。"},
                "schedule": {"kind": "once", "at": tomorrow.isoformat()}}
        campaigns.create_campaign(db_session=db_session, campaign_in=parse_campaign(CampaignIn, body, what="campaign"),
                                  at=now)
        made.append(f"draft campaign {CAMPAIGN_NAME} (to 兴趣:奶粉)")
    journey = journeys.get_journey(JOURNEY_KEY)
    if db_session.scalar(select(Campaign.id).where(Campaign.name == journey.name)) is None:
        draft = journeys.start_journey(db_session=db_session, key=JOURNEY_KEY, at=now)
        campaigns.launch(runtime=runtime, db_session=db_session, campaign_id=draft.id)
        made.append(f"journey {journey.name} (launched)")
    return made
