"""``scrm demo``'s membership (会员体系, SPEC §13), over the customers of the history
(:mod:`scrm.demo_history`), so every page of the membership has something to show:

- the levels 普通 / 银卡 / 金卡 / 钻石 (``[members] levels``), 银卡 and above with a level-up gift
  coupon (升级礼) and a birthday coupon (生日礼券);
- the points mall (积分商城): three items, each a coupon template made for it;
- members among the history's customers: everyone who bought, and a third of the other
  followers, joined on a day of the history with a verified-looking phone (no SMS: seeds);
  a few are old members of the brand's earlier programme, whose growth and points were
  carried over when they joined (老会员迁移: growth kind ``import``, a points lot ``grant``
  from ``import``), which spreads them over the levels;
- points and growth for the members' orders of the history, exactly as an order earns them
  (``order:<order_no>`` frozen ``members.freeze_days`` from the order, ``order-growth:<order_no>``),
  so an order that already earned (a member's order) earns nothing twice;
- check-ins on runs of past days (a third of the members) and two exchanges in the mall, each
  member's life replayed in time order so the ledger's lots are spent oldest first.

Idempotent, as :mod:`scrm.demo_seed`: templates, levels' coupons and mall items are looked up
by name and made only when missing; the members and their history are made only when the
database has customers and no member yet (a second ``scrm demo`` keeps them).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from scrm import flows
from scrm.clock import as_utc
from scrm.coupons import coupon_templates
from scrm.coupons.models import CouponTemplate
from scrm.coupons.schemas import TemplateIn
from scrm.customers.models import Customer, CustomerIdentity, Interaction
from scrm.members import growth, ledger, levels, mall, service
from scrm.members import orders as member_orders
from scrm.members.models import MallItem, Member, MemberLevel
from scrm.members.schemas import MallItemIn
from tagging.models import Order

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

SEED = 18
# name of the level → its level-up gift (升级礼); every level but the lowest gets the birthday coupon.
LEVEL_UP_COUPONS = {
    "银卡": ("银卡升级礼 满100减10", {"kind": "cash", "amount": "10", "min_spend": "100", "valid_days": 30}),
    "金卡": ("金卡升级礼 满200减30", {"kind": "cash", "amount": "30", "min_spend": "200", "valid_days": 30}),
    "钻石": ("钻石升级礼 满500减100", {"kind": "cash", "amount": "100", "min_spend": "500", "valid_days": 30}),
}
BIRTHDAY_COUPON = ("生日礼券 满99减20", {"kind": "cash", "amount": "20", "min_spend": "99", "valid_days": 30})
# Customers who bought all join; one in JOIN_EVERY of the other followers does too.
JOIN_EVERY = 3
# Old members carried over from the brand's earlier programme, by the rank of their join among
# the buyers: (growth, points). 20000 is 钻石, 5000 金卡, 1000 银卡 (the default levels).
# The last of them is short of 银卡 until their first order here lifts them (a level-up on an order).
CARRIED_OVER = {0: (20_600, 2_600), 1: (6_800, 1_500), 2: (5_300, 900), 3: (2_400, 700), 4: (1_600, 450),
                5: (1_300, 350), 6: (1_100, 300), 7: (900, 200)}
CARRY_OVER_REASON = "老会员积分迁移"
# The points mall: item (its coupon template's name), the template, points, stock, limit per
# member, the lowest level it is reserved to.
MALL = (
    ("10元无门槛券", {"kind": "cash", "amount": "10", "valid_days": 30}, 200, None, 5, None),
    ("85折券", {"kind": "discount", "discount": "8.5", "valid_days": 30}, 500, None, 2, "金卡"),
    ("小样礼品", {"kind": "gift", "gift": "英氏米粉小样", "valid_days": 30}, 300, 50, 1, None),
)
# Exchanges yesterday evening by old members (their carried points), by the rank of their join.
EXCHANGES = ((0, "85折券"), (3, "10元无门槛券"))
# One member in CHECKIN_EVERY checks in on a run of days ending today or a day or two before.
CHECKIN_EVERY = 3
CHECKIN_RUN = (1, 8)
# The customer's own number when it is a China mobile one, else 139 + the customer id on 8 digits.
CHINA_MOBILE = re.compile(r"1[3-9]\d{9}")
PHONE_PREFIX = "139"


@dataclass(frozen=True)
class Joiner:
    customer_id: int
    joined_at: datetime
    orders: tuple[tuple[str, Decimal, datetime], ...]  # order_no, amount, ordered_at


def seed_members(runtime: Runtime) -> list[str]:
    """Seed what is missing; one line per kind of thing made (empty: all was there)."""
    made: list[str] = []
    now = runtime.clock.now()
    with runtime.transaction() as db_session:
        made += _level_coupons(runtime, db_session)
        made += _mall(runtime, db_session)
    with runtime.transaction() as db_session:
        if db_session.scalar(select(func.count()).select_from(Member)):
            return made
        joiners = _joiners(db_session, now)
        items = dict(db_session.execute(select(MallItem.name, MallItem.id)).all())
        rng = random.Random(SEED)
        joined = checked_in = exchanged = 0
        for rank, joiner in enumerate(joiners):
            days = _checkin_days(rng, joiner, now, runtime) if rank % CHECKIN_EVERY == 1 else []
            wanted = [items[name] for r, name in EXCHANGES if r == rank and name in items and joiner.orders]
            if _join(runtime, db_session, joiner, rng=rng, checkins=days, exchanges=wanted,
                     carried=CARRIED_OVER.get(rank) if joiner.orders else None):
                joined, checked_in, exchanged = joined + 1, checked_in + len(days), exchanged + len(wanted)
        if joined:
            made.append(f"{joined} members with their orders' points, {checked_in} check-ins, {exchanged} exchanges")
    return made


def describe(runtime: Runtime) -> str:
    """The banner's line: ``members: N members (普通 a · 银卡 b · …), mall K items``."""
    with runtime.transaction() as db_session:
        counts = dict(db_session.execute(
            select(MemberLevel.name, func.count(Member.customer_id))
            .outerjoin(Member, Member.level_id == MemberLevel.id).group_by(MemberLevel.name)).all())
        names = [level.name for level in levels.all_levels(db_session=db_session)]
        items = db_session.scalar(select(func.count()).select_from(MallItem).where(MallItem.status == "active"))
    total = sum(counts.values())
    by_level = " · ".join(f"{name} {counts.get(name, 0)}" for name in names)
    return f"members: {total} members ({by_level}), mall {items} items"


# -- the levels' coupons ------------------------------------------------------------------------


def _template(runtime: Runtime, db_session: Session, name: str, fields: dict) -> tuple[int, bool]:
    found = db_session.scalar(select(CouponTemplate.id).where(CouponTemplate.name == name))
    if found is not None:
        return found, False
    made = coupon_templates.create_template(db_session=db_session, template_in=TemplateIn(name=name, **fields),
                                            at=runtime.clock.now())
    return made.id, True


def _level_coupons(runtime: Runtime, db_session: Session) -> list[str]:
    """The levels (from the config, the first time) and the coupons of those above the lowest."""
    made = []
    all_levels = levels.ensure_levels(db_session=db_session, config=runtime.config, at=runtime.clock.now())
    birthday_id, new = _template(runtime, db_session, *BIRTHDAY_COUPON)
    if new:
        made.append(f"coupon template {BIRTHDAY_COUPON[0]}")
    for level in all_levels[1:]:
        gift = LEVEL_UP_COUPONS.get(level.name)
        if gift is not None and level.level_up_template_id is None:
            level.level_up_template_id, _ = _template(runtime, db_session, *gift)
            level.updated_at = runtime.clock.now()
            made.append(f"level {level.name}: level-up gift {gift[0]}")
        if level.birthday_template_id is None:
            level.birthday_template_id = birthday_id
            level.updated_at = runtime.clock.now()
            made.append(f"level {level.name}: birthday coupon")
    db_session.flush()
    return made


def _mall(runtime: Runtime, db_session: Session) -> list[str]:
    made = []
    by_name = {level.name: level.id for level in levels.all_levels(db_session=db_session)}
    for sort, (name, fields, points, stock, limit, level) in enumerate(MALL):
        if db_session.scalar(select(MallItem.id).where(MallItem.name == name)) is not None:
            continue
        template_id, _ = _template(runtime, db_session, name, {**fields, "per_customer_limit": None})
        mall.create_item(db_session=db_session, at=runtime.clock.now(), item_in=MallItemIn(
            name=name, template_id=template_id, points=points, stock=stock, per_member_limit=limit,
            min_level_id=by_name.get(level) if level else None, sort=sort))
        made.append(f"mall item {name} ({points} points)")
    return made


# -- members ------------------------------------------------------------------------------------


def _joiners(db_session: Session, now: datetime) -> list[Joiner]:
    """Who joins, and when: each buyer a few hours before their first order (an order is
    where a brand asks), the others a day or so after they first came (oldest first)."""
    rng = random.Random(SEED)
    first_seen = dict(db_session.execute(
        select(Interaction.customer_id, func.min(Interaction.occurred_at)).group_by(Interaction.customer_id)).all())
    on_mp = set(db_session.scalars(select(CustomerIdentity.customer_id).where(CustomerIdentity.channel == "mp")))
    orders: dict[int, list[tuple[str, Decimal, datetime]]] = {}
    for order_no, customer_id, amount, ordered_at in db_session.execute(
            select(Order.order_no, Order.customer_id, Order.amount, Order.ordered_at).order_by(Order.ordered_at)):
        orders.setdefault(customer_id, []).append((order_no, Decimal(amount), as_utc(ordered_at)))
    customers = db_session.scalars(select(Customer.id).where(Customer.merged_into_id.is_(None))
                                   .order_by(Customer.id)).all()
    joiners, others = [], 0
    for customer_id in customers:
        seen = first_seen.get(customer_id)
        seen = None if seen is None else as_utc(seen)
        bought = orders.get(customer_id, [])
        if seen is None or not (bought or customer_id in on_mp):
            continue
        if bought:
            joined = max(seen, bought[0][2] - timedelta(hours=rng.randint(1, 48)))
        else:
            others += 1
            if others % JOIN_EVERY:
                continue
            joined = min(seen + timedelta(hours=rng.randint(2, 36)), now - timedelta(minutes=5))
        joiners.append(Joiner(customer_id, joined, tuple(bought)))
    return sorted(joiners, key=lambda j: (not j.orders, j.joined_at))  # buyers first: the old members among them


def _checkin_days(rng: random.Random, joiner: Joiner, now: datetime, runtime: Runtime) -> list[datetime]:
    """Moments of a run of consecutive days' check-ins (morning to evening, local), after the
    member joined, ending today or a day or two before."""
    zone = runtime.config.brand.zone
    today = now.astimezone(zone).date()
    last = today - timedelta(days=rng.randint(0, 2))
    first = max(last - timedelta(days=rng.randint(*CHECKIN_RUN) - 1),
                joiner.joined_at.astimezone(zone).date() + timedelta(days=1))
    moments = [datetime.combine(first + timedelta(days=n), time(rng.randint(8, 21), rng.randint(0, 59)), zone)
               for n in range((last - first).days + 1)]
    return [moment for moment in moments if moment < now]


def _join(runtime: Runtime, db_session: Session, joiner: Joiner, *, rng: random.Random,
          carried: tuple[int, int] | None, checkins: list[datetime], exchanges: list[int]) -> bool:
    """The customer joins, with what they brought and did since; False: their number is taken."""
    config, customer_id, at = runtime.config, joiner.customer_id, joiner.joined_at
    customer = db_session.get(Customer, customer_id)
    phone = customer.phone if CHINA_MOBILE.fullmatch(customer.phone or "") else f"{PHONE_PREFIX}{customer_id:08d}"
    if db_session.scalar(select(Member.customer_id).where(Member.phone == phone)) is not None:
        return False  # the number is someone's already (a sandbox customer typed it): they stay out
    birthday = _birthday(rng, runtime.clock.now().date()) if rng.random() < 0.6 else None
    service.create_member(db_session=db_session, config=config, customer_id=customer_id, phone=phone, at=at,
                          birthday=birthday, joined_via="page")
    customer.phone = phone  # as joining sets it (the number the member proved)
    customer.birthday = customer.birthday or birthday
    if carried is not None:
        grown, points = carried
        growth.add_growth(db_session=db_session, config=config, customer_id=customer_id, amount=grown, kind="import",
                          source_id=None, key=f"import-growth:{customer_id}", at=at)
        ledger.earn(db_session=db_session, config=config, customer_id=customer_id, amount=points, kind="grant",
                    source="import", source_id=None, key=f"import:{customer_id}", at=at, reason=CARRY_OVER_REASON,
                    created_by="demo")
    # The member's life in the order it happened: the ledger's lots are spent oldest first.
    yesterday = datetime.combine(runtime.clock.now().astimezone(runtime.config.brand.zone).date() - timedelta(days=1),
                                 time(20, 30), runtime.config.brand.zone)
    events = ([(ordered_at, "order", (order_no, amount)) for order_no, amount, ordered_at in joiner.orders]
              + [(moment, "checkin", None) for moment in checkins]
              + [(yesterday + timedelta(minutes=n), "exchange", item_id) for n, item_id in enumerate(exchanges)])
    for moment, kind, detail in sorted(events, key=lambda e: e[0]):
        if kind == "order":
            _earn_for_order(runtime, db_session, customer_id, *detail, moment)
        elif kind == "checkin":
            flows.check_in(runtime=runtime, db_session=db_session, customer_id=customer_id, at=moment)
        else:
            mall.exchange(runtime=runtime, db_session=db_session, customer_id=customer_id, item_id=detail,
                          key=f"demo-{detail}", at=moment, created_by="demo")
    return True


def _earn_for_order(runtime: Runtime, db_session: Session, customer_id: int, order_no: str, amount: Decimal,
                    ordered_at: datetime) -> None:
    """What a member's order earns, as a new order does (scrm.members.orders, under the order's
    keys: never earned twice), dated when the order was placed; a rise has its effects."""
    earned = member_orders.earn_for_order(db_session=db_session, config=runtime.config, customer_id=customer_id,
                                          order_no=order_no, amount=amount, ordered_at=ordered_at, at=ordered_at)
    if earned is not None and earned.level_change is not None:
        flows.level_changed(runtime=runtime, db_session=db_session, change=earned.level_change)


def _birthday(rng: random.Random, today: date) -> date:
    """A parent's birthday: some within the birthday coupon's days ahead, so its job has work."""
    year = rng.randint(1985, 1998)
    soon = today + timedelta(days=rng.randint(0, 20))
    day = soon if rng.random() < 0.15 else date(2001, 1, 1) + timedelta(days=rng.randint(0, 364))
    try:
        return day.replace(year=year)
    except ValueError:  # 29 February in a year without it
        return day.replace(year=year, day=28)
