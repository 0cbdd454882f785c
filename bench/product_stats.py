"""Product-code figures at scale (issue 19, SPEC §14 "Statistics"), on PostgreSQL: how long
scrm/products/stats.py takes to read a period's figures when there are millions of claims.

    .venv/bin/python bench/product_stats.py [--claims 3000000] [--scans 1500000] [--database bench_product_stats]
        [--refill] [--rounds 3] [--drop]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres; the database is created if missing, its
schema dropped and migrated when it does not hold a fill of this size, or with ``--refill``).
The fill is generated inside PostgreSQL (``INSERT … SELECT FROM generate_series``, foreign
keys not checked: consistent by construction), never through the ORM:

- 20 stores of 20 guides each, 40 batches (two per store) of 10,000,000 codes, 1,000,000
  customers of whom 60 % are bound to a guide of a store;
- ``--claims`` claims spread evenly over the 180 local days up to today, inserted day after
  day as they happen (batch ``i % 40``, distinct serials), each credited to a guide of its
  batch's store, one in seven a new follower; one in a thousand by one of 50 collectors;
- ``--scans`` scans without a reward over the same days, day after day, by reason (already yours 30 %,
  claimed by another 20 %, not genuine 15 %, daily limit 15 %, not following 10 %, expired
  5 %, reward unavailable 5 %); a claimed-by-another scan hits one of 2,000 popular codes.

Then, with the clock frozen at today's noon, each measure ``--rounds`` times (the best and
the worst wall time, and the CPU seconds of the database backend and of this process: on a
shared machine the CPU is what the work costs, the wall time what others leave of it): :func:`product_stats` for the last 7, 30 and 90 days (and the as many before),
the last 30 days narrowed to a store, a guide and a batch; the dashboard's :func:`headline`
and a guide's :func:`week_claims`. The sizes of the tables and the plan of the biggest query
are printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.databases import database_url, migrate_afresh  # noqa: E402

TODAY = date(2026, 12, 7)
NOW = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
DAYS = 180
CUSTOMERS = 1_000_000
STORES, GUIDES_PER_STORE, BATCHES = 20, 20, 40


def fill_sql(claims: int, scans: int) -> list[str]:
    first = TODAY - timedelta(days=DAYS - 1)
    guide_of_store = f"((%s - 1) * {GUIDES_PER_STORE} + 1 + (%s %% {GUIDES_PER_STORE}))"
    return [
        f"INSERT INTO stores (id, code, name) SELECT s, 'S' || lpad(s::text, 2, '0'), '门店' || s "
        f"FROM generate_series(1, {STORES}) s",
        f"INSERT INTO guides (id, code, name, store_id, wecom_userid, schedule) SELECT g, 'G' || g, '导购' || g, "
        f"(g - 1) / {GUIDES_PER_STORE} + 1, 'member-g' || g, '{{}}' FROM generate_series(1, {STORES * GUIDES_PER_STORE}) g",
        f"INSERT INTO code_batches (id, prefix, product, sku, quantity, reward_points, store_id, created_at) "
        f"SELECT b, 'ba' || chr(97 + b / 26) || chr(97 + b % 26) || 'x', '产品' || ((b - 1) / 4 + 1), 'SKU-' || b, 10000000, 50, "
        f"(b - 1) % {STORES} + 1, '{NOW.isoformat()}' FROM generate_series(1, {BATCHES}) b",
        f"INSERT INTO customers (id, nickname, phone) SELECT c, '顾客' || c, '139' || lpad(c::text, 8, '0') "
        f"FROM generate_series(1, {CUSTOMERS}) c",
        # 60 % bound to a guide of the store their customer id points at
        f"INSERT INTO guide_bindings (customer_id, guide_id, channel, bound_at) SELECT c, "
        f"{guide_of_store % (f'(c % {STORES}) + 1', 'c')}, 'mp', '{NOW.isoformat()}' "
        f"FROM generate_series(1, {CUSTOMERS}) c WHERE c % 10 < 6",
        # claim i: batch i % 40, serial i / 40 (distinct), a day by i, a customer by a hash of i,
        # one in a thousand by one of 50 collectors
        f"INSERT INTO product_claims (batch_id, serial, customer_id, claimed_at, day, via, new_follower, store_id, "
        f"guide_id, attribution, points, points_pending) "
        f"SELECT b, i / {BATCHES} + 1, cust, (d + time '12:00') AT TIME ZONE 'Asia/Shanghai', d, "
        f"CASE WHEN i % 7 = 0 THEN 'follow' ELSE 'page' END, i % 7 = 0, st, "
        f"{guide_of_store % ('st', 'cust')}, 'bound', 50, false "
        f"FROM (SELECT i, i % {BATCHES} + 1 AS b, (i % {BATCHES}) % {STORES} + 1 AS st, "
        f"date '{first}' + (i::bigint * {DAYS} / {claims})::int AS d, "
        f"CASE WHEN i % 1000 = 0 THEN (i / 1000) % 50 + 1 ELSE (i::bigint * 7919) % {CUSTOMERS} + 1 END AS cust "
        f"FROM generate_series(0, {claims - 1}) i) g",
        f"INSERT INTO product_scans (at, day, result, batch_id, serial, customer_id) "
        f"SELECT (d + time '13:00') AT TIME ZONE 'Asia/Shanghai', d, r, "
        f"CASE WHEN r = 'not_genuine' THEN NULL ELSE i % {BATCHES} + 1 END, "
        f"CASE WHEN r = 'not_genuine' THEN NULL WHEN r = 'claimed_by_other' THEN (i / {BATCHES}) % 50 + 1 "
        f"ELSE i / {BATCHES} + 1 END, (i::bigint * 104729) % {CUSTOMERS} + 1 "
        f"FROM (SELECT i, date '{first}' + (i::bigint * {DAYS} / {scans})::int AS d, (ARRAY['already_yours','already_yours','already_yours',"
        f"'claimed_by_other','claimed_by_other','not_genuine','daily_limit','not_following','expired',"
        f"'reward_unavailable'])[1 + (i / 7) % 10] AS r FROM generate_series(0, {scans - 1}) i) g",
    ]


def prepare(database: str, claims: int, scans: int, refill: bool) -> str:
    import psycopg
    from sqlalchemy import create_engine, text

    url = database_url(database)
    engine = create_engine(url)
    with engine.connect() as conn:
        filled = conn.execute(text("SELECT to_regclass('bench_fill') IS NOT NULL")).scalar_one() and \
            conn.execute(text("SELECT claims = :c AND scans = :s FROM bench_fill"), {"c": claims, "s": scans}).scalar_one()
    engine.dispose()
    if filled and not refill:
        print(f"reusing the fill of {claims:,} claims and {scans:,} scans")
        return url
    migrate_afresh(url)
    started = time.perf_counter()
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")  # no FK triggers: consistent by construction
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '512MB'")
        for statement in fill_sql(claims, scans):  # no parameters: psycopg leaves the SQL's % alone
            conn.execute(statement)
            print(f"  {statement.split('(')[0].strip()[:40]:<40} {time.perf_counter() - started:6.0f} s", flush=True)
        for table in ("stores", "guides", "code_batches", "customers", "guide_bindings", "product_claims",
                      "product_scans"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.execute("CREATE TABLE bench_fill (claims bigint, scans bigint)")
        conn.execute("INSERT INTO bench_fill VALUES (%s, %s)", (claims, scans))
        conn.execute("VACUUM ANALYZE")
    print(f"filled in {time.perf_counter() - started:.0f} s")
    return url


def describe(url: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        for table in ("product_claims", "product_scans", "customers", "guide_bindings"):
            rows, size = conn.execute(
                f"SELECT count(*), pg_size_pretty(pg_total_relation_size('{table}')) FROM {table}").fetchone()
            print(f"  {table:<16} {rows:>12,} rows  {size:>10} with indexes")


def measure(url: str, rounds: int) -> None:
    from sqlalchemy import select, text

    from scrm.clock import FrozenClock
    from scrm.config import load_config
    from scrm.products import stats
    from scrm.products.models import CodeBatch
    from scrm.runtime import Runtime, install
    import scrm.models  # noqa: F401 - every model mapped, as in the app

    runtime = install(Runtime(load_config(environ={}, overrides={
        "database.url": url, "redis.url": "memory://bench-product-stats", "brand.timezone": "Asia/Shanghai"})))
    runtime.clock = FrozenClock(NOW)

    cpu = {"db": 0.0}

    def in_transaction(work):  # noqa: ANN001, ANN202
        """``work(db_session)``, adding the CPU seconds its PostgreSQL backend spent to cpu["db"]
        (read from /proc: the database runs on this machine)."""
        with runtime.transaction() as db_session:
            pid = db_session.scalar(text("SELECT pg_backend_pid()"))
            before = _backend_cpu(pid)
            result = work(db_session)
            cpu["db"] += _backend_cpu(pid) - before
            return result

    def figures(days: int, **scope):  # noqa: ANN003, ANN202
        return in_transaction(lambda db_session: stats.product_stats(
            db_session=db_session, config=runtime.config, first_day=TODAY - timedelta(days=days - 1), last_day=TODAY,
            **scope))

    def headline():  # noqa: ANN202
        return in_transaction(lambda db_session: stats.headline(db_session=db_session, today=TODAY))

    def guide_week():  # noqa: ANN202
        return in_transaction(lambda db_session: stats.week_claims(db_session=db_session, today=TODAY, guide_id=7))

    with runtime.transaction() as db_session:
        batch = db_session.scalar(select(CodeBatch.id).order_by(CodeBatch.id))
    measures = {
        "product_stats, 7 days": lambda: figures(7),
        "product_stats, 30 days": lambda: figures(30),
        "product_stats, 90 days": lambda: figures(90),
        "product_stats, 30 days, one store": lambda: figures(30, store_id=3),
        "product_stats, 30 days, one guide": lambda: figures(30, guide_id=7),
        "product_stats, 30 days, one batch": lambda: figures(30, batch_id=batch),
        "dashboard headline": headline,
        "guide's week_claims": guide_week,
    }
    found = figures(30)
    print(f"30 days: {found.totals.claims:,} claims by {found.totals.customers:,} customers "
          f"(before: {found.before.claims:,}), {sum(found.totals.scans.by_reason().values()):,} scans; "
          f"suspicious: {len(found.suspicious.many_claims)} customers, {len(found.suspicious.shared_codes)} codes, "
          f"{len(found.suspicious.limit_days)} at the limit, {len(found.suspicious.not_genuine)} not genuine")
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores "
          "(other work on the machine slows every figure below)")
    print(f"{'measure':<38} {'best':>8} {'worst':>8} {'db CPU':>8} {'app CPU':>8}  (CPU: the mean of the rounds)")
    for name, work in measures.items():
        times, cpu["db"], app = [], 0.0, time.process_time()
        for _ in range(rounds):
            started = time.perf_counter()
            work()
            times.append(time.perf_counter() - started)
        app = (time.process_time() - app) / rounds
        print(f"{name:<38} {min(times):7.2f}s {max(times):7.2f}s {cpu['db'] / rounds:7.2f}s {app:7.2f}s", flush=True)
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    runtime.close()


def _backend_cpu(pid: int) -> float:
    """User + system CPU seconds of a local process (PostgreSQL's backend for a connection)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--claims", type=int, default=3_000_000)
    parser.add_argument("--scans", type=int, default=1_500_000)
    parser.add_argument("--database", default="bench_product_stats")
    parser.add_argument("--refill", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--drop", action="store_true", help="drop the schema at the end")
    args = parser.parse_args()
    url = prepare(args.database, args.claims, args.scans, args.refill)
    describe(url)
    measure(url, args.rounds)
    if args.drop:
        import psycopg

        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
    return 0


if __name__ == "__main__":
    sys.exit(main())
