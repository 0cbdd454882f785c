"""Webhook throughput: ours under gunicorn on PostgreSQL and Redis, against a bare Flask app
that answers ``success`` to every POST, in the same run, under the same gunicorn settings.

The load is ``scrm simulate``'s (:mod:`scrm.simulator`), sent from separate processes:
safe-mode MP callbacks signed and sealed as WeChat does (texts with unique MsgIds that meet
real keyword rules, follows, menu clicks and views, scans, images, locations, unfollows) and
WeCom contact events. Each concurrency level runs for a bounded time; the table gives
messages/s and p50/p99 latency for both apps, the ratio, and the peak.

    .venv/bin/python bench/webhook.py [--levels 4,8,16,32] [--seconds 10] [--processes 2]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres; the database ``scrm_bench`` is created if
missing, migrated and emptied) and Redis on 127.0.0.1:6379 (DB 14, flushed). Listens on
127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scrm.simulator import Summary, make_plan  # noqa: E402
from scrm.simulator_load import LoadOptions, Simulator  # noqa: E402

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/scrm_bench"
REDIS_URL = "redis://127.0.0.1:6379/14"
WORK_FRACTION = 0.1
DAYS = 14  # a fortnight of behaviour per customer: mostly texts and clicks, few follows
RULES = [
    {"match": "contains", "keyword": "奶粉", "reply_kind": "text", "text": "奶粉 1 段 2 段 3 段都有货，点菜单「附近门店」看库存。"},
    {"match": "contains", "keyword": "尿不湿", "reply_kind": "text", "text": "尿不湿本周第二件半价，NB 到 XXL 全码。"},
    {"match": "contains", "keyword": "优惠券", "reply_kind": "news", "articles": [
        {"title": "领取本月优惠券", "description": "满199减30", "url": "https://m.demo-brand.example/coupons"}]},
    {"match": "contains", "keyword": "营业时间", "reply_kind": "text", "text": "门店营业时间 9:30-21:30，周末照常。"},
    {"match": "exact", "keyword": "门店", "reply_kind": "text", "text": "离您最近的门店：万达广场店，电话 021-5555 0101。"},
    {"match": "contains", "keyword": "门店", "reply_kind": "text", "text": "全部门店地址见菜单「附近门店」。"},
    {"match": "contains", "keyword": "积分", "reply_kind": "text", "text": "积分在「会员中心」查看，100 积分抵 1 元。"},
    {"match": "follow", "reply_kind": "text", "text": "欢迎关注！回复「优惠券」领取新人礼。"},
]


# -- the databases ---------------------------------------------------------------------------


def prepare_backends() -> None:
    import psycopg
    import redis
    from sqlalchemy import create_engine, text

    from scrm.migrate import upgrade
    from scrm.models import Base

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = 'scrm_bench'").fetchone() is None:
            conn.execute("CREATE DATABASE scrm_bench")
    upgrade(DATABASE_URL)
    engine = create_engine(DATABASE_URL)
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)] + ["apscheduler_jobs"]
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()
    redis.Redis.from_url(REDIS_URL).flushdb()


def seed_rules(env: dict[str, str]) -> None:
    from scrm.config import load_config
    from scrm.replies import service
    from scrm.replies.schemas import parse_rule
    from scrm.runtime import Runtime

    runtime = Runtime(load_config(environ=env))
    with runtime.transaction() as db_session:
        for rule in RULES:
            service.create_rule(db_session=db_session, redis=runtime.redis, rule_in=parse_rule(rule))
    runtime.close()


def stored_callbacks() -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(DATABASE_URL)
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM callbacks")).scalar_one()
    engine.dispose()
    return count


# -- gunicorn --------------------------------------------------------------------------------


class Gunicorn:
    def __init__(self, app: str, settings: list[str], env: dict[str, str], port: int, logdir: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = logdir / f"gunicorn-{port}.log"
        command = [str(Path(sys.executable).with_name("gunicorn")), *settings, "--bind", f"127.0.0.1:{port}", app]
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_until_ready(self, seconds: float = 30) -> None:
        import requests

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"gunicorn did not answer at {self.url}:\n{self.log_path.read_text()[-3000:]}")

    def cpu_seconds(self) -> float:
        """CPU time of the master and its workers so far."""
        return _cpu_seconds([self.process.pid, *_pids(lambda stat: int(stat[1]) == self.process.pid)])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()


def backend_cpu_seconds() -> float:
    """CPU time of every PostgreSQL and Redis process so far (other clients' work included)."""
    return _cpu_seconds(_pids(lambda stat: stat[-1] in ("postgres", "redis-server")))


def machine_busy_seconds() -> float:
    """CPU time every core has spent on anything but idling, from /proc/stat."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _stat(pid: int | str) -> list[str]:
    """/proc/<pid>/stat from field 3 on, then the command name last."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    return [*raw[raw.rindex(")") + 2 :].split(), name]


def _pids(select) -> list[int]:  # noqa: ANN001
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if select(_stat(entry.name)):
                    pids.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return pids


def _cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        try:
            stat = _stat(pid)
            ticks += int(stat[11]) + int(stat[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass  # it exited
    return ticks / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the load --------------------------------------------------------------------------------


def load_process(  # noqa: ANN201
    env: dict, url: str, seed: int, threads: int, seconds: float, customers: int, barrier, results  # noqa: ANN001
):
    """One load generator: plan, wait for the others, send for ``seconds``, report."""
    from scrm.config import load_config

    config = load_config(environ=env)
    plan = make_plan(customers=customers, days=DAYS, seed=seed, retry_fraction=0, work_fraction=WORK_FRACTION)
    simulator = Simulator(config, url, LoadOptions(encrypt=True, concurrency=threads, max_seconds=seconds))
    barrier.wait()
    cpu = time.process_time()
    summary = simulator.run(plan)
    results.put((summary, time.process_time() - cpu, summary.sent >= plan.deliveries))


def run_level(
    env: dict, url: str, level: int, processes: int, seconds: float, seed: int
) -> tuple[Summary, float, bool]:
    """``level`` requests in flight from ``processes`` processes for ``seconds``: the combined
    summary, the load generators' CPU seconds, and whether one ran out of its plan."""
    ctx = multiprocessing.get_context("spawn")
    count = min(processes, level)
    barrier, results = ctx.Barrier(count + 1), ctx.Queue()
    shares = [level // count + (1 if i < level % count else 0) for i in range(count)]
    customers = max(200, int(seconds * 120))  # ~10 callbacks each: more than one process can send
    workers = [
        ctx.Process(target=load_process, args=(env, url, seed + i, shares[i], seconds, customers, barrier, results))
        for i in range(count)
    ]
    for worker in workers:
        worker.start()
    barrier.wait(timeout=60)
    parts = [results.get(timeout=seconds + 60) for _ in workers]
    for worker in workers:
        worker.join(10)
        if worker.is_alive():
            worker.terminate()
    return Summary.combine([p[0] for p in parts]), sum(p[1] for p in parts), any(p[2] for p in parts)


def measure(  # noqa: ANN201
    name: str, app: str, env: dict, settings: list[str], args, logdir: Path, seed: int  # noqa: ANN001
):
    """Serve ``app``, warm it up, load it at each level; the rows and how many it accepted in all."""
    port = free_port()
    server_env = {**env, "SCRM_SERVER__PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "SCRM_SERVER__PORT": str(port)}
    server = Gunicorn(app, settings, server_env, port, logdir)
    rows = []
    try:
        server.wait_until_ready()
        warm_up, _, _ = run_level(server_env, server.url, 4, args.processes, args.warmup, seed)  # pools, caches
        for i, level in enumerate(args.levels):
            before = server.cpu_seconds(), backend_cpu_seconds(), machine_busy_seconds()
            wall = time.monotonic()
            summary, load_cpu, ran_out = run_level(
                server_env, server.url, level, args.processes, args.seconds, seed + 100 * (i + 1)
            )
            wall = time.monotonic() - wall
            rows.append({
                "level": level, "summary": summary, "server_cpu": server.cpu_seconds() - before[0],
                "backend_cpu": backend_cpu_seconds() - before[1], "busy_cpu": machine_busy_seconds() - before[2],
                "load_cpu": load_cpu, "wall": wall, "ran_out": ran_out,
            })
            print(f"  {name:<4} level {level:>3}: {summary.accepted / summary.elapsed:7.0f} msgs/s, "
                  f"p50 {summary.percentile(50):5.1f} ms, p99 {summary.percentile(99):6.1f} ms, "
                  f"{summary.accepted}/{summary.sent} accepted", flush=True)
    finally:
        server.stop()
    return rows, warm_up.accepted + sum(row["summary"].accepted for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="4,8,16,32", help="concurrent requests in flight, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="per level (at most 120)")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    args.levels = [min(max(int(x), 1), 256) for x in args.levels.split(",")][:8]
    args.seconds = min(args.seconds, 120.0)

    settings = ["--workers", str(args.workers), "--threads", str(args.threads), "--worker-class", "gthread",
                "--log-level", "warning", "--timeout", "30"]
    prepare_backends()
    logdir = Path(tempfile.mkdtemp(prefix="scrm-bench-"))
    (logdir / "empty.toml").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRM_")}
    env.update({
        "SCRM_CONFIG": str(logdir / "empty.toml"),  # nothing but what is set here
        "SCRM_DATABASE__URL": DATABASE_URL,
        "SCRM_REDIS__URL": REDIS_URL,
        "SCRM_LOGGING__LEVEL": "WARNING",
    })
    seed_rules(env)

    print(f"gunicorn {' '.join(settings)} (the same for both apps); {os.cpu_count()} CPU cores on this machine")
    print(f"load: {args.processes} processes of scrm.simulator, {args.seconds:g} s per level after a "
          f"{args.warmup:g} s warm-up; safe-mode MP callbacks ({len(RULES)} reply rules, unique MsgIds, "
          f"no retries) and {WORK_FRACTION:.0%} WeCom contact events")
    try:
        ours, accepted = measure("ours", "scrm.wsgi:app", env, settings, args, logdir, seed=1000)
        stored = stored_callbacks()
        bare_settings = [*settings, "--pythonpath", str(ROOT / "bench")]
        bare, _ = measure("bare", "bare_app:app", env, bare_settings, args, logdir, seed=5000)
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    report(ours, bare, stored, accepted)


def report(ours: list[dict], bare: list[dict], stored: int, accepted: int) -> None:
    def rate(row: dict) -> float:
        return row["summary"].accepted / row["summary"].elapsed

    def cpu(row: dict) -> str:
        parts = [row["server_cpu"], row["backend_cpu"], row["load_cpu"]]
        parts.append(max(0.0, row["busy_cpu"] - sum(parts)))
        return "/".join(f"{part / row['wall'] * 100:.0f}" for part in parts)

    def cells(row: dict) -> str:
        s = row["summary"]
        return f"{rate(row):>7.0f} {s.percentile(50):>6.1f} {s.percentile(99):>6.1f} {cpu(row):>18}"

    print()
    head = f"{'msgs/s':>7} {'p50 ms':>6} {'p99 ms':>6} {'cpu% app/db/gen/other':>18}"
    print(f"{'':>5} | {'ours':<{len(head)}} | {'bare Flask':<{len(head)}} |")
    print(f"{'level':>5} | {head} | {head} | {'ratio':>5}")
    for mine, theirs in zip(ours, bare):
        print(f"{mine['level']:>5} | {cells(mine)} | {cells(theirs)} | {rate(mine) / rate(theirs):>5.2f}")
    peak, bare_peak = max(ours, key=rate), max(bare, key=rate)
    p99 = peak["summary"].percentile(99)
    refused = sum(r["summary"].sent - r["summary"].accepted for r in ours + bare)
    print()
    print(f"peak: ours {rate(peak):.0f} msgs/s at level {peak['level']}, bare {rate(bare_peak):.0f} msgs/s at level "
          f"{bare_peak['level']}: ratio {rate(peak) / rate(bare_peak):.2f} (target >= 0.5); "
          f"p99 at our peak {p99:.1f} ms (target < 50 ms)")
    print(f"not accepted: {refused}; ours stored {stored} callbacks for the {accepted} it accepted (warm-up included)")
    if any(r["ran_out"] for r in ours + bare):
        print("note: a load process ran out of planned callbacks before its time; its rate is over a shorter run")
    print(f"cpu%: CPU time per second of wall time (100 = one core of {os.cpu_count()}) of gunicorn (master and "
          "workers), of every PostgreSQL and Redis process (other clients of theirs included), of the load "
          "generators, and of anything else running on the machine. They all share these cores, so both apps' "
          "figures are lower than on a dedicated server, the bare app's most: its rate is mostly the load "
          "generator's.")


if __name__ == "__main__":
    main()
