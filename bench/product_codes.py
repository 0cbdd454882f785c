"""Product codes (一物一码, issue 19, SPEC §14) at 10,000,000 codes: ours, computed and
verified without a lookup, against the peers' design, a table with a row per code, in one run.

Each figure is printed beside its anchor and the ratio ours ÷ theirs:

1. **making the codes**: our batch's 10,000,000 codes as CSV rows ``serial,code,url``, made in
   process by ``ProductCodec.codes()`` (nothing is stored: no insert at all), against the
   peers' fill of ``peers.product_codes``, 1,000 rows per INSERT (bench/product_codes_peers.py);
   the storage: our batch's one row against their table and its indexes;
2. **streaming codes.csv**: ``GET /api/code-batches/<id>/codes.csv`` of the batch (made through
   ``POST /api/code-batches`` with a manager's token) from the app under gunicorn, the body read
   and its rows counted, with the serving worker's memory (VmRSS every 0.5 s: start, peak, end),
   against the peers' app streaming their stored codes as CSV from a server-side cursor;
3. **verifying**: ``ProductCodec.decode`` of genuine codes and of codes with one character
   changed, one thread, against one lookup by the unique index per code (one connection);
4. **claims over HTTP**, ``--clients`` connections (wrk, bench/raw_requests.lua) replaying
   pre-built requests, each code claimed once: ours a ``POST /p/<code>`` of a signed-in
   customer (signed in beforehand through the claim page's MP web sign-in, as the sandbox
   plays WeChat) with the page's ``csrf_token``, answered 303; theirs a POST to a minimal
   app that looks the code up and claims it in one transaction
   (bench/product_codes_peer_app.py), answered 200. Each side runs twice, alternately, after
   an untimed warm-up; both runs are printed.

    .venv/bin/python bench/product_codes.py [--codes 10000000] [--database bench_products] [--reuse-table]
        [--verify 100000] [--claims 10000] [--warmup 1000] [--clients 32] [--customers 320]

``--reuse-table`` keeps the peers' table when it holds a fill of ``--codes`` codes (its insert
time is then the one that fill took, printed with its date); without it the table is filled
anew. Needs ``wrk``, PostgreSQL on 127.0.0.1:5432 (user postgres; the database is created if
missing, our schema dropped and migrated each run) and Redis on 127.0.0.1:6379 (DB 10,
flushed). Listens on 127.0.0.1:5076 (ours) and 5077 (theirs).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import product_codes_ours as ours  # noqa: E402
from bench import product_codes_peers as peers  # noqa: E402
from bench.product_codes_http import (  # noqa: E402
    RssSampler, claim_request, cpu_ticks, peer_claim_request, read_csv_stream, worker_pids,
)
from bench.product_codes_report import report  # noqa: E402
from bench.wrk_replay import describe, replay  # noqa: E402
from bench.webhook import Gunicorn  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/10"
OUR_PORT, PEER_PORT = 5076, 5077
CODE_KEY = "bench-product-codes-key-0123456789"  # fixed: a reused peers' table holds the same codes
SEED = 19
SETTINGS = ["--workers", "2", "--threads", "8", "--worker-class", "gthread", "--log-level", "warning",
            "--timeout", "30"]


@contextmanager
def part(name: str, title: str, timings: dict):
    """A part of the run, its title printed first and its time (under ``name``) after."""
    print(f"\n{title}", flush=True)
    started = time.monotonic()
    yield
    timings[name] = time.monotonic() - started
    print(f"  ({timings[name]:.0f} s)", flush=True)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def server_env(url: str, port: int, logdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRM_")}
    env.update({
        "SCRM_CONFIG": str(logdir / "empty.toml"),  # nothing but what is set here
        "SCRM_DATABASE__URL": url,
        "SCRM_REDIS__URL": REDIS_URL,
        "SCRM_LOGGING__LEVEL": "WARNING",
        "SCRM_SERVER__PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "SCRM_SERVER__PORT": str(port),
        "SCRM_PRODUCTS__CODE_KEY": CODE_KEY,
        # Every request comes from 127.0.0.1 and a customer claims many codes: the limits (SPEC
        # §12) would measure themselves, not claiming.
        "SCRM_PRODUCTS__DAILY_CLAIMS": "10000",
        "SCRM_SECURITY__RATE_LIMITS__PRODUCT_CLAIMS_PER_IP": "1000000/minute",
        "SCRM_SECURITY__RATE_LIMITS__SIGN_IN_PER_IP": "1000000/minute",
    })
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", type=int, default=10_000_000, help="codes in the batch and in the peers' table")
    parser.add_argument("--database", default="bench_products")
    parser.add_argument("--reuse-table", action="store_true", help="keep the peers' table when it holds --codes codes")
    parser.add_argument("--verify", type=int, default=100_000, help="codes verified, of each kind")
    parser.add_argument("--claims", type=int, default=10_000, help="claims per timed run, each side")
    parser.add_argument("--warmup", type=int, default=1_000, help="claims before the timed runs, each side")
    parser.add_argument("--clients", type=int, default=32, help="connections (wrk -c)")
    parser.add_argument("--customers", type=int, default=320, help="signed-in customers, a multiple of --clients")
    args = parser.parse_args()
    claims_total = args.warmup + 2 * args.claims
    if args.customers % args.clients or args.clients < 1 or args.codes < max(2, claims_total + 1, args.verify):
        parser.error("--customers a multiple of --clients; --codes more than the claims and verified codes")
    if claims_total / args.customers > 10_000:
        parser.error("more claims per customer than products.daily_claims allows (10,000): raise --customers")

    from scrm.config import load_config
    from scrm.products.codes import ProductCodec
    from scrm.runtime import Runtime, install

    print(f"{load()} before the run; gunicorn {' '.join(SETTINGS)} for both apps")
    timings: dict[str, float] = {}
    results: dict = {"codes": args.codes, "clients": args.clients, "claims_sent": claims_total}
    logdir = Path(tempfile.mkdtemp(prefix="scrm-bench-products-"))
    (logdir / "empty.toml").write_text("")
    codec = ProductCodec(CODE_KEY)
    digest = hashlib.sha256(CODE_KEY.encode()).hexdigest()[:16]

    with part("databases", "the databases", timings):
        url = ours.prepare_database(args.database)
        peers_url = url.replace("+psycopg", "")
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
    with part("peers' table", f"the peers' table: {args.codes:,} codes, 1,000 rows per INSERT", timings):
        fill = peers.stored_fill(peers_url, args.codes, digest) if args.reuse_table else None
        if fill is None:
            fill = peers.fill(peers_url, codec, args.codes, digest)
        else:
            print(f"  reused: filled {fill['filled_at']:%Y-%m-%d %H:%M}, "
                  f"{peers.reset_claims(peers_url)} claims of an earlier run undone")
        results["fill"], results["peer_sizes"] = fill, peers.sizes(peers_url)
        print(f"  {fill['seconds']:.0f} s ({fill['database_seconds']:.0f} s in PostgreSQL)")

    env = server_env(url, OUR_PORT, logdir)
    runtime = install(Runtime(load_config(environ=env)))
    ours_server = Gunicorn("scrm.wsgi:app", SETTINGS, env, OUR_PORT, logdir)
    peer_env = {**{k: v for k, v in os.environ.items() if not k.startswith("SCRM_")}, "PEERS_DATABASE_URL": peers_url,
                "PEERS_PUBLIC_BASE_URL": f"http://127.0.0.1:{PEER_PORT}"}
    peer_server = Gunicorn("product_codes_peer_app:app", [*SETTINGS, "--pythonpath", str(ROOT / "bench")],
                           peer_env, PEER_PORT, logdir)
    try:
        ours_server.wait_until_ready()
        peer_server.wait_until_ready()
        with part("people and batch", f"our people and the batch of {args.codes:,} (POST /api/code-batches)", timings):
            people = ours.seed_people(runtime, args.customers, guides=8)
            batch = ours.create_batch(ours_server.url, people.manager_token, args.codes)
            results["batch_row"] = peers.batch_row_size(peers_url, batch["id"])
            print(f"  batch {batch['id']} (prefix {batch['prefix']}); {args.customers} customers, 8 guides")
        with part("1. making codes", f"1. making {args.codes:,} code URLs in process", timings):
            results["generate"] = made = ours.generate(codec, batch["prefix"], args.codes, ours_server.url)
            print(f"  codes() + f-strings: {made['rows'] / made['seconds']:,.0f} codes/s, {made['bytes'] / 1e6:,.0f} MB "
                  f"of rows", flush=True)
            results["csv_chunks"] = rows = ours.export_in_process(runtime.config, batch)
            print(f"  exports.csv_chunks (what codes.csv streams): {rows['rows'] / rows['seconds']:,.0f} codes/s, "
                  f"{rows['bytes'] / 1e6:,.0f} MB; this process's RSS {rows['rss'][0] / 1024:.0f} → "
                  f"{rows['rss'][2] / 1024:.0f} MiB")
        with part("2. codes.csv", f"2. streaming codes.csv of {args.codes:,} over HTTP", timings):
            results["stream"] = stream_csv(ours_server, f"/api/code-batches/{batch['id']}/codes.csv",
                                           people.manager_token, args.codes, codec)
            results["export"] = stream_csv(peer_server, "/codes.csv", "", args.codes, codec)
        with part("3. verifying", f"3. verifying {args.verify:,} genuine codes and {args.verify:,} with one character "
                  "changed", timings):
            results["verify"] = verify(codec, peers_url, batch["prefix"], args.codes, args.verify)
        with part("4. claims", f"4. claims over HTTP, {args.clients} clients, each code once", timings):
            results["claims"] = claim(args, ours_server, peer_server, people, batch, codec, logdir)
            results["statements"] = ours.statements_per_claim(runtime, batch, args.codes - 1, people.customer_ids[0])
            results["claim_counts"] = ours.claim_counts(url, batch["id"])
            results["peer_claimed"] = peer_claimed(peers_url)
    finally:
        ours_server.stop()
        peer_server.stop()
        shutil.rmtree(logdir, ignore_errors=True)
        runtime.close()
    redis.Redis.from_url(REDIS_URL).flushdb()
    results["load_after"] = load()
    report(results, timings)


def stream_csv(server: Gunicorn, path: str, token: str, quantity: int, codec) -> dict:  # noqa: ANN001
    """A whole codes.csv, read and counted, the workers' memory sampled meanwhile; the one that
    served it is the one whose CPU time grew most. Its first and last rows must decode to
    serials 1 and ``quantity`` and carry the server's claim URL."""
    pids = worker_pids(server)
    ticks = {pid: cpu_ticks(pid) for pid in pids}
    with RssSampler(pids) as sampler:
        read = read_csv_stream(server.url + path, token)
    serving = max(pids, key=lambda pid: cpu_ticks(pid) - ticks[pid])
    read["rss"] = sampler.summary(serving)
    first, last = read["first"].split(","), read["last"].split(",")
    decoded = codec.decode(first[1]), codec.decode(last[1])
    read["checked"] = (read["rows"] == quantity and decoded[0] is not None and decoded[0].serial == 1
                       and decoded[1] is not None and decoded[1].serial == quantity
                       and last[2] == f"{server.url}/p/{last[1]}")
    start, peak, end, samples, spread = read["rss"]
    print(f"  {server.url}{path}: {read['rows']:,} rows in {read['seconds']:.1f} s, "
          f"{read['rows'] / read['seconds']:,.0f} codes/s, {read['bytes'] / 1e6:,.0f} MB; worker RSS "
          f"{start / 1024:.1f} → peak {peak / 1024:.1f} → {end / 1024:.1f} MiB ({samples} samples, after the first "
          f"2 s within {spread / 1024:.1f} MiB); first and last "
          f"rows are serials 1 and {quantity:,} with this server's URLs: {'yes' if read['checked'] else 'NO'}",
          flush=True)
    return read


def verify(codec, peers_url: str, prefix: str, total: int, count: int) -> dict:  # noqa: ANN001
    rng = random.Random(SEED)
    serials = peers.sample_serials(count, total, SEED)
    ours_genuine = [codec.encode(prefix, s) for s in serials]
    theirs_genuine = [peers.code_at(codec, s) for s in serials]
    figures = {}
    for kind, mine, theirs in (("genuine", ours_genuine, theirs_genuine),
                               ("changed", [peers.one_changed(c, rng) for c in ours_genuine],
                                [peers.one_changed(c, rng) for c in theirs_genuine])):
        seconds, passed = ours.verify(codec, mine)
        anchor_seconds, found = peers.look_up(peers_url, theirs)
        figures[kind] = {"ours": count / seconds, "passed": passed, "theirs": count / anchor_seconds, "found": found}
        print(f"  {kind}: decode {count / seconds:,.0f}/s ({passed:,} genuine); lookup {count / anchor_seconds:,.0f}/s "
              f"({found:,} found)", flush=True)
    return figures


def claim(args, ours_server: Gunicorn, peer_server: Gunicorn, people, batch: dict, codec, logdir: Path) -> dict:  # noqa: ANN001
    """Sign every customer in, build both sides' requests, warm both up, then ours, theirs,
    ours, theirs. Request i goes to connection i mod clients and is customer i mod customers'
    (customers a multiple of clients): a customer's claims queue on one connection only."""
    quantity = batch["quantity"]
    page_code = codec.encode(batch["prefix"], quantity)  # the page they sign in on: never claimed
    # (quantity - 1 is claimed after the runs, in process, to count its statements)
    started = time.monotonic()
    signed = [ours.sign_in(ours_server.url, openid, page_code) for openid in people.openids]
    print(f"  {len(signed)} customers signed in through /p/oauth/callback in {time.monotonic() - started:.0f} s",
          flush=True)
    serials = peers.sample_serials(args.warmup + 2 * args.claims, quantity, SEED + 1, exclude=frozenset({quantity, quantity - 1}))
    mine = [claim_request(ours_server.url, codec.encode(batch["prefix"], s), cookie=signed[i % len(signed)][0],
                          csrf_token=signed[i % len(signed)][1]) for i, s in enumerate(serials)]
    theirs = [peer_claim_request(peer_server.url, peers.code_at(codec, s), customer_id=people.customer_ids[i % len(signed)])
              for i, s in enumerate(serials)]
    w, n = args.warmup, args.claims
    figures: dict = {"ours": [], "theirs": []}
    replay(ours_server, mine[:w], args.clients, logdir, "ours-warm", 303)
    replay(peer_server, theirs[:w], args.clients, logdir, "theirs-warm", 200)
    for run in range(2):
        part_of = slice(w + run * n, w + (run + 1) * n)
        for side, server, requests, ok in (("ours", ours_server, mine, 303), ("theirs", peer_server, theirs, 200)):
            result = replay(server, requests[part_of], args.clients, logdir, f"{side}-{run}", ok)
            figures[side].append(result)
            print(f"  {side:<6} run {run + 1}: {describe(result)}", flush=True)
    return figures


def peer_claimed(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM peers.product_codes WHERE claimed_by IS NOT NULL").fetchone()[0]


if __name__ == "__main__":
    main()
