"""Stores and guides: plain functions that take a session and never commit.

Creating a store asks WeChat for its MP code; its WeCom contact way follows its first guide
(a contact way needs a member). Creating a guide asks for the guide's MP code and contact way.
Both happen through the queue after the commit (qrcodes/jobs.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from guides.models import Binding, Guide, Store
from guides.schemas import GuideFields, GuideIn, InvalidInput, StoreIn
from guides.store_duty import refresh_store_contact_way
from qrcodes.models import ChannelCode
from qrcodes.service import request_codes
from scrm import errors
from scrm.queue import enqueue_after_commit

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime


class GuidesError(errors.DomainError):
    """A store or guide cannot be found or written; the message says why."""


class NotFoundError(GuidesError, errors.NotFoundError):
    pass


class ConflictError(GuidesError, errors.ConflictError):
    pass


def create_store(*, runtime: Runtime, db_session: Session, store_in: StoreIn) -> Store:
    if db_session.scalar(select(Store.id).where(Store.code == store_in.code)) is not None:
        raise ConflictError(f"a store with code {store_in.code} exists already")
    store = Store(code=store_in.code, name=store_in.name, address=store_in.address)
    db_session.add(store)
    _flush(db_session, f"a store with code {store_in.code} exists already")
    request_codes(runtime=runtime, db_session=db_session, kind="store", owner_id=store.id, channels=("mp",),
                  store_id=store.id)
    return store


def get_store(*, db_session: Session, code: str) -> Store:
    store = db_session.scalar(select(Store).where(Store.code == code))
    if store is None:
        raise NotFoundError(f"no store {code}")
    return store


def list_stores(*, db_session: Session) -> list[tuple[Store, int]]:
    """Stores with their number of active guides."""
    counts = (
        select(Guide.store_id, func.count().label("n")).where(Guide.status == "active").group_by(Guide.store_id).subquery()
    )
    rows = db_session.execute(
        select(Store, func.coalesce(counts.c.n, 0)).outerjoin(counts, counts.c.store_id == Store.id).order_by(Store.code)
    )
    return [(store, n) for store, n in rows]


def create_guide(*, runtime: Runtime, db_session: Session, guide_in: GuideIn) -> Guide:
    store = get_store(db_session=db_session, code=guide_in.store)
    if db_session.scalar(select(Guide.id).where(Guide.code == guide_in.code)) is not None:
        raise ConflictError(f"a guide with code {guide_in.code} exists already")
    if db_session.scalar(select(Guide.code).where(Guide.wecom_userid == guide_in.wecom_userid)) is not None:
        raise ConflictError(f"WeCom member {guide_in.wecom_userid} is a guide already")
    fields = guide_in.model_dump(exclude={"store"}, exclude_none=True)
    guide = Guide(store_id=store.id, schedule=fields.pop("schedule", {}), **fields)
    db_session.add(guide)
    _flush(db_session, f"guide {guide_in.code} or WeCom member {guide_in.wecom_userid} exists already")
    request_codes(runtime=runtime, db_session=db_session, kind="guide", owner_id=guide.id, guide_id=guide.id)
    # The store's WeCom contact way needs a member: the first guide makes it possible.
    request_codes(runtime=runtime, db_session=db_session, kind="store", owner_id=store.id, channels=("work",),
                  store_id=store.id)
    refresh_store_way_after_commit(db_session=db_session, store_id=store.id)
    return guide


def refresh_store_way_after_commit(*, db_session: Session, store_id: int) -> None:
    """The store's WeCom contact way follows its guides on duty (guides/store_duty.py)."""

    enqueue_after_commit(db_session, refresh_store_contact_way, store_id)


def get_guide(*, db_session: Session, code: str) -> Guide:
    guide = db_session.scalar(select(Guide).where(Guide.code == code))
    if guide is None:
        raise NotFoundError(f"no guide {code}")
    return guide


def update_guide(*, db_session: Session, code: str, changes: GuideFields) -> Guide:
    guide = get_guide(db_session=db_session, code=code)
    for name, value in changes.model_dump(exclude_unset=True).items():
        if value is None and name in ("name", "backup", "schedule"):
            raise_invalid(name)
        setattr(guide, name, value)
    db_session.flush()
    return guide


def raise_invalid(field: str) -> None:
    raise InvalidInput(field, "cannot be null")


def list_guides(*, db_session: Session, store_code: str | None = None, include_left: bool = False) -> list[tuple[Guide, int]]:
    """Guides (store, then code) with their number of current customers."""
    customers = (
        select(Binding.guide_id, func.count().label("n")).where(Binding.ended_at.is_(None)).group_by(Binding.guide_id).subquery()
    )
    query = select(Guide, func.coalesce(customers.c.n, 0)).outerjoin(customers, customers.c.guide_id == Guide.id)
    if store_code is not None:
        query = query.where(Guide.store_id == get_store(db_session=db_session, code=store_code).id)
    if not include_left:
        query = query.where(Guide.status == "active")
    return [(guide, n) for guide, n in db_session.execute(query.join(Store).order_by(Store.code, Guide.code))]


def customer_count(*, db_session: Session, guide_id: int) -> int:
    return db_session.scalar(select(func.count()).where(Binding.guide_id == guide_id, Binding.ended_at.is_(None))) or 0


def _flush(db_session: Session, conflict: str) -> None:
    try:
        with db_session.begin_nested():
            db_session.flush()
    except IntegrityError:
        raise ConflictError(conflict) from None


class ScannableCode(NamedTuple):
    kind: str  # "store" or "guide"; the page that lists it names it in its reader's language
    scene: str
    store: str | None
    guide: str | None


def scannable_codes(*, db_session: Session, channel: str = "mp") -> list[ScannableCode]:
    """Every ready code on ``channel``, stores first: what a customer could find printed in a
    store (the phone sandbox offers them to scan)."""

    rows = db_session.execute(
        select(ChannelCode.kind, ChannelCode.scene, Store.name, Guide.name)
        .outerjoin(Guide, Guide.id == ChannelCode.guide_id)
        .outerjoin(Store, Store.id == func.coalesce(ChannelCode.store_id, Guide.store_id))
        .where(ChannelCode.channel == channel, ChannelCode.status == "ready")
        .order_by(ChannelCode.kind.desc(), ChannelCode.id)
    ).all()
    return [ScannableCode(*row) for row in rows]
