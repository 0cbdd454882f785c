"""``scrm demo``'s membership (scrm/demo_members.py): the levels the issue names, their coupons,
members among the history's customers with their orders' points frozen for the return window,
seeded once (a second ``scrm demo`` adds nothing) and with a clean ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from scrm import demo_members
from scrm.clock import as_utc
from scrm.coupons.models import Coupon, CouponTemplate
from scrm.customers.models import Customer, CustomerIdentity, Interaction
from scrm.members import ledger
from scrm.members.models import Checkin, GrowthEntry, MallExchange, MallItem, Member, MemberLevel, PointEntry
from tagging.scores import carried_tags

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # noon in Shanghai
# openid, days ago they first came, orders (days ago, amount): four buyers, then eight followers who
# never bought (a third of them join), one WeCom contact (no openid: cannot open the member page).
BUYERS = (("oBuyer0", 25, ((20, "100.00"),)), ("oBuyer1", 24, ((18, "59.90"), (3, "199.00"))),
          ("oBuyer2", 22, ((21, "89.50"),)), ("oBuyer3", 20, ((2, "468.00"),)))
FOLLOWERS = tuple((f"oFollower{n}", 15 - n) for n in range(8))
PHONES = {"oBuyer1": "13512345678", "oFollower2": "021-5555-0101"}  # a mobile number, a landline


@pytest.fixture
def history(frozen, client, make_token):  # noqa: ANN001, ANN201
    """Customers as the demo's history leaves them: followed on past days, some with orders
    posted by the brand's systems (POST /api/orders)."""
    headers = {"Authorization": f"Bearer {make_token('manager')}"}
    with frozen.transaction() as db_session:
        for openid, days_ago in [(o, d) for o, d, _ in BUYERS] + list(FOLLOWERS) + [("wmWorkOnly", 10)]:
            customer = Customer(nickname=openid, phone=PHONES.get(openid))
            db_session.add(customer)
            db_session.flush()
            channel = "work" if openid.startswith("wm") else "mp"
            db_session.add(CustomerIdentity(customer_id=customer.id, channel=channel, external_id=openid,
                                            following=True))
            db_session.add(Interaction(customer_id=customer.id, kind="follow", channel=channel,
                                       occurred_at=NOW - timedelta(days=days_ago), payload={}))
    for openid, _, orders in BUYERS:
        for n, (days_ago, amount) in enumerate(orders):
            body = {"order_no": f"SO-{openid}-{n}", "amount": amount, "customer": {"openid": openid},
                    "ordered_at": (NOW - timedelta(days=days_ago)).isoformat()}
            assert client.post("/api/orders", json=body, headers=headers).status_code == 201
    return frozen


def _counts(runtime) -> dict[str, int]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return {model.__name__: db_session.scalar(select(func.count()).select_from(model))
                for model in (Member, PointEntry, GrowthEntry, CouponTemplate, MemberLevel, MallItem, MallExchange,
                              Checkin, Coupon)}


def _member_of(runtime, openid: str) -> Member | None:  # noqa: ANN001
    with runtime.transaction() as db_session:
        customer_id = db_session.scalar(select(CustomerIdentity.customer_id)
                                        .where(CustomerIdentity.external_id == openid))
        member = db_session.get(Member, customer_id)
        if member is not None:
            db_session.expunge(member)
        return member


def test_the_levels_the_issue_names_with_a_level_up_gift_and_a_birthday_coupon_above_the_lowest(history):
    demo_members.seed_members(history)

    with history.transaction() as db_session:
        rows = db_session.execute(select(MemberLevel).order_by(MemberLevel.rank)).scalars().all()
        named = {t.id: t.name for t in db_session.scalars(select(CouponTemplate))}
        levels = [(lv.name, named.get(lv.level_up_template_id), named.get(lv.birthday_template_id)) for lv in rows]
    assert levels == [("普通", None, None),
                      ("银卡", "银卡升级礼 满100减10", "生日礼券 满99减20"),
                      ("金卡", "金卡升级礼 满200减30", "生日礼券 满99减20"),
                      ("钻石", "钻石升级礼 满500减100", "生日礼券 满99减20")]


def test_buyers_and_a_third_of_the_followers_join_spread_over_the_levels_with_their_orders_points(history):
    made = demo_members.seed_members(history)

    with history.transaction() as db_session:
        checkins = db_session.scalar(select(func.count()).select_from(Checkin))
    assert made[-1] == f"6 members with their orders' points, {checkins} check-ins, 2 exchanges" and checkins
    assert demo_members.describe(history) == "members: 6 members (普通 2 · 银卡 1 · 金卡 2 · 钻石 1), mall 3 items"
    assert _member_of(history, "wmWorkOnly") is None  # no openid: no member page to join on
    joined = [o for o, _ in FOLLOWERS if _member_of(history, o) is not None]
    assert joined == ["oFollower2", "oFollower5"]  # every third follower who never bought
    with history.transaction() as db_session:
        members = db_session.scalars(select(Member)).all()
        for member in members:
            customer = db_session.get(Customer, member.customer_id)
            assert len(member.phone) == 11 and member.phone.startswith("1") and customer.phone == member.phone
            assert len(member.member_no) == 12
        assert ledger.audit(db_session=db_session) == []
    assert _member_of(history, "oBuyer1").phone == "13512345678"  # their own mobile number
    assert _member_of(history, "oFollower2").phone.startswith("139")  # a landline is no SMS number

    with history.transaction() as db_session:  # the first buyer to join: an old member carried over
        diamond = db_session.scalar(select(Member).join(MemberLevel).where(MemberLevel.name == "钻石"))
        openid = db_session.scalar(select(CustomerIdentity.external_id)
                                   .where(CustomerIdentity.customer_id == diamond.customer_id))
        entries = {e.idempotency_key: e for e in db_session.scalars(
            select(PointEntry).where(PointEntry.customer_id == diamond.customer_id))}
    assert openid == "oBuyer2"  # first seen 22 days ago, bought 21 days ago
    carried = entries[f"import:{diamond.customer_id}"]
    assert (carried.amount, carried.kind, carried.reason) == (2_600, "grant", "老会员积分迁移")
    order = entries["order:SO-oBuyer2-0"]  # ¥89.50 × 钻石's ×2 points, available after the return window
    assert (order.amount, order.kind, order.source_id) == (179, "order", "SO-oBuyer2-0")
    assert as_utc(order.available_at) == NOW - timedelta(days=21) + timedelta(days=history.config.members.freeze_days)
    assert diamond.growth == 20_600 + 89 and diamond.points_balance == 2_600 + 179 - 500  # 85折券 exchanged

    with history.transaction() as db_session:  # an order of three days ago is still frozen
        recent = _member_of(history, "oBuyer3")
        points = ledger.balance(db_session=db_session, customer_id=recent.customer_id, at=NOW)
        lot = ledger.entry_by_key(db_session, "order:SO-oBuyer3-0")
        level = db_session.get(MemberLevel, recent.level_id)
    assert lot.amount == int(Decimal("468.00") * level.points_multiplier)
    assert points.frozen == lot.amount and points.available == points.total - lot.amount


def test_a_second_scrm_demo_adds_nothing(history):
    demo_members.seed_members(history)
    counts = _counts(history)
    line = demo_members.describe(history)

    assert demo_members.seed_members(history) == []
    assert _counts(history) == counts and demo_members.describe(history) == line


def test_without_a_history_only_the_levels_and_their_coupons_are_made(frozen):
    made = demo_members.seed_members(frozen)

    assert made and not any("members" in line for line in made)
    assert demo_members.describe(frozen) == "members: 0 members (普通 0 · 银卡 0 · 金卡 0 · 钻石 0), mall 3 items"
    assert demo_members.seed_members(frozen) == []


def test_the_mall_has_three_items_and_old_members_exchanged_and_some_members_checked_in(history):
    demo_members.seed_members(history)

    with history.transaction() as db_session:
        level_names = {lv.id: lv.name for lv in db_session.scalars(select(MemberLevel))}
        items = [(i.name, i.points, i.stock, i.per_member_limit, level_names.get(i.min_level_id), i.status)
                 for i in db_session.scalars(select(MallItem).order_by(MallItem.sort))]
        exchanges = db_session.execute(
            select(MallItem.name, MemberLevel.name, Coupon.status, PointEntry.amount, PointEntry.kind)
            .join(MallExchange, MallExchange.item_id == MallItem.id)
            .join(Member, Member.customer_id == MallExchange.customer_id)
            .join(MemberLevel, MemberLevel.id == Member.level_id)
            .join(Coupon, Coupon.id == MallExchange.coupon_id)
            .join(PointEntry, PointEntry.id == MallExchange.entry_id).order_by(MallExchange.id)).all()
        checkins = db_session.execute(select(Checkin.customer_id, Checkin.day, Checkin.streak)
                                      .order_by(Checkin.customer_id, Checkin.day)).all()
        assert ledger.audit(db_session=db_session) == []
    assert items == [("10元无门槛券", 200, None, 5, None, "active"), ("85折券", 500, None, 2, "金卡", "active"),
                     ("小样礼品", 300, 50, 1, None, "active")]
    assert [tuple(e) for e in exchanges] == [("85折券", "钻石", "issued", -500, "exchange"),
                                             ("10元无门槛券", "银卡", "issued", -200, "exchange")]
    assert checkins and {c.customer_id for c in checkins} and all(c.day < NOW.date() + timedelta(days=1)
                                                                  for c in checkins)
    for customer_id in {c.customer_id for c in checkins}:  # each a run of consecutive days, its streak counting up
        run = [(c.day, c.streak) for c in checkins if c.customer_id == customer_id]
        assert [streak for _, streak in run] == list(range(1, len(run) + 1))
        assert [(day - run[0][0]).days for day, _ in run] == list(range(len(run)))


def test_an_old_member_an_order_lifts_gets_the_level_up_gift_and_the_level_tag(history, monkeypatch):
    monkeypatch.setattr(demo_members, "CARRIED_OVER", {0: (950, 10)})  # 50 growth short of 银卡
    monkeypatch.setattr(demo_members, "EXCHANGES", ())

    demo_members.seed_members(history)

    lifted = _member_of(history, "oBuyer2")  # the first buyer to join; their ¥89.50 order brings 89 growth
    with history.transaction() as db_session:
        level = db_session.get(MemberLevel, lifted.level_id)
        gifts = db_session.execute(select(CouponTemplate.name, Coupon.source_ref).join(Coupon.template)
                                   .where(Coupon.customer_id == lifted.customer_id)).all()
    assert (lifted.growth, level.name) == (950 + 89, "银卡")
    assert [tuple(g) for g in gifts] == [("银卡升级礼 满100减10", f"level_up:{level.id}")]
    with history.transaction() as db_session:
        tags = {f"{t['group']}:{t['tag']}" for t in carried_tags(db_session=db_session, customer_id=lifted.customer_id,
                                                                 now=NOW)}
    assert "会员等级:银卡" in tags and "会员等级:普通" not in tags
