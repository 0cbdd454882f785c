"""Membership at scale (issue 18, SPEC §13), on PostgreSQL: 1,000,000 members and ~20,000,000
points-ledger entries; each measure of the product is printed beside hand-written SQL doing
the same work on the same data (the anchor), with the ratio product / anchor.

    .venv/bin/python bench/members.py [--members 1000000] [--database bench_members] [--refill]
        [--reads 2000] [--writes 4000] [--writers 8] [--only expiry,review,reads,writers] [--drop]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres; the database is created if missing, its
schema dropped and migrated when it does not hold a fill of this size, or with ``--refill``).
The fill is generated inside PostgreSQL, ``INSERT … SELECT FROM generate_series`` in batches
of members (secondary indexes dropped first, built after; foreign keys not checked: the data
is consistent by construction), never through the ORM. Member ``c`` (customer id ``c``):

- **lots**: 11-23 (17 on average) over the past year, oldest first, ~3/8 from orders (frozen
  7 days; points by a spend class: 45 % small, 35 % medium, 17 % big, 3 % whales) and the
  rest check-ins (5 points, 25 on a streak day); each with its growth entry (orders: as
  many as the points, check-ins: 1), and 30 % of the members with an older order (400-700
  days ago) whose growth counts for ``lifetime`` but not ``rolling_12_months``;
- **spends**: 40 % of the members spend 60 % of every two lots they earn, just after (points
  mall or order points), oldest lots first: allocations record what each took, the lots'
  ``remaining`` is what is left; the others never spend (most loyalty points are never used);
- **tonight's expiry**: the oldest lot of 60 % of the members and the second of 20 % expire
  at tonight's local midnight (~5 % of the lots); for spenders those are mostly spent already;
- **levels** by lifetime growth (普通/银卡/金卡/钻石 spread by the spend classes); every
  ``balance_after`` and ``points_balance`` right (``scrm members audit`` finds nothing).

A filled database is reused (what a run changed is undone first: the entries written after
the fill deleted, lots and members restored). Then, with the clock frozen at 00:10 local:

1. **nightly expiry**: :func:`scrm.members.expiry.expire_due` (batches of 20,000 lots) against
   one statement of data-modifying CTEs doing the same (expire entries with a chained
   ``balance_after``, allocations, lots to 0, balances down); undone and VACUUMed between;
2. **level run**: :func:`scrm.members.level_jobs.review_levels` (when the branch has it) on a
   first night (every member gets the level tag), a quiet night, and the review day
   (``rolling_12_months``: old growth stops counting, members drop), the last against one
   UPDATE of the members whose level the year's growth says differs; expiry + review day
   against the target of 60 s;
3. **balance read**: :func:`scrm.members.ledger.balance` for ``--reads`` random members
   (p50/p99, each in its own transaction) against the same SELECTs by hand on psycopg;
4. **order writers**: ``--writers`` threads posting order lots through
   :func:`scrm.members.ledger.earn` (each in its own transaction; on distinct members, then
   all on the same 8 members) against a hand-written transaction doing the same writes
   (lock and raise the balance with ``UPDATE … RETURNING``, insert the entry): entries/s.

``--drop`` empties the database at the end (its schema dropped).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.members_fill import NOW, ZONE, check_fill, describe, prepare, undo  # noqa: E402

TARGET_SECONDS = 60.0  # expiry + level review, issue 18
EXPIRY_TARGET_SECONDS = 30.0
SHARED_MEMBERS = 8


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def ratio(product: float, anchor: float) -> str:
    return f"{product / anchor:.2f}×" if anchor else "—"



# -- the measures -------------------------------------------------------------------------------

ANCHOR_EXPIRY = """
WITH due AS MATERIALIZED (
  SELECT l.id, l.customer_id, l.remaining FROM point_entries l
  WHERE l.remaining > 0 AND l.expires_at <= %(now)s),
locked AS MATERIALIZED (
  SELECT m.customer_id, m.points_balance FROM members m
  WHERE m.customer_id IN (SELECT customer_id FROM due) ORDER BY m.customer_id FOR UPDATE),
numbered AS MATERIALIZED (
  SELECT nextval(pg_get_serial_sequence('point_entries', 'id')) AS entry_id, o.* FROM (
    SELECT d.id AS lot_id, d.customer_id, d.remaining,
           k.points_balance - sum(d.remaining) OVER (PARTITION BY d.customer_id ORDER BY d.id) AS balance_after
    FROM due d JOIN locked k ON k.customer_id = d.customer_id ORDER BY d.customer_id, d.id) o),
entries AS (
  INSERT INTO point_entries (id, customer_id, amount, kind, source, source_id, idempotency_key, balance_after,
                             remaining, created_at)
  SELECT entry_id, customer_id, -remaining, 'expire', 'expire', lot_id::text, 'expire:' || lot_id, balance_after,
         0, %(now)s FROM numbered),
allocations AS (
  INSERT INTO point_allocations (entry_id, lot_id, amount) SELECT entry_id, lot_id, remaining FROM numbered),
lots AS (
  UPDATE point_entries l SET remaining = 0 FROM due WHERE l.id = due.id),
balances AS (
  UPDATE members m SET points_balance = m.points_balance - t.total, updated_at = %(now)s
  FROM (SELECT customer_id, sum(remaining) AS total FROM due GROUP BY customer_id) t
  WHERE m.customer_id = t.customer_id)
SELECT count(*) FROM numbered
"""

ANCHOR_REVIEW = """
UPDATE members m SET level_id = t.level_id, level_changed_at = %(now)s, updated_at = %(now)s
FROM (
  SELECT g.customer_id, (SELECT id FROM member_levels WHERE threshold <= g.growth
                         ORDER BY threshold DESC LIMIT 1) AS level_id
  FROM (SELECT m.customer_id, coalesce(sum(e.amount), 0) AS growth FROM members m
        LEFT JOIN growth_entries e ON e.customer_id = m.customer_id AND e.created_at > %(year_ago)s
        GROUP BY m.customer_id) g) t
WHERE m.customer_id = t.customer_id AND m.level_id <> t.level_id
"""

ANCHOR_BALANCE = """
SELECT coalesce(sum(CASE WHEN available_at <= %(at)s AND (expires_at IS NULL OR expires_at > %(at)s)
                         THEN remaining ELSE 0 END), 0),
       coalesce(sum(CASE WHEN available_at > %(at)s AND (expires_at IS NULL OR expires_at > %(at)s)
                         THEN remaining ELSE 0 END), 0),
       coalesce(sum(CASE WHEN available_at <= %(at)s AND expires_at > %(at)s AND expires_at <= %(soon)s
                         THEN remaining ELSE 0 END), 0),
       min(CASE WHEN available_at <= %(at)s AND expires_at > %(at)s AND expires_at <= %(soon)s THEN expires_at END)
FROM point_entries WHERE customer_id = %(c)s AND remaining > 0
"""


def make_runtime(url: str, **overrides):  # noqa: ANN003, ANN201
    from scrm.clock import FrozenClock
    from scrm.config import load_config
    from scrm.runtime import Runtime, install
    import scrm.models  # noqa: F401 - every model mapped, as in the app: the ORM resolves members' foreign keys

    settings = {"database.url": url, "redis.url": "memory://bench-members", "database.pool_size": 12,
                "brand.timezone": "Asia/Shanghai", **overrides}
    runtime = install(Runtime(load_config(environ={}, overrides=settings)))
    runtime.clock = FrozenClock(NOW)
    return runtime


def pg(url: str):  # noqa: ANN201
    import psycopg

    return psycopg.connect(url.replace("+psycopg", ""), autocommit=True)


def timed(work) -> tuple[float, object]:  # noqa: ANN001
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def measure_expiry(url: str) -> tuple[float, float]:
    from scrm.members import expiry, ledger

    runtime = make_runtime(url)
    print(f"\n1. nightly expiry at {NOW.astimezone(ZONE):%Y-%m-%d %H:%M} local, batches of {expiry.BATCH:,} lots",
          flush=True)
    seconds, expired = timed(lambda: expiry.expire_due.__wrapped__(runtime))
    print(f"   expire_due        {expired:>9,} lots in {seconds:6.1f} s  ({expired / seconds:,.0f} lots/s)", flush=True)
    audit_seconds, findings = timed(lambda: _audit(runtime, ledger))
    print(f"   then scrm members audit's query: {len(findings)} members unbalanced, {audit_seconds:.1f} s", flush=True)
    runtime.close()
    undo(url)
    with pg(url) as conn:
        anchor_seconds, (anchor_expired,) = timed(lambda: conn.execute(ANCHOR_EXPIRY, {"now": NOW}).fetchone())
    print(f"   hand SQL (1 stmt) {anchor_expired:>9,} lots in {anchor_seconds:6.1f} s  "
          f"({anchor_expired / anchor_seconds:,.0f} lots/s)")
    print(f"   ratio {ratio(seconds, anchor_seconds)}   target < {EXPIRY_TARGET_SECONDS:.0f} s: "
          f"{'met' if seconds < EXPIRY_TARGET_SECONDS else 'MISSED'}", flush=True)
    undo(url)
    return seconds, anchor_seconds


def _audit(runtime, ledger) -> list:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return ledger.audit(db_session=db_session)


def measure_review(url: str) -> tuple[float | None, float]:
    """The level run (scrm.members.level_jobs.review_levels): a night (the first gives every
    member the level tag), the next (nothing changes), then the review day (rolling_12_months,
    review_month = this month: the growth older than a year before the 1st stops counting,
    members drop), against one hand-written UPDATE of the members whose level the growth of
    that year says differs (no tags)."""
    try:
        from scrm.members.level_jobs import review_levels
    except ImportError:
        review_levels = None
    local = NOW.astimezone(ZONE)
    review_at = datetime(local.year, local.month, 1, tzinfo=ZONE).astimezone(UTC)
    print(f"\n2. level run and review (scrm.members.level_jobs.review_levels, batches of 10,000 members)",
          flush=True)
    seconds = None
    if review_levels is None:
        print("   scrm.members.level_jobs.review_levels: not on this branch yet")
    else:
        from scrm.clock import FrozenClock

        on_review_day = review_at + timedelta(hours=2, minutes=15)  # when the scheduler runs it, local
        runs = (("a night (lifetime)", {}, NOW), ("the next night (lifetime)", {}, NOW),
                (f"review day {review_at.astimezone(ZONE):%Y-%m-%d} (rolling)",
                 {"members.level_basis": "rolling_12_months", "members.review_month": local.month}, on_review_day))
        for name, overrides, moment in runs:
            runtime = make_runtime(url, **overrides)
            runtime.clock = FrozenClock(moment)
            seconds, counts = timed(lambda runtime=runtime: review_levels(runtime))
            shown = {k: v for k, v in counts.items() if k in ("members", "raised", "dropped", "tags_added",
                                                               "tags_removed")}
            print(f"   {name:<34} {seconds:6.1f} s  {shown}", flush=True)
            runtime.close()
        undo(url)
    with pg(url) as conn:
        anchor_seconds, changed = timed(lambda: conn.execute(
            ANCHOR_REVIEW, {"now": NOW, "year_ago": review_at - timedelta(days=365)}).rowcount)
    print(f"   hand SQL, review day (1 stmt)      {anchor_seconds:6.1f} s  {changed:,} members changed level")
    if seconds is not None:
        print(f"   ratio (review day) {ratio(seconds, anchor_seconds)}")
    undo(url)
    return seconds, anchor_seconds


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure_reads(url: str, reads: int, members: int) -> None:
    from scrm.members import ledger

    runtime = make_runtime(url)
    rng = random.Random(18)
    ours, theirs = rng.sample(range(1, members + 1), reads), rng.sample(range(1, members + 1), reads)
    soon = NOW + timedelta(days=30)

    def product(customer_id: int) -> float:
        started = time.perf_counter()
        with runtime.transaction() as db_session:
            ledger.balance(db_session=db_session, customer_id=customer_id, at=NOW, expiring_days=30)
        return time.perf_counter() - started

    with pg(url) as conn:
        def anchor(customer_id: int) -> float:
            started = time.perf_counter()
            with conn.transaction():
                conn.execute(ANCHOR_BALANCE, {"at": NOW, "soon": soon, "c": customer_id}).fetchone()
                conn.execute("SELECT points_balance FROM members WHERE customer_id = %s", (customer_id,)).fetchone()
            return time.perf_counter() - started

        for customer_id in rng.sample(range(1, members + 1), 100):  # connections and plans warm
            product(customer_id)
            anchor(customer_id)
        product_times = [product(c) for c in ours]
        anchor_times = [anchor(c) for c in theirs]
    runtime.close()
    print(f"\n3. balance read (ledger.balance, its own transaction each), {reads:,} random members each side")
    for name, times in (("ledger.balance", product_times), ("hand SQL", anchor_times)):
        print(f"   {name:<17} p50 {percentile(times, 0.5) * 1000:6.2f} ms  p99 {percentile(times, 0.99) * 1000:6.2f} ms")
    print(f"   ratio p50 {ratio(percentile(product_times, 0.5), percentile(anchor_times, 0.5))}  "
          f"p99 {ratio(percentile(product_times, 0.99), percentile(anchor_times, 0.99))}", flush=True)


def measure_writers(url: str, writers: int, writes: int, members: int) -> None:
    from scrm.members import ledger

    runtime = make_runtime(url, **{"database.pool_size": writers + 2})
    rng = random.Random(8)
    pool = rng.sample(range(1, members + 1), writes)
    shared = pool[:SHARED_MEMBERS]
    expires = NOW + timedelta(days=366)
    print(f"\n4. order writers: {writers} threads, {writes:,} order lots a run, each in its own transaction")

    def run(post, targets) -> float:  # noqa: ANN001
        per = writes // writers
        barrier = threading.Barrier(writers + 1)

        failed: list[BaseException] = []

        def writer(t: int) -> None:
            barrier.wait()
            try:
                for i in range(per):
                    post(t, i, targets(t, i))
            except BaseException as exc:  # a writer that failed makes the figure a lie
                failed.append(exc)

        threads = [threading.Thread(target=writer, args=(t,)) for t in range(writers)]
        for thread in threads:
            thread.start()
        barrier.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join()
        if failed:
            raise failed[0]
        return per * writers / (time.perf_counter() - started)

    def product(tag: str):  # noqa: ANN202
        def post(t: int, i: int, customer_id: int) -> None:
            with runtime.transaction() as db_session:
                ledger.earn(db_session=db_session, config=runtime.config, customer_id=customer_id, amount=100,
                            kind="order", source="order", source_id=f"W{tag}{t}-{i}", key=f"order:W{tag}{t}-{i}",
                            at=NOW, available_at=NOW + timedelta(days=7), expires_at=expires)
        return post

    def anchor(tag: str):  # noqa: ANN202
        connections = [pg(url) for _ in range(writers)]

        def post(t: int, i: int, customer_id: int) -> None:
            conn = connections[t]
            with conn.transaction():
                (after,) = conn.execute("UPDATE members SET points_balance = points_balance + 100, updated_at = %s "
                                        "WHERE customer_id = %s RETURNING points_balance", (NOW, customer_id)).fetchone()
                conn.execute("INSERT INTO point_entries (customer_id, amount, kind, source, source_id, idempotency_key, "
                             "balance_after, available_at, expires_at, remaining, created_at) "
                             "VALUES (%s, 100, 'order', 'order', %s, %s, %s, %s, %s, 100, %s)",
                             (customer_id, f"A{tag}{t}-{i}", f"order:A{tag}{t}-{i}", after, NOW + timedelta(days=7),
                              expires, NOW))
        post.connections = connections
        return post

    per = writes // writers
    shapes = (("distinct members", lambda t, i: pool[t * per + i]),
              (f"{SHARED_MEMBERS} shared members", lambda t, i: shared[(t + i) % SHARED_MEMBERS]))
    for name, targets in shapes:
        tag = "d" if name.startswith("distinct") else "s"
        hand = anchor(tag)
        ours = run(product(tag), targets)
        theirs = run(hand, targets)
        for conn in hand.connections:
            conn.close()
        print(f"   {name:<18} ledger.earn {ours:7,.0f} entries/s   hand SQL {theirs:7,.0f} entries/s   "
              f"ratio {ratio(theirs, ours)} (hand / ours)", flush=True)
    runtime.close()
    undo(url)


def measure(url: str, args: argparse.Namespace) -> int:
    with pg(url) as conn:
        settings = ", ".join(f"{name} {conn.execute(f'SHOW {name}').fetchone()[0]}" for name in (
            "shared_buffers", "work_mem", "synchronous_commit", "max_wal_size"))
        version = conn.execute("SHOW server_version").fetchone()[0]
    print(f"PostgreSQL {version}: {settings}; {load()}")
    only = set(args.only.split(","))
    expiry_seconds = expiry_anchor = review_seconds = review_anchor = None
    if "expiry" in only:
        expiry_seconds, expiry_anchor = measure_expiry(url)
    if "review" in only:
        review_seconds, review_anchor = measure_review(url)
    if expiry_seconds is not None and review_seconds is not None:
        total = expiry_seconds + review_seconds
        print(f"\nexpiry + review {total:.1f} s (hand SQL {expiry_anchor + review_anchor:.1f} s)   "
              f"target < {TARGET_SECONDS:.0f} s: {'met' if total < TARGET_SECONDS else 'MISSED'}")
    if "reads" in only:
        measure_reads(url, args.reads, args.members)
    if "writers" in only:
        measure_writers(url, args.writers, args.writes, args.members)
    print(f"\n{load()}")
    if args.drop:
        with pg(url) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
        print("bench database emptied (schema dropped)")
    return 0



def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--database", default="bench_members")
    parser.add_argument("--refill", action="store_true")
    parser.add_argument("--check", action="store_true", help="check the fill's invariants (slow)")
    parser.add_argument("--fill-only", action="store_true")
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--writes", type=int, default=4000, help="entries posted per writers' run")
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--only", default="expiry,review,reads,writers",
                        help="the measures to run, of expiry,review,reads,writers")
    parser.add_argument("--drop", action="store_true", help="drop the schema at the end")
    args = parser.parse_args()
    print(load())
    url = prepare(args.database, args.members, args.refill)
    describe(url)
    if args.check:
        check_fill(url)
    if args.fill_only:
        return 0
    return measure(url, args)


if __name__ == "__main__":
    sys.exit(main())
