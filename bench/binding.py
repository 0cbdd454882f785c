"""Binding throughput: customers following through guides' codes (导购码) via the webhook, on
PostgreSQL and Redis, against plain follows that bind nobody, in the same run, on the same server.

1,000 guides in 10 stores get READY MP codes, written straight to the database (this measures
binding, not code creation). Then 100,000 customers follow: customer ``i`` sends a
``subscribe`` whose ``EventKey`` is ``qrscene_<scene>`` of guide ``i % 1000``'s code, signed
and sealed (safe mode) as WeChat does (:mod:`handlers.signed_callbacks`), from several load processes at
a fixed concurrency. Each follow creates the customer, binds them and is answered with the
guide's card (a news reply). Afterwards every customer's current binding is checked against the
guide they scanned, and a sample of the replies is opened and checked to be that guide's card.

The anchor: after emptying the customers, the same server gets plain follows (no scene) from
new customers, which are answered with the follow greeting. Both runs have the same reply
rules (bench/webhook.py's, the greeting included), so the ratio of the two rates is what
binding costs.

    .venv/bin/python bench/binding.py [--customers 100000] [--guides 1000] [--anchor-customers 20000]
                                      [--concurrency 16] [--processes 2]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres; the database ``scrm_bench`` is created if
missing, migrated and emptied) and Redis on 127.0.0.1:6379 (DB 14, flushed before and after).
Listens on 127.0.0.1 only. No job worker runs: the profile lookups follows enqueue wait in Redis.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import multiprocessing
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.webhook import (  # noqa: E402
    DATABASE_URL,
    REDIS_URL,
    Gunicorn,
    backend_cpu_seconds,
    free_port,
    machine_busy_seconds,
    prepare_backends,
    seed_rules,
)

from scrm.config import load_config  # noqa: E402
from scrm.simulator import openid  # noqa: E402

SCENE_KEY = "bench-binding-scene-key-not-secret"
STORES = 10
BINDING_SEED, ANCHOR_SEED, WARM_SEED = 1, 2, 3  # openids of the three groups of customers
SAMPLED_REPLIES = 1000


# -- the data ----------------------------------------------------------------------------------


def seed_guides(env: dict[str, str], guides: int) -> list[str]:
    """Stores, guides and their READY MP codes; the scenes, guide ``j``'s at index ``j``."""
    from guides.models import Guide, Store
    from qrcodes.models import ChannelCode
    from qrcodes.scenes import SceneCodec
    from scrm.config import load_config
    from scrm.runtime import Runtime

    config = load_config(environ=env)
    codec = SceneCodec.from_config(config)
    runtime = Runtime(config)
    with runtime.transaction() as db_session:
        stores = [Store(code=f"S{s:02d}", name=f"门店{s:02d}", address=f"示例路 {s + 1} 号") for s in range(STORES)]
        db_session.add_all(stores)
        db_session.flush()
        rows = [Guide(code=guide_code(j), name=guide_name(j), store_id=stores[j % STORES].id,
                      wecom_userid=f"bench-guide-{j:05d}") for j in range(guides)]
        db_session.add_all(rows)
        db_session.flush()
        scenes = [codec.encode("guide", guide.id) for guide in rows]
        now = runtime.clock.now()
        db_session.add_all(
            ChannelCode(kind="guide", channel="mp", scene=scene, guide_id=guide.id, status="ready",
                        ticket="gQ" + hashlib.sha1(scene.encode()).hexdigest(),
                        content=f"http://weixin.qq.com/q/bench{guide.id:05d}", ready_at=now)
            for guide, scene in zip(rows, scenes)
        )
    runtime.close()
    return scenes


def guide_code(j: int) -> str:
    return f"G{j:05d}"


def guide_name(j: int) -> str:
    return f"导购{j:05d}"


def empty_customers() -> None:
    """No customers, bindings, timeline or ledger: each timed run starts from the same tables."""
    from sqlalchemy import create_engine, text

    engine = create_engine(DATABASE_URL)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE customers, code_day_stats CASCADE"))
    engine.dispose()


def current_guides() -> tuple[int, int, dict[str, str]]:
    """Binding rows, those still current, and each bound openid's guide code."""
    from sqlalchemy import create_engine, text

    engine = create_engine(DATABASE_URL)
    with engine.connect() as conn:
        total, current = conn.execute(
            text("SELECT count(*), count(*) FILTER (WHERE ended_at IS NULL) FROM guide_bindings")).one()
        rows = conn.execute(text(
            "SELECT i.external_id, g.code FROM guide_bindings b JOIN guides g ON g.id = b.guide_id "
            "JOIN customer_identities i ON i.customer_id = b.customer_id AND i.channel = 'mp' "
            "WHERE b.ended_at IS NULL"
        )).all()
    engine.dispose()
    return total, current, dict(rows)


# -- the load ----------------------------------------------------------------------------------


def load_process(  # noqa: ANN201, PLR0913
    env: dict, url: str, part: int, processes: int, threads: int, customers: int, seed: int,
    scenes: list[str] | None, sample_every: int, progress, barrier, results,  # noqa: ANN001
):
    """Send the follows of customers ``part``, ``part + processes``, …; report what came back."""
    import requests

    from handlers.signed_callbacks import CallbackSender, mp_event_xml
    from scrm.config import load_config

    config = load_config(environ=env)
    sender = CallbackSender.from_config(config, "mp", encrypt=True)
    to = config.wechat.mp.original_id
    todo = []
    for i in range(part, customers, processes):
        extra = {}
        if scenes is None:
            key = ""
        else:
            scene = scenes[i % len(scenes)]
            key, extra = f"qrscene_{scene}", {"Ticket": "gQ" + hashlib.sha1(scene.encode()).hexdigest()}
        todo.append((i, openid(seed, i), key, extra))
    lock, position = threading.Lock(), [0]
    latencies: list[float] = []
    errors: Counter = Counter()
    samples: dict[int, bytes] = {}

    def take():  # noqa: ANN202
        with lock:
            k = position[0]
            position[0] += 1
        return todo[k] if k < len(todo) else None

    def work() -> None:
        mine, unreported = [], 0
        with requests.Session() as session:
            while (item := take()) is not None:
                i, oid, key, extra = item
                xml = mp_event_xml(to=to, openid=oid, event="subscribe", create_time=int(time.time()), key=key, **extra)
                signed = sender.sign(xml)
                started = time.perf_counter()
                try:
                    response = session.post(url + signed.path, data=signed.body,
                                            headers={"Content-Type": "text/xml"}, timeout=10)
                except requests.RequestException as exc:
                    with lock:
                        errors[type(exc).__name__] += 1
                    continue
                mine.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    with lock:
                        errors[f"HTTP {response.status_code}"] += 1
                elif i % sample_every == 0:
                    samples[i] = response.content
                unreported += 1
                if unreported == 50:
                    with progress.get_lock():
                        progress.value += unreported
                    unreported = 0
        with progress.get_lock():
            progress.value += unreported
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    barrier.wait()
    started, cpu = time.monotonic(), time.process_time()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put({"started": started, "finished": time.monotonic(), "latencies": latencies, "errors": errors,
                 "samples": samples, "load_cpu": time.process_time() - cpu})


def send_follows(env: dict, server: Gunicorn, customers: int, seed: int, scenes: list[str] | None,  # noqa: PLR0913
                 args: argparse.Namespace, name: str) -> dict:
    """``customers`` follows at ``args.concurrency`` in flight: the combined results, with CPU
    time of the server, PostgreSQL and Redis, and the whole machine over the run."""
    ctx = multiprocessing.get_context("spawn")
    count = min(args.processes, args.concurrency)
    shares = [args.concurrency // count + (1 if p < args.concurrency % count else 0) for p in range(count)]
    barrier, results, progress = ctx.Barrier(count + 1), ctx.Queue(), ctx.Value("q", 0)
    sample_every = max(1, customers // SAMPLED_REPLIES)
    workers = [
        ctx.Process(target=load_process, args=(env, server.url, p, count, shares[p], customers, seed, scenes,
                                               sample_every, progress, barrier, results))
        for p in range(count)
    ]
    for worker in workers:
        worker.start()
    barrier.wait(timeout=120)
    before = server.cpu_seconds(), backend_cpu_seconds(), machine_busy_seconds()
    parts, last_note = [], time.monotonic()
    while len(parts) < count:
        try:
            parts.append(results.get(timeout=1))
        except queue.Empty:
            if not any(worker.is_alive() for worker in workers):
                raise SystemExit(f"{name}: a load process died") from None
        if name and time.monotonic() - last_note >= 30:
            last_note = time.monotonic()
            print(f"  {name}: {progress.value}/{customers} answered", flush=True)
    after = server.cpu_seconds(), backend_cpu_seconds(), machine_busy_seconds()
    for worker in workers:
        worker.join(10)
    return {
        "customers": customers,
        "wall": max(p["finished"] for p in parts) - min(p["started"] for p in parts),
        "latencies": sorted(ms for p in parts for ms in p["latencies"]),
        "errors": sum((p["errors"] for p in parts), Counter()),
        "samples": {i: body for p in parts for i, body in p["samples"].items()},
        "cpu": [after[0] - before[0], after[1] - before[1], sum(p["load_cpu"] for p in parts), after[2] - before[2]],
    }


# -- the run -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000, help="follows through guide codes")
    parser.add_argument("--guides", type=int, default=1000)
    parser.add_argument("--anchor-customers", type=int, default=20_000, help="plain follows (at most --customers)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--warmup", type=int, default=400, help="follows of each kind before the timed runs (not counted)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    args.anchor_customers = min(args.anchor_customers, args.customers)
    if args.customers < 1 or not 1 <= args.guides <= 100_000 or args.anchor_customers < 1:
        parser.error("--customers, --anchor-customers and --guides must be at least 1 (guides at most 100000)")

    settings = ["--workers", str(args.workers), "--threads", str(args.threads), "--worker-class", "gthread",
                "--log-level", "warning", "--timeout", "30"]
    prepare_backends()
    logdir = Path(tempfile.mkdtemp(prefix="scrm-bench-"))
    (logdir / "empty.toml").write_text("")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRM_")}
    env.update({
        "SCRM_CONFIG": str(logdir / "empty.toml"),  # nothing but what is set here
        "SCRM_DATABASE__URL": DATABASE_URL,
        "SCRM_REDIS__URL": REDIS_URL,
        "SCRM_LOGGING__LEVEL": "WARNING",
        "SCRM_QRCODES__SCENE_KEY": SCENE_KEY,  # the seeding and the server sign and check scenes alike
        "SCRM_SERVER__PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "SCRM_SERVER__PORT": str(port),
    })
    seed_rules(env)
    scenes = seed_guides(env, args.guides)
    config = load_config(environ=env)

    print(f"gunicorn {' '.join(settings)}; {os.cpu_count()} CPU cores on this machine")
    print(f"load: {args.processes} processes, {args.concurrency} requests in flight; safe-mode MP subscribe events, "
          f"one per new customer; {args.guides} guides in {STORES} stores with READY MP codes; "
          f"warm-up: {args.warmup} binding and {args.warmup} plain follows, not counted")
    server = Gunicorn("scrm.wsgi:app", settings, env, port, logdir)
    try:
        server.wait_until_ready()
        send_follows(env, server, args.warmup, WARM_SEED, scenes, args, name="")  # pools, caches, imports
        send_follows(env, server, args.warmup, WARM_SEED + 10, None, args, name="")
        empty_customers()
        binding = send_follows(env, server, args.customers, BINDING_SEED, scenes, args, name="binding follows")
        bindings_total, bindings_current, bound = current_guides()
        empty_customers()
        plain = send_follows(env, server, args.anchor_customers, ANCHOR_SEED, None, args, name="plain follows")
    finally:
        server.stop()
        shutil.rmtree(logdir, ignore_errors=True)
    wrong = sum(1 for i in range(args.customers) if bound.get(openid(BINDING_SEED, i)) != guide_code(i % args.guides))
    report(args, binding, plain, bindings_total, bindings_current, wrong, config)
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()  # the queued profile lookups


def check_replies(config, samples: dict[int, bytes], guides: int | None) -> tuple[int, list[str]]:  # noqa: ANN001
    """How many sampled replies are right: the scanned guide's card (``guides``), else the
    greeting; and what the first wrong ones were."""
    from handlers.signed_callbacks import CallbackSender

    sender = CallbackSender.from_config(config, "mp", encrypt=True)
    good, bad = 0, []
    for i, body in sorted(samples.items()):
        try:
            xml = sender.open_reply(body)
        except Exception as exc:  # noqa: BLE001
            xml = f"unreadable: {exc}"
        if guides is None:
            right = "<MsgType><![CDATA[text]]></MsgType>" in xml
        else:
            right = "<MsgType><![CDATA[news]]></MsgType>" in xml and f"：{guide_name(i % guides)}（" in xml
        good += right
        if not right and len(bad) < 3:
            bad.append(f"customer {i}: {xml[:300]}")
    return good, bad


def report(args, binding: dict, plain: dict, total: int, current: int, wrong: int, config) -> None:  # noqa: ANN001
    def pct(run: dict, p: float) -> float:
        ordered = run["latencies"]
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] if ordered else 0.0

    def answered(run: dict) -> int:
        return len(run["latencies"]) - sum(n for k, n in run["errors"].items() if k.startswith("HTTP"))

    def cpu(run: dict) -> str:
        server, db, gen, busy = run["cpu"]
        return "/".join(f"{part / run['wall'] * 100:.0f}" for part in (server, db, gen, max(0.0, busy - server - db - gen)))

    def line(label: str, run: dict, rate_label: str, rate: float) -> None:
        errors = ", ".join(f"{k} ×{n}" for k, n in sorted(run["errors"].items())) or "none"
        print(f"{label}: {run['customers']} customers sent in {run['wall']:.1f} s: {rate_label} {rate:.0f}/s, "
              f"replies {answered(run) / run['wall']:.0f}/s; latency p50 {pct(run, 50):.1f} ms, p95 {pct(run, 95):.1f} ms, "
              f"p99 {pct(run, 99):.1f} ms, max {run['latencies'][-1] if run['latencies'] else 0:.1f} ms; "
              f"errors: {errors}; cpu% app/db/gen/other {cpu(run)}")

    binding_rate = total / binding["wall"]
    plain_rate = answered(plain) / plain["wall"]
    cards, bad_cards = check_replies(config, binding["samples"], args.guides)
    greetings, bad_greetings = check_replies(config, plain["samples"], None)
    print()
    line("binding", binding, "bindings", binding_rate)
    print(f"  bound: {total} binding rows, {current} current (customers sent: {binding['customers']}); "
          f"{binding['customers'] - wrong} customers bound to the guide whose code they scanned, {wrong} not")
    print(f"  replies: {cards} of {len(binding['samples'])} sampled are the scanned guide's news card")
    for text in bad_cards:
        print(f"    wrong: {text}")
    line("plain  ", plain, "follows", plain_rate)
    print(f"  replies: {greetings} of {len(plain['samples'])} sampled are the follow greeting (text)")
    for text in bad_greetings:
        print(f"    wrong: {text}")
    print()
    print(f"{'':<15} {'follows/s':>9} {'p50 ms':>7} {'p99 ms':>7}")
    for label, run, rate in (("binding", binding, binding_rate), ("plain (anchor)", plain, plain_rate)):
        print(f"{label:<15} {rate:>9.0f} {pct(run, 50):>7.1f} {pct(run, 99):>7.1f}")
    print(f"ratio: binding follows/s ÷ plain follows/s = {binding_rate / plain_rate:.2f}; "
          f"p99 {pct(binding, 99):.1f} ms vs {pct(plain, 99):.1f} ms")
    if args.anchor_customers < args.customers:
        print(f"note: the anchor sent {args.anchor_customers} plain follows, not {args.customers} (--anchor-customers), "
              "to keep the run short; both start from empty customer tables")
    print(f"cpu%: CPU time per second of wall time (100 = one core of {os.cpu_count()}) of gunicorn, of every "
          "PostgreSQL and Redis process (other clients' included), of the load generators, and of anything else "
          "on the machine; all share these cores, so the rates are lower than on a dedicated server.")


if __name__ == "__main__":
    main()
