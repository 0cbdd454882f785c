"""Suspicious patterns in product-code scans (可疑行为, SPEC §14), listed for a period of local
days, most telling first, each at most :data:`SHOWN`:

- **many claims**: a customer with at least :data:`MANY_CLAIMS` claims in the period. The daily
  limit (``products.daily_claims``, 5 by default) caps a day, not a month: ten packages in a
  period is more than a family buys, and a code collector (a reseller, a shop assistant
  scanning unsold stock) shows up here first;
- **codes scanned by many**: one code (batch, serial) that at least :data:`SHARED_BY` different
  customers scanned after someone had claimed it. One other scanner is a shared package; three
  are a label photographed and passed around, or copied onto counterfeits;
- **daily limit on several days**: a customer refused by the daily limit on at least
  :data:`LIMIT_DAYS` different days: someone claiming as many codes as they are allowed, day
  after day;
- **codes that are not genuine**: a customer who scanned at least :data:`NOT_GENUINE` codes that
  are not genuine: guessing codes, or holding counterfeit packages (tell the brand where they
  were bought).

Customers are named by nickname with the phone masked (138****5678, SPEC §12). Each list is one
grouped query with ``HAVING`` over the period's rows (the ``day`` indexes), then the few rows
shown are named. Read-only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, distinct, func, or_, select

from scrm.customers.models import Customer
from scrm.customers.schemas import mask_phone
from scrm.products.codes import ProductCodec
from scrm.products.models import CodeBatch, ProductClaim, ProductScan
from scrm.products.stats_scope import Scope, claims_in, scans_in

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.config import Config

MANY_CLAIMS = 10  # claims by one customer in the period
SHARED_BY = 3  # different customers told "claimed by someone else" for one code
LIMIT_DAYS = 2  # days one customer met the daily limit
NOT_GENUINE = 3  # scans of codes that are not genuine by one customer
SHOWN = 20  # rows of each list


@dataclass(frozen=True)
class Person:
    customer_id: int
    nickname: str | None
    phone: str | None  # masked


@dataclass(frozen=True)
class ManyClaims:
    customer: Person
    claims: int
    days: int  # days with a claim


@dataclass(frozen=True)
class SharedCode:
    batch_id: int
    product: str
    serial: int
    code: str  # as printed: the batch's prefix, the serial enciphered, the MAC
    scanners: int  # different customers told it was claimed by someone else
    scans: int
    owner: Person | None  # who claimed it (None: the claim is gone with its customer)
    claimed_at: datetime | None


@dataclass(frozen=True)
class LimitDays:
    customer: Person
    days: int  # days refused by the daily limit
    scans: int


@dataclass(frozen=True)
class NotGenuine:
    customer: Person
    scans: int


@dataclass(frozen=True)
class Suspicious:
    many_claims: tuple[ManyClaims, ...]
    shared_codes: tuple[SharedCode, ...]
    limit_days: tuple[LimitDays, ...]
    not_genuine: tuple[NotGenuine, ...]

    @property
    def found(self) -> bool:
        return bool(self.many_claims or self.shared_codes or self.limit_days or self.not_genuine)


def suspicious_patterns(*, db_session: Session, config: Config, first_day: date, last_day: date,
                        scope: Scope) -> Suspicious:
    in_period = ProductClaim.day.between(first_day, last_day)
    claims = func.count(ProductClaim.id)
    # a hash aggregate over the period's claims; the days of the few listed are read after
    many = db_session.execute(claims_in(select(ProductClaim.customer_id, claims).where(in_period), scope)
                              .group_by(ProductClaim.customer_id).having(claims >= MANY_CLAIMS)
                              .order_by(claims.desc(), ProductClaim.customer_id).limit(SHOWN)).all()
    claim_days = dict(db_session.execute(claims_in(
        select(ProductClaim.customer_id, func.count(distinct(ProductClaim.day)))
        .where(in_period, ProductClaim.customer_id.in_([cid for cid, _ in many])), scope)
        .group_by(ProductClaim.customer_id)).all()) if many else {}

    def scans_of(result: str):  # noqa: ANN202
        return (ProductScan.day.between(first_day, last_day), ProductScan.result == result)

    scanners, scans = func.count(distinct(ProductScan.customer_id)), func.count(ProductScan.id)
    shared = db_session.execute(scans_in(
        select(ProductScan.batch_id, ProductScan.serial, scanners, scans)
        .where(*scans_of("claimed_by_other"), ProductScan.batch_id.is_not(None)), scope)
        .group_by(ProductScan.batch_id, ProductScan.serial).having(scanners >= SHARED_BY)
        .order_by(scanners.desc(), scans.desc(), ProductScan.batch_id, ProductScan.serial).limit(SHOWN)).all()
    days = func.count(distinct(ProductScan.day))
    limited = db_session.execute(scans_in(
        select(ProductScan.customer_id, days, scans)
        .where(*scans_of("daily_limit"), ProductScan.customer_id.is_not(None)), scope)
        .group_by(ProductScan.customer_id).having(days >= LIMIT_DAYS)
        .order_by(days.desc(), scans.desc(), ProductScan.customer_id).limit(SHOWN)).all()
    fakes = db_session.execute(scans_in(
        select(ProductScan.customer_id, scans)
        .where(*scans_of("not_genuine"), ProductScan.customer_id.is_not(None)), scope)
        .group_by(ProductScan.customer_id).having(scans >= NOT_GENUINE)
        .order_by(scans.desc(), ProductScan.customer_id).limit(SHOWN)).all()

    owners = _owners(db_session, [(batch_id, serial) for batch_id, serial, *_ in shared])
    people = _people(db_session, {row[0] for row in (*many, *limited, *fakes)}
                     | {owner for owner, _ in owners.values()})
    batches = {bid: (prefix, product) for bid, prefix, product in db_session.execute(
        select(CodeBatch.id, CodeBatch.prefix, CodeBatch.product)
        .where(CodeBatch.id.in_({batch_id for batch_id, *_ in shared})))} if shared else {}
    codec = ProductCodec.from_config(config)

    def person(cid: int) -> Person:  # a customer row gone between the two reads: still listed, unnamed
        return people.get(cid) or Person(cid, None, None)

    def shared_code(bid: int, serial: int, scanners: int, scans: int) -> SharedCode:
        owner, claimed_at = owners.get((bid, serial), (None, None))
        prefix, product = batches[bid]
        return SharedCode(bid, product, serial, codec.encode(prefix, serial), int(scanners), int(scans),
                          None if owner is None else person(owner), claimed_at)

    return Suspicious(
        tuple(ManyClaims(person(cid), int(n), int(claim_days.get(cid, 0))) for cid, n in many),
        tuple(shared_code(*row) for row in shared),
        tuple(LimitDays(person(cid), int(d), int(n)) for cid, d, n in limited),
        tuple(NotGenuine(person(cid), int(n)) for cid, n in fakes),
    )


def _owners(db_session: Session, codes: list[tuple[int, int]]) -> dict[tuple[int, int], tuple[int, datetime]]:
    """(batch, serial) → (who claimed it, when), on the claims' unique (batch_id, serial)."""
    if not codes:
        return {}
    return {(bid, serial): (cid, at) for bid, serial, cid, at in db_session.execute(
        select(ProductClaim.batch_id, ProductClaim.serial, ProductClaim.customer_id, ProductClaim.claimed_at)
        .where(or_(*(and_(ProductClaim.batch_id == bid, ProductClaim.serial == serial) for bid, serial in codes))))}


def _people(db_session: Session, ids: set[int]) -> dict[int, Person]:
    if not ids:
        return {}
    return {cid: Person(cid, nickname, mask_phone(phone)) for cid, nickname, phone in db_session.execute(
        select(Customer.id, Customer.nickname, Customer.phone).where(Customer.id.in_(ids)))}


def suspicious_out(found: Suspicious) -> dict[str, Any]:
    def person(p: Person | None) -> dict[str, Any] | None:
        return None if p is None else asdict(p)

    return {
        "thresholds": {"many_claims": MANY_CLAIMS, "shared_by": SHARED_BY, "limit_days": LIMIT_DAYS,
                       "not_genuine": NOT_GENUINE, "shown": SHOWN},
        "many_claims": [{"customer": person(m.customer), "claims": m.claims, "days": m.days}
                        for m in found.many_claims],
        "shared_codes": [{"batch_id": s.batch_id, "product": s.product, "serial": s.serial, "code": s.code,
                          "scanners": s.scanners, "scans": s.scans, "owner": person(s.owner),
                          "claimed_at": s.claimed_at.isoformat() if s.claimed_at else None}
                         for s in found.shared_codes],
        "limit_days": [{"customer": person(x.customer), "days": x.days, "scans": x.scans} for x in found.limit_days],
        "not_genuine": [{"customer": person(x.customer), "scans": x.scans} for x in found.not_genuine],
    }
