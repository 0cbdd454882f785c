"""The benches' PostgreSQL databases on 127.0.0.1:5432 (user postgres, trust auth): one created
when missing, and our schema dropped and migrated from nothing before a run fills it.

Imports stay inside the functions: a bench's ``--help`` needs neither psycopg nor migrations.
"""

from __future__ import annotations

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/"


def database_url(name: str) -> str:
    """The SQLAlchemy URL of the database ``name``, created first when it does not exist."""
    import psycopg

    with psycopg.connect(PG.replace("+psycopg", "") + "postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    return PG + name


def migrate_afresh(url: str) -> None:
    """Our schema (``public``) dropped with everything in it, and migrated to the head. Other
    schemas (the peers' table of bench/product_codes.py) are left as they are."""
    from sqlalchemy import create_engine, text

    from scrm.migrate import upgrade

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade(url)
