"""The funnel (漏斗, SPEC §11) as a cohort: of the people who scanned one of our codes in the
period, how many followed by it, were bound to a guide, were given a coupon and redeemed one,
for the whole brand, a store or a guide, over local days (``brand.timezone``). Each step counts
the people of the step before, so no step exceeds the one before it.

Who scanned is read from the customers' timelines: a follow with a QR scene, a scan by a
follower, a WeCom add with a contact way's state, whose scene is one of the scope's codes. A
step "followed" is a scan that was a new follow; "bound", a binding started in the period (to
the guide, or a guide of the store); "given a coupon", "redeemed", a coupon issued or redeemed
in the period. A customer who skips a step (bound by a code without following by it, given a
coupon without a binding) drops out of the funnel at that step.

Beside each step, its count of events as before: the codes' day statistics for scans, follows
and bindings (qrcodes/stats.py), the coupons for issued and redeemed (scrm/coupons/stats.py).
:func:`compare` puts the period beside the one of the same length just before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, func, select

from guides.models import Binding, Guide, Store
from qrcodes import stats as code_stats
from qrcodes.models import ChannelCode
from scrm.clock import utc_bounds
from scrm.coupons import stats as coupon_stats
from scrm.coupons.models import Coupon
from scrm.customers.models import Interaction
from scrm.errors import NotFoundError

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy import Select
    from sqlalchemy.orm import Session

    from scrm.config import Config

STAGES = ("scans", "follows", "bindings", "coupons_issued", "coupons_redeemed")
# Timeline kinds (handlers/reactions.py) of a callback that reaches a code: a follow by a QR
# code, a follower's scan, a WeCom add through a contact way. All but "scan" are new follows.
SCAN_KINDS = ("follow", "scan", "add_external_contact", "add_half_external_contact")
FOLLOW_KINDS = ("follow", "add_external_contact", "add_half_external_contact")


class UnknownScope(NotFoundError):
    """The funnel is asked for a guide or a store whose code names none."""


@dataclass(frozen=True)
class Scope:
    code_ids: list[int] | None  # the codes whose scans count; None: every code
    guide_ids: list[int] | None  # the guides whose bindings count; None: any guide


@dataclass(frozen=True)
class Funnel:
    first_day: date
    last_day: date
    people: dict[str, int]  # the cohort, step by step
    events: dict[str, int]  # what happened, however many times each person did it

    def steps(self) -> list[dict[str, Any]]:
        """Each step: its people, their share of the step before and of the first, its events."""
        steps, before, first = [], None, self.people[STAGES[0]]
        for name in STAGES:
            count = self.people[name]
            steps.append({"stage": name, "count": count, "rate_from_previous": _rate(count, before),
                          "rate_from_first": None if before is None else _rate(count, first),
                          "events": self.events[name]})
            before = count
        return steps

    def as_json(self) -> dict[str, Any]:
        return {"first_day": self.first_day.isoformat(), "last_day": self.last_day.isoformat(),
                "counts": "people", "stages": self.steps()}


@dataclass(frozen=True)
class Comparison:
    """The period (``now``) and the one of the same length just before it (``before``)."""

    now: Funnel
    before: Funnel

    def steps(self) -> list[dict[str, Any]]:
        """The period's steps, each with the previous period's figures and the change."""
        steps = []
        for now, before in zip(self.now.steps(), self.before.steps(), strict=True):
            change = {"count": now["count"] - before["count"],
                      "percent": _rate(now["count"] - before["count"], before["count"] or None),
                      "rate_from_previous": _difference(now["rate_from_previous"], before["rate_from_previous"]),
                      "events": now["events"] - before["events"]}
            steps.append({**now, "before": {k: before[k] for k in ("count", "rate_from_previous", "events")},
                          "change": change})
        return steps

    def as_json(self) -> dict[str, Any]:
        return {**self.now.as_json(), "stages": self.steps(),
                "before": {"first_day": self.before.first_day.isoformat(),
                           "last_day": self.before.last_day.isoformat()}}


def previous_period(first_day: date, last_day: date) -> tuple[date, date]:
    """The days of the same number just before ``first_day``."""
    days = (last_day - first_day).days + 1
    return first_day - timedelta(days=days), first_day - timedelta(days=1)


def compare(
    *, db_session: Session, config: Config, first_day: date, last_day: date, store_id: int | None = None,
    guide_id: int | None = None,
) -> Comparison:
    """The funnel of the period and of the period before it, by the same rules."""
    before_first, before_last = previous_period(first_day, last_day)
    return Comparison(
        funnel(db_session=db_session, config=config, first_day=first_day, last_day=last_day, store_id=store_id,
               guide_id=guide_id),
        funnel(db_session=db_session, config=config, first_day=before_first, last_day=before_last,
               store_id=store_id, guide_id=guide_id),
    )


def funnel(
    *, db_session: Session, config: Config, first_day: date, last_day: date, store_id: int | None = None,
    guide_id: int | None = None,
) -> Funnel:
    """The cohort funnel and the events of one period, for the brand, a store or a guide."""
    scope = _scope(db_session, store_id=store_id, guide_id=guide_id)
    start, end = utc_bounds(config, first_day, last_day)
    return Funnel(first_day, last_day, _people(db_session, scope, start, end),
                  _events(db_session, config, scope, first_day, last_day, store_id=store_id, guide_id=guide_id))


def days(
    *, db_session: Session, first_day: date, last_day: date, store_id: int | None = None, guide_id: int | None = None,
) -> list[code_stats.DayStats]:
    """The scope's codes' events per local day of the period (scans, follows, bindings), for a trend."""
    scope = _scope(db_session, store_id=store_id, guide_id=guide_id)
    code_ids = scope.code_ids if scope.code_ids is not None else code_stats.code_ids_of(db_session=db_session)
    return code_stats.per_day(db_session=db_session, code_ids=code_ids, start=first_day, end=last_day)


def _scope(db_session: Session, *, store_id: int | None, guide_id: int | None) -> Scope:
    if guide_id is not None:
        return Scope(code_stats.code_ids_of(db_session=db_session, guide_id=guide_id), [guide_id])
    if store_id is not None:  # a store's own codes and its guides' codes
        guides = list(db_session.scalars(select(Guide.id).where(Guide.store_id == store_id)))
        codes = code_stats.code_ids_of(db_session=db_session, store_id=store_id)
        codes += [i for g in guides for i in code_stats.code_ids_of(db_session=db_session, guide_id=g)]
        return Scope(codes, guides)
    return Scope(None, None)


def _people(db_session: Session, scope: Scope, start: datetime, end: datetime) -> dict[str, int]:
    """Each step's people as a set of ids, intersected with the step before's here: one query
    per step, each driven by the period's time bounds, so no plan depends on how well the
    database guesses how many customers the timeline's scenes match."""
    reached = dict(db_session.execute(_reached_a_code(scope, start, end)).all())
    followed = {customer for customer, by_follow in reached.items() if by_follow}
    bindings = select(Binding.customer_id).where(Binding.bound_at >= start, Binding.bound_at < end)
    if scope.guide_ids is not None:
        bindings = bindings.where(Binding.guide_id.in_(scope.guide_ids))
    bound = followed & set(db_session.scalars(bindings))
    issued = bound & set(db_session.scalars(select(Coupon.customer_id)
                                            .where(Coupon.issued_at >= start, Coupon.issued_at < end)))
    redeemed = issued & set(db_session.scalars(select(Coupon.customer_id).where(
        Coupon.status == "redeemed", Coupon.redeemed_at >= start, Coupon.redeemed_at < end)))
    return dict(zip(STAGES, (len(reached), len(followed), len(bound), len(issued), len(redeemed)), strict=True))


def _reached_a_code(scope: Scope, start: datetime, end: datetime) -> Select:
    """Each customer whose timeline has a callback naming one of the scope's codes, and
    ``followed`` 1 when one of those callbacks was a follow (a follow by a code is a scan of it)."""
    scene = func.coalesce(Interaction.payload["scene"].as_string(), Interaction.payload["state"].as_string())
    followed = func.max(case((Interaction.kind.in_(FOLLOW_KINDS), 1), else_=0)).label("followed")
    query = (select(Interaction.customer_id.label("customer_id"), followed)
             .join(ChannelCode, and_(ChannelCode.scene == scene, ChannelCode.channel == Interaction.channel))
             .where(Interaction.kind.in_(SCAN_KINDS), Interaction.occurred_at >= start, Interaction.occurred_at < end)
             .group_by(Interaction.customer_id))
    if scope.code_ids is not None:
        query = query.where(ChannelCode.id.in_(scope.code_ids))
    return query


def _events(db_session: Session, config: Config, scope: Scope, first_day: date, last_day: date, *,
            store_id: int | None, guide_id: int | None) -> dict[str, int]:
    code_ids = scope.code_ids if scope.code_ids is not None else code_stats.code_ids_of(db_session=db_session)
    days = code_stats.totals(code_stats.per_day(db_session=db_session, code_ids=code_ids, start=first_day,
                                                end=last_day))
    by, key = ("guide", guide_id) if guide_id is not None else ("store", store_id) if store_id is not None \
        else (None, None)
    rows = coupon_stats.coupon_stats(db_session=db_session, config=config, by=by or "template", first_day=first_day,
                                     last_day=last_day)
    if by is not None:
        rows = [row for row in rows if row.key == key]
    coupons = coupon_stats.totals(rows)
    return {"scans": int(days["scans"]), "follows": int(days["follows"]), "bindings": int(days["bindings"]),
            "coupons_issued": coupons.issued, "coupons_redeemed": coupons.redeemed}


def _rate(count: int, of: int | None) -> float | None:
    return round(count / of, 4) if of else None


def _difference(now: float | None, before: float | None) -> float | None:
    return None if now is None or before is None else round(now - before, 4)


def scope_ids(*, db_session: Session, guide_code: str | None, store_code: str | None) -> tuple[int | None, int | None]:
    """The ids of the guide and the store the funnel is narrowed to (None: not narrowed), or
    :class:`UnknownScope` for a code that names none."""
    return (_id_of(db_session, Guide, guide_code, "guide"), _id_of(db_session, Store, store_code, "store"))


def _id_of(db_session: Session, model: type[Guide] | type[Store], code: str | None, what: str) -> int | None:
    if not code:
        return None
    found = db_session.scalar(select(model.id).where(model.code == code))
    if found is None:
        raise UnknownScope(f"no {what} {code}")
    return found
