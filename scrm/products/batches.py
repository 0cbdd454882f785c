"""Batches of product codes (批次, SPEC §14): created with a random prefix, found by it.

A batch is one row however many codes it has; its codes are computed (scrm/products/codes.py),
streamed as CSV and printed as label sheets (scrm/products/sheets.py), never stored.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from guides.models import Store
from scrm.clock import as_utc, local_day
from scrm.coupons.models import CouponTemplate
from scrm.db import dialect_insert
from scrm.errors import InvalidInput, NotFoundError
from scrm.products.codes import PREFIX_CHARS
from scrm.products.models import CodeBatch, ProductClaim

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.config import Config
    from scrm.products.schemas import BatchIn

_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


class BatchMissing(NotFoundError):
    """No such batch."""


class BatchInvalid(InvalidInput):
    """The batch cannot be made as asked (an unknown store or coupon template, a past date)."""


@dataclass(frozen=True)
class BatchRef:
    """A batch as a claim needs it, read in one query."""

    id: int
    prefix: str
    product: str
    sku: str
    quantity: int
    reward_points: int | None
    reward_template_id: int | None
    store_id: int | None
    valid_until: date | None

    def expired(self, today: date) -> bool:
        return self.valid_until is not None and today > self.valid_until


def create_batch(*, db_session: Session, config: Config, batch_in: BatchIn, at: datetime,
                 created_by: str | None) -> CodeBatch:
    """A new batch with a fresh random prefix; the store and template must exist."""
    store_id = None
    if batch_in.store_code is not None:
        store_id = db_session.scalar(select(Store.id).where(Store.code == batch_in.store_code))
        if store_id is None:
            raise BatchInvalid("store_code", f"no store has the code {batch_in.store_code!r}")
    template_id = batch_in.reward.coupon_template_id
    if template_id is not None and db_session.get(CouponTemplate, template_id) is None:
        raise BatchInvalid("reward.coupon_template_id", f"no coupon template has the id {template_id}")
    if batch_in.valid_until is not None and batch_in.valid_until < local_day(config, at):
        raise BatchInvalid("valid_until", "must be today or later")
    for _ in range(10):  # 33 million prefixes: a clash is rare, and another draw settles it
        prefix = "".join(secrets.choice(_ALPHABET) for _ in range(PREFIX_CHARS))
        inserted = db_session.execute(
            dialect_insert(db_session, CodeBatch.__table__).values(
                prefix=prefix, product=batch_in.product, sku=batch_in.sku, quantity=batch_in.quantity,
                reward_points=batch_in.reward.points, reward_template_id=template_id, store_id=store_id,
                valid_until=batch_in.valid_until, created_by=created_by, created_at=as_utc(at),
            ).on_conflict_do_nothing().returning(CodeBatch.__table__.c.id)
        ).first()
        if inserted is not None:
            return db_session.get(CodeBatch, inserted.id)
    raise RuntimeError("no free batch prefix after 10 draws")


def batch_by_prefix(*, db_session: Session, prefix: str) -> BatchRef | None:
    row = db_session.execute(
        select(CodeBatch.id, CodeBatch.prefix, CodeBatch.product, CodeBatch.sku, CodeBatch.quantity,
               CodeBatch.reward_points, CodeBatch.reward_template_id, CodeBatch.store_id, CodeBatch.valid_until)
        .where(CodeBatch.prefix == prefix)
    ).first()
    return None if row is None else BatchRef(*row)


def get_batch(*, db_session: Session, batch_id: int) -> CodeBatch:
    batch = db_session.get(CodeBatch, batch_id)
    if batch is None:
        raise BatchMissing(f"no batch has the id {batch_id}")
    return batch


def claims_of(*, db_session: Session, batch_ids: list[int]) -> dict[int, int]:
    """How many codes of each batch are claimed."""
    if not batch_ids:
        return {}
    rows = db_session.execute(select(ProductClaim.batch_id, func.count()).where(ProductClaim.batch_id.in_(batch_ids))
                              .group_by(ProductClaim.batch_id))
    return {batch_id: n for batch_id, n in rows}
