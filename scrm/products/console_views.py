"""What the console's batch pages (码批次, scrm/products/pages.py) show: the batches with their
reward, store and how many of their codes are claimed; one batch with its latest claims; the
stores, products and coupon templates the filters and the form offer; and the checks a new
batch must pass before the confirmation is shown (the same create_batch makes, read-only).

Read-only, as frozen values (a template never lazy-loads); the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from guides.models import Guide, Store
from scrm.clock import local_day
from scrm.coupons.models import CouponTemplate, stock_left
from scrm.customers.models import Customer
from scrm.products.batches import BatchMissing, BatchRef, claims_of
from scrm.products.models import CodeBatch, ProductClaim

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.config import Config
    from scrm.products.schemas import BatchIn

PAGE = 20
LATEST_CLAIMS = 20


@dataclass(frozen=True)
class BatchRow:
    """A batch as the list and the batch page show it."""

    id: int
    prefix: str
    product: str
    sku: str
    quantity: int
    reward_points: int | None
    template_id: int | None
    template_name: str | None
    store_id: int | None
    store_code: str | None
    store_name: str | None
    valid_until: date | None
    claims: int
    created_at: datetime
    created_by: str | None
    coupons_left: int | None = None  # the reward coupon's stock not yet issued (None: no limit, or points)

    @property
    def coupons_short(self) -> int:
        """How many of the codes not yet claimed the coupon's stock would leave without one."""
        if self.template_id is None or self.coupons_left is None:
            return 0
        return max(0, self.quantity - self.claims - self.coupons_left)

    @property
    def ref(self) -> BatchRef:
        """The batch as the code streams and label sheets take it (no database needed)."""
        return BatchRef(self.id, self.prefix, self.product, self.sku, self.quantity, self.reward_points,
                        self.template_id, self.store_id, self.valid_until)


@dataclass(frozen=True)
class ClaimLine:
    claimed_at: datetime
    customer_id: int
    nickname: str | None
    serial: int
    store_name: str | None
    guide_name: str | None
    points: int | None
    points_pending: bool
    coupon_id: int | None
    new_follower: bool


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


def batch_rows(*, db_session: Session, product: str | None = None, store_id: int | None = None,
               limit: int = PAGE, offset: int = 0) -> tuple[list[BatchRow], int]:
    """The batches picked by the filters, newest first, one page; and how many there are."""
    where = []
    if product is not None:
        where.append(CodeBatch.product == product)
    if store_id is not None:
        where.append(CodeBatch.store_id == store_id)
    total = db_session.scalar(select(func.count()).select_from(CodeBatch).where(*where)) or 0
    rows = _rows(db_session, _batches().where(*where).order_by(CodeBatch.id.desc()).limit(limit).offset(offset))
    return rows, total


def batch_row(*, db_session: Session, batch_id: int) -> BatchRow:
    rows = _rows(db_session, _batches().where(CodeBatch.id == batch_id))
    if not rows:
        raise BatchMissing(f"no batch has the id {batch_id}")
    return rows[0]


def latest_claims(*, db_session: Session, batch_id: int, limit: int = LATEST_CLAIMS) -> list[ClaimLine]:
    c = ProductClaim
    rows = db_session.execute(
        select(c.claimed_at, c.customer_id, Customer.nickname, c.serial, Store.name, Guide.name, c.points,
               c.points_pending, c.coupon_id, c.new_follower)
        .join(Customer, Customer.id == c.customer_id)
        .outerjoin(Store, Store.id == c.store_id).outerjoin(Guide, Guide.id == c.guide_id)
        .where(c.batch_id == batch_id).order_by(c.claimed_at.desc(), c.id.desc()).limit(limit))
    return [ClaimLine(*row) for row in rows]


def product_choices(*, db_session: Session) -> list[str]:
    """The products batches were made for, for the filter."""
    return list(db_session.scalars(select(CodeBatch.product).distinct().order_by(CodeBatch.product)))


def store_choices(*, db_session: Session) -> list[tuple[int, str, str]]:
    """Every store: (id, code, name)."""
    return [tuple(row) for row in db_session.execute(select(Store.id, Store.code, Store.name).order_by(Store.code))]


def template_choices(*, db_session: Session) -> list[tuple[int, str]]:
    """The coupon templates a batch may give: the active ones (id, name)."""
    return [tuple(row) for row in db_session.execute(
        select(CouponTemplate.id, CouponTemplate.name).where(CouponTemplate.status == "active")
        .order_by(CouponTemplate.name, CouponTemplate.id))]


@dataclass(frozen=True)
class Reward:
    """The reward a new batch will give, as the confirmation words it. A coupon's
    ``coupons_left`` (its template's stock not yet issued, shared with whatever else issues it;
    None: no limit) and ``per_customer`` (most one customer may hold; None: no limit) are what
    can leave a code's claim without its coupon ("奖品已领完"), so the confirmation says them."""

    points: int | None
    template_name: str | None
    store_name: str | None
    coupons_left: int | None = None
    per_customer: int | None = None


def check_new_batch(*, db_session: Session, config: Config, batch_in: BatchIn, at: datetime
                    ) -> tuple[Reward | None, list[dict[str, str]]]:
    """What create_batch would refuse (an unknown store or template, a day already past), and,
    for the console, a template that is not active (its codes would be claimed for nothing).
    Errors as ``{field, code}`` with the form's field names; the reward when there are none."""
    errors: list[dict[str, str]] = []
    store_name = None
    if batch_in.store_code is not None:
        store_name = db_session.scalar(select(Store.name).where(Store.code == batch_in.store_code))
        if store_name is None:
            errors.append({"field": "store_code", "code": "unknown_store"})
    template_name = coupons_left = per_customer = None
    template_id = batch_in.reward.coupon_template_id
    if template_id is not None:
        template = db_session.get(CouponTemplate, template_id)
        if template is None or template.status != "active":
            errors.append({"field": "coupon_template_id", "code": "unknown_template"})
        else:
            template_name, per_customer = template.name, template.per_customer_limit
            coupons_left = stock_left(template.stock, template.issued_count)
    if batch_in.valid_until is not None and batch_in.valid_until < local_day(config, at):
        errors.append({"field": "valid_until", "code": "past"})
    if errors:
        return None, errors
    return Reward(batch_in.reward.points, template_name, store_name, coupons_left, per_customer), []


def claim_rate(claims: int, quantity: int) -> str:
    """Claimed codes as a share of the batch: ``0%``, ``<0.01%``, ``12.5%``."""
    if claims <= 0 or quantity <= 0:
        return "0%"
    percent = 100 * claims / quantity
    if percent < 0.01:
        return "<0.01%"
    return f"{percent:.2f}".rstrip("0").rstrip(".") + "%"


def _batches():  # noqa: ANN202
    return (select(CodeBatch.id, CodeBatch.prefix, CodeBatch.product, CodeBatch.sku, CodeBatch.quantity,
                   CodeBatch.reward_points, CodeBatch.reward_template_id, CouponTemplate.name, CodeBatch.store_id, Store.code,
                   Store.name,
                   CodeBatch.valid_until, CodeBatch.created_at, CodeBatch.created_by, CouponTemplate.stock,
                   CouponTemplate.issued_count)
            .outerjoin(CouponTemplate, CouponTemplate.id == CodeBatch.reward_template_id)
            .outerjoin(Store, Store.id == CodeBatch.store_id))


def _rows(db_session: Session, query) -> list[BatchRow]:  # noqa: ANN001
    found = db_session.execute(query).all()
    claims = claims_of(db_session=db_session, batch_ids=[row.id for row in found])
    return [BatchRow(id=r[0], prefix=r[1], product=r[2], sku=r[3], quantity=r[4], reward_points=r[5], template_id=r[6],
                     template_name=r[7], store_id=r[8], store_code=r[9], store_name=r[10], valid_until=r[11],
                     claims=claims.get(r[0], 0), created_at=r[12], created_by=r[13],
                     coupons_left=stock_left(r[14], r[15]) if r[6] is not None else None) for r in found]
