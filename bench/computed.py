"""Issue 4 at scale, on PostgreSQL, one run on the same data: an audience expression of three
tags (``&``, ``|``, ``!``) counted in under 1 s, and RFM + lifecycle recomputed for all in
under 60 s, over 1,000,000 customers, ~5,000,000 customer-tag rows and ~3,000,000 orders.

    .venv/bin/python bench/computed.py [--customers 1000000] [--orders-per-customer 3]
                                       [--audience-runs 6] [--workers 2] [--refill]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres). The database ``scrm_bench_tags`` is
created if missing and migrated. Everything is generated inside PostgreSQL (multi-row
``INSERT … SELECT FROM generate_series``, in batches of customers):

- **customers and orders**: 20% of the customers never order, the others order at random
  over 900 days, 10-1,000 yuan each;
- **customer tags** (~5 customer-tag rows per customer), in three non-computed groups whose
  rows stand for what rules and scans gave:

  - 兴趣 (interests; half-life 30 days): 40 tags, popularity Zipf-like (tag k on 40%/k^0.8 of
    the customers: 奶粉 40%, 尿不湿 23%, 湿巾 17%, 辅食 13% … 玩具 3.6% … 二胎 2%), ~2.4 M rows;
  - 行为 (behaviour; half-life 14 days): 30 tags, 35%/k^0.9, ~1.6 M rows;
  - 渠道 (channel; no decay, so held): one of 8 per customer, skewed, 1 M rows.

  A decaying row has a score s in [1, 10] at ``scored_at`` and ``active_until = scored_at +
  half-life · log2(s)`` (threshold 1), as tagging/scores.py computes it; 70% still carry
  their tag at the fill's moment (``active_until`` in the future), 30% lapsed (in the past,
  up to a year). Tags are drawn independently of one another.

A filled database of the asked size is reused unless ``--refill``: what the computed tags
left is removed (the RFM and 生命周期 groups, whose tags and rows go with them by cascade,
and the timeline), the generated tag rows stay (filled again only when they do not look
complete). ``customer_tags`` is then VACUUM ANALYZEd.

With the clock frozen at the fill's moment:

1. **audience**: three expressions, counted through :func:`tagging.audience.count` (the
   product's count: the SELECT of the tags, then one statement), on a new connection first,
   then again warm; each run is printed, with the median of the warm ones, the count and the
   EXPLAIN ANALYZE of the very statement ``count`` sent (captured from the engine). The
   preview of ``GET /api/tags/audience`` (count and a sample of 10) is timed too. "First" is
   not disk-cold: the fill and the VACUUM leave the table in the OS cache.
2. **recompute** of every customer's computed tags (``tagging.computed_bulk.recompute_all``), three
   runs: **first** (nobody has a computed tag: every customer changes, ~1.8 M tag rows and as
   many timeline entries written), **again** (nothing changes), **next night** (the clock a
   day later: only the customers who crossed a boundary). The batches are applied on
   ``--workers`` connections at once (``tagging.recompute_workers``, default 2: one per core
   of a 2-core machine). The time spent in the per-batch query for the WeChat tag mirror
   (changed customers with a WeChat identity) is summed over the workers.
3. **audience again**, now that ``customer_tags`` also holds the ~1.8 M computed rows, with
   one expression that names a computed tag. When the server's autovacuum is off,
   ``customer_tags`` is ANALYZEd first, as autovacuum would after the first run (stale
   statistics know nothing of the computed tags and mislead the planner).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/scrm_bench_tags"
TARGET_SECONDS = 60.0
AUDIENCE_TARGET_SECONDS = 1.0
NEVER_ORDER = 0.2
HISTORY_DAYS = 900
FILL_BATCH = 250_000
LIVE_SHARE = 0.7  # rows of decaying groups still carried at the fill's moment
LAPSED_DAYS = 365  # the others lapsed up to this long ago
MAX_SCORE = 10.0

INTERESTS = (
    "奶粉", "尿不湿", "湿巾", "辅食", "奶瓶", "米粉", "拉拉裤", "童装", "洗护", "绘本",
    "早教", "推车", "安全座椅", "益生菌", "护臀膏", "牙胶", "睡袋", "溶豆", "维生素D", "玩具",
    "DHA", "钙铁锌", "爬行垫", "餐椅", "学饮杯", "吸奶器", "孕妇装", "月子餐", "防胀气", "羊奶粉",
    "有机奶粉", "水解蛋白", "婴儿游泳", "儿童摄影", "亲子游", "钢琴启蒙", "英语启蒙", "儿童保险", "疫苗", "二胎",
)
BEHAVIOURS = (
    "领券", "签到", "直播间互动", "会员日", "积分兑换", "双十一活动", "618活动", "试用装申请", "问卷", "拼团",
    "砍价", "秒杀", "晒单", "评价", "分享", "邀请好友", "门店自提", "预约到店", "咨询客服", "投诉",
    "退货", "换货", "开箱视频", "育儿讲座", "妈妈班", "宝宝生日", "满月礼", "百日宴", "抽奖", "新品试吃",
)
CHANNELS = (
    ("公众号关注", 0.35), ("门店扫码", 0.25), ("导购企微", 0.15), ("小程序", 0.10),
    ("直播", 0.06), ("朋友圈广告", 0.04), ("社群", 0.03), ("线下活动", 0.02),
)
# (group, half-life in days or None, [(tag, share of customers with a row)])
DECAYING_GROUPS = (
    ("兴趣", 30.0, [(name, 0.40 / k**0.8) for k, name in enumerate(INTERESTS, 1)]),
    ("行为", 14.0, [(name, 0.35 / k**0.9) for k, name in enumerate(BEHAVIOURS, 1)]),
)
HELD_GROUP = ("渠道", None, list(CHANNELS))
# 奶粉 popular (40% have a row), 辅食 medium (13%), 玩具 rare-ish (3.6%); 尿不湿 23%.
EXPRESSIONS = (
    "(奶粉 | 辅食) & !玩具",  # the issue's: three tags, & | !
    "奶粉 & (尿不湿 | 辅食) & !玩具",
    "!奶粉 & (尿不湿 | 辅食)",  # the negation of the most popular tag
)
AFTER_EXPRESSIONS = EXPRESSIONS + ("活跃 & 奶粉 & !玩具",)  # 活跃: a lifecycle stage


def expected_tag_rows(customers: int) -> float:
    shares = [share for _, _, tags in DECAYING_GROUPS for _, share in tags]
    return customers * (sum(shares) + sum(share for _, share in CHANNELS))


# -- the data --------------------------------------------------------------------------------


def prepare(customers: int, orders: int, now: datetime, refill: bool) -> None:
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
        anchor = conn.execute(text("SELECT max(created_at) FROM orders")).scalar()
    reuse = not refill and tuple(have) == (customers, orders) and anchor is not None
    if reuse:
        print(f"reusing {customers:,} customers and {orders:,} orders")
        started = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE interactions"))
            # The computed groups' tags, and every row of them, go by cascade.
            gone = conn.execute(text(
                "DELETE FROM tag_groups WHERE computed OR name IN ('RFM', '生命周期') RETURNING name"
            )).scalars().all()
        print(f"  emptied the timeline and removed the computed groups ({', '.join(gone) or 'none'})"
              f" in {time.perf_counter() - started:.0f} s")
    else:
        anchor = now
        fill_customers_and_orders(engine, customers, orders, anchor)
    if not (reuse and tag_fill_complete(engine, customers)):
        fill_tags(engine, customers, anchor)
    else:
        print("  reusing the generated customer tags")
    started = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("customer_tags", "tags", "tag_groups", "interactions"):
            conn.execute(text(f"VACUUM ANALYZE {table}"))
    print(f"  VACUUM ANALYZE customer_tags in {time.perf_counter() - started:.0f} s")
    engine.dispose()


def fill_customers_and_orders(engine, customers: int, orders: int, anchor: datetime) -> None:  # noqa: ANN001
    from sqlalchemy import text

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
    print(f"filled in {time.perf_counter() - started:.0f} s")


def tag_fill_complete(engine, customers: int) -> bool:  # noqa: ANN001
    """The generated groups and tags are there, with about the expected number of rows."""
    from sqlalchemy import text

    with engine.connect() as conn:
        names = set(conn.execute(text(
            "SELECT g.name || ':' || t.name FROM tags t JOIN tag_groups g ON g.id = t.group_id WHERE NOT g.computed"
        )).scalars())
        rows = conn.scalar(text("SELECT count(*) FROM customer_tags"))
    wanted = {f"{group}:{tag}" for group, _, tags in (*DECAYING_GROUPS, HELD_GROUP) for tag, _ in tags}
    return names == wanted and abs(rows - expected_tag_rows(customers)) < 0.01 * expected_tag_rows(customers)


# One row per (customer, tag) drawn, for a decaying group: score s in [1, 10]; it stays over
# the threshold (1) for span = half-life · log2(s); live rows were scored less than span ago.
_DECAYING_ROWS = f"""
INSERT INTO customer_tags (customer_id, tag_id, score, scored_at, active_until, manual, computed)
SELECT c, tag_id, score, scored_at, scored_at + span, false, false FROM (
  SELECT c, tag_id, score, span,
    CASE WHEN random() < {LIVE_SHARE} THEN CAST(:anchor AS timestamptz) - random() * span
         ELSE CAST(:anchor AS timestamptz) - span - random() * interval '{LAPSED_DAYS} days' END AS scored_at
  FROM (
    SELECT c, tag_id, score, interval '1 day' * (half_life * ln(score) / ln(2)) AS span
    FROM (
      SELECT c, tag_id, half_life, 1 + random() * {MAX_SCORE - 1} AS score
      FROM (  -- every (customer, tag) pair; the draw is outside, so it is one per pair
        SELECT g AS c, t.tag_id, t.share, t.half_life
        FROM generate_series(CAST(:low AS bigint), CAST(:high AS bigint)) g
        CROSS JOIN unnest(CAST(:tag_ids AS int[]), CAST(:shares AS float8[]),
                          CAST(:half_lives AS float8[])) AS t(tag_id, share, half_life)
        OFFSET 0
      ) pairs
      WHERE random() < share
      OFFSET 0
    ) drawn OFFSET 0
  ) spanned OFFSET 0
) timed
ORDER BY c, tag_id
"""
# One channel per customer, held (a group without decay), given some time in the last 900 days.
_HELD_ROWS = f"""
INSERT INTO customer_tags (customer_id, tag_id, score, scored_at, active_until, manual, computed)
SELECT c, (SELECT u.tag_id FROM unnest(CAST(:tag_ids AS int[]), CAST(:upto AS float8[])) AS u(tag_id, upto)
           WHERE u.upto > pick ORDER BY u.upto LIMIT 1),
  1, CAST(:anchor AS timestamptz) - random() * interval '{HISTORY_DAYS} days', :held, false, false
FROM (SELECT g AS c, random() AS pick FROM generate_series(CAST(:low AS bigint), CAST(:high AS bigint)) g OFFSET 0) p
ORDER BY c
"""


def fill_tags(engine, customers: int, anchor: datetime) -> None:  # noqa: ANN001
    from sqlalchemy import text

    from tagging.scores import HELD

    expected = expected_tag_rows(customers)
    print(f"filling ~{expected:,.0f} customer tags (兴趣, 行为, 渠道) …", flush=True)
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE customer_tags, interactions, tags, tag_groups RESTART IDENTITY CASCADE"))
        ids: dict[str, list[int]] = {}
        for group, half_life, tags in (*DECAYING_GROUPS, HELD_GROUP):
            group_id = conn.execute(
                text("INSERT INTO tag_groups (name, half_life_days, threshold, computed) "
                     "VALUES (:name, :half_life, 1, false) RETURNING id"),
                {"name": group, "half_life": half_life},
            ).scalar_one()
            ids[group] = [
                conn.execute(
                    text("INSERT INTO tags (group_id, name) VALUES (:group_id, :name) RETURNING id"),
                    {"group_id": group_id, "name": name},
                ).scalar_one()
                for name, _ in tags
            ]
    with engine.connect() as conn:
        for low in range(1, customers + 1, FILL_BATCH):
            high = min(low + FILL_BATCH - 1, customers)
            with conn.begin():
                for group, half_life, tags in DECAYING_GROUPS:
                    conn.execute(text(_DECAYING_ROWS), {
                        "low": low, "high": high, "anchor": anchor, "tag_ids": ids[group],
                        "shares": [share for _, share in tags], "half_lives": [half_life] * len(tags),
                    })
                upto, total = [], 0.0
                for _, share in CHANNELS:
                    total += share
                    upto.append(total)
                upto[-1] = 2.0  # whatever rounding leaves goes to the last channel
                conn.execute(text(_HELD_ROWS), {
                    "low": low, "high": high, "anchor": anchor, "held": HELD,
                    "tag_ids": ids[HELD_GROUP[0]], "upto": upto,
                })
            print(f"  customers up to {high:,} tagged ({time.perf_counter() - started:.0f} s)", flush=True)
    print(f"tags filled in {time.perf_counter() - started:.0f} s")


def fill_anchor() -> datetime:
    """The moment the data was generated around: the clock of every run."""
    from sqlalchemy import create_engine, text

    engine = create_engine(DATABASE_URL)
    with engine.connect() as conn:
        anchor = conn.execute(text("SELECT max(created_at) FROM orders")).scalar()
    engine.dispose()
    return anchor


def describe_tags(runtime, now: datetime) -> None:  # noqa: ANN001
    """The size of customer_tags, and how many customers carry each tag the expressions name."""
    from sqlalchemy import bindparam, text

    with runtime.engine.connect() as conn:
        by_group = conn.execute(text(
            "SELECT g.name, count(*), count(*) FILTER (WHERE ct.active_until > :now) FROM customer_tags ct "
            "JOIN tags t ON t.id = ct.tag_id JOIN tag_groups g ON g.id = t.group_id GROUP BY g.name ORDER BY 2 DESC"
        ), {"now": now}).all()
        names = ("奶粉", "尿不湿", "辅食", "玩具")
        carried = conn.execute(text(
            "SELECT t.name, count(*) FILTER (WHERE ct.active_until > :now), count(*) FROM customer_tags ct "
            "JOIN tags t ON t.id = ct.tag_id WHERE t.name IN :names GROUP BY t.name"
        ).bindparams(bindparam("names", expanding=True)), {"now": now, "names": list(names)})
        carried = {name: (live, rows) for name, live, rows in carried}
        customers = conn.scalar(text("SELECT count(*) FROM customers"))
    total = sum(rows for _, rows, _ in by_group)
    print(f"customer_tags: {total:,} rows over {customers:,} customers, "
          f"{sum(live for _, _, live in by_group):,} carried now")
    for group, rows, live in by_group:
        print(f"  {group:<6} {rows:>10,} rows {live:>10,} carried")
    print("  the expressions' tags, carried by: " + ", ".join(
        f"{name} {carried[name][0]:,} ({100 * carried[name][0] / customers:.1f}%)" for name in names))


# -- the audience ----------------------------------------------------------------------------


def time_audience(runtime, expr: str, now: datetime, runs: int, *, explain: bool) -> dict:  # noqa: ANN001
    """Count ``expr`` ``runs`` times through tagging.audience.count (the first on a new
    connection); time the preview too; EXPLAIN ANALYZE the statement count sent."""
    from sqlalchemy import event

    from tagging import audience, service

    runtime.engine.dispose()  # the first run opens a new connection (a new backend)
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
                count = audience.count(db_session=db_session, expr=expr, now=now)
                seconds.append(time.perf_counter() - started)
    finally:
        event.remove(runtime.engine, "before_cursor_execute", capture)
    preview = []
    for _ in range(max(runs - 1, 1)):
        with runtime.transaction() as db_session:
            started = time.perf_counter()
            service.preview_audience(db_session=db_session, text=expr, now=now, limit=10)
            preview.append(time.perf_counter() - started)
    plan: list[str] = []
    if explain and captured:
        statement, parameters = captured[-1]
        with runtime.engine.connect() as conn:
            plan = [row[0] for row in conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
            )]
            conn.rollback()
    warm = seconds[1:] or seconds
    return {
        "expr": expr, "count": count, "seconds": seconds, "median": statistics.median(warm),
        "preview": statistics.median(preview), "plan": plan, "statement": captured[-1][0] if captured else "",
    }


def scans(plan: list[str]) -> str:
    """The plan's scans of tables and indexes, counted: "Index Only Scan using ix_… on customer_tags ×2"."""
    found: dict[str, int] = {}
    for line in plan:
        text = line.strip().removeprefix("->").strip()
        if " Scan " in f" {text}" and " on " in text and "(" in text:
            kind = text.split("  (")[0]
            head, _, table = kind.partition(" on ")
            kind = f"{head} on {table.split()[0]}"  # without the alias
            if not kind.startswith(("Subquery", "Function", "CTE")):
                kind = " ".join(word for word in kind.split() if word != "Parallel")  # counted once
                found[kind] = found.get(kind, 0) + 1
    return "; ".join(f"{kind} ×{n}" if n > 1 else kind for kind, n in found.items()) or "none"


def pad(text: str, width: int) -> str:
    """``text`` left-justified to ``width`` terminal columns (CJK characters take two)."""
    import unicodedata

    used = sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)
    return text + " " * max(width - used, 0)


def print_audience(result: dict, *, plan_lines: int) -> None:
    verdict = "ok" if max(result["seconds"][0], result["median"]) < AUDIENCE_TARGET_SECONDS else "OVER"
    runs = "  ".join(f"{s:.3f}" for s in result["seconds"])
    print(f"\n  {result['expr']}")
    print(f"    count {result['count']:,}; runs (s, first on a new connection): {runs}")
    print(f"    median warm {result['median']:.3f} s   target < {AUDIENCE_TARGET_SECONDS:.0f} s … {verdict}"
          f"   (preview: count + sample of 10, median {result['preview']:.3f} s)")
    if result["plan"]:
        print(f"    scans: {scans(result['plan'])}")
        print("    EXPLAIN ANALYZE of the statement audience.count sent:")
        shown = result["plan"][:plan_lines]
        for line in shown:
            print(f"      {line}")
        if len(result["plan"]) > plan_lines:
            print(f"      … ({len(result['plan']) - plan_lines} more lines)")
            for line in result["plan"][-2:]:
                print(f"      {line}")


# -- the run ---------------------------------------------------------------------------------


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


class StatementClock:
    """Time spent in statements that contain ``marker`` (the mirror's query), on an engine."""

    def __init__(self, engine, marker: str) -> None:  # noqa: ANN001
        from sqlalchemy import event

        self.marker, self.calls, self.seconds = marker, 0, 0.0
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001, ARG002
        if self.marker in statement:
            conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001, ARG002
        started = conn.info.pop("bench_started", None)
        if started is not None:
            self.calls += 1
            self.seconds += time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders-per-customer", type=float, default=3.0)
    parser.add_argument("--batch-size", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=None,
                        help="Connections applying the recompute's batches at once (tagging.recompute_workers).")
    parser.add_argument("--audience-runs", type=int, default=6, help="Counts of each expression (first + warm).")
    parser.add_argument("--plan-lines", type=int, default=45, help="Lines of each EXPLAIN ANALYZE shown.")
    parser.add_argument("--refill", action="store_true", help="Generate the data again even if the size matches.")
    args = parser.parse_args()

    from sqlalchemy import text

    from scrm.clock import FrozenClock
    from scrm.config import load_config
    from scrm.runtime import Runtime, install
    from tagging.computed_bulk import recompute_all

    print(load())
    orders = int(args.customers * args.orders_per_customer)
    prepare(args.customers, orders, datetime.now(UTC).replace(microsecond=0), args.refill)
    overrides = {"database.url": DATABASE_URL, "redis.url": "memory://bench"}
    if args.workers is not None:
        overrides["tagging.recompute_workers"] = args.workers
    runtime = install(Runtime(load_config(environ={}, overrides=overrides)))
    runtime.clock = FrozenClock(fill_anchor())
    with runtime.engine.connect() as conn:
        settings = ", ".join(f"{name} {conn.scalar(text(f'SHOW {name}'))}" for name in (
            "work_mem", "shared_buffers", "max_parallel_workers_per_gather", "jit"))
        version = conn.scalar(text("SHOW server_version"))
    print(f"PostgreSQL {version}: {settings}")
    now = runtime.clock.now()

    print()
    describe_tags(runtime, now)
    print(f"\naudience counts (tagging.audience.count), {load()}")
    before = [time_audience(runtime, expr, now, args.audience_runs, explain=True) for expr in EXPRESSIONS]
    for result in before:
        print_audience(result, plan_lines=args.plan_lines)

    print(f"\nrecompute of computed tags (tagging.computed_bulk.recompute_all), batches of {args.batch_size:,} customers "
          f"on {runtime.config.tagging.recompute_workers} connections, {load()}")
    with runtime.engine.connect() as conn:
        known = conn.scalar(text("SELECT count(DISTINCT customer_id) FROM customer_identities"))
    mirror = StatementClock(runtime.engine, "customer_identities")
    rows = []
    for name, advance_days in (("first", 0), ("again", 0), ("next night", 1)):
        runtime.clock.advance(days=advance_days)
        summary = recompute_all(runtime, batch_size=args.batch_size)
        rows.append((name, summary))
        print(f"{name:<11} {summary.describe()}", flush=True)
    print(f"the mirror's query (changed customers with a WeChat identity): {mirror.calls} calls, "
          f"{mirror.seconds:.3f} s in all over the three runs ({known:,} customers have one here)")

    with runtime.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        autovacuum = conn.scalar(text("SHOW autovacuum"))
        if autovacuum != "on":
            # What autovacuum does after the first run's ~1.8 M rows: without it the planner
            # knows nothing of the computed tags (estimates 1 row) and picks nested loops.
            started = time.perf_counter()
            conn.execute(text("ANALYZE customer_tags"))
            print(f"\nautovacuum is {autovacuum} on this server: ANALYZE customer_tags as it would "
                  f"({time.perf_counter() - started:.1f} s)")
    print(f"\naudience counts again, customer_tags now with the computed rows (clock {runtime.clock.now():%Y-%m-%d %H:%M}), "
          f"{load()}")
    after = [time_audience(runtime, expr, runtime.clock.now(), args.audience_runs, explain=False)
             for expr in AFTER_EXPRESSIONS]
    for result in after:
        print_audience(result, plan_lines=args.plan_lines)
    runtime.close()

    print(f"\n{pad('audience expression', 52)} {'count':>9} {'first s':>8} {'median s':>9}  target < "
          f"{AUDIENCE_TARGET_SECONDS:.0f} s")
    for label, results in (("", before), (" (after recompute)", after)):
        for r in results:
            worst = max(r["seconds"][0], r["median"])
            print(f"{pad(r['expr'] + label, 52)} {r['count']:>9,} {r['seconds'][0]:>8.3f} {r['median']:>9.3f}"
                  f"  {'ok' if worst < AUDIENCE_TARGET_SECONDS else 'OVER'}")
    print()
    print(f"{'run':<11} {'customers':>10} {'RFM changed':>12} 生命周期 changed {'seconds':>8}"
          f"  target < {TARGET_SECONDS:.0f} s")
    for name, s in rows:
        verdict = "ok" if s.seconds < TARGET_SECONDS else "OVER"
        print(f"{name:<11} {s.customers:>10,} {s.changed['RFM']:>12,} {s.changed['生命周期']:>16,} {s.seconds:>8.1f}"
              f"  {verdict}")
    print(f"\n{load()}")
    audience_ok = all(max(r["seconds"][0], r["median"]) < AUDIENCE_TARGET_SECONDS for r in before + after)
    return 0 if audience_ok and all(s.seconds < TARGET_SECONDS for _, s in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
