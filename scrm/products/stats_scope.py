"""What the product-code figures are narrowed to (a batch, a product, a store, a guide), as the
WHERE clauses every figure and every suspicious list shares (scrm/products/stats.py,
suspicious.py), so that a filter means the same thing everywhere:

- a claim by its own columns: ``batch_id``, its batch's ``product``, ``store_id`` (the batch's
  store when it was claimed), ``guide_id`` (the guide it credited);
- a scan by its ``batch_id``, that batch's product and store, and the guide the scanning
  customer is bound to now (a scan credits no one). A code that is not genuine has no batch:
  a batch, product or store filter leaves it out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Select, and_

from guides.models import Binding
from scrm.products.models import CodeBatch, ProductClaim, ProductScan

Query = TypeVar("Query", bound=Select)


@dataclass(frozen=True)
class Scope:
    """What the figures are narrowed to; None: all."""

    batch_id: int | None = None
    product: str | None = None
    store_id: int | None = None
    guide_id: int | None = None


def claims_in(query: Query, scope: Scope, *, batches: bool = False) -> Query:
    """``query`` over claims narrowed to ``scope``, joining the batch for its product (or when
    ``batches``: the query reads the batch)."""
    if batches or scope.product is not None:
        query = query.join(CodeBatch, CodeBatch.id == ProductClaim.batch_id)
    if scope.batch_id is not None:
        query = query.where(ProductClaim.batch_id == scope.batch_id)
    if scope.product is not None:
        query = query.where(CodeBatch.product == scope.product)
    if scope.store_id is not None:
        query = query.where(ProductClaim.store_id == scope.store_id)
    if scope.guide_id is not None:
        query = query.where(ProductClaim.guide_id == scope.guide_id)
    return query


def scans_in(query: Query, scope: Scope, *, batches: bool = False, guides: bool = False) -> Query:
    """``query`` over scans narrowed to ``scope``. Outer joins (the batch when ``batches`` or a
    product or store filter needs it, the customer's current binding when ``guides`` or a guide
    filter does): a scan with no batch or no guide still counts where nothing asks for one."""
    if batches or scope.product is not None or scope.store_id is not None:
        query = query.outerjoin(CodeBatch, CodeBatch.id == ProductScan.batch_id)
    if guides or scope.guide_id is not None:
        query = query.outerjoin(Binding, and_(Binding.customer_id == ProductScan.customer_id,
                                              Binding.ended_at.is_(None)))
    if scope.batch_id is not None:
        query = query.where(ProductScan.batch_id == scope.batch_id)
    if scope.product is not None:
        query = query.where(CodeBatch.product == scope.product)
    if scope.store_id is not None:
        query = query.where(CodeBatch.store_id == scope.store_id)
    if scope.guide_id is not None:
        query = query.where(Binding.guide_id == scope.guide_id)
    return query
