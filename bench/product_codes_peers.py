"""The anchor of bench/product_codes.py: the peers' design, a row per code.

``peers.product_codes`` (id, code unique, batch_id, claimed_by, claimed_at) in the bench's
database, in its own schema so that re-migrating ours leaves it alone. It is filled as the
open anti-counterfeit projects fill theirs (MyBatis-Plus ``saveBatch``): INSERTs of 1,000 rows,
each batch committed, the unique index in place. The codes are ours (``ProductCodec.codes``
under the prefix ``peers``), so both sides' codes are the same 21 random-looking characters;
the time spent making them is counted apart from the time PostgreSQL takes to store them.

``peers.fill_log`` keeps what a fill took, so a run that reuses the table (``--reuse-table``)
still prints it. Then: the table's size, and a lookup per code to verify it (genuine codes and
codes with one character changed). Their claims and their codes.csv are served by
bench/product_codes_peer_app.py.
"""

from __future__ import annotations

import random
import time
import psycopg

PREFIX = "peers"
BATCH_ID = 1
ROWS_PER_INSERT = 1_000

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS peers;
CREATE TABLE IF NOT EXISTS peers.fill_log (
    codes bigint NOT NULL, key_digest text NOT NULL, seconds double precision NOT NULL,
    database_seconds double precision NOT NULL, filled_at timestamptz NOT NULL DEFAULT now());
"""
TABLE = """
DROP TABLE IF EXISTS peers.product_codes;
CREATE TABLE peers.product_codes (
    id bigserial PRIMARY KEY,
    code varchar(32) NOT NULL UNIQUE,
    batch_id bigint NOT NULL,
    claimed_by bigint,
    claimed_at timestamptz);
"""


def stored_fill(url: str, codes: int, key_digest: str) -> dict | None:
    """The last fill's figures when the table holds exactly it (same size, same key), else None."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCHEMA)
        row = conn.execute("SELECT codes, seconds, database_seconds, filled_at FROM peers.fill_log "
                           "ORDER BY filled_at DESC LIMIT 1").fetchone()
        exists = conn.execute("SELECT to_regclass('peers.product_codes') IS NOT NULL").fetchone()[0]
        if row is None or not exists or row[0] != codes:
            return None
        same_key = conn.execute("SELECT key_digest = %s FROM peers.fill_log ORDER BY filled_at DESC LIMIT 1",
                                (key_digest,)).fetchone()[0]
        if not same_key or conn.execute("SELECT max(id) FROM peers.product_codes").fetchone()[0] != codes:
            return None
    return {"codes": row[0], "seconds": row[1], "database_seconds": row[2], "filled_at": row[3], "reused": True}


def fill(url: str, codec, codes: int, key_digest: str, progress=print) -> dict:  # noqa: ANN001
    """The table made anew and filled with ``codes`` rows, 1,000 per INSERT, each committed."""
    started = time.monotonic()
    database = 0.0
    with psycopg.connect(url) as conn:
        conn.execute(SCHEMA)
        conn.execute(TABLE)
        conn.execute("TRUNCATE peers.fill_log")
        conn.commit()
        statement = ("INSERT INTO peers.product_codes (code, batch_id) VALUES "
                     + ", ".join(["(%s, %s)"] * ROWS_PER_INSERT))
        rows: list = []
        done, shown = 0, time.monotonic()
        for _, code in codec.codes(PREFIX, 1, codes):
            rows += (code, BATCH_ID)
            if len(rows) == 2 * ROWS_PER_INSERT:
                began = time.monotonic()
                conn.execute(statement, rows, prepare=True)
                conn.commit()
                database += time.monotonic() - began
                done += ROWS_PER_INSERT
                rows = []
                if time.monotonic() - shown > 30:
                    progress(f"    {done:,} rows stored in {time.monotonic() - started:.0f} s", flush=True)
                    shown = time.monotonic()
        if rows:
            began = time.monotonic()
            conn.execute("INSERT INTO peers.product_codes (code, batch_id) VALUES "
                         + ", ".join(["(%s, %s)"] * (len(rows) // 2)), rows)
            conn.commit()
            database += time.monotonic() - began
        seconds = time.monotonic() - started
        conn.execute("INSERT INTO peers.fill_log (codes, key_digest, seconds, database_seconds) VALUES (%s, %s, %s, %s)",
                     (codes, key_digest, seconds, database))
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE peers.product_codes")
    return {"codes": codes, "seconds": seconds, "database_seconds": database, "filled_at": None, "reused": False}


def reset_claims(url: str) -> int:
    """What an earlier run claimed, unclaimed: the claims start from the same table."""
    with psycopg.connect(url, autocommit=True) as conn:
        undone = conn.execute("UPDATE peers.product_codes SET claimed_by = NULL, claimed_at = NULL "
                              "WHERE claimed_by IS NOT NULL").rowcount
        if undone:
            conn.execute("VACUUM ANALYZE peers.product_codes")
    return undone


def sizes(url: str) -> dict[str, int]:
    """Bytes of the table (heap), its indexes, and the two with TOAST (pg_total_relation_size)."""
    with psycopg.connect(url) as conn:
        heap, indexes, total = conn.execute(
            "SELECT pg_relation_size('peers.product_codes'), pg_indexes_size('peers.product_codes'), "
            "pg_total_relation_size('peers.product_codes')").fetchone()
    return {"heap": heap, "indexes": indexes, "total": total}


def batch_row_size(url: str, batch_id: int) -> int:
    """Bytes of our batch's one row (pg_column_size of the row), what a batch costs us."""
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT pg_column_size(b.*) FROM code_batches b WHERE id = %s", (batch_id,)).fetchone()[0]


def look_up(url: str, codes: list[str]) -> tuple[float, int]:
    """One SELECT by the unique index per code, one connection, as the peers verify a scan:
    (seconds, codes found)."""
    found = 0
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT id, claimed_by FROM peers.product_codes WHERE code = %s", (codes[0],), prepare=True)
        started = time.perf_counter()
        for code in codes:
            if conn.execute("SELECT id, claimed_by FROM peers.product_codes WHERE code = %s", (code,),
                            prepare=True).fetchone() is not None:
                found += 1
        seconds = time.perf_counter() - started
    return seconds, found


def code_at(codec, serial: int) -> str:  # noqa: ANN001
    return codec.encode(PREFIX, serial)


def sample_serials(count: int, total: int, seed: int, exclude: frozenset[int] = frozenset()) -> list[int]:
    """``count`` distinct serials of 1…total in random order, none of ``exclude``."""
    rng = random.Random(seed)
    chosen: set[int] = set()
    order: list[int] = []
    if count > total - len(exclude):
        raise SystemExit(f"cannot pick {count} distinct codes of {total}")
    while len(order) < count:
        serial = rng.randint(1, total)
        if serial not in chosen and serial not in exclude:
            chosen.add(serial)
            order.append(serial)
    return order


def one_changed(code: str, rng: random.Random) -> str:
    """The code with one character (any position) replaced by another of the alphabet."""
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    position = rng.randrange(len(code))
    other = rng.choice(alphabet.replace(code[position], ""))
    return code[:position] + other + code[position + 1:]

