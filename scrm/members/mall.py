"""The points mall (积分商城, SPEC §13): items that give a coupon of a template for points,
with a stock, a per-member limit and a lowest level.

An exchange (兑换) happens exactly once per key and never takes more than there is:

1. the member's row is locked first (:func:`ledger.lock_member`): one member's exchanges queue,
   so the per-member limit and the points are counted without a race;
2. the key is looked up (keys are the member's own: ``mall_exchanges.idempotency_key`` is
   ``<customer_id>:<key>``, the ledger key ``exchange:<customer_id>:<key>``): a retry answers
   the first exchange and writes nothing;
3. the item's state, the level, the limit and the available points are checked;
4. one of the stock is taken by ``UPDATE mall_items SET exchanged_count = exchanged_count + 1
   WHERE exchanged_count < stock`` (the row lock queues members exchanging the same item);
5. the coupon is issued (scrm/coupons/issuing.py, source ``exchange``); if the template
   refuses, the exchange row and the stock are given back and nothing is left written;
6. the points are spent, oldest lots first (cannot fail now: checked under the lock).

Service functions take ``db_session`` and never commit; the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from scrm.clock import as_utc
from scrm.coupons.issuing import IssueConflict, NotIssued, issue
from scrm.coupons.models import CouponTemplate
from scrm.errors import ConflictError, NotFoundError, Refused
from scrm.members import ledger
from scrm.members.models import MallExchange, MallItem, Member, MemberLevel
from scrm.texts import DEFAULT, say

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.config import Config
    from scrm.members.schemas import MallItemChangeIn, MallItemIn
    from scrm.runtime import Runtime

_items = MallItem.__table__
KEY_MAX = 64
COUPON_SOURCE = "exchange"


class ItemNotFound(NotFoundError):
    """No such item in the points mall (404 ``item_not_found``)."""

    code = "item_not_found"


class ItemUnavailable(ConflictError):
    """The item cannot be exchanged by this member now (409); ``code`` is one of
    ``item_paused``, ``out_of_stock``, ``limit_reached``, ``level_required``,
    ``template_unavailable``."""


class ItemRefused(Refused):
    """An item names what cannot be used (422, ``field`` to blame): an unknown coupon template
    or level, a stock below what was exchanged already."""


@dataclass(frozen=True)
class MallItemView:
    """An item as the mall shows it; ``available``/``why_not`` for the member asked about
    (without one: whether anyone can exchange it now)."""

    id: int
    name: str
    description: str | None
    points: int
    stock_left: int | None  # None: no limit
    template_name: str
    min_level_name: str | None
    status: str
    available: bool
    why_not: str | None  # in the member's words: 已兑完, 已达兑换上限, 金卡及以上可兑, 积分不足…
    why_not_code: str | None = None  # the same as a code: out_of_stock, limit_reached, …
    per_member_limit: int | None = None
    exchanged_count: int = 0
    sort: int = 0
    stock: int | None = None
    template_id: int = 0
    min_level_id: int | None = None


@dataclass(frozen=True)
class Exchanged:
    exchange_id: int
    coupon_id: int
    points: int
    created: bool  # False: the same key was exchanged before; nothing changed


def list_items(
    *, db_session: Session, at: datetime, customer_id: int | None = None, include_paused: bool = False,
    config: Config | None = None,
) -> list[MallItemView]:
    """The mall's items in their order (``sort``, then newest); paused ones only when asked.
    ``why_not`` is in ``config``'s brand.locale (zh_CN without one)."""
    query = _view_query().order_by(MallItem.sort, MallItem.id.desc())
    if not include_paused:
        query = query.where(MallItem.status == "active")
    return _views(db_session, query, at=at, customer_id=customer_id, config=config)


def item_view(
    *, db_session: Session, item_id: int, at: datetime, customer_id: int | None = None, config: Config | None = None,
) -> MallItemView:
    """One item as :func:`list_items` shows it; :class:`ItemNotFound`."""
    found = _views(db_session, _view_query().where(MallItem.id == item_id), at=at, customer_id=customer_id,
                   config=config)
    if not found:
        raise ItemNotFound(f"no item {item_id} in the points mall")
    return found[0]


def get_item(*, db_session: Session, item_id: int) -> MallItem:
    item = db_session.get(MallItem, item_id)
    if item is None:
        raise ItemNotFound(f"no item {item_id} in the points mall")
    return item


def create_item(*, db_session: Session, item_in: MallItemIn, at: datetime) -> MallItem:
    """A new item; :class:`ItemRefused` naming an unknown template or level."""
    _check_refs(db_session, template_id=item_in.template_id, min_level_id=item_in.min_level_id)
    at = as_utc(at)
    item = MallItem(name=item_in.name, description=item_in.description, template_id=item_in.template_id,
                    points=item_in.points, stock=item_in.stock, exchanged_count=0,
                    per_member_limit=item_in.per_member_limit, min_level_id=item_in.min_level_id,
                    status=item_in.status, sort=item_in.sort, created_at=at, updated_at=at)
    db_session.add(item)
    db_session.flush()
    return item


def update_item(*, db_session: Session, item_id: int, changes: MallItemChangeIn, at: datetime) -> MallItem:
    """The fields given change; the stock never below what was exchanged already."""
    values = changes.changes()
    _check_refs(db_session, template_id=values.get("template_id"), min_level_id=values.get("min_level_id"))
    item = db_session.scalar(select(MallItem).where(MallItem.id == item_id).with_for_update())
    if item is None:
        raise ItemNotFound(f"no item {item_id} in the points mall")
    stock = values.get("stock")
    if stock is not None and stock < item.exchanged_count:
        raise ItemRefused(f"stock {stock} is below the {item.exchanged_count} exchanged already",
                          code="stock_below_exchanged", field="stock", exchanged=item.exchanged_count)
    for name, value in values.items():
        setattr(item, name, value)
    item.updated_at = as_utc(at)
    db_session.flush()
    return item


def exchange(
    *, runtime: Runtime, db_session: Session, customer_id: int, item_id: int, key: str, at: datetime,
    created_by: str | None = None,
) -> Exchanged:
    """The member's points for one coupon of the item, exactly once per ``key``; refused
    (:class:`ItemUnavailable`, :class:`ledger.NotEnoughPoints`, :class:`ItemNotFound`,
    :class:`ledger.NotAMember`) with nothing written."""
    if not 1 <= len(key) <= KEY_MAX:
        raise ValueError(f"an exchange key holds 1-{KEY_MAX} characters")
    member = ledger.lock_member(db_session, customer_id)
    own_key = f"{customer_id}:{key}"
    done = db_session.scalar(select(MallExchange).where(MallExchange.idempotency_key == own_key))
    if done is not None:
        if done.item_id != item_id:
            raise ledger.KeyReused(f"key {key!r} was used for another exchange", existing=done.id)
        return Exchanged(done.id, done.coupon_id, done.points, False)
    at = as_utc(at)
    item = get_item(db_session=db_session, item_id=item_id)
    facts = _MemberFacts(member.level_id, _rank(db_session, member.level_id),
                         {item_id: _exchanged(db_session, customer_id, item_id)}, None)
    level = db_session.get(MemberLevel, item.min_level_id) if item.min_level_id is not None else None
    refusal = _why_not(item, None, level, facts, at)
    if refusal is not None:
        raise ItemUnavailable(_MESSAGES[refusal].format(item=item.id), code=refusal, item_id=item.id)
    available = ledger.balance(db_session=db_session, customer_id=customer_id, at=at).available
    if available < item.points:
        raise ledger.NotEnoughPoints(f"{available} points available, {item.points} asked", available=available,
                                     asked=item.points)
    taken = db_session.execute(
        update(_items).where(_items.c.id == item_id, _items.c.status == "active",
                             (_items.c.stock.is_(None)) | (_items.c.exchanged_count < _items.c.stock))
        .values(exchanged_count=_items.c.exchanged_count + 1).returning(_items.c.id)
    ).first()
    if taken is None:
        raise ItemUnavailable(_MESSAGES["out_of_stock"].format(item=item_id), code="out_of_stock", item_id=item_id)
    record = MallExchange(item_id=item_id, customer_id=customer_id, points=item.points, idempotency_key=own_key,
                          created_by=created_by, created_at=at)
    db_session.add(record)
    db_session.flush()
    try:
        coupon = issue(runtime=runtime, db_session=db_session, template_id=item.template_id, customer_id=customer_id,
                       source=COUPON_SOURCE, source_ref=f"exchange:{record.id}", at=at)
    except NotIssued as exc:
        db_session.delete(record)
        db_session.execute(update(_items).where(_items.c.id == item_id)
                           .values(exchanged_count=_items.c.exchanged_count - 1))
        db_session.flush()
        code = "limit_reached" if isinstance(exc, IssueConflict) and exc.reason == "limit_reached" \
            else "template_unavailable"
        raise ItemUnavailable(_MESSAGES[code].format(item=item_id), code=code, item_id=item_id,
                              reason=exc.reason) from None
    posted = ledger.spend(db_session=db_session, customer_id=customer_id, amount=item.points, kind="exchange",
                          source="exchange", source_id=str(record.id), key=f"exchange:{own_key}", at=at,
                          reason=item.name, created_by=created_by)
    record.entry_id, record.coupon_id = posted.entry.id, coupon.id
    db_session.flush()
    db_session.expire(item)
    return Exchanged(record.id, coupon.id, item.points, True)


# -- inside ----------------------------------------------------------------------------------

_MESSAGES = {
    "item_paused": "item {item} is paused",
    "out_of_stock": "item {item} has no stock left",
    "limit_reached": "the member has exchanged item {item} as often as allowed",
    "level_required": "item {item} is reserved to a higher level",
    "template_unavailable": "item {item}'s coupon cannot be issued now",
}


@dataclass(frozen=True)
class _MemberFacts:
    level_id: int
    rank: int
    exchanged: dict[int, int]  # item id → how many times the member exchanged it
    available: int | None  # points available now; None: not asked


def _view_query():  # noqa: ANN202 - a Select of three entities
    return (select(MallItem, CouponTemplate, MemberLevel)
            .join(CouponTemplate, CouponTemplate.id == MallItem.template_id)
            .outerjoin(MemberLevel, MemberLevel.id == MallItem.min_level_id))


def _views(db_session: Session, query, *, at: datetime, customer_id: int | None,  # noqa: ANN001
           config: Config | None) -> list[MallItemView]:
    at = as_utc(at)
    rows = db_session.execute(query).all()
    member = _member_facts(db_session, customer_id, at) if customer_id is not None else None
    views = []
    for item, template, level in rows:
        code = _why_not(item, template, level, member, at)
        views.append(MallItemView(
            id=item.id, name=item.name, description=item.description, points=item.points,
            stock_left=None if item.stock is None else max(item.stock - item.exchanged_count, 0),
            template_name=template.name, min_level_name=level.name if level is not None else None,
            status=item.status, available=code is None,
            why_not=None if code is None else _words(config, code, level), why_not_code=code,
            per_member_limit=item.per_member_limit, exchanged_count=item.exchanged_count, sort=item.sort,
            stock=item.stock, template_id=item.template_id, min_level_id=item.min_level_id))
    return views


def _member_facts(db_session: Session, customer_id: int, at: datetime) -> _MemberFacts:
    member = db_session.get(Member, customer_id)
    if member is None:
        raise ledger.NotAMember(f"customer {customer_id} is not a member")
    counts = dict(db_session.execute(
        select(MallExchange.item_id, func.count()).where(MallExchange.customer_id == customer_id)
        .group_by(MallExchange.item_id)).all())
    available = ledger.balance(db_session=db_session, customer_id=customer_id, at=at).available
    return _MemberFacts(member.level_id, _rank(db_session, member.level_id), counts, available)


def _why_not(item: MallItem, template: CouponTemplate | None, level: MemberLevel | None,
             member: _MemberFacts | None, at: datetime) -> str | None:
    """The first reason the item cannot be exchanged (by the member, when given), or None."""
    if item.status != "active":
        return "item_paused"
    if item.stock is not None and item.exchanged_count >= item.stock:
        return "out_of_stock"
    if template is not None and (template.status != "active" or _over(template, at)
                                 or (template.stock is not None and template.issued_count >= template.stock)):
        return "template_unavailable"
    if member is None:
        return None
    if level is not None and member.rank < level.rank:
        return "level_required"
    if item.per_member_limit is not None and member.exchanged.get(item.id, 0) >= item.per_member_limit:
        return "limit_reached"
    if member.available is not None and member.available < item.points:
        return "not_enough_points"
    return None


def _over(template: CouponTemplate, at: datetime) -> bool:
    return template.valid_until is not None and as_utc(template.valid_until) <= at


def _words(config: Config | None, code: str, level: MemberLevel | None) -> str:
    return say(config or DEFAULT, f"mall.why_not.{code}", level=level.name if level is not None else "")


def _rank(db_session: Session, level_id: int) -> int:
    return int(db_session.scalar(select(MemberLevel.rank).where(MemberLevel.id == level_id)) or 0)


def _exchanged(db_session: Session, customer_id: int, item_id: int) -> int:
    return int(db_session.scalar(select(func.count()).select_from(MallExchange)
                                 .where(MallExchange.customer_id == customer_id, MallExchange.item_id == item_id)))


def _check_refs(db_session: Session, *, template_id: int | None, min_level_id: int | None) -> None:
    if template_id is not None and db_session.get(CouponTemplate, template_id) is None:
        raise ItemRefused(f"no coupon template {template_id}", code="unknown_template", field="template_id")
    if min_level_id is not None and db_session.get(MemberLevel, min_level_id) is None:
        raise ItemRefused(f"no member level {min_level_id}", code="unknown_level", field="min_level_id")
