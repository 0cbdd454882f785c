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

from sqlalchemy import bindparam, exists, insert, or_, select, update

from guides.credit import credit_guide
from guides.models import Guide, Store
from scrm.clock import as_utc
from scrm.coupons.codes import BadCode, CouponCodec
from scrm.coupons.coupon_templates import store_codes
from scrm.coupons.models import Coupon, CouponAttempt, CouponTemplate, CouponTemplateStore
from scrm.customers.models import Customer, Interaction

if TYPE_CHECKING:
    from sqlalchemy import Row
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

_coupons = Coupon.__table__
CODE_CHARS = 40
TIMELINE_KIND = {"void": "coupon_voided", "unredeem": "coupon_unredeemed"}


@dataclass(frozen=True)
class Counter:
    """Where and by whom: the signed-in user, their guide (None for a manager) and the store.
    The names are for the answer (who redeemed it), so that it needs no query of its own."""

    user_id: int | None
    store_id: int | None
    guide_id: int | None = None
    guide_code: str | None = None
    guide_name: str | None = None
    store_code: str | None = None
    store_name: str | None = None


@dataclass(frozen=True)
class Outcome:
    """``result`` is ``ok`` or a refusal code; ``coupon_id`` is the coupon when the code named
    one, ``coupon`` what was read of it (with its template and customer) before the change."""

    result: str
    message: str
    coupon_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    coupon: Row | None = None

    @property
    def ok(self) -> bool:
        return self.result == "ok"


def guide_counter(*, db_session: Session, user_id: int | None, guide_code: str | None) -> Counter | None:
    """Where a guide redeems: in their own store; None when no active guide has the code."""
    guide = db_session.execute(_GUIDE_AT_COUNTER, {"code": guide_code}).first()
    if guide is None or guide.status != "active":
        return None
    return Counter(user_id=user_id, store_id=guide.store_id, guide_id=guide.id, guide_code=guide.code,
                   guide_name=guide.name, store_code=guide.store, store_name=guide.store_name)


def store_counter(*, db_session: Session, user_id: int | None, store_code: str) -> Counter | None:
    """Where an admin or manager redeems: the store named; None when no store has the code."""
    store = db_session.execute(select(Store.id, Store.name).where(Store.code == store_code)).first()
    if store is None:
        return None
    return Counter(user_id=user_id, store_id=store.id, store_code=store_code, store_name=store.name)


def list_attempts(*, db_session: Session, coupon_id: int | None, limit: int) -> list[CouponAttempt]:
    """The audit log, newest first; ``coupon_id`` narrows it to one coupon."""
    query = select(CouponAttempt).order_by(CouponAttempt.id.desc()).limit(limit)
    if coupon_id:
        query = query.where(CouponAttempt.coupon_id == coupon_id)
    return list(db_session.scalars(query))


def redeemed_by(*, db_session: Session, coupon: Coupon) -> dict[str, Any] | None:
    """Who redeemed the coupon, and where; None while it is not redeemed."""
    if coupon.redeemed_at is None:
        return None
    guide = db_session.execute(select(Guide.code, Guide.name).where(Guide.id == coupon.redeemed_guide_id)).first()
    store = db_session.execute(select(Store.code, Store.name).where(Store.id == coupon.redeemed_store_id)).first()
    return {"guide": guide.code if guide else None, "guide_name": guide.name if guide else None,
            "store": store.code if store else None, "store_name": store.name if store else None,
            "user_id": coupon.redeemed_user_id}


def find(*, runtime: Runtime, db_session: Session, code: str, counter: Counter | None = None) -> Outcome:
    """What the guide sees before confirming: the coupon and, were it redeemed here now,
    whether it would be refused and why. Not an attempt: nothing is written."""
    row, refusal = _look_up(runtime, db_session, code, counter)
    if refusal is not None:
        return refusal
    return _refusal(db_session, row, runtime.clock.now(), counter) or Outcome("ok", "可以核销 ready to redeem",
                                                                             row.id, coupon=row)


def redeem(*, runtime: Runtime, db_session: Session, code: str, counter: Counter) -> Outcome:
    now = runtime.clock.now()
    row, refusal = _look_up(runtime, db_session, code, counter)
    if refusal is None:
        refusal = _refusal(db_session, row, now, counter)
    if refusal is None:
        won = db_session.execute(_REDEEM, {"coupon": row.id, "now": now, "guide": counter.guide_id,
                                           "store": counter.store_id, "user": counter.user_id}).first()
        if won is None:  # someone else got there between our read and our write
            row = db_session.execute(_LOOKUP, {"id": row.id, "store_id": counter.store_id}).one()
            refusal = _refusal(db_session, row, now, counter)
    outcome = refusal or _redeemed(runtime, db_session, row, now, counter)
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
    row, outcome = _look_up(runtime, db_session, code, counter)
    if outcome is None:
        moved = db_session.execute(
            update(_coupons).where(_coupons.c.id == row.id, _coupons.c.status == source).values(**values)
            .returning(_coupons.c.id)
        ).first()
        if moved is None:
            outcome = _not_movable(db_session, row, now, action)
        else:
            _note(db_session, row.customer_id, TIMELINE_KIND[action], now, {"coupon_id": row.id, "reason": reason})
            outcome = Outcome("ok", "已作废 voided" if action == "void" else "已撤销核销 redemption taken back",
                              row.id, coupon=row)
    _audit(db_session, action, code, outcome, counter, now, reason=reason)
    return outcome


def _look_up(runtime: Runtime, db_session: Session, code: str,
             counter: Counter | None) -> tuple[Row | None, Outcome | None]:
    """The coupon the code names, with its template, customer and whether it is valid in the
    counter's store, in one statement; or the refusal (a bad code is refused with no query)."""
    try:
        parsed = CouponCodec.from_config(runtime.config).decode(code)
    except BadCode as exc:
        return None, Outcome("bad_code", str(exc), details={"why": exc.why})
    row = db_session.execute(_LOOKUP, {"id": parsed.coupon_id,
                                       "store_id": counter.store_id if counter else None}).first()
    if row is None or row.code != parsed.text:
        return None, Outcome("not_found", "no coupon has this code")
    return row, None


def _refusal(db_session: Session, row: Row, now: datetime, counter: Counter | None) -> Outcome | None:
    if row.status == "redeemed":
        return Outcome("already_redeemed", "这张券已经核销过了 already redeemed", row.id,
                       _redeemed_details(db_session, row), coupon=row)
    if row.status == "voided":
        return Outcome("voided", f"这张券已作废 voided: {row.void_reason}", row.id,
                       {"voided_at": as_utc(row.voided_at).isoformat()}, coupon=row)
    if row.status == "expired" or as_utc(row.valid_until) <= now:
        return Outcome("expired", "这张券已过期 expired", row.id,
                       {"valid_until": as_utc(row.valid_until).isoformat()}, coupon=row)
    if as_utc(row.valid_from) > now:
        return Outcome("not_yet_valid", "这张券还没到使用时间 not valid yet", row.id,
                       {"valid_from": as_utc(row.valid_from).isoformat()}, coupon=row)
    if counter is not None and not row.valid_here:
        return Outcome("not_valid_in_store", "这张券不能在本店使用 not valid in this store", row.id,
                       {"stores": _store_codes(db_session, row.template_id)}, coupon=row)
    return None


def _not_movable(db_session: Session, row: Row, now: datetime, action: str) -> Outcome:
    row = db_session.execute(_LOOKUP, {"id": row.id, "store_id": None}).one()  # as it is now
    if action == "unredeem":
        return Outcome("not_redeemed", f"this coupon is {row.status}, not redeemed", row.id, coupon=row)
    return _refusal(db_session, row, now, None) or Outcome(row.status, f"this coupon is {row.status}", row.id,
                                                           coupon=row)


def _redeemed(runtime: Runtime, db_session: Session, row: Row, now: datetime, counter: Counter) -> Outcome:
    _note(db_session, row.customer_id, "coupon_redeemed", now, {
        "coupon_id": row.id, "template_id": row.template_id, "guide": counter.guide_code, "store_id": counter.store_id,
    })
    credited = None
    if counter.guide_code is not None:
        credited = credit_guide(runtime=runtime, db_session=db_session, customer_id=row.customer_id,
                                guide_code=counter.guide_code, guide_id=counter.guide_id, at=now, kind="redemption")
    return Outcome("ok", "核销成功 redeemed", row.id, {"redeemed_at": now.isoformat(), "credited_guide_id": credited},
                   coupon=row)


def _redeemed_details(db_session: Session, row: Row) -> dict[str, Any]:
    by = db_session.execute(
        select(Guide.code, Guide.name, Store.code.label("store"), Store.name.label("store_name"))
        .select_from(Coupon).outerjoin(Guide, Guide.id == Coupon.redeemed_guide_id)
        .outerjoin(Store, Store.id == Coupon.redeemed_store_id).where(Coupon.id == row.id)
    ).one()
    return {"redeemed_at": as_utc(row.redeemed_at).isoformat(), "redeemed_by": {
        "user_id": row.redeemed_user_id, "guide": by.code, "guide_name": by.name, "store": by.store,
        "store_name": by.store_name}}


def _store_codes(db_session: Session, template_id: int) -> list[str]:
    return store_codes(db_session=db_session, template_id=template_id)


def _note(db_session: Session, customer_id: int, kind: str, at: datetime, payload: dict[str, Any]) -> None:
    db_session.execute(_INSERT_INTERACTION, {"customer_id": customer_id, "identity_id": None, "kind": kind,
                                             "channel": None, "occurred_at": at, "payload": payload,
                                             "dedupe_key": None})


def _audit(db_session: Session, action: str, code: str, outcome: Outcome, counter: Counter, at: datetime,
           reason: str | None = None) -> None:
    detail = {k: v for k, v in outcome.details.items() if k != "credited_guide_id"}
    db_session.execute(_INSERT_ATTEMPT, {
        "at": at, "action": action, "result": outcome.result, "code": (code or "")[:CODE_CHARS],
        "coupon_id": outcome.coupon_id, "user_id": counter.user_id, "guide_id": counter.guide_id,
        "store_id": counter.store_id, "reason": reason, "detail": detail,
    })


# Built once: a redemption runs these for every attempt.
_templates = CouponTemplate.__table__
_stores = CouponTemplateStore.__table__
_customers = Customer.__table__
_LOOKUP = (
    select(_coupons.c.id, _coupons.c.code, _coupons.c.status, _coupons.c.customer_id, _coupons.c.template_id,
           _coupons.c.issued_at, _coupons.c.valid_from, _coupons.c.valid_until, _coupons.c.redeemed_at,
           _coupons.c.redeemed_user_id, _coupons.c.voided_at, _coupons.c.void_reason,
           _templates.c.name.label("template_name"), _templates.c.kind, _templates.c.amount, _templates.c.discount,
           _templates.c.gift, _templates.c.min_spend, _customers.c.nickname, _customers.c.phone,
           or_(~exists().where(_stores.c.template_id == _coupons.c.template_id),
               exists().where(_stores.c.template_id == _coupons.c.template_id,
                              _stores.c.store_id == bindparam("store_id"))).label("valid_here"))
    .select_from(_coupons.join(_templates, _templates.c.id == _coupons.c.template_id)
                 .join(_customers, _customers.c.id == _coupons.c.customer_id))
    .where(_coupons.c.id == bindparam("id"))
)
_REDEEM = (
    update(_coupons)
    .where(_coupons.c.id == bindparam("coupon"), _coupons.c.status == "issued",
           _coupons.c.valid_until > bindparam("now"), _coupons.c.valid_from <= bindparam("now"))
    .values(status="redeemed", redeemed_at=bindparam("now"), redeemed_guide_id=bindparam("guide"),
            redeemed_store_id=bindparam("store"), redeemed_user_id=bindparam("user"))
    .returning(_coupons.c.id)
)
_GUIDE_AT_COUNTER = (
    select(Guide.id, Guide.code, Guide.name, Guide.store_id, Guide.status, Store.code.label("store"),
           Store.name.label("store_name"))
    .join(Store, Store.id == Guide.store_id).where(Guide.code == bindparam("code"))
)
_INSERT_INTERACTION = insert(Interaction.__table__)
_INSERT_ATTEMPT = insert(CouponAttempt.__table__)
