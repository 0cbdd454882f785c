"""Engine, sessions and the one-owner transaction helper.

A unit of work is ``with transaction(session_factory) as session:``: it commits when the
block ends and rolls back when it raises. Jobs and request helpers own their transaction this
way; service functions take a ``db_session`` and never commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def make_engine(url: str, *, echo: bool = False, pool_size: int = 10, max_overflow: int = 20) -> Engine:
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # No pre-ping: it is a round trip on every checkout. A connection the server dropped fails
    # one transaction (a webhook then answers 500 and WeChat retries) and is replaced;
    # pool_recycle retires connections before typical idle timeouts.
    return create_engine(url, echo=echo, pool_size=pool_size, max_overflow=max_overflow, pool_recycle=1800)


def _ensure_sqlite_dir(url: str) -> None:
    from pathlib import Path

    path = url.split("///", 1)[-1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API objects
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def dialect_insert(db_session: Session, table: Any) -> Any:
    """``INSERT`` with ``ON CONFLICT`` for the session's database (PostgreSQL or SQLite)."""
    if db_session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def make_session_factory(engine: Engine, *, info: dict | None = None) -> sessionmaker[Session]:
    """``info`` is copied into every session's ``Session.info`` (the runtime puts its job queue
    there, so that work enqueued after a commit goes to the queue of the session's runtime)."""
    return sessionmaker(engine, expire_on_commit=False, info=info)


@contextmanager
def transaction(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """Own one transaction: commit on success, roll back on error, always close."""
    session = session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
