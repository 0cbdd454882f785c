"""Computed tags (SPEC §5): RFM class and lifecycle stage, from a customer's orders.

Both are computed by one SQL expression (:func:`targets_query`) over the orders, grouped by
customer: the first and last ``ordered_at``, and the count and sum of the orders in the RFM
window. A customer carries at most one tag of each computed group (``TagGroup.computed``):

**RFM** (group "RFM"; customers with at least one order ever; config ``[tagging]``):

- R (recency) is high when the last order is at most ``rfm_recency_days`` old;
- F (frequency) is high with at least ``rfm_frequency`` orders in the last ``rfm_window_days``;
- M (monetary) is high with at least ``rfm_monetary`` yuan ordered in that window.

====  ====  ====  ==============
 R     F     M    class
====  ====  ====  ==============
高     高     高    重要价值客户  (important, valuable: recent, frequent, big spender)
高     低     高    重要发展客户  (important to develop: recent big spender, not yet frequent)
低     高     高    重要保持客户  (important to keep: frequent big spender, lately absent)
低     低     高    重要挽留客户  (important to win back: big spender, neither recent nor frequent)
高     高     低    一般价值客户
高     低     低    一般发展客户
低     高     低    一般保持客户
低     低     低    一般挽留客户  (also a customer whose orders are all older than the window)
====  ====  ====  ==============

**Lifecycle** (group "生命周期"; every customer): 潜在 no order yet; 新客 the first order is
at most ``lifecycle_new_days`` old; 活跃 the last order is at most ``lifecycle_active_days``
old; 沉睡 at most ``lifecycle_dormant_days``; 流失 older. "At most N days old" includes the
moment exactly N days ago.

The groups and their tags are created on first use. :func:`recompute_customer` recomputes one
customer inside the caller's transaction (after an order) through ``scores.set_computed``;
``computed_bulk.recompute_all`` is the set-based path for everyone (tagging/computed_bulk.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Integer, Select, case, func, literal, select
from sqlalchemy.orm import Session

from scrm.customers.models import Customer
from scrm.db import dialect_insert
from tagging.models import Order, Tag, TagGroup
from tagging.scores import TagChange, set_computed

if TYPE_CHECKING:
    from scrm.config import TaggingConfig
    from scrm.runtime import Runtime

RFM_GROUP = "RFM"
LIFECYCLE_GROUP = "生命周期"
# (R high, F high, M high) → class; the order is the order the tags are created in.
RFM_CLASSES: dict[tuple[bool, bool, bool], str] = {
    (True, True, True): "重要价值客户",
    (True, False, True): "重要发展客户",
    (False, True, True): "重要保持客户",
    (False, False, True): "重要挽留客户",
    (True, True, False): "一般价值客户",
    (True, False, False): "一般发展客户",
    (False, True, False): "一般保持客户",
    (False, False, False): "一般挽留客户",
}
POTENTIAL, NEW, ACTIVE, DORMANT, LOST = "潜在", "新客", "活跃", "沉睡", "流失"
LIFECYCLE_STAGES = (POTENTIAL, NEW, ACTIVE, DORMANT, LOST)
COMPUTATIONS = {RFM_GROUP: "rfm", LIFECYCLE_GROUP: "lifecycle"}  # the cause written to the timeline
# Amounts have 2 decimals, so "sum ≥ M" is "sum ≥ M − half a cent": robust where SQLite sums
# NUMERIC in floating point (499.99 + 0.01 may come back as 499.99999999999994).
HALF_CENT = 0.005

Progress = Callable[[int, int], None]  # (batches done, batches in all)


@dataclass(frozen=True)
class Thresholds:
    """The configuration turned into moments, for one recompute at ``now``."""

    recent_since: datetime
    window_since: datetime
    frequency: int
    monetary: float
    new_since: datetime
    active_since: datetime
    dormant_since: datetime

    @classmethod
    def of(cls, settings: TaggingConfig, now: datetime) -> Thresholds:
        def days_ago(days: int) -> datetime:
            return now - timedelta(days=days)

        return cls(
            recent_since=days_ago(settings.rfm_recency_days),
            window_since=days_ago(settings.rfm_window_days),
            frequency=settings.rfm_frequency,
            monetary=settings.rfm_monetary,
            new_since=days_ago(settings.lifecycle_new_days),
            active_since=days_ago(settings.lifecycle_active_days),
            dormant_since=days_ago(settings.lifecycle_dormant_days),
        )


@dataclass(frozen=True)
class ComputedTags:
    """The two computed groups' ids and their tags' ids by name."""

    rfm_group_id: int
    lifecycle_group_id: int
    rfm: dict[str, int]
    lifecycle: dict[str, int]

    def group_of(self, group_id: int) -> str:
        return RFM_GROUP if group_id == self.rfm_group_id else LIFECYCLE_GROUP


@dataclass(frozen=True)
class Summary:
    customers: int  # customers classified (merged-away ones are not customers any more)
    changed: dict[str, int]  # group name → customers whose tag in it changed
    seconds: float
    caught_up: int = 0  # customers who ordered during the run, recomputed one by one after it

    def describe(self) -> str:
        changes = ", ".join(f"{group} {count:,}" for group, count in self.changed.items())
        late = f"; {self.caught_up:,} who ordered meanwhile recomputed after" if self.caught_up else ""
        return f"recomputed {self.customers:,} customers in {self.seconds:.1f} s; changed: {changes}{late}"


def ensure_computed_tags(*, db_session: Session) -> ComputedTags:
    """The RFM and lifecycle groups and tags, created when missing (whoever is first)."""
    wanted = {RFM_GROUP: list(RFM_CLASSES.values()), LIFECYCLE_GROUP: list(LIFECYCLE_STAGES)}
    found = _computed_tag_ids(db_session)

    def complete(group: str) -> bool:
        return bool(found.get(group, {}).get("computed")) and set(wanted[group]) <= set(found[group]["tags"])

    if all(complete(group) for group in wanted):
        return _as_computed_tags(found)
    for group, names in wanted.items():
        db_session.execute(
            dialect_insert(db_session, TagGroup.__table__)
            .values(name=group, computed=True, threshold=1.0)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        group_id = db_session.scalar(select(TagGroup.id).where(TagGroup.name == group))
        # A group of this name made by hand becomes the computed one: the job owns it now.
        db_session.execute(TagGroup.__table__.update().where(TagGroup.id == group_id).values(computed=True))
        for name in names:
            db_session.execute(
                dialect_insert(db_session, Tag.__table__)
                .values(group_id=group_id, name=name)
                .on_conflict_do_nothing(index_elements=["group_id", "name"])
            )
    return _as_computed_tags(_computed_tag_ids(db_session))


def targets_query(tags: ComputedTags, limits: Thresholds, *, customer_id: int | None = None) -> Select:
    """(customer_id, rfm_tag_id, lifecycle_tag_id) for every customer not merged away (or
    one): ONE aggregate over the orders, left-joined to the customers."""
    orders = Order.__table__
    customers = Customer.__table__
    in_window = orders.c.ordered_at >= limits.window_since
    per_customer = select(
        orders.c.customer_id,
        func.min(orders.c.ordered_at).label("first_at"),
        func.max(orders.c.ordered_at).label("last_at"),
        func.count().filter(in_window).label("n"),
        func.coalesce(func.sum(orders.c.amount).filter(in_window), 0).label("total"),
    ).group_by(orders.c.customer_id)
    if customer_id is not None:
        per_customer = per_customer.where(orders.c.customer_id == customer_id)
    o = per_customer.subquery("o")

    def bit(condition, value: int):  # noqa: ANN001, ANN202
        return case((condition, value), else_=0)

    rfm_code = (
        bit(o.c.last_at >= limits.recent_since, 4)
        + bit(o.c.n >= limits.frequency, 2)
        + bit(o.c.total >= limits.monetary - HALF_CENT, 1)
    )
    rfm_by_code = {_rfm_code(*key): literal(tags.rfm[name], Integer) for key, name in RFM_CLASSES.items()}
    stage = tags.lifecycle
    query = select(
        customers.c.id.label("customer_id"),
        case((o.c.customer_id.is_(None), None), else_=case(rfm_by_code, value=rfm_code)).label("rfm_tag_id"),
        case(
            (o.c.customer_id.is_(None), literal(stage[POTENTIAL], Integer)),
            (o.c.first_at >= limits.new_since, literal(stage[NEW], Integer)),
            (o.c.last_at >= limits.active_since, literal(stage[ACTIVE], Integer)),
            (o.c.last_at >= limits.dormant_since, literal(stage[DORMANT], Integer)),
            else_=literal(stage[LOST], Integer),
        ).label("lifecycle_tag_id"),
    ).select_from(customers.outerjoin(o, o.c.customer_id == customers.c.id))
    query = query.where(customers.c.merged_into_id.is_(None))
    if customer_id is not None:
        query = query.where(customers.c.id == customer_id)
    return query


def recompute_customer(runtime: Runtime, db_session: Session, customer_id: int) -> list[TagChange]:
    """Recompute one customer's RFM class and lifecycle stage in the caller's transaction."""
    tags = ensure_computed_tags(db_session=db_session)
    now = runtime.clock.now()
    limits = Thresholds.of(runtime.config.tagging, now)
    row = db_session.execute(targets_query(tags, limits, customer_id=customer_id)).first()
    changes: list[TagChange] = []
    for group_id, tag_id in (
        (tags.rfm_group_id, row.rfm_tag_id if row else None),
        (tags.lifecycle_group_id, row.lifecycle_tag_id if row else None),
    ):
        group = db_session.get(TagGroup, group_id)
        tag = db_session.get(Tag, tag_id) if tag_id is not None else None
        changes += set_computed(
            db_session=db_session,
            customer_id=customer_id,
            group=group,
            tag=tag,
            now=now,
            computation=COMPUTATIONS[group.name],
        )
    return changes



def classify_rfm(*, recent: bool, frequent: bool, big_spender: bool) -> str:
    """The class for R, F and M (high: True); the table in the module docstring."""
    return RFM_CLASSES[(recent, frequent, big_spender)]


def _rfm_code(recent: bool, frequent: bool, big_spender: bool) -> int:
    return 4 * recent + 2 * frequent + big_spender


def _computed_tag_ids(db_session: Session) -> dict[str, dict]:
    rows = db_session.execute(
        select(TagGroup.id, TagGroup.name, TagGroup.computed, Tag.id, Tag.name)
        .join(Tag, Tag.group_id == TagGroup.id)
        .where(TagGroup.name.in_([RFM_GROUP, LIFECYCLE_GROUP]))
    ).all()
    found: dict[str, dict] = {}
    for group_id, group_name, computed, tag_id, tag_name in rows:
        found.setdefault(group_name, {"id": group_id, "computed": computed, "tags": {}})["tags"][tag_name] = tag_id
    return found


def _as_computed_tags(found: dict[str, dict]) -> ComputedTags:
    return ComputedTags(
        rfm_group_id=found[RFM_GROUP]["id"],
        lifecycle_group_id=found[LIFECYCLE_GROUP]["id"],
        rfm={name: found[RFM_GROUP]["tags"][name] for name in RFM_CLASSES.values()},
        lifecycle={name: found[LIFECYCLE_GROUP]["tags"][name] for name in LIFECYCLE_STAGES},
    )
