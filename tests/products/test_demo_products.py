"""``scrm demo``'s product codes (scrm/demo_products.py): the gift coupon 英氏到店礼, the batch
英氏多维营养米粉 that gives it and the points batch 英氏婴儿面条, claims on the past 14 days by the
history's followers through the real claiming code (rewards given, guides credited, the scans
that gave nothing and the patterns the statistics look for), seeded once and quickly."""

from __future__ import annotations

import time as clock
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from guides.models import Guide, Store
from scrm import demo_members, demo_products
from scrm.clock import as_utc, local_day
from scrm.coupons.models import Coupon, CouponTemplate
from scrm.customers.models import Customer, CustomerIdentity, Interaction
from scrm.demo import seed_demo_brand
from scrm.members import ledger
from scrm.members.models import Member, PointEntry
from scrm.products.models import CodeBatch, ProductClaim, ProductScan

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # noon in Shanghai, a Friday
FOLLOWERS = 24
BUYERS = 8  # the first ones bought, and so joined (scrm/demo_members.py)


@pytest.fixture
def history(frozen, client, make_token):  # noqa: ANN001, ANN201
    """The demo's brand, and customers as its history leaves them: followers who came on past
    days (the last two only yesterday), a third of them buyers, members as the demo makes them."""
    seed_demo_brand(frozen)
    headers = {"Authorization": f"Bearer {make_token('manager')}"}
    with frozen.transaction() as db_session:
        for n in range(FOLLOWERS):
            customer = Customer(nickname=f"粉丝{n}")
            db_session.add(customer)
            db_session.flush()
            db_session.add(CustomerIdentity(customer_id=customer.id, channel="mp", external_id=f"oFan{n:03d}",
                                            following=True))
            came = NOW - timedelta(days=1 if n >= FOLLOWERS - 2 else 25 - n % 10)
            db_session.add(Interaction(customer_id=customer.id, kind="follow", channel="mp", occurred_at=came,
                                       payload={}))
    for n in range(BUYERS):
        body = {"order_no": f"SO-fan-{n}", "amount": "128.00", "customer": {"openid": f"oFan{n:03d}"},
                "ordered_at": (NOW - timedelta(days=18 - n)).isoformat()}
        assert client.post("/api/orders", json=body, headers=headers).status_code == 201
    demo_members.seed_members(frozen)
    return frozen


def _claims(runtime) -> list[ProductClaim]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        rows = db_session.scalars(select(ProductClaim).order_by(ProductClaim.claimed_at)).all()
        db_session.expunge_all()
        return rows


def _counts(runtime) -> dict[str, int]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return {model.__name__: db_session.scalar(select(func.count()).select_from(model))
                for model in (CouponTemplate, CodeBatch, ProductClaim, ProductScan, Coupon, PointEntry)}


def test_the_gift_coupon_and_the_two_batches_the_english_flow_needs(history):
    made = demo_products.seed_products(history)

    assert made[:3] == ["coupon template 英氏到店礼", "batch 英氏多维营养米粉 (2,000 codes)",
                        "batch 英氏婴儿面条 (1,000 codes)"]
    with history.transaction() as db_session:
        gift = db_session.scalar(select(CouponTemplate).where(CouponTemplate.name == "英氏到店礼"))
        stores = sorted(db_session.get(Store, s.store_id).code for s in gift.stores)
        rows = db_session.execute(select(CodeBatch.product, CodeBatch.sku, CodeBatch.quantity, CodeBatch.reward_points,
                                         CodeBatch.reward_template_id, Store.code)
                                  .join(Store, Store.id == CodeBatch.store_id).order_by(CodeBatch.id)).all()
        s001_guides = db_session.scalar(select(func.count()).select_from(Guide).join(Store)
                                        .where(Store.code == "S001"))
    assert (gift.kind, gift.amount, gift.min_spend, gift.per_customer_limit, stores) == (
        "cash", 20, 99, None, ["S001", "S002"])
    assert [tuple(r) for r in rows] == [("英氏多维营养米粉", "YS-MF-01", 2000, None, gift.id, "S001"),
                                        ("英氏婴儿面条", "YS-MT-01", 1000, 30, None, "S002")]
    assert s001_guides >= 1  # the gift's store has guides to redeem it


def test_claims_of_the_last_14_days_with_their_rewards_guides_and_refused_scans(history):
    started = clock.perf_counter()
    made = demo_products.seed_products(history)
    elapsed = clock.perf_counter() - started

    claims = _claims(history)
    with history.transaction() as db_session:
        scans = Counter(db_session.scalars(select(ProductScan.result)))
        coupons = dict(db_session.execute(select(Coupon.id, CouponTemplate.name).join(Coupon.template)
                                          .where(Coupon.source == "product")).all())
        first_seen = dict(db_session.execute(select(Interaction.customer_id, func.min(Interaction.occurred_at))
                                             .where(Interaction.kind == "follow").group_by(Interaction.customer_id)).all())
        members = dict(db_session.execute(select(Member.customer_id, Member.joined_at)).all())
        by_key = {e.idempotency_key: e for e in db_session.scalars(select(PointEntry).where(PointEntry.kind == "product"))}
        rice = db_session.scalar(select(CodeBatch.id).where(CodeBatch.sku == "YS-MF-01"))
        s001 = set(db_session.scalars(select(Guide.id).join(Store).where(Store.code == "S001")))
        assert ledger.audit(db_session=db_session) == []

    assert made[-1] == f"{len(claims)} claims in 14 days, {sum(scans.values())} scans that gave nothing"
    assert 40 <= len(claims) <= 50  # a few dozen
    print(f"seed_products: {len(claims)} claims, {sum(scans.values())} refused scans in {elapsed:.2f} s")
    assert elapsed < 5, elapsed  # the demo is ready in ~20 s: this part takes a small share of it
    for claim in claims:
        at = as_utc(claim.claimed_at)
        assert NOW - timedelta(days=14) <= at < NOW and at > as_utc(first_seen[claim.customer_id])
        assert claim.via == "page" and claim.day == local_day(history.config, at)
        if claim.batch_id == rice:
            assert coupons[claim.coupon_id] == "英氏到店礼" and claim.points is None
        else:
            assert claim.points == 30 and claim.coupon_id is None
            assert not claim.points_pending and by_key[f"product-claim:{claim.id}"].amount == 30  # members' points
            assert at >= as_utc(members[claim.customer_id])
    assert len(coupons) == sum(c.batch_id == rice for c in claims) == 30
    credited = [c for c in claims if c.batch_id == rice and c.guide_id is not None]
    assert credited and {c.attribution for c in credited} <= {"bound", "routed"}
    assert {c.guide_id for c in credited if c.attribution == "routed"} <= s001  # routed by the batch's store
    assert len({c.customer_id for c in claims}) >= 15  # many customers, not a handful
    assert scans == {"already_yours": 4, "claimed_by_other": 4, "daily_limit": 1, "not_genuine": 3}

    eager = Counter((c.customer_id, c.day) for c in claims).most_common(1)[0]
    assert eager[1] == history.config.products.daily_claims  # one customer, one afternoon: up to the limit
    assert demo_products.describe(history) == (
        f"product codes: 英氏多维营养米粉 2,000 codes (30 claimed) · 英氏婴儿面条 1,000 codes ({len(claims) - 30} claimed); "
        "12 scans that gave nothing")


def test_a_second_scrm_demo_adds_nothing(history):
    demo_products.seed_products(history)
    counts, line = _counts(history), demo_products.describe(history)

    assert demo_products.seed_products(history) == []
    assert _counts(history) == counts and demo_products.describe(history) == line


def test_without_a_history_only_the_coupon_and_the_batches_are_made(frozen):
    seed_demo_brand(frozen)

    made = demo_products.seed_products(frozen)

    assert len(made) == 3 and _counts(frozen)["ProductClaim"] == 0
    assert demo_products.describe(frozen) == ("product codes: 英氏多维营养米粉 2,000 codes (0 claimed) · "
                                             "英氏婴儿面条 1,000 codes (0 claimed); 0 scans that gave nothing")
    assert demo_products.seed_products(frozen) == []
