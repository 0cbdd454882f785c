"""Coupon templates, customers and coupons for tests, made through the services."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from scrm.coupons import coupon_templates, issuing
from scrm.coupons.codes import display
from scrm.coupons.schemas import TemplateIn
from scrm.customers.models import Customer, CustomerIdentity

_ids = itertools.count(1)


@dataclass(frozen=True)
class Issued:
    id: int
    code: str  # as shown, with dashes
    customer_id: int


def make_template(runtime, **fields: Any) -> int:  # noqa: ANN001
    body = {"name": "满100减20", "kind": "cash", "amount": "20", "min_spend": "100", "valid_days": 30,
            "per_customer_limit": None, **fields}
    with runtime.transaction() as db_session:
        template = coupon_templates.create_template(db_session=db_session, template_in=TemplateIn(**body),
                                             at=runtime.clock.now())
        return template.id


def make_customer(runtime, *, openid: str | None = None, nickname: str | None = None, phone: str | None = None,  # noqa: ANN001
                  following: bool = True) -> int:
    openid = openid or f"o{next(_ids):08d}coupon"
    with runtime.transaction() as db_session:
        customer = Customer(nickname=nickname, phone=phone)
        db_session.add(customer)
        db_session.flush()
        db_session.add(CustomerIdentity(customer_id=customer.id, channel="mp", external_id=openid,
                                        following=following))
        return customer.id


def issue(runtime, template_id: int, customer_id: int, *, source: str = "manual") -> Issued:  # noqa: ANN001
    with runtime.transaction() as db_session:
        coupon = issuing.issue(runtime=runtime, db_session=db_session, template_id=template_id,
                               customer_id=customer_id, source=source, source_ref="test", at=runtime.clock.now())
        return Issued(coupon.id, display(coupon.code), customer_id)
