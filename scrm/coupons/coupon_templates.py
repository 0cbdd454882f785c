"""Coupon templates (券模板) and issuing rules: create, change, list, read.

Service functions take ``db_session`` and never commit; the caller owns the transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from guides.models import Store
from scrm.coupons.models import Coupon, CouponRule, CouponTemplate, CouponTemplateStore
from scrm.errors import ConflictError, NotFoundError, Refused

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.coupons.schemas import RuleIn, TemplateChangeIn, TemplateIn


class UnknownStores(Refused):
    """A template names stores that do not exist: 422 ``unknown_store``, naming them."""

    code = "unknown_store"

    def __init__(self, codes: list[str]) -> None:
        super().__init__(f"no store with the code {', '.join(codes)}", field="stores", stores=codes)
        self.codes = codes


class TemplateNotFound(NotFoundError):
    """No such coupon template (or rule of one)."""


class StockBelowIssued(ConflictError):
    """A template's stock cannot go below the coupons already issued of it."""

    code = "stock_below_issued"


def create_template(*, db_session: Session, template_in: TemplateIn, at: datetime) -> CouponTemplate:
    store_ids = _store_ids(db_session, template_in.stores)
    fields = template_in.model_dump(exclude={"stores"})
    template = CouponTemplate(**fields, created_at=at, issued_count=0, status="active")
    template.stores = [CouponTemplateStore(store_id=store_id) for store_id in store_ids]
    db_session.add(template)
    db_session.flush()
    return template


def change_template(*, db_session: Session, template_id: int, change: TemplateChangeIn) -> CouponTemplate:
    """Pause or resume, raise or lower the stock (never below what was issued), the reminder."""
    template = get_template(db_session=db_session, template_id=template_id, lock=True)
    if change.unlimited_stock:
        template.stock = None
    elif change.stock is not None:
        if change.stock < template.issued_count:
            raise StockBelowIssued(f"stock {change.stock} is below the {template.issued_count} already issued")
        template.stock = change.stock
    for name in ("status", "remind_days_before", "description"):
        value = getattr(change, name)
        if value is not None:
            setattr(template, name, value)
    db_session.flush()
    return template


def get_template(*, db_session: Session, template_id: int, lock: bool = False) -> CouponTemplate:
    query = select(CouponTemplate).where(CouponTemplate.id == template_id)
    template = db_session.scalar(query.with_for_update() if lock else query)
    if template is None:
        raise TemplateNotFound(f"no coupon template {template_id}")
    return template


def list_templates(*, db_session: Session) -> list[CouponTemplate]:
    return list(db_session.scalars(select(CouponTemplate).order_by(CouponTemplate.id.desc())))


def store_codes(*, db_session: Session, template_id: int) -> list[str]:
    """Where the template's coupons may be redeemed; empty: every store."""
    return list(db_session.scalars(
        select(Store.code).join(CouponTemplateStore, CouponTemplateStore.store_id == Store.id)
        .where(CouponTemplateStore.template_id == template_id).order_by(Store.code)
    ))


def redeemed_counts(*, db_session: Session, template_ids: list[int]) -> dict[int, int]:
    rows = db_session.execute(
        select(Coupon.template_id, func.count()).where(Coupon.template_id.in_(template_ids),
                                                       Coupon.status == "redeemed").group_by(Coupon.template_id)
    )
    return dict(rows.all())


def create_rule(*, db_session: Session, rule_in: RuleIn, at: datetime) -> CouponRule:
    get_template(db_session=db_session, template_id=rule_in.template_id)
    rule = CouponRule(template_id=rule_in.template_id, trigger=rule_in.trigger, min_amount=rule_in.min_amount,
                      active=True, created_at=at)
    db_session.add(rule)
    db_session.flush()
    return rule


def set_rule_active(*, db_session: Session, rule_id: int, active: bool) -> CouponRule:
    rule = db_session.get(CouponRule, rule_id)
    if rule is None:
        raise TemplateNotFound(f"no coupon rule {rule_id}")
    rule.active = active
    db_session.flush()
    return rule


def list_rules(*, db_session: Session, template_id: int | None = None) -> list[CouponRule]:
    query = select(CouponRule).order_by(CouponRule.id)
    if template_id is not None:
        query = query.where(CouponRule.template_id == template_id)
    return list(db_session.scalars(query))


def _store_ids(db_session: Session, codes: list[str]) -> list[int]:
    if not codes:
        return []
    found = dict(db_session.execute(select(Store.code, Store.id).where(Store.code.in_(codes))).all())
    missing = [code for code in codes if code not in found]
    if missing:
        raise UnknownStores(missing)
    return [found[code] for code in codes]
