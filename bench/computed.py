"""Computed tags at scale: ``recompute_all`` over 1,000,000 customers and ~3,000,000 orders on
PostgreSQL, against the target of SPEC §5 / issue 4 (under 60 s).

    .venv/bin/python bench/computed.py [--customers 1000000] [--orders-per-customer 3] [--refill]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres). The database ``scrm_bench_tags`` is
created if missing and migrated; customers and orders are generated inside PostgreSQL
(multi-row ``INSERT … SELECT FROM generate_series``), 20% of the customers never ordering,
the others ordering at random over 900 days, 10-1,000 yuan each. A filled database of the
asked size is reused (its computed tags and timeline emptied) unless ``--refill``.

Three runs, with the clock frozen at the fill's moment:

1. **first**: nobody has a computed tag yet, so every customer changes (the worst case:
   ~1.8 M tag rows and as many timeline entries written);
2. **again**: nothing changed, nothing written (reads and compares only);
3. **next night**: the clock a day later; only the customers who crossed a boundary change.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/scrm_bench_tags"
TARGET_SECONDS = 60.0
NEVER_ORDER = 0.2
HISTORY_DAYS = 900
FILL_BATCH = 250_000


def prepare(customers: int, orders: int, anchor: datetime, refill: bool) -> None:
    import psycopg
    from sqlalchemy import create_engine, text

    from scrm.migrate import upgrade

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = 'scrm_bench_tags'").fetchone() is None:
            conn.execute("CREATE DATABASE scrm_bench_tags")
    upgrade(DATABASE_URL)
    engine = create_engine(DATABASE_URL)
    with engine.begin() as conn:
        have = conn.execute(text("SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM orders)")).one()
        anchor_row = conn.execute(text("SELECT max(created_at) FROM orders")).scalar()
    if not refill and tuple(have) == (customers, orders) and anchor_row is not None:
        print(f"reusing {customers:,} customers and {orders:,} orders; emptying computed tags and the timeline")
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE customer_tags, interactions, tags, tag_groups RESTART IDENTITY CASCADE"))
        engine.dispose()
        return
    print(f"filling {customers:,} customers and {orders:,} orders …", flush=True)
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text(
            "TRUNCATE customer_tags, interactions, tags, tag_groups, orders, customer_identities, customers "
            "RESTART IDENTITY CASCADE"
        ))
    with engine.connect() as conn:
        for low in range(1, customers + 1, FILL_BATCH):
            with conn.begin():
                conn.execute(
                    text(
                        "INSERT INTO customers (nickname, created_at, updated_at) "
                        "SELECT 'bench-' || g, :anchor, :anchor "
                        "FROM generate_series(CAST(:low AS bigint), CAST(:high AS bigint)) g"
                    ),
                    {"low": low, "high": min(low + FILL_BATCH - 1, customers), "anchor": anchor},
                )
        buyers = int(customers * (1 - NEVER_ORDER))
        for low in range(1, orders + 1, FILL_BATCH):
            with conn.begin():
                conn.execute(
                    text(
                        "INSERT INTO orders (order_no, customer_id, amount, ordered_at, created_at) "
                        "SELECT 'BENCH-' || g, 1 + floor(random() * :buyers)::bigint, "
                        "round((10 + random() * 990)::numeric, 2), "
                        f":anchor - random() * interval '{HISTORY_DAYS} days', :anchor "
                        "FROM generate_series(CAST(:low AS bigint), CAST(:high AS bigint)) g"
                    ),
                    {"low": low, "high": min(low + FILL_BATCH - 1, orders), "buyers": buyers, "anchor": anchor},
                )
            print(f"  {min(low + FILL_BATCH - 1, orders):,} orders", flush=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE customers"))
        conn.execute(text("VACUUM ANALYZE orders"))
    engine.dispose()
    print(f"filled in {time.perf_counter() - started:.0f} s")


def fill_anchor() -> datetime:
    """The moment the data was generated around: the clock of every run."""
    from sqlalchemy import create_engine, text

    engine = create_engine(DATABASE_URL)
    with engine.connect() as conn:
        anchor = conn.execute(text("SELECT max(created_at) FROM orders")).scalar()
    engine.dispose()
    return anchor


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders-per-customer", type=float, default=3.0)
    parser.add_argument("--batch-size", type=int, default=100_000)
    parser.add_argument("--refill", action="store_true", help="Generate the data again even if the size matches.")
    args = parser.parse_args()

    from scrm.clock import FrozenClock
    from scrm.config import load_config
    from scrm.runtime import Runtime, install
    from tagging.computed import recompute_all

    orders = int(args.customers * args.orders_per_customer)
    prepare(args.customers, orders, datetime.now(UTC).replace(microsecond=0), args.refill)
    runtime = install(Runtime(load_config(environ={}, overrides={"database.url": DATABASE_URL, "redis.url": "memory://bench"})))
    runtime.clock = FrozenClock(fill_anchor())

    rows = []
    for name, advance_days in (("first", 0), ("again", 0), ("next night", 1)):
        runtime.clock.advance(days=advance_days)
        summary = recompute_all(runtime, batch_size=args.batch_size)
        rows.append((name, summary))
        print(f"{name:<11} {summary.describe()}", flush=True)
    runtime.close()

    print()
    print(f"{'run':<11} {'customers':>10} {'RFM changed':>12} {'生命周期 changed':>16} {'seconds':>8}"
          f"  target < {TARGET_SECONDS:.0f} s")
    for name, s in rows:
        verdict = "ok" if s.seconds < TARGET_SECONDS else "OVER"
        print(f"{name:<11} {s.customers:>10,} {s.changed['RFM']:>12,} {s.changed['生命周期']:>16,} {s.seconds:>8.1f}"
              f"  {verdict}")
    return 0 if all(s.seconds < TARGET_SECONDS for _, s in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
