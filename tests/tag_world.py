"""Helpers for the tag rule and tracked link tests: tags, callbacks signed at the runtime's
clock, and what a customer carries."""

from __future__ import annotations

import itertools

from sqlalchemy import select

from handlers.signed_callbacks import CallbackSender, mp_event_xml, mp_text_xml
from scrm.customers import service as customers
from scrm.customers.models import Interaction
from tagging import scores
from tagging.models import CustomerTag, Tag, TagGroup

_msg_ids = itertools.count(10_000)


def create_tag(runtime, name: str, *, group: str = "兴趣", half_life_days: float | None = None, threshold: float = 1.0, computed: bool = False) -> int:  # noqa: ANN001
    """A tag (and its group, made on first use); returns the tag's id."""
    with runtime.transaction() as db_session:
        found = db_session.scalar(select(TagGroup).where(TagGroup.name == group))
        if found is None:
            found = TagGroup(name=group, half_life_days=half_life_days, threshold=threshold, computed=computed)
            db_session.add(found)
            db_session.flush()
        tag = Tag(group_id=found.id, name=name)
        db_session.add(tag)
        db_session.flush()
        return tag.id


def post(runtime, client, xml: str):  # noqa: ANN001, ANN201
    """Deliver ``xml`` to the MP webhook as WeChat would, signed at the runtime's clock."""
    signed = CallbackSender.from_config(runtime.config, "mp", encrypt=False).sign(
        xml, timestamp=int(runtime.clock.timestamp())
    )
    response = client.post(signed.path, data=signed.body, content_type="text/xml")
    assert response.status_code == 200, response.data
    return response


def text(runtime, client, content: str, *, openid: str = "oBuyer", msg_id: str | None = None):  # noqa: ANN001, ANN201
    xml = mp_text_xml(
        to=runtime.config.wechat.mp.original_id,
        openid=openid,
        content=content,
        msg_id=msg_id or str(next(_msg_ids)),
        create_time=int(runtime.clock.timestamp()),
    )
    return post(runtime, client, xml)


def event(runtime, client, name: str, *, key: str | None = None, openid: str = "oBuyer", at: int | None = None, **extra: str):  # noqa: ANN001, ANN201
    xml = mp_event_xml(
        to=runtime.config.wechat.mp.original_id,
        openid=openid,
        event=name,
        create_time=at if at is not None else int(runtime.clock.timestamp()),
        key=key,
        **extra,
    )
    return post(runtime, client, xml)


def carried(runtime, openid: str = "oBuyer") -> set[str]:  # noqa: ANN001
    """The names of the tags the customer carries now."""
    with runtime.transaction() as db_session:
        customer = customers.lookup(db_session=db_session, channel="mp", external_id=openid)
        if customer is None:
            return set()
        return {t["tag"] for t in scores.carried_tags(db_session=db_session, customer_id=customer.id, now=runtime.clock.now())}


def score(runtime, tag_id: int, openid: str = "oBuyer") -> float:  # noqa: ANN001
    """The stored (undecayed) score; 0 when the customer has none."""
    with runtime.transaction() as db_session:
        customer = customers.lookup(db_session=db_session, channel="mp", external_id=openid)
        if customer is None:
            return 0.0
        row = db_session.get(CustomerTag, (customer.id, tag_id))
        return 0.0 if row is None else row.score


def tag_entries(runtime) -> list[tuple[str, str, str]]:  # noqa: ANN001
    """Timeline entries about tags: (kind, tag, rule id)."""
    with runtime.transaction() as db_session:
        rows = db_session.scalars(
            select(Interaction).where(Interaction.kind.in_(("tag_added", "tag_removed"))).order_by(Interaction.id)
        ).all()
        return [(r.kind, r.payload["tag"], r.payload["cause"]["ref"]) for r in rows]
