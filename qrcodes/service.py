"""Channel codes: created for guides and stores (guides/binding.py finds them again from a
callback's scene; guides/service.py lists the ones a customer could scan)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from qrcodes.jobs import create_code
from qrcodes.models import ChannelCode
from qrcodes.scenes import SceneCodec
from scrm.queue import enqueue_after_commit

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

CHANNELS = ("mp", "work")


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
