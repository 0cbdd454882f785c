"""The fill of bench/members.py: 1,000,000 members and ~20,000,000 ledger entries generated
inside PostgreSQL (``INSERT … SELECT FROM generate_series``, batches of members, secondary
indexes built after, foreign keys not checked: the data is consistent by construction), and
the undo that takes the database back to it after a measure wrote in it. bench/members.py says
what the data looks like."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bench.databases import database_url, migrate_afresh

ZONE = ZoneInfo("Asia/Shanghai")
MIDNIGHT = datetime(2026, 12, 8, 0, 0, tzinfo=ZONE).astimezone(UTC)  # tonight's lots expire at it
NOW = MIDNIGHT + timedelta(minutes=10)  # when the scheduler runs the expiry (scrm/scheduler.py)
FILL_BATCH = 100_000  # members a fill statement
SLOT = 1 << 20  # entry id = position in the member's history × SLOT + customer id
TABLES = ("customers", "members", "point_entries", "point_allocations", "growth_entries")


def prepare(database: str, members: int, refill: bool) -> str:
    """The database's URL, holding a fill of ``members`` members (made when it does not)."""
    from sqlalchemy import create_engine, text

    url = database_url(database)
    engine = create_engine(url)
    with engine.connect() as conn:
        filled = conn.execute(text("SELECT to_regclass('bench_fill') IS NOT NULL")).scalar_one() and \
            conn.execute(text("SELECT members FROM bench_fill")).scalar_one() == members
    engine.dispose()
    if filled and not refill:
        print(f"reusing the fill of {members:,} members")
        undo(url)
        return url
    migrate_afresh(url)
    fill(url, members)
    return url


def fill(url: str, members: int) -> None:
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
        conn.execute("SET session_replication_role = replica")  # no FK triggers: consistent by construction
        conn.execute("SET work_mem = '256MB'")
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET synchronous_commit = off")
        # Secondary indexes and unique constraints are built after the fill, as they were.
        indexes = conn.execute(
            "SELECT t.relname, i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid), c.conname, "
            "pg_get_constraintdef(c.oid) FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
            "LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.contype = 'u' "
            "WHERE t.relname = ANY(%s) AND NOT i.indisprimary", (list(TABLES),)).fetchall()
        for table, name, _, constraint, _ in indexes:
            conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{constraint}"' if constraint else f'DROP INDEX "{name}"')
        conn.execute(LEVELS_SQL)
        print(f"filling {members:,} members, their lots, spends and growth, {FILL_BATCH:,} members a batch …",
              flush=True)
        for low in range(1, members + 1, FILL_BATCH):
            high = min(low + FILL_BATCH - 1, members)
            for statement in batch_sql():
                conn.execute(statement.replace(" % ", " %% "), {"lo": low, "hi": high, "now": NOW, "midnight": MIDNIGHT, "slot": SLOT})
            print(f"  members up to {high:,} ({time.perf_counter() - started:.0f} s)", flush=True)
        print(f"  building {len(indexes)} indexes …", flush=True)
        for table, _, definition, constraint, constraint_definition in indexes:
            conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{constraint}" {constraint_definition}'
                         if constraint else definition)
        for table in ("customers", "point_entries", "point_allocations", "growth_entries"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.execute("CREATE TABLE bench_fill AS SELECT %s::int AS members, max(id) AS last_entry_id "
                     "FROM point_entries", (members,))
        conn.execute("CREATE TABLE bench_member_state AS SELECT customer_id, points_balance, level_id, growth, "
                     "level_changed_at FROM members")
        conn.execute("ALTER TABLE bench_member_state ADD PRIMARY KEY (customer_id)")
        conn.execute("VACUUM ANALYZE")
    print(f"filled in {time.perf_counter() - started:.0f} s")


LEVELS_SQL = """
INSERT INTO member_levels (name, rank, threshold, discount, points_multiplier, benefits, created_at, updated_at)
VALUES ('普通', 0, 0, 1.00, 1.00, '[]', now(), now()), ('银卡', 1, 1000, 0.90, 1.20, '["生日礼券"]', now(), now()),
       ('金卡', 2, 5000, 0.85, 1.50, '["生日礼券", "专属客服"]', now(), now()),
       ('钻石', 3, 20000, 0.80, 2.00, '["生日礼券", "专属客服", "新品优先购"]', now(), now())
"""


def batch_sql() -> list[str]:
    """The statements that fill members %(lo)s..%(hi)s (the staging tables are dropped after)."""
    h = "abs(hashint8({}))"  # a stable pseudo-random non-negative number of an expression
    return [
        "DROP TABLE IF EXISTS b_lots, b_spends",
        # The members' draws: how many lots, their spend class, spender or not, what expires tonight.
        f"""CREATE TEMP TABLE b_lots AS
        WITH m AS (
          SELECT c, 11 + {h.format('c')} % 13 AS n, {h.format('c + 7777777')} % 5 < 2 AS spender,
                 {h.format('c + 3333333')} % 10 AS e, {h.format('c + 5555555')} % 100 AS class,
                 CASE WHEN {h.format('c + 2222222')} % 10 < 3 THEN 100 + {h.format('c + 9999999')} % 3000
                      ELSE 0 END AS old
          FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS c),
        l AS (
          SELECT m.*, i, {h.format('m.c * 64 + i')} % 8 < 3 AS is_order,
                 %(midnight)s::timestamptz - interval '365 days'
                   + ((i - 1) * 360.0 / m.n) * interval '1 day'
                   + ({h.format('m.c * 64 + i + 1')} % 600) * interval '1 minute' AS created,
                 {h.format('m.c * 64 + i + 2')} AS r
          FROM m, generate_series(1, m.n) AS i)
        SELECT c, i, n, spender, is_order, created, old,
               CASE WHEN NOT is_order THEN CASE WHEN r % 7 = 0 THEN 25 ELSE 5 END
                    WHEN class < 45 THEN 10 + r % 140 WHEN class < 80 THEN 50 + r % 550
                    WHEN class < 97 THEN 200 + r % 1800 ELSE 1000 + r % 7000 END AS amount,
               (i = 1 AND e < 6) OR (i = 2 AND e < 2) AS expiring,
               CASE WHEN spender THEN i + (i - 1) / 2 ELSE i END AS pos
        FROM l""",
        "ALTER TABLE b_lots ADD COLUMN cum bigint",
        "UPDATE b_lots SET cum = w.cum FROM (SELECT c, i, sum(amount) OVER (PARTITION BY c ORDER BY i) AS cum "
        "FROM b_lots) w WHERE w.c = b_lots.c AND w.i = b_lots.i",
        # Spend j takes 60 %% of lots 2j-1 and 2j, 8 days after lot 2j (no longer frozen), oldest first.
        """CREATE TEMP TABLE b_spends AS
        SELECT a.c, a.i / 2 + 1 AS j, (a.amount + b.amount) * 6 / 10 AS amount, b.created + interval '8 days' AS at,
               3 * (a.i / 2 + 1) AS pos, b.cum AS earned
        FROM b_lots a JOIN b_lots b ON b.c = a.c AND b.i = a.i + 1
        WHERE a.spender AND a.i % 2 = 1""",
        "ALTER TABLE b_spends ADD COLUMN total bigint",  # spent up to and including this spend
        "UPDATE b_spends SET total = w.total FROM (SELECT c, j, sum(amount) OVER (PARTITION BY c ORDER BY j) AS total "
        "FROM b_spends) w WHERE w.c = b_spends.c AND w.j = b_spends.j",
        "CREATE INDEX ON b_spends (c, j)",
        "ANALYZE b_lots",
        "ANALYZE b_spends",
        """INSERT INTO customers (id, phone, created_at, updated_at)
        SELECT c, '139' || lpad(c::text, 8, '0'), %(midnight)s::timestamptz - interval '800 days',
               %(midnight)s::timestamptz - interval '1 day'
        FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS c""",
        # Lots: what is left after all the member's spends (FIFO), and the balance after each.
        """INSERT INTO point_entries (id, customer_id, amount, kind, source, source_id, idempotency_key, balance_after,
                                      available_at, expires_at, remaining, created_at)
        SELECT l.pos * %(slot)s + l.c, l.c, l.amount, CASE WHEN l.is_order THEN 'order' ELSE 'checkin' END,
               CASE WHEN l.is_order THEN 'order' ELSE 'checkin' END,
               CASE WHEN l.is_order THEN 'B' || l.c || '-' || l.i ELSE to_char(l.created, 'YYYY-MM-DD') END,
               CASE WHEN l.is_order THEN 'order:B' || l.c || '-' || l.i
                    ELSE 'checkin:' || l.c || ':' || to_char(l.created, 'YYYY-MM-DD') || ':' || l.i END,
               l.cum - coalesce(s.total, 0),
               l.created + CASE WHEN l.is_order THEN interval '7 days' ELSE interval '0' END,
               CASE WHEN l.expiring THEN %(midnight)s::timestamptz ELSE l.created + interval '366 days' END,
               greatest(0, least(l.amount, l.cum - coalesce(t.total, 0))), l.created
        FROM b_lots l
        LEFT JOIN b_spends s ON s.c = l.c AND s.j = (l.i - 1) / 2
        LEFT JOIN (SELECT c, max(total) AS total FROM b_spends GROUP BY c) t ON t.c = l.c
        ORDER BY l.pos, l.c""",
        """INSERT INTO point_entries (id, customer_id, amount, kind, source, source_id, idempotency_key, balance_after,
                                      remaining, created_at)
        SELECT s.pos * %(slot)s + s.c, s.c, -s.amount, CASE WHEN s.j % 3 = 0 THEN 'order_spend' ELSE 'exchange' END,
               CASE WHEN s.j % 3 = 0 THEN 'order' ELSE 'exchange' END, 'S' || s.c || '-' || s.j,
               'spend:' || s.c || ':' || s.j, s.earned - s.total, 0, s.at
        FROM b_spends s ORDER BY s.pos, s.c""",
        # What each spend took of each lot: the overlap of their stretches of the member's points.
        """INSERT INTO point_allocations (entry_id, lot_id, amount)
        SELECT s.pos * %(slot)s + s.c, l.pos * %(slot)s + l.c,
               least(l.cum, s.total) - greatest(l.cum - l.amount, s.total - s.amount)
        FROM b_spends s JOIN b_lots l ON l.c = s.c AND l.cum - l.amount < s.total AND l.cum > s.total - s.amount""",
        """INSERT INTO growth_entries (customer_id, amount, kind, source_id, idempotency_key, created_at)
        SELECT c, CASE WHEN is_order THEN amount ELSE 1 END, CASE WHEN is_order THEN 'order' ELSE 'checkin' END,
               CASE WHEN is_order THEN 'B' || c || '-' || i END, 'growth:' || c || ':' || i, created
        FROM b_lots ORDER BY created""",
        f"""INSERT INTO growth_entries (customer_id, amount, kind, source_id, idempotency_key, created_at)
        SELECT c, max(old), 'order', 'B' || c || '-old', 'growth:' || c || ':old',
               %(midnight)s::timestamptz - interval '400 days' - ({h.format('c + 1111111')} % 300) * interval '1 day'
        FROM b_lots WHERE old > 0 GROUP BY c""",
        """INSERT INTO members (customer_id, member_no, phone, level_id, growth, points_balance, joined_via, joined_at,
                                level_changed_at, updated_at)
        SELECT g.c, lpad(g.c::text, 12, '0'), '139' || lpad(g.c::text, 8, '0'),
               (SELECT id FROM member_levels WHERE threshold <= g.growth ORDER BY threshold DESC LIMIT 1),
               g.growth, p.balance, 'page', %(midnight)s::timestamptz - interval '700 days',
               %(midnight)s::timestamptz - interval '30 days', %(midnight)s::timestamptz - interval '1 day'
        FROM (SELECT c, sum(CASE WHEN is_order THEN amount ELSE 1 END) + max(old) AS growth FROM b_lots
              GROUP BY c) g
        JOIN (SELECT l.c, sum(l.amount) - coalesce(max(t.total), 0) AS balance FROM b_lots l
              LEFT JOIN (SELECT c, max(total) AS total FROM b_spends GROUP BY c) t ON t.c = l.c GROUP BY l.c) p
          ON p.c = g.c""",
        "DROP TABLE b_lots, b_spends",
    ]


def undo(url: str) -> None:
    """Back to the fill: the entries written after it deleted (their allocations with them), the
    lots they took from given back, the members' points and levels as filled."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        last = conn.execute("SELECT last_entry_id FROM bench_fill").fetchone()[0]
        with conn.transaction():
            conn.execute("UPDATE point_entries l SET remaining = l.remaining + a.taken FROM ("
                         "SELECT a.lot_id, sum(a.amount) AS taken FROM point_allocations a "
                         "WHERE a.entry_id > %s GROUP BY a.lot_id) a WHERE l.id = a.lot_id", (last,))
            deleted = conn.execute("DELETE FROM point_entries WHERE id > %s", (last,)).rowcount
            conn.execute("UPDATE members m SET points_balance = s.points_balance, level_id = s.level_id, "
                         "growth = s.growth, level_changed_at = s.level_changed_at FROM bench_member_state s "
                         "WHERE s.customer_id = m.customer_id AND (m.points_balance, m.level_id, m.growth) "
                         "IS DISTINCT FROM (s.points_balance, s.level_id, s.growth)")
        if deleted:
            conn.execute("VACUUM ANALYZE point_entries, point_allocations, members")
    if deleted:
        print(f"  (undone: {deleted:,} entries written after the fill, in {time.perf_counter() - started:.0f} s)")


def describe(url: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        row = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE amount > 0), count(*) FILTER (WHERE amount < 0), "
            "count(*) FILTER (WHERE amount > 0 AND expires_at <= %s), "
            "count(*) FILTER (WHERE remaining > 0 AND expires_at <= %s), "
            "count(DISTINCT customer_id) FILTER (WHERE remaining > 0 AND expires_at <= %s) FROM point_entries",
            (NOW, NOW, NOW)).fetchone()
        allocations = conn.execute("SELECT count(*) FROM point_allocations").fetchone()[0]
        growth = conn.execute("SELECT count(*) FROM growth_entries").fetchone()[0]
        levels = conn.execute("SELECT l.name, count(*) FROM members m JOIN member_levels l ON l.id = m.level_id "
                              "GROUP BY l.name, l.rank ORDER BY l.rank").fetchall()
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
    entries, lots, spends, expiring, due, due_members = row
    print(f"point_entries {entries:,} ({lots:,} lots, {spends:,} spends), allocations {allocations:,}, "
          f"growth entries {growth:,}; database {size}")
    print(f"lots expiring tonight {expiring:,} ({expiring / lots:.1%} of the lots), {due:,} of them still holding "
          f"points, of {due_members:,} members")
    print("members by level: " + ", ".join(f"{name} {count:,}" for name, count in levels))


def check_fill(url: str) -> None:
    """The fill obeys the ledger's invariants (what ``scrm members audit`` checks, and more)."""
    import psycopg

    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        unbalanced = conn.execute(
            "SELECT count(*) FROM members m JOIN (SELECT customer_id, sum(amount) AS total, sum(remaining) AS left_ "
            "FROM point_entries GROUP BY customer_id) e ON e.customer_id = m.customer_id "
            "WHERE m.points_balance <> e.total OR m.points_balance <> e.left_").fetchone()[0]
        broken_chain = conn.execute(
            "SELECT count(*) FROM (SELECT balance_after, sum(amount) OVER (PARTITION BY customer_id ORDER BY id) AS run "
            "FROM point_entries WHERE customer_id <= 20000) e WHERE balance_after <> run").fetchone()[0]
        bad_lots = conn.execute(
            "SELECT count(*) FROM point_entries l LEFT JOIN (SELECT lot_id, sum(amount) AS taken FROM point_allocations "
            "GROUP BY lot_id) a ON a.lot_id = l.id WHERE l.amount > 0 AND l.amount - l.remaining <> coalesce(a.taken, 0)"
        ).fetchone()[0]
    print(f"fill checked: {unbalanced} members unbalanced, {broken_chain} balance_after off (first 20,000 members), "
          f"{bad_lots} lots whose allocations differ from what they lost")
    if unbalanced or broken_chain or bad_lots:
        raise SystemExit("the fill is inconsistent")
