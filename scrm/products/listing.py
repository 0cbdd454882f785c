"""Batches as the API and the console list them (SPEC §14): a page at a time, newest first,
each with its store's code, its coupon template's name and how many of its codes are claimed.

Service functions take ``db_session`` and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from guides.models import Store
from scrm.coupons.models import CouponTemplate, stock_left
from scrm.products.batches import claims_of
from scrm.products.models import CodeBatch
from scrm.products.schemas import batch_out

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

MAX_PER_PAGE = 100


@dataclass(frozen=True)
class BatchPage:
    batches: list[CodeBatch]
    page: int
    per_page: int
    total: int  # batches in all

    @property
    def has_more(self) -> bool:
        return self.page * self.per_page < self.total


def list_batches(*, db_session: Session, page: int, per_page: int) -> BatchPage:
    """Page ``page`` (from 1) of every batch, ``per_page`` (1-100) a page, newest first."""
    if not 1 <= per_page <= MAX_PER_PAGE or page < 1:
        raise ValueError(f"page from 1, per_page 1-{MAX_PER_PAGE}")
    total = db_session.scalar(select(func.count()).select_from(CodeBatch))
    found = list(db_session.scalars(select(CodeBatch).order_by(CodeBatch.created_at.desc(), CodeBatch.id.desc())
                                    .offset((page - 1) * per_page).limit(per_page)))
    return BatchPage(found, page, per_page, int(total or 0))


def batches_out(*, db_session: Session, batches: list[CodeBatch]) -> list[dict[str, Any]]:
    """Each batch as the API shows it (schemas.batch_out), in three queries whatever their number."""
    store_ids = {b.store_id for b in batches if b.store_id is not None}
    template_ids = {b.reward_template_id for b in batches if b.reward_template_id is not None}
    stores = dict(db_session.execute(select(Store.id, Store.code).where(Store.id.in_(store_ids))).all()) if store_ids else {}
    templates = ({tid: (name, stock_left(stock, issued)) for tid, name, stock, issued in
                  db_session.execute(select(CouponTemplate.id, CouponTemplate.name, CouponTemplate.stock,
                                            CouponTemplate.issued_count).where(CouponTemplate.id.in_(template_ids)))}
                 if template_ids else {})
    claims = claims_of(db_session=db_session, batch_ids=[b.id for b in batches])
    return [batch_out(b, store_code=stores.get(b.store_id), claims=claims.get(b.id, 0),
                      template_name=templates.get(b.reward_template_id, (None, None))[0],
                      coupons_left=templates.get(b.reward_template_id, (None, None))[1]) for b in batches]
