"""Redemption (核销), void and un-redeem: exactly once, refused with a reason, all audited.

A coupon is redeemed by one conditional UPDATE (``… SET status = 'redeemed' WHERE id = :id AND
status = 'issued' AND valid_until > now``): of any number of guides confirming the same coupon
at once, the database lets exactly one through; the others read back who won, and when.

Every attempt, success or refusal, is a row of ``coupon_attempts``. A refusal is returned, not
raised, so that the caller's transaction commits its audit row; the route answers with the
refusal's code afterwards. A code that fails its check character or its signature is refused
before any lookup (scrm/coupons/codes.py).

Refusal codes: ``bad_code``, ``not_found``, ``already_redeemed``, ``expired``, ``voided``,
``not_yet_valid``, ``not_valid_in_store``; for un-redeem ``not_redeemed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from guides.models import Guide, Store
from scrm.coupons.codes import BadCode, CouponCodec
from scrm.coupons.models import Coupon, CouponAttempt, CouponTemplateStore
from scrm.customers.models import Interaction
from scrm.db import as_utc

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

_coupons = Coupon.__table__
CODE_CHARS = 40
TIMELINE_KIND = {"void": "coupon_voided", "unredeem": "coupon_unredeemed"}


@dataclass(frozen=True)
class Counter:
    """Where and by whom: the signed-in user, their guide (None for a manager) and the store."""

    user_id: int | None
    store_id: int | None
    guide_id: int | None = None
    guide_code: str | None = None


@dataclass(frozen=True)
class Outcome:
    """``result`` is ``ok`` or a refusal code; ``coupon`` is the coupon when the code named one."""

    result: str
    message: str
    coupon_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.result == "ok"


def find(*, runtime: Runtime, db_session: Session, code: str, counter: Counter | None = None) -> Outcome:
    """What the guide sees before confirming: the coupon and, were it redeemed here now,
    whether it would be refused and why. Not an attempt: nothing is written."""
    coupon, refusal = _look_up(runtime, db_session, code)
    if refusal is not None:
        return refusal
    return _refusal(db_session, coupon, runtime.clock.now(), counter) or Outcome("ok", "可以核销 ready to redeem",
                                                                                coupon.id)


def redeem(*, runtime: Runtime, db_session: Session, code: str, counter: Counter) -> Outcome:
    now = runtime.clock.now()
    coupon, refusal = _look_up(runtime, db_session, code)
    if refusal is None:
        refusal = _refusal(db_session, coupon, now, counter)
    if refusal is None:
        won = db_session.execute(
            update(_coupons)
            .where(_coupons.c.id == coupon.id, _coupons.c.status == "issued", _coupons.c.valid_until > now,
                   _coupons.c.valid_from <= now)
            .values(status="redeemed", redeemed_at=now, redeemed_guide_id=counter.guide_id,
                    redeemed_store_id=counter.store_id, redeemed_user_id=counter.user_id)
            .returning(_coupons.c.id)
        ).first()
        if won is None:  # someone else got there between our read and our write
            db_session.expire(coupon)
            refusal = _refusal(db_session, coupon, now, counter)
    outcome = refusal or _redeemed(runtime, db_session, coupon, now, counter)
    _audit(db_session, "redeem", code, outcome, counter, now)
    return outcome


def void(*, runtime: Runtime, db_session: Session, code: str, reason: str, counter: Counter) -> Outcome:
    """A manager takes an unused coupon away from the customer (作废)."""
    return _move(runtime, db_session, code, counter, reason, action="void", source="issued", values={
        "status": "voided", "voided_at": runtime.clock.now(), "void_reason": reason,
    })


def unredeem(*, runtime: Runtime, db_session: Session, code: str, reason: str, counter: Counter) -> Outcome:
    """A manager takes a redemption back (撤销核销): the coupon can be used again."""
    return _move(runtime, db_session, code, counter, reason, action="unredeem", source="redeemed", values={
        "status": "issued", "redeemed_at": None, "redeemed_guide_id": None, "redeemed_store_id": None,
        "redeemed_user_id": None,
    })


def _move(runtime: Runtime, db_session: Session, code: str, counter: Counter, reason: str, *, action: str,
          source: str, values: dict[str, Any]) -> Outcome:
    now = runtime.clock.now()
    coupon, outcome = _look_up(runtime, db_session, code)
    if outcome is None:
        moved = db_session.execute(
            update(_coupons).where(_coupons.c.id == coupon.id, _coupons.c.status == source).values(**values)
            .returning(_coupons.c.id)
        ).first()
        db_session.expire(coupon)
        if moved is None:
            outcome = _not_movable(db_session, coupon, now, action)
        else:
            db_session.add(Interaction(customer_id=coupon.customer_id, kind=TIMELINE_KIND[action],
                                       occurred_at=now, payload={"coupon_id": coupon.id, "reason": reason}))
            outcome = Outcome("ok", "已作废 voided" if action == "void" else "已撤销核销 redemption taken back",
                              coupon.id)
    _audit(db_session, action, code, outcome, counter, now, reason=reason)
    return outcome


def _look_up(runtime: Runtime, db_session: Session, code: str) -> tuple[Coupon | None, Outcome | None]:
    try:
        parsed = CouponCodec.from_config(runtime.config).decode(code)
    except BadCode as exc:
        return None, Outcome("bad_code", str(exc), details={"why": exc.why})
    coupon = db_session.get(Coupon, parsed.coupon_id)
    if coupon is None or coupon.code != parsed.text:
        return None, Outcome("not_found", "no coupon has this code")
    return coupon, None


def _refusal(db_session: Session, coupon: Coupon, now: datetime, counter: Counter | None) -> Outcome | None:
    if coupon.status == "redeemed":
        return Outcome("already_redeemed", "这张券已经核销过了 already redeemed", coupon.id,
                       _redeemed_details(db_session, coupon))
    if coupon.status == "voided":
        return Outcome("voided", f"这张券已作废 voided: {coupon.void_reason}", coupon.id,
                       {"voided_at": as_utc(coupon.voided_at).isoformat()})
    if coupon.status == "expired" or as_utc(coupon.valid_until) <= now:
        return Outcome("expired", "这张券已过期 expired", coupon.id,
                       {"valid_until": as_utc(coupon.valid_until).isoformat()})
    if as_utc(coupon.valid_from) > now:
        return Outcome("not_yet_valid", "这张券还没到使用时间 not valid yet", coupon.id,
                       {"valid_from": as_utc(coupon.valid_from).isoformat()})
    if counter is not None and not _valid_in(db_session, coupon.template_id, counter.store_id):
        return Outcome("not_valid_in_store", "这张券不能在本店使用 not valid in this store", coupon.id,
                       {"stores": _store_codes(db_session, coupon.template_id)})
    return None


def _not_movable(db_session: Session, coupon: Coupon, now: datetime, action: str) -> Outcome:
    if action == "unredeem":
        return Outcome("not_redeemed", f"this coupon is {coupon.status}, not redeemed", coupon.id)
    return _refusal(db_session, coupon, now, None) or Outcome(coupon.status, f"this coupon is {coupon.status}",
                                                                   coupon.id)


def _redeemed(runtime: Runtime, db_session: Session, coupon: Coupon, now: datetime, counter: Counter) -> Outcome:
    db_session.add(Interaction(customer_id=coupon.customer_id, kind="coupon_redeemed", occurred_at=now, payload={
        "coupon_id": coupon.id, "template_id": coupon.template_id, "guide": counter.guide_code,
        "store_id": counter.store_id,
    }))
    credited = None
    if counter.guide_code is not None:
        from guides.credit import credit_guide

        credited = credit_guide(runtime=runtime, db_session=db_session, customer_id=coupon.customer_id,
                                guide_code=counter.guide_code, at=now, kind="redemption")
    return Outcome("ok", "核销成功 redeemed", coupon.id, {"redeemed_at": now.isoformat(), "credited_guide_id": credited})


def _redeemed_details(db_session: Session, coupon: Coupon) -> dict[str, Any]:
    row = db_session.execute(
        select(Guide.code, Guide.name, Store.code.label("store"), Store.name.label("store_name"))
        .select_from(Coupon).outerjoin(Guide, Guide.id == Coupon.redeemed_guide_id)
        .outerjoin(Store, Store.id == Coupon.redeemed_store_id).where(Coupon.id == coupon.id)
    ).one()
    by = {"user_id": coupon.redeemed_user_id, "guide": row.code, "guide_name": row.name, "store": row.store,
          "store_name": row.store_name}
    return {"redeemed_at": as_utc(coupon.redeemed_at).isoformat(), "redeemed_by": by}


def _valid_in(db_session: Session, template_id: int, store_id: int | None) -> bool:
    stores = set(db_session.scalars(select(CouponTemplateStore.store_id)
                                    .where(CouponTemplateStore.template_id == template_id)))
    return not stores or store_id in stores


def _store_codes(db_session: Session, template_id: int) -> list[str]:
    from scrm.coupons.templates import store_codes

    return store_codes(db_session=db_session, template_id=template_id)


def _audit(db_session: Session, action: str, code: str, outcome: Outcome, counter: Counter, at: datetime,
           reason: str | None = None) -> None:
    detail = {k: v for k, v in outcome.details.items() if k != "credited_guide_id"}
    db_session.add(CouponAttempt(at=at, action=action, result=outcome.result, code=(code or "")[:CODE_CHARS],
                                 coupon_id=outcome.coupon_id, user_id=counter.user_id, guide_id=counter.guide_id,
                                 store_id=counter.store_id, reason=reason, detail=detail))
