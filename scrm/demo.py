"""``scrm demo``'s brand (SPEC §10): stores, guides and coupons to look at, made once.

Seeding is idempotent: a store, guide or coupon template that exists (by its name) is left alone, so ``make demo`` can be
run again on the same ``var/`` database. The guides' WeCom members are added to the sandbox
WeCom (as HR would have), and their codes are asked of the sandbox WeChat by the queue once
the server answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from guides import service
from guides.login_links import make_link
from guides.models import Guide, Store
from guides.schemas import GuideIn, StoreIn
from scrm.coupons import coupon_templates
from scrm.coupons.models import CouponTemplate
from scrm.coupons.schemas import RuleIn, TemplateIn
from scrm.sandbox import world
from scrm.users.models import User
from scrm.users.service import create_user, issue_token

if TYPE_CHECKING:
    from scrm.runtime import Runtime

STORES = (("S001", "上海静安店", "上海市静安区南京西路 1 号"), ("S002", "北京三里屯店", "北京市朝阳区三里屯路 19 号"))
GUIDES = (
    ("G001", "王小美", "S001", "wangxiaomei", {"mon": ["10-22"], "tue": ["10-22"], "wed": ["10-22"], "thu": ["10-22"]}),
    ("G002", "李大力", "S001", "lidali", {"fri": ["10-22"], "sat": ["10-22"], "sun": ["10-22"]}),
    ("G003", "张晓雪", "S002", "zhangxiaoxue", {}),
)
ADMIN = "demo-admin"
# name, template fields, the rule that issues it (英氏's loop: a gift for binding, and "buy one,
# get a gift" over ¥299).
COUPONS = (
    ("新客礼 围兜", {"kind": "gift", "gift": "婴儿围兜", "valid_days": 30}, {"trigger": "binding"}),
    ("满299赠米粉", {"kind": "gift", "gift": "英氏米粉试用装", "valid_days": 14, "per_customer_limit": None},
     {"trigger": "order_over", "min_amount": "299"}),
    ("满100减20", {"kind": "cash", "amount": "20", "min_spend": "100", "valid_days": 30, "stock": 1000}, None),
)


@dataclass(frozen=True)
class DemoBrand:
    admin_token: str
    guide_link: str


def seed_demo_brand(runtime: Runtime) -> DemoBrand:
    for _, name, _, userid, _ in GUIDES:  # the sandbox's world commits on its own: before ours opens
        world.add_member(runtime.redis, userid, name)
    with runtime.transaction() as db_session:
        for code, name, address in STORES:
            if db_session.scalar(select(Store.id).where(Store.code == code)) is None:
                service.create_store(runtime=runtime, db_session=db_session,
                                     store_in=StoreIn(code=code, name=name, address=address))
        for code, name, store, userid, schedule in GUIDES:
            if db_session.scalar(select(Guide.id).where(Guide.code == code)) is None:
                service.create_guide(runtime=runtime, db_session=db_session, guide_in=GuideIn(
                    code=code, name=name, store=store, wecom_userid=userid, schedule=schedule))
        _seed_coupons(runtime, db_session)
        admin = db_session.scalar(select(User).where(User.name == ADMIN))
        if admin is None:
            _, token = create_user(db_session=db_session, name=ADMIN, role="admin")
        else:
            token = issue_token(db_session=db_session, user=admin)
    with runtime.transaction() as db_session:
        link = make_link(runtime=runtime, db_session=db_session, guide_code=GUIDES[0][0])
    return DemoBrand(token, link)


def _seed_coupons(runtime: Runtime, db_session) -> None:  # noqa: ANN001

    for name, fields, rule in COUPONS:
        if db_session.scalar(select(CouponTemplate.id).where(CouponTemplate.name == name)) is not None:
            continue
        template = coupon_templates.create_template(db_session=db_session, template_in=TemplateIn(name=name, **fields),
                                             at=runtime.clock.now())
        if rule is not None:
            coupon_templates.create_rule(db_session=db_session, rule_in=RuleIn(template_id=template.id, **rule),
                                  at=runtime.clock.now())
