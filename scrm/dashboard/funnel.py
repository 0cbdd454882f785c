"""The funnel (漏斗, SPEC §11): code scans → follows → bindings → coupons issued → redeemed,
for the whole brand, a store or a guide, over local days (``brand.timezone``).

Scans, follows and bindings are the codes' day statistics (qrcodes/stats.py); coupons are
counted from the coupons (scrm/coupons/stats.py: issued for the customer's guide at the
moment of issue, redeemed where and by whom they were redeemed). Each stage carries its rate
against the stage before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from guides.models import Guide, Store
from qrcodes import stats as code_stats
from scrm.coupons import stats as coupon_stats
from scrm.errors import NotFoundError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.config import Config

STAGES = ("scans", "follows", "bindings", "coupons_issued", "coupons_redeemed")


class UnknownScope(NotFoundError):
    """The funnel is asked for a guide or a store whose code names none."""


@dataclass(frozen=True)
class Funnel:
    first_day: date
    last_day: date
    counts: dict[str, int]

    def as_json(self) -> dict[str, Any]:
        stages, before = [], None
        for name in STAGES:
            count = self.counts[name]
            rate = round(count / before, 4) if before else None
            stages.append({"stage": name, "count": count, "rate_from_previous": rate})
            before = count
        return {"first_day": self.first_day.isoformat(), "last_day": self.last_day.isoformat(), "stages": stages}


def funnel(
    *, db_session: Session, config: Config, first_day: date, last_day: date, store_id: int | None = None,
    guide_id: int | None = None,
) -> Funnel:
    code_ids = code_stats.code_ids_of(db_session=db_session, guide_id=guide_id, store_id=store_id)
    if store_id is not None and guide_id is None:  # a store's own codes and its guides' codes
        guides = select(Guide.id).where(Guide.store_id == store_id)
        code_ids += [i for g in db_session.scalars(guides)
                     for i in code_stats.code_ids_of(db_session=db_session, guide_id=g)]
    days = code_stats.totals(code_stats.per_day(db_session=db_session, code_ids=code_ids, start=first_day,
                                                end=last_day))
    by, key = ("guide", guide_id) if guide_id is not None else ("store", store_id) if store_id is not None else (None, None)
    rows = coupon_stats.coupon_stats(db_session=db_session, config=config, by=by or "template", first_day=first_day,
                                     last_day=last_day)
    if by is not None:
        rows = [row for row in rows if row.key == key]
    coupons = coupon_stats.totals(rows)
    return Funnel(first_day, last_day, {
        "scans": int(days["scans"]), "follows": int(days["follows"]), "bindings": int(days["bindings"]),
        "coupons_issued": coupons.issued, "coupons_redeemed": coupons.redeemed,
    })


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
