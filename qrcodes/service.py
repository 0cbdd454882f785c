"""Channel codes: created for guides and stores, found again from a callback's scene."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from guides.models import Guide, Store
from qrcodes.jobs import create_code
from qrcodes.models import ChannelCode
from qrcodes.scenes import SceneCodec
from scrm.queue import enqueue_after_commit

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

CHANNELS = ("mp", "work")


@dataclass(frozen=True)
class CodeRef:
    """A scanned code as binding needs it (read once per callback, no ORM object kept)."""

    id: int
    kind: str
    channel: str
    guide_id: int | None
    store_id: int | None
    retired: bool
    guide_active: bool = False  # a guide code's guide still works here
    owner_store_id: int | None = None  # the store of the code, or of its guide


def codec(runtime: Runtime) -> SceneCodec:
    return SceneCodec.from_config(runtime.config)


def request_codes(
    *, runtime: Runtime, db_session: Session, kind: str, owner_id: int, channels: tuple[str, ...] = CHANNELS, **owner: int
) -> list[ChannelCode]:
    """Rows for the owner's codes that do not exist yet, and a job per row to ask WeChat for
    it after the commit. ``owner`` is ``guide_id=…`` or ``store_id=…``."""

    scene = codec(runtime).encode(kind, owner_id)
    existing = set(
        db_session.scalars(select(ChannelCode.channel).where(ChannelCode.scene == scene, ChannelCode.channel.in_(channels)))
    )
    created = []
    for channel in channels:
        if channel in existing:
            continue
        code = ChannelCode(kind=kind, channel=channel, scene=scene, status="pending", **owner)
        db_session.add(code)
        created.append(code)
    db_session.flush()
    for code in created:
        enqueue_after_commit(db_session, create_code, code.id)
    return created


def find_code(*, runtime: Runtime, db_session: Session, scene: str | None, channel: str) -> CodeRef | None:
    """The code a callback's scene names on ``channel``; ``None`` when the scene is not one
    of ours (or was tampered with, or names a code that does not exist)."""
    if codec(runtime).decode(scene) is None:
        return None

    row = db_session.execute(
        select(
            ChannelCode.id, ChannelCode.kind, ChannelCode.channel, ChannelCode.guide_id, ChannelCode.store_id,
            ChannelCode.status, Guide.status.label("guide_status"), Guide.store_id.label("guide_store_id"),
        )
        .outerjoin(Guide, Guide.id == ChannelCode.guide_id)
        .where(ChannelCode.scene == scene, ChannelCode.channel == channel)
    ).first()
    if row is None:
        return None
    return CodeRef(row.id, row.kind, row.channel, row.guide_id, row.store_id, row.status == "retired",
                   row.guide_status == "active", row.store_id if row.store_id is not None else row.guide_store_id)


def codes_of(*, db_session: Session, guide_id: int | None = None, store_id: int | None = None) -> dict[str, ChannelCode]:
    """The owner's codes by channel."""
    query = select(ChannelCode)
    if guide_id is not None:
        query = query.where(ChannelCode.guide_id == guide_id, ChannelCode.kind == "guide")
    else:
        query = query.where(ChannelCode.store_id == store_id, ChannelCode.kind == "store")
    return {code.channel: code for code in db_session.scalars(query)}


def retire_guide_codes(*, db_session: Session, guide_id: int, at: datetime) -> int:
    """A leaving guide's codes stop binding to them; scans still count and go to the store."""
    result = db_session.execute(
        update(ChannelCode)
        .where(ChannelCode.guide_id == guide_id, ChannelCode.kind == "guide", ChannelCode.status != "retired")
        .values(status="retired", retired_at=at)
    )
    return result.rowcount or 0


def scannable_codes(*, db_session: Session, channel: str = "mp") -> list[tuple[str, str]]:
    """(label, scene) of every ready code on ``channel``, stores first: what a customer could
    find printed in a store (the phone sandbox offers them to scan)."""

    rows = db_session.execute(
        select(ChannelCode.kind, ChannelCode.scene, Store.name, Guide.name)
        .outerjoin(Guide, Guide.id == ChannelCode.guide_id)
        .outerjoin(Store, Store.id == func.coalesce(ChannelCode.store_id, Guide.store_id))
        .where(ChannelCode.channel == channel, ChannelCode.status == "ready")
        .order_by(ChannelCode.kind.desc(), ChannelCode.id)
    ).all()
    return [(f"{store} 门店码" if kind == "store" else f"{guide} · {store}", scene) for kind, scene, store, guide in rows]
