"""What a campaign did (效果), per campaign and per A/B variant (SPEC §8): counted from its
deliveries, the customers' timelines, the coupons it issued and the orders that followed.

- ``planned`` every delivery row of the variant; ``sent``, ``failed``, ``dead``, ``waiting``
  (planned or sending), ``skipped`` by reason; the holdout group is its own variant,
  ``holdout``, never sent.
- ``opened``: sent deliveries whose customer opened a tracked link (interaction ``link_open``,
  tagging/links.py) within the window after the send.
- ``replied``: sent deliveries whose customer wrote to the official account (an MP message)
  within 48 h after the send.
- ``coupons_issued`` / ``coupons_redeemed``: coupons with source ``campaign`` and the campaign's
  id as ``source_ref`` (issued by the sender on send), by the variant of their customer.
- ``orders`` / ``order_amount``: orders placed within ``days`` (default 7) after a send of the
  campaign, attributed to the LAST touch: the latest sent delivery before the order, whatever
  its campaign. An order after two campaigns counts for the later one only.

- ``group_joins`` (an invitation, ``work_group_invite``, with deliveries): group members who
  joined through the campaign's join ways, by their ``state`` (scrm/outreach/group_invites.py),
  read with the status counts; None otherwise.
- ``reasons``: every failed, dead, skipped or waiting delivery by its reason in words, counted,
  waiting ones with when they go (scrm/outreach/results_reasons.py).

Each figure is one ``GROUP BY variant`` query over the campaign's deliveries; nothing loops
over rows in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, distinct, exists, func, literal, or_, select
from sqlalchemy.orm import aliased

from scrm.coupons.models import Coupon
from scrm.customers.models import Interaction
from scrm.outreach import group_invites, results_reasons
from scrm.outreach.models import Campaign, Delivery
from scrm.outreach.results_reasons import Reason
from tagging.models import Order

if TYPE_CHECKING:
    from sqlalchemy.orm import Session
    from sqlalchemy.sql import ColumnElement

DEFAULT_DAYS = 7
MAX_DAYS = 90
REPLY_WINDOW = timedelta(hours=48)
# What a follower's message to the official account is recorded as (handlers/events.py).
MESSAGE_KINDS = ("text", "media", "location", "link", "unknown_message", "message")
LINK_OPEN = "link_open"
COUNTS = ("planned", "sent", "failed", "dead", "waiting", "holdout", "opened", "replied", "coupons_issued",
          "coupons_redeemed", "orders")


@dataclass(frozen=True)
class VariantResult:
    variant: str
    planned: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0
    waiting: int = 0  # planned or sending: not sent yet
    holdout: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason → deliveries
    opened: int = 0
    replied: int = 0
    coupons_issued: int = 0
    coupons_redeemed: int = 0
    orders: int = 0
    order_amount: Decimal = Decimal("0.00")

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {name: getattr(self, name) for name in COUNTS}
        return {"variant": self.variant, **body, "skipped": dict(self.skipped), "skipped_total": self.skipped_total,
                "order_amount": f"{self.order_amount:.2f}"}


@dataclass(frozen=True)
class CampaignResults:
    campaign_id: int
    days: int
    variants: tuple[VariantResult, ...]
    total: VariantResult
    # Every failed, dead, skipped and waiting delivery by its reason, in words (results_reasons.py).
    reasons: tuple[Reason, ...] = ()
    group_joins: int | None = None  # an invitation's: members who joined through its ways (入群)

    def as_json(self, zone: ZoneInfo | None = None) -> dict[str, Any]:
        return {"campaign_id": self.campaign_id, "days": self.days, "total": self.total.as_json(),
                "variants": [v.as_json() for v in self.variants],
                "reasons": results_reasons.as_json(self.reasons, zone or ZoneInfo("UTC")),
                "group_joins": self.group_joins}


def campaign_results(*, db_session: Session, campaign_id: int, days: int = DEFAULT_DAYS,
                     now: datetime | None = None) -> CampaignResults:
    """The campaign's figures, per variant (in name order, the holdout last) and in total;
    ``now`` tells waiting deliveries queued now from those due later."""
    window = timedelta(days=days)
    dialect = db_session.get_bind().dialect.name
    rows: dict[str, dict[str, Any]] = {}

    def put(variant: str | None, **values: Any) -> None:
        slot = rows.setdefault(variant or "", {"skipped": {}})
        for name, value in values.items():
            if name == "skipped":
                slot["skipped"].update(value)
            else:
                slot[name] = slot.get(name, 0) + value

    why: list[tuple[Reason, int, datetime | None, datetime | None]] = []
    group_joins = None
    for variant, status, reason, retrying, due_now, n, first, last, error, channel, joins in _status_counts(
            db_session, campaign_id, now):
        group_joins = joins if channel == group_invites.CHANNEL else None
        if status not in ("sent", "holdout"):
            why.append((results_reasons.classify(status, reason, error, retrying=bool(retrying),
                                                 due_now=bool(due_now)), n, first, last))
        moves: dict[str, Any] = {"planned": n}
        if status in ("sent", "failed", "dead", "holdout"):
            moves[status] = n
        elif status in ("planned", "sending"):
            moves["waiting"] = n
        elif status == "skipped":
            moves["skipped"] = {reason or "unknown": n}
        put(variant, **moves)
    for variant, n in _sent_followed_by(db_session, campaign_id, _opened(dialect, window)):
        put(variant, opened=n)
    for variant, n in _sent_followed_by(db_session, campaign_id, _replied(dialect)):
        put(variant, replied=n)
    for variant, issued, redeemed in _coupons(db_session, campaign_id):
        put(variant, coupons_issued=issued, coupons_redeemed=redeemed or 0)
    for variant, n, amount in _orders(db_session, campaign_id, dialect, window):
        put(variant, orders=n, order_amount=Decimal(str(amount or 0)).quantize(Decimal("0.01")))
    # Coupons of customers without a delivery (variant "") count in the total only.
    variants = tuple(_result(name, values) for name, values in
                     sorted(rows.items(), key=lambda item: (item[0] == "holdout", item[0] == "", item[0])))
    return CampaignResults(campaign_id, days, tuple(v for v in variants if v.variant), _sum(variants),
                           results_reasons.fold(why), group_joins)


def summaries(*, db_session: Session, campaign_ids: list[int]) -> dict[int, VariantResult]:
    """The delivery counts of several campaigns at once (the campaign list): one query."""
    found: dict[int, dict[str, Any]] = {}
    query = (select(Delivery.campaign_id, Delivery.status, func.count()).where(Delivery.campaign_id.in_(campaign_ids))
             .group_by(Delivery.campaign_id, Delivery.status))
    for campaign_id, status, n in db_session.execute(query) if campaign_ids else ():
        slot = found.setdefault(campaign_id, {"planned": 0, "skipped": {}})
        slot["planned"] += n
        if status in ("sent", "failed", "dead", "holdout"):
            slot[status] = slot.get(status, 0) + n
        elif status in ("planned", "sending"):
            slot["waiting"] = slot.get("waiting", 0) + n
        elif status == "skipped":
            slot["skipped"] = {"all": n}
    return {campaign_id: _result("total", values) for campaign_id, values in found.items()}


# -- the queries ------------------------------------------------------------------------------


def _status_counts(db_session: Session, campaign_id: int, now: datetime | None):  # noqa: ANN202
    """Per variant, status and reason (the sender records WeChat's codes without their messages,
    so reasons are few): the count, for waiting ones whether they are retries and due now, their
    first and last due moment, and one error text of the group (for the page to show)."""
    retrying = case((and_(Delivery.status == "planned", Delivery.attempts > 0), 1), else_=0).label("retrying")
    due_now = (case((Delivery.due_at <= now, 1), else_=0) if now is not None else literal(0)).label("due_now")
    rows = select(Delivery.variant, Delivery.status, Delivery.reason, retrying, due_now, Delivery.due_at,
                  Delivery.last_error).where(Delivery.campaign_id == campaign_id).subquery()
    # Grouped outside: PostgreSQL does not match a CASE with bound values in SELECT and GROUP BY.
    keys = (rows.c.variant, rows.c.status, rows.c.reason, rows.c.retrying, rows.c.due_now)
    # The campaign's channel and an invitation's joins ride along (uncorrelated: computed once).
    channel = select(Campaign.channel).where(Campaign.id == campaign_id).scalar_subquery()
    return db_session.execute(
        select(*keys, func.count(), func.min(rows.c.due_at), func.max(rows.c.due_at), func.min(rows.c.last_error),
               channel, group_invites.joins_query(campaign_id).scalar_subquery())
        .group_by(*keys)
    ).all()


def _sent_followed_by(db_session: Session, campaign_id: int, condition: ColumnElement[bool]):  # noqa: ANN202
    """Per variant, the sent deliveries for which ``condition`` (an EXISTS about the customer's
    timeline after the send) holds."""
    return db_session.execute(
        select(Delivery.variant, func.count())
        .where(Delivery.campaign_id == campaign_id, Delivery.status == "sent", Delivery.sent_at.is_not(None), condition)
        .group_by(Delivery.variant)
    ).all()


def _opened(dialect: str, window: timedelta) -> ColumnElement[bool]:
    return exists().where(
        Interaction.customer_id == Delivery.customer_id, Interaction.kind == LINK_OPEN,
        Interaction.occurred_at >= Delivery.sent_at, Interaction.occurred_at < _plus(dialect, Delivery.sent_at, window),
    )


def _replied(dialect: str) -> ColumnElement[bool]:
    return exists().where(
        Interaction.customer_id == Delivery.customer_id, Interaction.channel == "mp",
        Interaction.kind.in_(MESSAGE_KINDS), Interaction.occurred_at > Delivery.sent_at,
        Interaction.occurred_at <= _plus(dialect, Delivery.sent_at, REPLY_WINDOW),
    )


def _coupons(db_session: Session, campaign_id: int):  # noqa: ANN202
    # A customer is in one variant of a campaign on every run (planner.variants_of): one row each.
    variant_of = (select(Delivery.customer_id, Delivery.variant).where(Delivery.campaign_id == campaign_id)
                  .distinct().subquery())
    return db_session.execute(
        select(variant_of.c.variant, func.count(distinct(Coupon.id)),
               func.count(distinct(Coupon.id)).filter(Coupon.redeemed_at.is_not(None)))
        .select_from(Coupon)
        .outerjoin(variant_of, variant_of.c.customer_id == Coupon.customer_id)
        .where(Coupon.source == "campaign", Coupon.source_ref == str(campaign_id))
        .group_by(variant_of.c.variant)
    ).all()


def _orders(db_session: Session, campaign_id: int, dialect: str, window: timedelta):  # noqa: ANN202
    later = aliased(Delivery)
    last_touch = ~exists().where(
        later.customer_id == Order.customer_id, later.status == "sent", later.sent_at <= Order.ordered_at,
        or_(later.sent_at > Delivery.sent_at, and_(later.sent_at == Delivery.sent_at, later.id > Delivery.id)),
    )
    return db_session.execute(
        select(Delivery.variant, func.count(Order.id), func.sum(Order.amount))
        .select_from(Delivery)
        .join(Order, and_(Order.customer_id == Delivery.customer_id, Order.ordered_at >= Delivery.sent_at,
                          Order.ordered_at < _plus(dialect, Delivery.sent_at, window)))
        .where(Delivery.campaign_id == campaign_id, Delivery.status == "sent", last_touch)
        .group_by(Delivery.variant)
    ).all()


def _plus(dialect: str, moment: Any, delta: timedelta) -> Any:
    """``moment + delta`` in SQL. SQLite keeps times as ``YYYY-MM-DD HH:MM:SS.ffffff`` text
    (UTC): strftime gives the same shape, so the comparison stays a text comparison."""
    if dialect == "postgresql":
        return moment + delta
    return func.strftime("%Y-%m-%d %H:%M:%f", moment, f"+{int(delta.total_seconds())} seconds")


def _result(name: str, values: dict[str, Any]) -> VariantResult:
    return VariantResult(variant=name, **values)


def _sum(variants: tuple[VariantResult, ...]) -> VariantResult:
    total = VariantResult("total")
    skipped: dict[str, int] = {}
    for variant in variants:
        for reason, n in variant.skipped.items():
            skipped[reason] = skipped.get(reason, 0) + n
        total = replace(total, **{name: getattr(total, name) + getattr(variant, name) for name in COUNTS},
                        order_amount=total.order_amount + variant.order_amount)
    return replace(total, skipped=skipped)
