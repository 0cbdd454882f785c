"""Issue 7 at scale, on PostgreSQL + Redis, in one run: planning a campaign for 500,000 of
1,000,000 customers (target >= 20,000 deliveries/s), and sending a run with 4 workers against
the sandbox WeChat with our throttle off (target >= 1,000 deliveries/s).

    .venv/bin/python bench/outreach.py [--customers 1000000] [--send 50000] [--workers 4]
                                       [--refill] [--skip-plan] [--skip-send] [--profile]
                                       [--profile-send N]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres; the database ``bench_outreach`` is created if
missing, migrated, and its outreach tables emptied) and Redis on 127.0.0.1:6379 (DB 3, flushed
before each part). Listens on 127.0.0.1 only.

**Data**, generated inside PostgreSQL (``INSERT … SELECT FROM generate_series``) and reused
when it looks complete: the customers, each with a following MP identity (``o-bench-<id>``),
and one tag group 基准 (held, no decay) with two tags: 半数 on every even customer (half of
them) and 送测 on every customer whose id is a multiple of ``customers / send``.

**Planning**: a ``once`` campaign on ``半数`` by ``mp_template`` (variants A/B 50/50, a 10%
holdout, ``when_capped = defer``), launched, its run started (``campaigns.start_due_runs``),
then ``planner.plan_run`` timed end to end: audience query in batches, variants, the cap's
reservations in Redis (Lua, pipelined) with quiet hours, deliveries inserted and committed,
send jobs enqueued to RQ. Quiet hours are 22-8 in UTC (the bench runs in the day, so nothing
is deferred by them; the check still runs). Cap: 2 a week, nobody reserved yet.

**Sending**: the app (which holds the sandbox WeChat) under gunicorn, our token buckets set to
10^8 calls a minute for the APIs the sender calls (``wechat.rate_limits``: the sandbox itself
has no throttle, ours is the only one), the WeChat clients pointed at it
(``server.public_base_url``: the sandbox's base URLs follow it). A campaign on ``送测`` (by
``mp_template``, no holdout) is planned, then ``--workers`` ``scrm worker --burst`` processes
drain the outreach queue; the time runs from their start to the last one's exit. Checked
afterwards: deliveries sent, the sandbox's template-send calls (its call counter's increase,
minus the token calls) and the messages found in the followers' sandbox inboxes (each must
hold exactly one).

``--profile`` prints cProfile's view of the planning; ``--profile-send N`` first sends N of the
sending run's deliveries in one job in the bench process under cProfile, with the SQL
statements, Redis round trips and HTTP calls per delivery.

cpu%: CPU time per second of wall time (100 = one core) of the bench process (planning) or the
workers, of gunicorn, of every PostgreSQL and Redis process (other clients included), and of
anything else on the machine. The load average is printed with every figure.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from webhook import Gunicorn, backend_cpu_seconds, free_port, machine_busy_seconds  # noqa: E402

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DB_NAME = "bench_outreach"
DATABASE_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DB_NAME}"
REDIS_URL = "redis://127.0.0.1:6379/3"
PLAN_TARGET = 20_000.0
SEND_TARGET = 1_000.0
FILL_BATCH = 250_000
GROUP = "基准"
HALF, SEND = "半数", "送测"
TEMPLATE = {"kind": "template", "template_id": "TM-bench-0001",
            "data": {"first": {"value": "双11 全场满300减50"}, "remark": {"value": "点击查看"}}}
UNLIMITED = 100_000_000  # calls a minute: our token buckets never empty
SENDER_APIS = ("message/template/send", "message/custom/send", "message/mass/sendall", "token",
               "tags/members/batchtagging", "tags/members/batchuntagging", "tags/create")


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


# -- the data --------------------------------------------------------------------------------


def prepare(customers: int, send: int, refill: bool) -> None:
    import psycopg
    from sqlalchemy import create_engine, text

    from scrm.migrate import upgrade

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone() is None:
            conn.execute(f"CREATE DATABASE {DB_NAME}")
    upgrade(DATABASE_URL)
    engine = create_engine(DATABASE_URL)
    step = max(customers // send, 1)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE deliveries, campaign_runs, campaigns RESTART IDENTITY CASCADE"))
        have = conn.execute(text(
            "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM customer_identities), "
            "(SELECT count(*) FROM customer_tags ct JOIN tags t ON t.id = ct.tag_id WHERE t.name = :half), "
            "(SELECT count(*) FROM customer_tags ct JOIN tags t ON t.id = ct.tag_id WHERE t.name = :send)"
        ), {"half": HALF, "send": SEND}).one()
    if not refill and tuple(have) == (customers, customers, customers // 2, customers // step):
        print(f"reusing {customers:,} customers, their MP identities and tags")
    else:
        fill(engine, customers, step)
    engine.dispose()


def fill(engine, customers: int, step: int) -> None:  # noqa: ANN001
    from sqlalchemy import text

    from tagging.scores import HELD

    print(f"filling {customers:,} customers with MP identities and tags …", flush=True)
    started = time.perf_counter()
    anchor = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE customer_tags, tags, tag_groups, customer_identities, interactions, customers "
                          "RESTART IDENTITY CASCADE"))
        group_id = conn.execute(text("INSERT INTO tag_groups (name, half_life_days, threshold, computed) "
                                     "VALUES (:name, NULL, 1, false) RETURNING id"), {"name": GROUP}).scalar_one()
        tag_ids = [conn.execute(text("INSERT INTO tags (group_id, name) VALUES (:g, :n) RETURNING id"),
                                {"g": group_id, "n": name}).scalar_one() for name in (HALF, SEND)]
    with engine.connect() as conn:
        for low in range(1, customers + 1, FILL_BATCH):
            bounds = {"low": low, "high": min(low + FILL_BATCH - 1, customers), "anchor": anchor}
            series = "FROM generate_series(CAST(:low AS bigint), CAST(:high AS bigint)) g"
            with conn.begin():
                conn.execute(text(f"INSERT INTO customers (id, nickname, created_at, updated_at) "
                                  f"SELECT g, 'bench-' || g, :anchor, :anchor {series}"), bounds)
                conn.execute(text(f"INSERT INTO customer_identities (id, customer_id, channel, external_id, following, "
                                  f"followed_at, created_at) SELECT g, g, 'mp', 'o-bench-' || g, true, :anchor, "
                                  f":anchor {series}"), bounds)
                for tag_id, where in ((tag_ids[0], "g % 2 = 0"), (tag_ids[1], f"g % {step} = 0")):
                    conn.execute(text(f"INSERT INTO customer_tags (customer_id, tag_id, score, scored_at, "
                                      f"active_until, manual, computed) SELECT g, :tag, 1, :anchor, :held, false, "
                                      f"false {series} WHERE {where}"), {**bounds, "tag": tag_id, "held": HELD})
            print(f"  {bounds['high']:,} customers ({time.perf_counter() - started:.0f} s)", flush=True)
        with conn.begin():
            for table in ("customers", "customer_identities"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {customers})"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("customers", "customer_identities", "customer_tags", "tags", "tag_groups"):
            conn.execute(text(f"VACUUM ANALYZE {table}"))
    print(f"filled in {time.perf_counter() - started:.0f} s")


# -- the runtime -----------------------------------------------------------------------------


def write_config(path: Path, port: int) -> None:
    limits = "\n".join(f'"{api}" = {UNLIMITED}' for api in SENDER_APIS)
    path.write_text(f"""
[database]
url = "{DATABASE_URL}"
[redis]
url = "{REDIS_URL}"
[server]
public_base_url = "http://127.0.0.1:{port}"
port = {port}
[outreach]
weekly_cap = 2
quiet_hours = "22-8"
timezone = "UTC"
[logging]
level = "WARNING"
[wechat.rate_limits]
"*" = {UNLIMITED}
{limits}
""")


def make_runtime(env: dict[str, str]):  # noqa: ANN201
    from scrm.config import load_config
    from scrm.runtime import Runtime, install

    return install(Runtime(load_config(environ=env)))


def fire_campaign(runtime, name: str, expr: str, *, holdout: int, variants: bool) -> int:  # noqa: ANN001
    """Create, launch and start a once campaign on ``expr``; returns its run's id."""
    from scrm.outreach import campaigns
    from scrm.outreach.schemas import CampaignIn, parse

    now = runtime.clock.now()
    body = {"name": name, "audience": {"expr": expr}, "channel": "mp_template", "content": TEMPLATE,
            "schedule": {"kind": "once", "at": now.isoformat()}, "holdout_percent": holdout}
    if variants:
        body["variants"] = [{"name": "A", "weight": 50, "content": TEMPLATE},
                            {"name": "B", "weight": 50, "content": TEMPLATE}]
    with runtime.transaction() as db_session:
        campaign_id = campaigns.create_campaign(db_session=db_session, campaign_in=parse(CampaignIn, body, what="c"),
                                                at=now).id
    with runtime.transaction() as db_session:
        campaigns.launch(runtime=runtime, db_session=db_session, campaign_id=campaign_id)
    with runtime.transaction() as db_session:
        (run_id,) = campaigns.start_due_runs(runtime=runtime, db_session=db_session)
    return run_id


def statuses(runtime, run_id: int) -> dict[str, int]:  # noqa: ANN001
    from sqlalchemy import func, select

    from scrm.outreach.models import Delivery

    with runtime.transaction() as db_session:
        return dict(db_session.execute(select(Delivery.status, func.count()).where(Delivery.run_id == run_id)
                                       .group_by(Delivery.status)).all())


def cpu_split(own: float, server: float, backend: float, busy: float, wall: float) -> str:
    parts = [own, server, backend, max(0.0, busy - own - server - backend)]
    return "/".join(f"{p / wall * 100:.0f}" for p in parts)


# -- planning --------------------------------------------------------------------------------


def bench_planning(env: dict[str, str], profile: bool) -> float:
    from scrm.outreach import planner

    runtime = make_runtime(env)
    runtime.redis.flushdb()
    run_id = fire_campaign(runtime, "基准-计划", HALF, holdout=10, variants=True)
    runtime.engine.dispose()  # the timed part opens its own connections
    print(f"planning run {run_id} (load {load()}) …", flush=True)
    profiler = cProfile.Profile() if profile else None
    before = time.process_time(), backend_cpu_seconds(), machine_busy_seconds()
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    planned = planner.plan_run(run_id)
    if profiler:
        profiler.disable()
    wall = time.perf_counter() - started
    own, backend, busy = (time.process_time() - before[0], backend_cpu_seconds() - before[1],
                          machine_busy_seconds() - before[2])
    counts = statuses(runtime, run_id)
    jobs = runtime.queue.rq_queue("outreach").count
    due = counts.get("planned", 0)
    rate = planned / wall
    print(f"  planned {planned:,} deliveries in {wall:.2f} s: {rate:,.0f} deliveries/s "
          f"(target {PLAN_TARGET:,.0f}: ratio {rate / PLAN_TARGET:.2f}); {counts}; {jobs:,} send jobs queued for "
          f"{due:,} due; cpu% bench/gunicorn/db+redis/other {cpu_split(own, 0, backend, busy, wall)}; CPU s per "
          f"100,000 deliveries: bench {own / planned * 1e5:.2f}, db+redis {backend / planned * 1e5:.2f}; "
          f"load {load()}", flush=True)
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    runtime.close()
    return rate


# -- sending ---------------------------------------------------------------------------------


def seed_followers(runtime, customer_ids: list[int]) -> None:  # noqa: ANN001
    from scrm.sandbox import world

    from scrm.runtime import install

    install(runtime)  # the sandbox's world is kept in this runtime's database
    world.add_followers(runtime.redis, [f"o-bench-{customer_id}" for customer_id in customer_ids])


def bench_sending(env: dict[str, str], workers: int, logdir: Path, profile_send: int) -> float:
    from sqlalchemy import select

    from scrm.outreach.models import Delivery
    from scrm.sandbox import state

    runtime = make_runtime(env)
    runtime.redis.flushdb()
    port = int(env["SCRM_SERVER__PORT"])
    server = Gunicorn("scrm.wsgi:app", ["--workers", "2", "--threads", "4", "--worker-class", "gthread",
                                        "--log-level", "warning", "--timeout", "60"], env, port, logdir)
    try:
        server.wait_until_ready()
        run_id = fire_campaign(runtime, "基准-发送", SEND, holdout=0, variants=False)
        from scrm.outreach import planner

        planner.plan_run(run_id)
        with runtime.transaction() as db_session:
            ids = list(db_session.scalars(select(Delivery.customer_id).where(Delivery.run_id == run_id)))
        seed_followers(runtime, ids)
        calls_before = int(runtime.redis.get(state.CALLS_SEQ) or 0)
        if profile_send:
            profile_sender(runtime, run_id, profile_send)
        jobs = runtime.queue.rq_queue("outreach").count
        print(f"sending run {run_id}: {len(ids):,} deliveries in {jobs} jobs, {workers} workers "
              f"(load {load()}) …", flush=True)
        scrm = str(Path(sys.executable).with_name("scrm"))
        before = server.cpu_seconds(), backend_cpu_seconds(), machine_busy_seconds()
        started = time.perf_counter()
        procs = [subprocess.Popen([scrm, "worker", "--burst"], env=env, cwd=ROOT,
                                  stdout=open(logdir / f"worker-{i}.log", "wb"), stderr=subprocess.STDOUT)
                 for i in range(workers)]
        cpu_before = _children_cpu()
        while any(p.poll() is None for p in procs):
            time.sleep(0.02)
        wall = time.perf_counter() - started
        own = _children_cpu() - cpu_before
        server_cpu, backend, busy = (server.cpu_seconds() - before[0], backend_cpu_seconds() - before[1],
                                     machine_busy_seconds() - before[2])
        counts = statuses(runtime, run_id)
        calls = int(runtime.redis.get(state.CALLS_SEQ) or 0) - calls_before
        sends = sum(1 for c in state.list_calls(runtime.redis, "mp") if c["api"] == "message/template/send")
        from scrm.sandbox import world

        inboxes = list(world.count_messages(runtime.redis, [f"o-bench-{c}" for c in ids]).values())
        sent = counts.get("sent", 0)
        rate, n = sent / wall, max(sent, 1)
        print(f"  sent {sent:,} of {len(ids):,} in {wall:.2f} s: {rate:,.0f} deliveries/s (target {SEND_TARGET:,.0f}: "
              f"ratio {rate / SEND_TARGET:.2f}); {counts}; sandbox calls recorded {calls:,} "
              f"(template sends among the last {state.MAX_CALLS}: {sends}), inbox messages {sum(inboxes):,}, "
              f"most in one inbox {max(inboxes, default=0)}; cpu% workers/gunicorn/db+redis/other "
              f"{cpu_split(own, server_cpu, backend, busy, wall)}; CPU ms per delivery: workers {own / n * 1000:.2f}, "
              f"gunicorn (the sandbox) {server_cpu / n * 1000:.2f}, db+redis {backend / n * 1000:.2f}; "
              f"load {load()}", flush=True)
        for i in range(workers):
            tail = (logdir / f"worker-{i}.log").read_text()[-600:]
            if "Traceback" in tail or "Error" in tail:
                print(f"  worker {i} log: {tail}")
    finally:
        server.stop()
        runtime.close()
    return rate


def profile_sender(runtime, run_id: int, count: int) -> None:  # noqa: ANN001
    """Send ``count`` of the run's deliveries here, in one job, under cProfile: per delivery,
    the SQL statements, Redis commands and HTTP calls, and where the time goes."""
    import redis
    import requests
    from sqlalchemy import event, select

    from scrm.outreach.models import Delivery
    from scrm.outreach.sender import send_deliveries

    with runtime.transaction() as db_session:
        ids = list(db_session.scalars(select(Delivery.id).where(Delivery.run_id == run_id)
                                      .order_by(Delivery.id.desc()).limit(count)))
    statements, commands, https = [0], [0], [0]
    event.listen(runtime.engine, "before_cursor_execute", lambda *a, **k: statements.__setitem__(0, statements[0] + 1))
    real_execute = redis.Redis.execute_command
    real_pipeline = redis.client.Pipeline.execute
    real_send = requests.Session.send

    def counted_execute(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        commands[0] += 1
        return real_execute(self, *args, **kwargs)

    def counted_pipeline(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        commands[0] += 1
        return real_pipeline(self, *args, **kwargs)

    def counted_send(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        https[0] += 1
        return real_send(self, *args, **kwargs)

    redis.Redis.execute_command, redis.client.Pipeline.execute = counted_execute, counted_pipeline
    requests.Session.send = counted_send
    profiler = cProfile.Profile()
    started, cpu = time.perf_counter(), time.process_time()
    profiler.enable()
    outcome = send_deliveries(ids)
    profiler.disable()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    redis.Redis.execute_command, redis.client.Pipeline.execute = real_execute, real_pipeline
    requests.Session.send = real_send
    n = max(len(ids), 1)
    print(f"  profiled {len(ids)} deliveries in one job here: {outcome}; {wall / n * 1000:.2f} ms and "
          f"{cpu / n * 1000:.2f} ms CPU per delivery; per delivery {statements[0] / n:.3f} SQL statements, "
          f"{commands[0] / n:.2f} Redis round trips, {https[0] / n:.2f} HTTP calls")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)


def _children_cpu() -> float:
    usage = os.times()
    return usage.children_user + usage.children_system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--send", type=int, default=50_000, help="deliveries of the sending run")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--refill", action="store_true")
    parser.add_argument("--skip-plan", action="store_true")
    parser.add_argument("--skip-send", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile the planning")
    parser.add_argument("--profile-send", type=int, default=0, metavar="N",
                        help="first send N deliveries in this process under cProfile, counting statements and calls")
    args = parser.parse_args()

    prepare(args.customers, args.send, args.refill)
    logdir = Path(tempfile.mkdtemp(prefix="scrm-bench-outreach-"))
    port = free_port()
    write_config(logdir / "bench.toml", port)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRM_")}
    env.update({"SCRM_CONFIG": str(logdir / "bench.toml"), "SCRM_SERVER__PORT": str(port)})
    os.environ.update(env)
    print(f"{os.cpu_count()} CPU cores; load average {load()} at the start")
    plan = send = None
    try:
        if not args.skip_plan:
            plan = bench_planning(env, args.profile)
        if not args.skip_send:
            send = bench_sending(env, args.workers, logdir, args.profile_send)
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    print()
    print(f"{'':<10} {'deliveries/s':>12} {'target':>8} {'ratio':>6}")
    if plan is not None:
        print(f"{'planning':<10} {plan:>12,.0f} {PLAN_TARGET:>8,.0f} {plan / PLAN_TARGET:>6.2f}")
    if send is not None:
        print(f"{'sending':<10} {send:>12,.0f} {SEND_TARGET:>8,.0f} {send / SEND_TARGET:>6.2f}")
    print(f"load average at the end {load()} (1/5/15 min; {os.cpu_count()} cores, shared with other work)")


if __name__ == "__main__":
    main()
