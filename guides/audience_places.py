"""``store:`` and ``guide:`` in audience expressions (tagging/audience.py): tagging sits below
guides and never imports them, so the callers above pass :data:`PLACES` down.

A customer is in ``store:S001`` while bound now (``ended_at`` empty) to any guide of that store,
in ``guide:G001`` while bound now to that guide: the same reading as a campaign's own store and
guide (scrm/outreach/campaigns.py). Both are one ``EXISTS`` over ``guide_bindings``, driven by
``ix_guide_bindings_guide_current`` (guide_id, ended_at).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, select
from sqlalchemy.orm import Session

from guides.models import Binding, Guide, Store
from scrm.customers.models import Customer
from tagging import audience


class GuidePlaces:
    def ids(self, db_session: Session, kind: str, codes: set[str]) -> dict[str, int]:
        model = Store if kind == audience.STORE else Guide
        return dict(db_session.execute(select(model.code, model.id).where(model.code.in_(codes))).all())

    def bound(self, kind: str, ids: list[int]) -> ColumnElement[bool]:
        current = and_(Binding.customer_id == Customer.id, Binding.ended_at.is_(None))
        if kind == audience.GUIDE:
            return exists().where(current, Binding.guide_id.in_(ids))
        of_store = select(Guide.id).where(Guide.store_id.in_(ids))
        return exists().where(current, Binding.guide_id.in_(of_store))


PLACES: audience.Places = GuidePlaces()


def builder_choices(db_session: Session) -> dict[str, list[dict[str, str]]]:
    """The stores and the guides (not those who left) the audience builder offers, with their terms."""
    stores = db_session.execute(select(Store.code, Store.name).order_by(Store.code)).all()
    guides = db_session.execute(
        select(Guide.code, Guide.name, Store.name.label("store")).join(Store, Store.id == Guide.store_id)
        .where(Guide.status != "left").order_by(Guide.code)
    ).all()
    return {
        "stores": [{"term": f"{audience.STORE}:{audience.spelled(code)}", "name": f"{name} ({code})"}
                   for code, name in stores],
        "guides": [{"term": f"{audience.GUIDE}:{audience.spelled(code)}", "name": f"{name} · {store} ({code})"}
                   for code, name, store in guides],
    }
