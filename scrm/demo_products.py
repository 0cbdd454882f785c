"""``scrm demo``'s product codes (一物一码, SPEC §14), over the customers of the history
(:mod:`scrm.demo_history`), so the console's batches and statistics have something to show and
the 英氏 flow can be tried at once on the phone sandbox (its 扫商品码):

- the gift coupon 英氏到店礼 (满99减20, redeemable in the demo's stores, no limit per customer:
  each package gives one);
- the batch 英氏多维营养米粉 (SKU YS-MF-01, 2,000 codes) whose reward is that coupon, sold by
  上海静安店 (S001, whose guides are on duty): a customer with no guide is routed to one of them;
- the batch 英氏婴儿面条 (SKU YS-MT-01, 1,000 codes) worth 30 points, sold by 北京三里屯店 (S002);
- claims on the past 14 days by followers of the history, made by the real claiming code
  (:func:`scrm.products.claiming.claim_code`, dated when they happened): the reward, the guide
  credited (the bound one, renewed, or one routed to), the scans that gave nothing. Among them
  the patterns the statistics look for: owners scanning their own code again, one code
  scanned by several others (a package passed around, or a copied label), one customer who
  claims until the daily limit stops them, and a few codes that are not genuine.

The follow-on work of a new binding (binding coupons, journeys: :func:`scrm.flows.claim_product_code`)
is not replayed for claims in the past, as :mod:`scrm.demo_members` replays no level-up
journey: a journey would message customers today about a day long gone.

Idempotent, as :mod:`scrm.demo_members`: the template by its name and the batches by their SKU
are made when missing; the claims only when the database has customers and no claim yet.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from scrm.clock import as_utc
from scrm.coupons import coupon_templates
from scrm.coupons.models import CouponTemplate
from scrm.coupons.schemas import TemplateIn
from scrm.customers.models import CustomerIdentity, Interaction
from scrm.members.models import Member
from scrm.products import batches, claiming
from scrm.products.codes import ProductCodec
from scrm.products.models import CodeBatch, ProductClaim, ProductScan
from scrm.products.schemas import BatchIn

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

SEED = 19
DAYS = 14
GIFT_NAME = "英氏到店礼"
GIFT = {"kind": "cash", "amount": "20", "min_spend": "99", "valid_days": 30, "per_customer_limit": None,
        "stores": ["S001", "S002"], "description": "购买英氏产品后扫包装上的码领取，到店消费满99元减20元，导购核销"}


@dataclass(frozen=True)
class DemoBatch:
    product: str
    sku: str
    quantity: int
    store_code: str
    points: int | None  # None: the gift coupon
    claims: int  # how many of its codes the history's customers claim


BATCHES = (
    DemoBatch("英氏多维营养米粉", "YS-MF-01", 2_000, "S001", None, 30),
    DemoBatch("英氏婴儿面条", "YS-MT-01", 1_000, "S002", 30, 12),
)
REPEATS = 4  # owners who scan their own package again (already yours)
PASSED_AROUND = 4  # others who scan one claimed code (claimed on …: may be used or counterfeit)
EAGER_CLAIMS = 6  # codes one customer claims one afternoon: the daily limit (products.daily_claims, 5) stops the last
NOT_GENUINE = 3  # made-up codes scanned
EARLIEST_AFTER_FIRST_SEEN = timedelta(hours=1)
LATEST_BEFORE_NOW = timedelta(minutes=10)


@dataclass(frozen=True)
class Scan:
    at: datetime
    batch: batches.BatchRef
    serial: int | None  # None: a code that is not genuine, copied from this batch's label
    customer_id: int | None


def seed_products(runtime: Runtime) -> list[str]:
    """Seed what is missing; one line per kind of thing made (empty: all was there)."""
    made: list[str] = []
    with runtime.transaction() as db_session:
        template_id = db_session.scalar(select(CouponTemplate.id).where(CouponTemplate.name == GIFT_NAME))
        if template_id is None:
            template_id = coupon_templates.create_template(
                db_session=db_session, template_in=TemplateIn(name=GIFT_NAME, **GIFT), at=runtime.clock.now()).id
            made.append(f"coupon template {GIFT_NAME}")
        for demo in BATCHES:
            if db_session.scalar(select(CodeBatch.id).where(CodeBatch.sku == demo.sku)) is None:
                reward = {"points": demo.points} if demo.points else {"coupon_template_id": template_id}
                batches.create_batch(db_session=db_session, config=runtime.config, at=runtime.clock.now(),
                                     created_by="demo", batch_in=BatchIn(
                                         product=demo.product, sku=demo.sku, quantity=demo.quantity, reward=reward,
                                         store_code=demo.store_code))
                made.append(f"batch {demo.product} ({demo.quantity:,} codes)")
    with runtime.transaction() as db_session:
        if db_session.scalar(select(func.count()).select_from(ProductClaim)):
            return made
        refs = {demo.sku: _ref(db_session, demo.sku) for demo in BATCHES}
        scans = _scans(runtime, db_session, refs)
        results = [_play(runtime, db_session, scan) for scan in scans]
        claimed = results.count("claimed")
        if claimed:
            made.append(f"{claimed} claims in {DAYS} days, {len(results) - claimed} scans that gave nothing")
    return made


def describe(runtime: Runtime) -> str:
    """The banner's line: ``product codes: 英氏多维营养米粉 2,000 codes (31 claimed) · …``."""
    with runtime.transaction() as db_session:
        rows = db_session.execute(select(CodeBatch.id, CodeBatch.product, CodeBatch.quantity)
                                  .order_by(CodeBatch.id)).all()
        claimed = batches.claims_of(db_session=db_session, batch_ids=[row.id for row in rows])
        refused = db_session.scalar(select(func.count()).select_from(ProductScan))
    listed = " · ".join(f"{row.product} {row.quantity:,} codes ({claimed.get(row.id, 0)} claimed)" for row in rows)
    return f"product codes: {listed or 'no batch'}; {refused} scans that gave nothing"


# -- claims ---------------------------------------------------------------------------------------


def _ref(db_session: Session, sku: str) -> batches.BatchRef:
    prefix = db_session.scalar(select(CodeBatch.prefix).where(CodeBatch.sku == sku).order_by(CodeBatch.id))
    return batches.batch_by_prefix(db_session=db_session, prefix=prefix)


def _followers(db_session: Session, now: datetime) -> list[tuple[int, datetime, bool]]:
    """(customer, the earliest a claim of theirs may be, member) for the history's followers:
    an hour after they first came, and after they joined for a member (their points go to the
    ledger then, not kept for joining); only those with room left in the last 14 days."""
    first_seen = dict(db_session.execute(
        select(Interaction.customer_id, func.min(Interaction.occurred_at)).group_by(Interaction.customer_id)).all())
    joined = dict(db_session.execute(select(Member.customer_id, Member.joined_at)).all())
    following = db_session.scalars(select(CustomerIdentity.customer_id).where(
        CustomerIdentity.channel == "mp", CustomerIdentity.following.is_(True)).order_by(CustomerIdentity.customer_id))
    start, latest = now - timedelta(days=DAYS), now - LATEST_BEFORE_NOW
    found = []
    for customer_id in dict.fromkeys(following):
        seen = first_seen.get(customer_id)
        if seen is None:
            continue
        earliest = max(start, as_utc(seen) + EARLIEST_AFTER_FIRST_SEEN,
                       as_utc(joined[customer_id]) if customer_id in joined else start)
        if earliest < latest:
            found.append((customer_id, earliest, customer_id in joined))
    return found


def _moment(rng: random.Random, earliest: datetime, latest: datetime) -> datetime:
    return earliest + (latest - earliest) * rng.random()


def _scans(runtime: Runtime, db_session: Session, refs: dict[str, batches.BatchRef]) -> list[Scan]:
    """Every scan of the story, in the order it happened."""
    rng = random.Random(SEED)
    now = runtime.clock.now()
    latest = now - LATEST_BEFORE_NOW
    followers = _followers(db_session, now)
    if not followers:
        return []
    scans: list[Scan] = []
    claims: list[Scan] = []
    for demo in BATCHES:
        ref = refs[demo.sku]
        serials = rng.sample(range(1, demo.quantity + 1), demo.claims)
        pool = [f for f in followers if f[2]] if demo.points else followers  # points: members, so they count
        for serial in serials:
            customer_id, earliest, _ = rng.choice(pool or followers)
            claims.append(Scan(_moment(rng, earliest, latest), ref, serial, customer_id))
    scans += claims
    for claim in rng.sample(claims, min(REPEATS, len(claims))):  # the owner scans again
        scans.append(Scan(_moment(rng, claim.at, latest), claim.batch, claim.serial, claim.customer_id))
    passed = claims[0]
    for customer_id, earliest, _ in rng.sample(followers, min(PASSED_AROUND + 1, len(followers))):
        if customer_id != passed.customer_id:
            scans.append(Scan(_moment(rng, max(earliest, passed.at), latest), passed.batch, passed.serial,
                              customer_id))
    scans += _eager(runtime, followers, refs[BATCHES[1].sku], {s.serial for s in claims if s.batch.sku == BATCHES[1].sku})
    for _ in range(NOT_GENUINE):  # a label copied with one character wrong, or made up
        scans.append(Scan(_moment(rng, now - timedelta(days=DAYS), latest), refs[BATCHES[0].sku], None, None))
    return sorted((s for s in scans if s.at < now), key=lambda s: s.at)


def _eager(runtime: Runtime, followers: list[tuple[int, datetime, bool]], ref: batches.BatchRef,
           taken: set[int]) -> list[Scan]:
    """A member who claims code after code one afternoon two days ago, until the daily limit."""
    members = [f for f in followers if f[2]] or followers
    customer_id, earliest, _ = min(members, key=lambda f: f[1])
    zone = runtime.config.brand.zone
    day = runtime.clock.now().astimezone(zone).date() - timedelta(days=2)
    afternoon = datetime.combine(day, time(15, 0), zone)
    if afternoon < earliest:
        return []
    serials = [serial for serial in range(ref.quantity, 0, -1) if serial not in taken][:EAGER_CLAIMS]
    return [Scan(afternoon + timedelta(minutes=3 * n), ref, serial, customer_id) for n, serial in enumerate(serials)]


def _play(runtime: Runtime, db_session: Session, scan: Scan) -> str:
    """One scan through the claiming code, as the claim page would make it at that moment."""
    if scan.serial is None:  # a genuine code with its last character changed: the MAC does not check
        genuine = ProductCodec.from_config(runtime.config).encode(scan.batch.prefix, 1)
        checked = claiming.check_code(runtime=runtime, db_session=db_session,
                                      code=genuine[:-1] + ("a" if genuine[-1] != "a" else "b"))
        if checked.refused is None:
            return "genuine_by_chance"  # one in 10^12: nothing to record
        claiming.record_scan(db_session=db_session, config=runtime.config, result=checked.refused, at=scan.at)
        return checked.refused
    return claiming.claim_code(runtime=runtime, db_session=db_session, batch=scan.batch, serial=scan.serial,
                               customer_id=scan.customer_id, at=scan.at, via="page").result
