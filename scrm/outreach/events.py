"""Custom events (SPEC §8, §11): what the brand's own systems tell us a customer did (cart
abandoned, membership renewed…), posted to ``POST /api/events``, to trigger campaigns
(``{"kind": "trigger", "event": "custom", "name": …}``) and to show on the timeline.

A body is ``{"name", "customer": {openid | external_userid | phone} | "customer_id",
"occurred_at" (ISO 8601 with its zone; default now, at most 5 minutes ahead), "event_key"
(the poster's id for the event), "payload" (an object, at most 8 KB as JSON)}``. An event is
recorded once per ``event_key``: posted again, the stored event is answered (200, not 201);
the same key with another name or customer is a conflict. Each new event is an
:class:`~scrm.outreach.models.OutreachEvent` and a ``custom_event`` entry on the timeline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr, model_validator
from sqlalchemy import select

from scrm.clock import as_utc
from scrm.customers.models import Interaction
from scrm.customers.service import resolve
from scrm.db import dialect_insert
from scrm.errors import ConflictError, InvalidInput, Refused, validated
from scrm.outreach.models import OutreachEvent
from scrm.outreach.triggers import event_happened
from scrm.validators import BigIntId, Moment
from tagging.orders import UnknownCustomer, find_customer
from tagging.schemas import CustomerRefIn

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

PAYLOAD_MAX_BYTES = 8 * 1024
FUTURE_TOLERANCE = timedelta(minutes=5)
_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")  # printable ASCII, no spaces


class InvalidEvent(InvalidInput):
    """Bad custom-event input; ``field`` names the first offending field."""


class UnknownEventCustomer(Refused):
    """The event names no customer we know (422 ``unknown_customer``, naming the field)."""

    code = "unknown_customer"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", field=field)
        self.field = field
        self.reason = reason


class EventConflict(ConflictError):
    """The event_key names an event with another name or customer."""


def _name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError("must be 1-64 letters, digits, _ . : or -, e.g. cart_abandoned")
    return value


def _key(value: str) -> str:
    if not _KEY.match(value):
        raise ValueError("must be 1-128 printable ASCII characters without spaces")
    return value


def _small(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value, ensure_ascii=False).encode()) > PAYLOAD_MAX_BYTES:
        raise ValueError(f"must be at most {PAYLOAD_MAX_BYTES} bytes as JSON")
    return value


class EventIn(BaseModel):
    """A custom event, as ``POST /api/events`` takes it."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[StrictStr, AfterValidator(_name)]
    customer: CustomerRefIn | None = None
    customer_id: BigIntId | None = None
    occurred_at: Moment | None = None
    event_key: Annotated[StrictStr, AfterValidator(_key)] | None = None
    payload: Annotated[dict[str, Any], AfterValidator(_small)] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_customer(self) -> EventIn:
        if (self.customer is None) == (self.customer_id is None):
            raise ValueError("customer: give customer {openid | external_userid | phone} or customer_id, one of them")
        return self


def parse_event(body: Mapping[str, Any], *, now: datetime) -> EventIn:
    """The validated event, or :class:`InvalidEvent` naming every bad field."""
    event_in = validated(EventIn, body, error=InvalidEvent, what="an event")
    if event_in.occurred_at is not None and event_in.occurred_at > now + FUTURE_TOLERANCE:
        raise InvalidEvent("occurred_at", f"is in the future (our clock says {now.isoformat(timespec='seconds')})")
    return event_in


def record_event(*, runtime: Runtime, db_session: Session, event_in: EventIn) -> tuple[OutreachEvent, bool]:
    """The event and whether it is new; a new one goes on the timeline and fires the custom
    triggers waiting for its name (after the caller's commit)."""

    customer_id = _customer_of(db_session, event_in)
    if event_in.event_key is not None:
        existing = _by_key(db_session, event_in.event_key)
        if existing is not None:
            return _same_or_conflict(db_session, existing, event_in, customer_id), False
    now = runtime.clock.now()
    occurred_at = event_in.occurred_at or now
    table = OutreachEvent.__table__
    event_id = db_session.execute(
        dialect_insert(db_session, table)
        .values(customer_id=customer_id, name=event_in.name, event_key=event_in.event_key, occurred_at=occurred_at,
                payload=event_in.payload)
        .on_conflict_do_nothing(index_elements=["event_key"]).returning(table.c.id)
    ).scalar()
    if event_id is None:  # posted twice at once: the other request recorded it a moment ago
        return _same_or_conflict(db_session, _by_key(db_session, event_in.event_key), event_in, customer_id), False
    db_session.add(Interaction(customer_id=customer_id, kind="custom_event", occurred_at=occurred_at,
                               dedupe_key=f"event:{event_id}",
                               payload={"event_id": event_id, "name": event_in.name, "event_key": event_in.event_key,
                                        "payload": event_in.payload}))
    db_session.flush()
    event_happened(runtime, db_session, event="custom", customer_id=customer_id, ref=str(event_id),
                   name=event_in.name)
    return db_session.get(OutreachEvent, event_id), True


def event_json(event: OutreachEvent) -> dict[str, Any]:
    return {"id": event.id, "name": event.name, "customer_id": event.customer_id, "event_key": event.event_key,
            "occurred_at": as_utc(event.occurred_at).isoformat(), "payload": event.payload}


def _customer_of(db_session: Session, event_in: EventIn) -> int:
    if event_in.customer is not None:
        try:
            return find_customer(db_session=db_session, ref=event_in.customer).customer_id
        except UnknownCustomer as exc:
            raise UnknownEventCustomer(exc.field, exc.reason) from exc
    customer = resolve(db_session=db_session, customer_id=event_in.customer_id)
    if customer is None:
        raise UnknownEventCustomer("customer_id", "no customer has this id")
    return customer.id


def _by_key(db_session: Session, event_key: str | None) -> OutreachEvent | None:
    return db_session.scalar(select(OutreachEvent).where(OutreachEvent.event_key == event_key))


def _same_or_conflict(db_session: Session, event: OutreachEvent, event_in: EventIn, customer_id: int) -> OutreachEvent:
    owner = resolve(db_session=db_session, customer_id=event.customer_id)
    if event.name != event_in.name or owner is None or owner.id != customer_id:
        raise EventConflict(f"event_key {event_in.event_key} names another event (id {event.id}, {event.name})")
    return event
