"""How the sandbox's world reaches its tables (:mod:`scrm.sandbox.models`): a transaction of
the installed runtime (the web app installs its own; a test's ``frozen`` fixture, a worker
or a command theirs), upserts that work on PostgreSQL and SQLite, the JSON documents and the
counters."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import redis as redis_lib

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.orm import Session

from scrm.db import dialect_insert
from scrm.runtime import current
from scrm.sandbox.models import SandboxCounter, SandboxDocument, SandboxMessage


def now(at: datetime | None = None) -> datetime:
    """``at``, or the installed runtime's clock."""
    return at if at is not None else current().clock.now()


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def lock(redis: redis_lib.Redis, channel: str) -> AbstractContextManager[Any]:
    """Serialises the read-check-write steps of one channel's world across processes."""
    return redis.lock(f"sandbox:{channel}:lock", timeout=10, blocking_timeout=10)


def transaction() -> AbstractContextManager[Session]:
    """One unit of work on the installed runtime's database: commit on success."""
    return current().transaction()


def reading() -> AbstractContextManager[Connection]:
    """A plain connection for reads (no ORM session to build, nothing to commit): most of the
    sandbox's calls only read, and the sandbox shares the CPU with the senders it answers."""
    return current().engine.connect()


def writing() -> AbstractContextManager[Connection]:
    """A plain connection in a transaction (committed when the block ends), for the hot writes
    (a message delivered) that need no ORM session."""
    return current().engine.begin()


def upsert(session: Session, model: Any, values: dict[str, Any] | list[dict[str, Any]], *, keys: Iterable[str],
           change: Iterable[str] | None = None) -> None:
    """Insert, or on a clash of ``keys`` set the ``change`` columns (None: do nothing)."""
    statement = dialect_insert(session, model).values(values)
    change = list(change or ())
    if change:
        statement = statement.on_conflict_do_update(index_elements=list(keys),
                                                    set_={c: statement.excluded[c] for c in change})
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(keys))
    session.execute(statement)


# ---- documents ---------------------------------------------------------------------------


def put_doc(session: Session, kind: str, key: str, doc: Any) -> None:
    upsert(session, SandboxDocument, {"kind": kind, "key": key, "doc": doc}, keys=("kind", "key"), change=("doc",))


def claim_doc(session: Session, kind: str, key: str, doc: Any) -> bool:
    """Store ``doc`` unless the key has one: whether this call stored it."""
    statement = dialect_insert(session, SandboxDocument).values(kind=kind, key=key, doc=doc)
    statement = statement.on_conflict_do_nothing(index_elements=["kind", "key"]).returning(SandboxDocument.key)
    return session.execute(statement).scalar_one_or_none() is not None


def get_doc(session: Session, kind: str, key: str) -> Any:
    row = session.get(SandboxDocument, (kind, key))
    return None if row is None else row.doc


def doc_keys(session: Session, kind: str) -> list[str]:
    return list(session.scalars(select(SandboxDocument.key).where(SandboxDocument.kind == kind)
                                .order_by(SandboxDocument.key)))


def docs(session: Session, kind: str) -> dict[str, Any]:
    rows = session.execute(select(SandboxDocument.key, SandboxDocument.doc).where(SandboxDocument.kind == kind))
    return {k: v for k, v in rows}


def drop_doc(session: Session, kind: str, key: str) -> None:
    session.execute(delete(SandboxDocument).where(SandboxDocument.kind == kind, SandboxDocument.key == key))


def doc(kind: str, key: str) -> Any:
    """One document, read on its own."""
    if not key:
        return None
    with reading() as conn:
        return conn.scalar(select(SandboxDocument.doc).where(SandboxDocument.kind == kind, SandboxDocument.key == key))


def save_doc(kind: str, key: str, value: Any) -> None:
    with transaction() as session:
        put_doc(session, kind, key, value)


# ---- counters ----------------------------------------------------------------------------


def next_value(session: Session, name: str, *, at_least: int = 1) -> int:
    """The counter's next value (the first is ``at_least``); two callers never get the same."""
    upsert(session, SandboxCounter, {"name": name, "value": at_least - 1}, keys=("name",))
    return int(session.execute(update(SandboxCounter).where(SandboxCounter.name == name)
                               .values(value=SandboxCounter.value + 1).returning(SandboxCounter.value)).scalar_one())


def set_counter(session: Session, name: str, value: int) -> None:
    upsert(session, SandboxCounter, {"name": name, "value": value}, keys=("name",), change=("value",))


# ---- messages ----------------------------------------------------------------------------


def put_messages(db: Session | Connection, channel: str, users: Iterable[str], message: dict[str, Any]) -> int | None:
    """``message`` in each user's inbox (``mp``, ``work``) or phone log (``phone``); the row's
    id when there is one user (None otherwise)."""
    rows = [{"channel": channel, "recipient": user, "body": message} for user in users]
    if len(rows) == 1:
        return int(db.execute(insert(SandboxMessage).values(rows[0]).returning(SandboxMessage.id)).scalar_one())
    if rows:
        db.execute(insert(SandboxMessage), rows)
    return None
