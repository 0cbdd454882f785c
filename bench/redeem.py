"""Redemption (核销) throughput: guides redeeming coupons over HTTP on gunicorn + PostgreSQL,
with every double redemption counted, against the issue's target of 500 redemptions/s.

Stores, guides (with their codes, made by the sandbox WeChat through the running server) and
guide users are made through the services; a template too. Then customers, their bindings to
guides and the coupons are written in bulk (this measures redemption, not issuing): each
coupon's code is ``CouponCodec.from_config(config).encode(id)``, exactly what issuing gives it.

The load: ``--clients`` threads (in ``--processes`` processes), each with one keep-alive HTTP
connection, take coupons from a shared queue and POST ``/api/coupons/redeem`` with the
customer's own guide's token, so the winner renews the binding and credits the guide's code.
A share of the coupons (``--duplicates``) is queued twice in a row, the second time for another
guide of the same store: two clients send the same code within microseconds of each other and
the database must let one through. Double redemptions are counted from the answers (two 200s
for one coupon) and from the database (two ``ok`` attempts for one coupon; coupons redeemed
against 200s answered; every answer audited).

    .venv/bin/python bench/redeem.py [--coupons 30000] [--clients 32] [--workers 2] [--threads 8]
                                     [--duplicates 0.25] [--seconds S] [--processes 2]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres; the database ``bench_redeem`` must exist, its
schema is dropped and migrated) and Redis on 127.0.0.1:6379 (DB 12, flushed before and after).
Listens on 127.0.0.1 only; the announce jobs issuing would queue are not made (bulk seeding).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.databases import migrate_afresh  # noqa: E402
from bench.webhook import Gunicorn, backend_cpu_seconds, free_port, machine_busy_seconds  # noqa: E402

DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_redeem"
REDIS_URL = "redis://127.0.0.1:6379/12"
TARGET = 500.0  # redemptions/s, issue #6
SEED = 6


# -- the data ----------------------------------------------------------------------------------


def prepare_backends() -> None:
    import redis

    migrate_afresh(DATABASE_URL)
    redis.Redis.from_url(REDIS_URL).flushdb()


def seed_people(runtime, stores: int, guides: int) -> list[tuple[str, int, str]]:  # noqa: ANN001
    """Stores, guides and their guide users through the services: (guide code, store, token)."""
    from guides import service
    from guides.schemas import GuideIn, StoreIn
    from scrm.sandbox import world
    from scrm.users.service import create_user

    with runtime.transaction() as db_session:
        for s in range(stores):
            service.create_store(runtime=runtime, db_session=db_session,
                                 store_in=StoreIn(code=f"S{s:02d}", name=f"门店{s:02d}"))
    people = []
    for g in range(guides):
        code, userid = f"G{g:03d}", f"bench-guide-{g:03d}"
        world.add_member(runtime.redis, userid, f"导购{g:03d}")
        with runtime.transaction() as db_session:
            service.create_guide(runtime=runtime, db_session=db_session, guide_in=GuideIn(
                code=code, name=f"导购{g:03d}", store=f"S{g % stores:02d}", wecom_userid=userid))
            _, token = create_user(db_session=db_session, name=f"guide-{code}", role="guide", guide_code=code)
        people.append((code, g % stores, token))
    return people


def seed_coupons(runtime, guides: int, coupons: int) -> list[tuple[str, int]]:  # noqa: ANN001
    """A template through the service; customers (two coupons each), bound to guide ``j % guides``
    by its MP code, and the coupons in bulk. Each coupon's (shown code, bound guide index)."""
    from sqlalchemy import func, insert, select, text, update

    from guides.models import Binding, Guide
    from qrcodes.models import ChannelCode
    from scrm.coupons import coupon_templates
    from scrm.coupons.codes import CouponCodec, display
    from scrm.coupons.models import Coupon, CouponTemplate
    from scrm.coupons.schemas import TemplateIn
    from scrm.customers.models import Customer, CustomerIdentity

    codec = CouponCodec.from_config(runtime.config)
    now = runtime.clock.now()
    customers = (coupons + 1) // 2
    with runtime.transaction() as db_session:
        template = coupon_templates.create_template(db_session=db_session, at=now, template_in=TemplateIn(
            name="满100减20", kind="cash", amount="20", min_spend="100", valid_days=30, per_customer_limit=None))
        codes = dict(db_session.execute(
            select(Guide.code, ChannelCode.id).join(ChannelCode, ChannelCode.guide_id == Guide.id)
            .where(ChannelCode.channel == "mp", ChannelCode.status == "ready")).all())
        guide_rows = db_session.execute(select(Guide.id, Guide.code).order_by(Guide.code)).all()
        if len(codes) != guides:
            raise SystemExit(f"only {len(codes)} of {guides} guides have a ready MP code")
        customer_ids = db_session.scalars(insert(Customer).returning(Customer.id, sort_by_parameter_order=True),
                                          [{"nickname": f"顾客{j:06d}", "phone": f"139{j:08d}"}
                                           for j in range(customers)]).all()
        db_session.execute(insert(CustomerIdentity), [
            {"customer_id": cid, "channel": "mp", "external_id": f"obench{j:08d}redeem", "following": True,
             "followed_at": now - timedelta(days=10)} for j, cid in enumerate(customer_ids)])
        db_session.execute(insert(Binding), [
            {"customer_id": cid, "guide_id": guide_rows[j % guides].id, "code_id": codes[guide_rows[j % guides].code],
             "channel": "mp", "bound_at": now - timedelta(days=10), "protected_until": now + timedelta(days=20)}
            for j, cid in enumerate(customer_ids)])
        ids = db_session.scalars(text("SELECT nextval(pg_get_serial_sequence('coupons', 'id')) "
                                      "FROM generate_series(1, :n)"), {"n": coupons}).all()
        db_session.execute(insert(Coupon), [
            {"id": cid, "code": codec.encode(cid), "template_id": template.id, "customer_id": customer_ids[i // 2],
             "status": "issued", "source": "manual", "source_ref": "bench", "issued_at": now - timedelta(days=1),
             "valid_from": now - timedelta(days=1), "valid_until": now + timedelta(days=29),
             "issued_guide_id": guide_rows[(i // 2) % guides].id, "announce_state": "none"}
            for i, cid in enumerate(ids)])
        db_session.execute(update(CouponTemplate).where(CouponTemplate.id == template.id)
                           .values(issued_count=coupons))
        stored = db_session.scalars(select(Coupon.code).order_by(Coupon.id)).all()
        assert stored == [codec.encode(cid) for cid in ids] and db_session.scalar(func.count(Coupon.id)) == coupons
    return [(display(codec.encode(cid)), (i // 2) % guides) for i, cid in enumerate(ids)]


# -- the load ----------------------------------------------------------------------------------


def plan(coupons: list[tuple[str, int]], people: list, duplicates: float, seed: int) -> list[tuple[int, str, str]]:
    """(coupon index, code, token) in sending order: shuffled; a duplicated coupon twice in a row,
    first for its customer's guide, then for another guide of the same store."""
    rng = random.Random(seed)
    order = list(range(len(coupons)))
    rng.shuffle(order)
    stores = len({store for _, store, _ in people})
    items = []
    for i in order:
        code, g = coupons[i]
        items.append((i, code, people[g][2]))
        if rng.random() < duplicates:
            items.append((i, code, people[(g + stores) % len(people)][2]))
    return items


def load_process(url: str, items: list, threads: int, seconds: float | None, barrier, results) -> None:  # noqa: ANN001
    """``threads`` clients on keep-alive connections sending ``items`` in order; each answer's
    (coupon index, HTTP status or error name, latency ms)."""
    import http.client
    import json
    import threading
    from urllib.parse import urlsplit

    host, port = urlsplit(url).hostname, urlsplit(url).port
    lock, position, records = threading.Lock(), [0], []

    def client() -> None:
        mine, connection = [], http.client.HTTPConnection(host, port, timeout=30)
        while True:
            with lock:
                k = position[0]
                position[0] += 1
            if k >= len(items) or (seconds is not None and time.monotonic() - started > seconds):
                break
            index, code, token = items[k]
            body = json.dumps({"code": code})
            began = time.perf_counter()
            try:
                connection.request("POST", "/api/coupons/redeem", body=body, headers={
                    "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                status = type(exc).__name__
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=30)
            mine.append((index, status, (time.perf_counter() - began) * 1000))
        connection.close()
        with lock:
            records.extend(mine)

    workers = [threading.Thread(target=client) for _ in range(threads)]
    barrier.wait()
    started, cpu = time.monotonic(), time.process_time()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put({"started": started, "finished": time.monotonic(), "records": records,
                 "load_cpu": time.process_time() - cpu})


def send(server: Gunicorn, items: list, args: argparse.Namespace, seconds: float | None) -> dict:
    """Send ``items`` from ``args.processes`` processes, each a slice that keeps pairs together."""
    ctx = multiprocessing.get_context("spawn")
    count = max(1, min(args.processes, args.clients))
    slices: list[list] = [[] for _ in range(count)]
    for item in items:
        slices[item[0] % count].append(item)
    shares = [args.clients // count + (1 if p < args.clients % count else 0) for p in range(count)]
    barrier, results = ctx.Barrier(count + 1), ctx.Queue()
    workers = [ctx.Process(target=load_process, args=(server.url, slices[p], shares[p], seconds, barrier, results))
               for p in range(count)]
    for worker in workers:
        worker.start()
    barrier.wait(timeout=120)
    before = server.cpu_seconds(), backend_cpu_seconds(), machine_busy_seconds()
    parts = [results.get(timeout=3600) for _ in workers]
    after = server.cpu_seconds(), backend_cpu_seconds(), machine_busy_seconds()
    for worker in workers:
        worker.join(10)
    return {
        "wall": max(p["finished"] for p in parts) - min(p["started"] for p in parts),
        "records": [r for p in parts for r in p["records"]],
        "cpu": [after[0] - before[0], after[1] - before[1], sum(p["load_cpu"] for p in parts), after[2] - before[2]],
    }


# -- the checks --------------------------------------------------------------------------------


def database_counts() -> dict[str, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(DATABASE_URL)
    with engine.connect() as conn:
        row = conn.execute(text("""
            SELECT (SELECT count(*) FROM coupons WHERE status = 'redeemed') AS redeemed,
                   (SELECT count(*) FROM coupon_attempts WHERE action = 'redeem') AS attempts,
                   (SELECT count(*) FROM coupon_attempts WHERE action = 'redeem' AND result = 'ok') AS ok,
                   (SELECT count(*) FROM (SELECT coupon_id FROM coupon_attempts
                                          WHERE action = 'redeem' AND result = 'ok'
                                          GROUP BY coupon_id HAVING count(*) > 1) AS twice) AS doubles,
                   (SELECT count(*) FROM coupons c WHERE c.status = 'redeemed' AND NOT EXISTS (
                        SELECT 1 FROM coupon_attempts a WHERE a.coupon_id = c.id AND a.result = 'ok')) AS unaudited,
                   (SELECT coalesce(sum(redemptions), 0) FROM code_day_stats) AS credited
        """)).one()
    engine.dispose()
    return dict(row._mapping)


# -- the run -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coupons", type=int, default=30_000, help="coupons to redeem in the timed run")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (keep-alive connections)")
    parser.add_argument("--duplicates", type=float, default=0.25, help="share of coupons sent twice at once")
    parser.add_argument("--seconds", type=float, default=None, help="stop the timed run after this long")
    parser.add_argument("--warmup", type=int, default=1000, help="coupons redeemed before the timed run")
    parser.add_argument("--stores", type=int, default=4)
    parser.add_argument("--guides", type=int, default=32, help="a multiple of --stores")
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker (gthread)")
    args = parser.parse_args()
    if args.coupons < 1 or args.clients < 1 or args.guides % args.stores or args.guides < 2 * args.stores \
            or not 0 <= args.duplicates <= 1:
        parser.error("--coupons and --clients at least 1; --guides a multiple of --stores, at least two per "
                     "store; --duplicates between 0 and 1")

    from scrm.config import load_config
    from scrm.runtime import Runtime, install

    settings = ["--workers", str(args.workers), "--threads", str(args.threads), "--worker-class", "gthread",
                "--log-level", "warning", "--timeout", "30"]
    load_before = os.getloadavg()
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
        "SCRM_SERVER__PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "SCRM_SERVER__PORT": str(port),
        # 32 clients on one address and a few guides: the redemption rate limits (SPEC §12) would
        # measure themselves, not redemption.
        "SCRM_SECURITY__RATE_LIMITS__REDEEM_PER_USER": "1000000/minute",
        "SCRM_SECURITY__RATE_LIMITS__REDEEM_PER_IP": "1000000/minute",
    })
    runtime = install(Runtime(load_config(environ=env)))  # after-commit jobs go to its Redis
    server = Gunicorn("scrm.wsgi:app", settings, env, port, logdir)
    try:
        server.wait_until_ready()
        seeding = time.monotonic()
        people = seed_people(runtime, args.stores, args.guides)
        runtime.queue.run_pending()  # the guides' codes, from the sandbox WeChat on this server
        coupons = seed_coupons(runtime, args.guides, args.warmup + args.coupons)
        seeding = time.monotonic() - seeding
        print(f"gunicorn {' '.join(settings)}; {os.cpu_count()} CPU cores on this machine; load average "
              f"{load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f} before seeding")
        print(f"seeded in {seeding:.0f} s: {args.stores} stores, {args.guides} guides with codes and tokens, "
              f"{len(coupons)} coupons ({args.warmup} for the warm-up) of {(len(coupons) + 1) // 2} bound customers")
        warm = send(server, plan(coupons[:args.warmup], people, args.duplicates, SEED), args, None)
        items = plan(coupons[args.warmup:], people, args.duplicates, SEED + 1)
        items = [(i + args.warmup, code, token) for i, code, token in items]
        print(f"load: {args.clients} clients in {args.processes} processes, {len(items)} attempts queued for "
              f"{args.coupons} coupons ({args.duplicates:.0%} of them twice at once, by two guides of one store)"
              + (f", for at most {args.seconds:g} s" if args.seconds else ""), flush=True)
        run = send(server, items, args, args.seconds)
        load_after = os.getloadavg()
    finally:
        server.stop()
        shutil.rmtree(logdir, ignore_errors=True)
        runtime.close()
    report(args, run, warm, database_counts(), load_after)
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def report(args, run: dict, warm: dict, db: dict, load_after: tuple) -> None:  # noqa: ANN001
    records = run["records"]
    latencies = sorted(ms for _, _, ms in records)

    def pct(p: float) -> float:
        return latencies[max(0, math.ceil(p / 100 * len(latencies)) - 1)] if latencies else 0.0

    statuses = Counter(status for _, status, _ in records)
    wins = Counter(index for index, status, _ in run["records"] + warm["records"] if status == 200)
    client_doubles = sum(1 for n in wins.values() if n > 1)
    answered = sum(n for status, n in statuses.items() if isinstance(status, int))
    answered_all = answered + sum(1 for _, s, _ in warm["records"] if isinstance(s, int))
    successes, wall = statuses[200], run["wall"]
    server, db_cpu, gen, busy = run["cpu"]
    cpu = "/".join(f"{part / wall * 100:.0f}" for part in (server, db_cpu, gen, max(0.0, busy - server - db_cpu - gen)))
    print()
    print(f"timed run: {len(records)} attempts in {wall:.1f} s: {successes / wall:.0f} redemptions/s (HTTP 200), "
          f"{len(records) / wall:.0f} attempts/s; latency p50 {pct(50):.1f} ms, p95 {pct(95):.1f} ms, "
          f"p99 {pct(99):.1f} ms, max {latencies[-1] if latencies else 0:.1f} ms")
    print("  answers: " + ", ".join(f"{status} ×{n}" for status, n in sorted(statuses.items(), key=str)))
    print(f"  cpu% app/db/gen/other {cpu} (100 = one core of {os.cpu_count()}); CPU per attempt: gunicorn "
          f"{server / len(records) * 1000:.1f} ms, PostgreSQL + Redis {db_cpu / len(records) * 1000:.1f} ms "
          f"(others' queries included); load average after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    print()
    print(f"double redemptions (warm-up included): {client_doubles} coupons answered 200 twice; "
          f"{db['doubles']} coupons with two 'ok' attempts in coupon_attempts")
    print(f"  database: {db['redeemed']} coupons redeemed, {db['ok']} 'ok' attempts, {len(wins)} coupons answered "
          f"200 ({sum(wins.values())} 200s); {db['attempts']} redeem attempts audited for {answered_all} answers; "
          f"{db['unaudited']} redeemed coupons without an 'ok' attempt; {db['credited']} credited to a guide's code")
    exact = client_doubles == 0 and db["doubles"] == 0 and db["redeemed"] == db["ok"] == sum(wins.values()) \
        and db["attempts"] == answered_all and db["unaudited"] == 0
    print(f"  exactly once: {'yes' if exact else 'NO'}")
    print()
    rate = successes / wall
    print(f"{'':<22} {'per s':>7} {'target':>7} {'ratio':>6}")
    print(f"{'redemptions (200)':<22} {rate:>7.0f} {TARGET:>7.0f} {rate / TARGET:>6.2f}")
    print(f"{'attempts (all answers)':<22} {len(records) / wall:>7.0f}")
    print("note: gunicorn, PostgreSQL (synchronous_commit as configured), Redis and the load generators share "
          "these cores; other helpers' tests may too (see load average).")


if __name__ == "__main__":
    main()
