"""``store:``, ``guide:`` and ``interacted:`` audience terms at scale, on PostgreSQL: 100,000
customers, 20 stores of 10 guides, a current binding for 80 % of the customers (and an ended
one for 10 % more), ~10 timeline entries a customer over a year (~1 M rows, a third of them
ours, not the customer's: tags, coupons, bindings).

    .venv/bin/python bench/audience_places.py [--customers 100000] [--runs 5] [--refill]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres); the database ``scrm_bench_places`` is
created if missing, migrated, and filled inside PostgreSQL (``generate_series``), then reused
while the customer count matches. Each expression is counted through
:func:`tagging.audience.count` with guides' places (the statement the console and campaigns
send), first on a new connection, then warm; the median of the warm runs, the count, and the
statement's EXPLAIN ANALYZE (first lines) are printed. Figures only, no targets.

Measured 2026-12-07 on the 2-core machine while it was shared (load average ~9, so high):
warm medians ``guide:G00101`` 80 ms, ``store:S001`` 117 ms, ``!store:S001`` 113 ms,
``interacted:30d`` 0.63 s (88 % of the customers), ``!interacted:30d`` 0.62 s, ``store:S001 &
interacted:30d`` 0.27 s, ``store:S001 | store:S002`` 1.3 s: under ``|`` each store is its own
hashed subplan over the whole ``guide_bindings`` (one ``EXISTS … guide_id IN`` for the ``|``'s
stores and guides, as tags get, is the next step).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/scrm_bench_places"
STORES, GUIDES_PER_STORE, ENTRIES = 20, 10, 10
OURS = ("tag_added", "coupon_issued", "guide_bound")
THEIRS = ("text", "click", "view", "scan", "purchase", "link_open", "redemption")
EXPRESSIONS = (
    "store:S001", "guide:G00101", "store:S001 | store:S002", "!store:S001",
    "interacted:30d", "!interacted:30d", "interacted:7d", "store:S001 & interacted:30d",
    "guide:G00101 & !interacted:90d",
)


def prepare(customers: int, anchor: datetime, refill: bool) -> None:
    import psycopg
    from sqlalchemy import create_engine, text

    from scrm.migrate import upgrade

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = 'scrm_bench_places'").fetchone() is None:
            conn.execute("CREATE DATABASE scrm_bench_places")
    upgrade(DATABASE_URL)
    engine = create_engine(DATABASE_URL)
    with engine.begin() as conn:
        have = conn.execute(text("SELECT count(*) FROM customers")).scalar()
    if have == customers and not refill:
        print(f"reusing {customers:,} customers")
        return
    started = time.perf_counter()
    theirs = "ARRAY[" + ", ".join(f"'{kind}'" for kind in THEIRS) + "]"
    ours = "ARRAY[" + ", ".join(f"'{kind}'" for kind in OURS) + "]"
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE customers, stores, guides, guide_bindings, interactions RESTART IDENTITY CASCADE"))
        conn.execute(text("INSERT INTO stores (code, name) SELECT 'S' || lpad(s::text, 3, '0'), 'store ' || s "
                          "FROM generate_series(1, :n) s"), {"n": STORES})
        conn.execute(text(
            "INSERT INTO guides (code, name, store_id, wecom_userid, schedule, backup, status) "
            "SELECT 'G' || lpad(s.id::text, 3, '0') || lpad(g::text, 2, '0'), 'guide', s.id, "
            "'w' || s.id || '_' || g, '{}', false, 'active' FROM stores s, generate_series(1, :n) g"),
            {"n": GUIDES_PER_STORE})
        conn.execute(text("INSERT INTO customers (nickname) SELECT 'c' || i FROM generate_series(1, :n) i"),
                     {"n": customers})
        conn.execute(text(
            "WITH g AS (SELECT array_agg(id ORDER BY id) AS ids FROM guides) "
            "INSERT INTO guide_bindings (customer_id, guide_id, channel, bound_at, ended_at) "
            "SELECT c.id, g.ids[1 + abs(hashtext(c.id::text)) % :guides], 'mp', "
            ":at - interval '200 days', CASE WHEN c.id % 10 = 9 THEN :at - interval '20 days' END "
            "FROM customers c, g WHERE c.id % 10 <> 0"), {"guides": STORES * GUIDES_PER_STORE, "at": anchor})
        conn.execute(text(
            f"INSERT INTO interactions (customer_id, kind, channel, occurred_at, payload) "
            f"SELECT c.id, CASE WHEN random() < 0.33 THEN ({ours})[1 + floor(random() * 3)::int] "
            f"ELSE ({theirs})[1 + floor(random() * 7)::int] END, 'mp', "
            f":at - (random() ^ 2) * interval '365 days', '{{}}' "
            f"FROM customers c, generate_series(1, :entries) e"), {"at": anchor, "entries": ENTRIES})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("customers", "stores", "guides", "guide_bindings", "interactions"):
            conn.execute(text(f"VACUUM ANALYZE {table}"))
    print(f"filled {customers:,} customers in {time.perf_counter() - started:.0f} s")
    engine.dispose()


def time_count(runtime, expr: str, runs: int, plan_lines: int) -> None:  # noqa: ANN001
    from sqlalchemy import event

    from guides.audience_places import PLACES
    from tagging import audience

    runtime.engine.dispose()
    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001, ARG001
        if statement.lstrip().upper().startswith("SELECT COUNT("):
            captured.append((statement, parameters))

    seconds, count = [], None
    event.listen(runtime.engine, "before_cursor_execute", capture)
    try:
        for _ in range(runs):
            with runtime.transaction() as db_session:
                started = time.perf_counter()
                count = audience.count(db_session=db_session, expr=expr, now=runtime.clock.now(), places=PLACES)
                seconds.append(time.perf_counter() - started)
    finally:
        event.remove(runtime.engine, "before_cursor_execute", capture)
    warm = statistics.median(seconds[1:] or seconds)
    print(f"\n{expr!r}: {count:,} customers; first {seconds[0] * 1000:.0f} ms, warm median {warm * 1000:.0f} ms")
    statement, parameters = captured[-1]
    with runtime.engine.connect() as conn:
        plan = [row[0] for row in conn.exec_driver_sql("EXPLAIN ANALYZE " + statement, parameters)]
        conn.rollback()
    for line in plan[:plan_lines]:
        print("    " + line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--plan-lines", type=int, default=14)
    parser.add_argument("--refill", action="store_true")
    args = parser.parse_args()

    from scrm.clock import FrozenClock
    from scrm.config import load_config
    from scrm.runtime import Runtime, install

    anchor = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    prepare(args.customers, anchor, args.refill)
    runtime = install(Runtime(load_config(environ={}, overrides={"database.url": DATABASE_URL,
                                                                 "redis.url": "memory://bench"})))
    runtime.clock = FrozenClock(anchor + timedelta(seconds=1))
    for expr in EXPRESSIONS:
        time_count(runtime, expr, args.runs, args.plan_lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
