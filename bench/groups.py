"""Customer groups under a burst of their callbacks: the webhook's latency and rate for signed
``change_external_chat`` callbacks against the same burst of plain MP texts, on the same
server, then the rotation decisions the burst's refresh jobs make against plain refreshes.

2,000 groups with 200,000 members (100 each, give or take 5) are written in bulk, both ours
(``customer_groups``, ``group_members``) and the sandbox WeCom's (its ``groupchat/get``
documents). The first half of the groups are put on live codes (群活码, :mod:`scrm.groups.codes`,
made through the service with their join ways in the sandbox), 5 groups each, whose member
limit is the average + 6: the bursts' joins fill about two thirds of those groups.

A burst is 10,000 callbacks: for each group in turn 4 ``add_member`` (a new customer, join
scene 3) and 1 ``del_member``, the sandbox's groups changed to match first (as WeCom has the
change before it calls us). Each callback is signed and sealed with the WeCom keys
(:mod:`handlers.signed_callbacks`) just before its burst and replayed once by ``wrk``
(:mod:`bench.wrk_replay`, ``bench/raw_requests.lua``) at ``--concurrency`` requests in flight. The
anchor is a burst of as many safe-mode MP texts (unique MsgIds, 5 per customer, meeting
bench/webhook.py's keyword rules, answered by a passive reply). Each kind runs ``--runs``
times, alternately, after an untimed warm-up (one callback per group, one text per customer:
the customers exist before the runs).

The webhook only queues a ``refresh_group`` job per callback. The last group burst's queued
refreshes (the earlier bursts' are dropped: each job reads its group whole) are run here,
one after the other (one worker's rate), against the sandbox served by the same gunicorn:
those of groups on a code (each re-reads the group and decides whether it leaves its code: a
rotation decision) and those of groups on no code (plain refreshes), 100 of one kind then 100
of the other, timed apart; then the jobs the rotations queued (``update_join_way``, once per
code version): decisions/s against plain refreshes/s.

    .venv/bin/python bench/groups.py [--groups 2000] [--members 200000] [--burst 10000]
        [--runs 2] [--concurrency 16] [--workers 2] [--threads 4]
        [--database bench_groups] [--redis-db 13] [--port 0]

Needs ``wrk`` (Debian: ``apt-get install wrk``), PostgreSQL on 127.0.0.1:5432 (user postgres;
the database is created if missing, its schema dropped and migrated) and Redis on
127.0.0.1:6379 (the DB flushed before and after). Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.databases import database_url, migrate_afresh  # noqa: E402
from bench.webhook import Gunicorn, free_port, seed_rules  # noqa: E402
from bench.wrk_replay import describe, raw_request, rate, replay  # noqa: E402

CODE_CHATS = 5  # groups per live code
PER_GROUP = 5  # callbacks per group per burst: 4 joins, then 1 quit
LIMIT_OVER = 6  # a code's member limit: the average group + this (the largest seeded is 5 over)
TEXT_SEED = 17
WARM_JOBS = 100  # refreshes run before the timed ones
CHUNK = 100  # refreshes of one kind timed in a row
TEXTS = ("请问奶粉有货吗", "尿不湿怎么卖", "有优惠券吗", "门店营业时间是几点", "门店", "积分怎么查")


# -- the data ----------------------------------------------------------------------------------


def prepare_backends(database: str, redis_url: str) -> str:
    import redis

    url = database_url(database)
    migrate_afresh(url)
    redis.Redis.from_url(redis_url).flushdb()
    return url


def seed_groups(url: str, groups: int, members: int) -> int:
    """Our groups and members and the sandbox's group chats, in bulk, inside PostgreSQL. Group
    ``g`` has ``base ± (g // 2) % 6`` members (+ for even g, - for odd: the pairs cancel),
    one more for the first ``members - groups * base`` groups (an odd last group has no pair:
    the total is then a few off); the owner is the first. Returns the members written."""
    from sqlalchemy import create_engine, text

    base, extra = divmod(members, groups)
    size = (f"({base} + CASE WHEN g % 2 = 0 THEN 1 ELSE -1 END * ((g / 2) % 6)"
            f" + CASE WHEN g < {extra} THEN 1 ELSE 0 END)")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO customer_groups (chat_id, name, owner_userid, status, member_count, external_count, "
            "notice, created_at, updated_at) "
            f"SELECT 'wrbench' || lpad(g::text, 6, '0'), '客户群' || g, 'bench-owner-' || (g % 200), 'normal', "
            f"{size}, {size} - 1, '', now() - interval '30 days', now() - interval '1 day' "
            f"FROM generate_series(0, {groups - 1}) AS g"))
        conn.execute(text(
            "INSERT INTO group_members (group_id, userid, kind, name, join_time, join_scene) "
            "SELECT cg.id, CASE WHEN j = 0 THEN cg.owner_userid ELSE 'wmb' || substr(cg.chat_id, 8) || 'x' || j END, "
            "CASE WHEN j = 0 THEN 1 ELSE 2 END, '', cg.created_at, 3 "
            "FROM customer_groups cg, generate_series(0, cg.member_count - 1) AS j"))
        conn.execute(text(
            "INSERT INTO sandbox_documents (kind, key, doc) "
            "SELECT 'work_groupchat', cg.chat_id, jsonb_build_object('chat_id', cg.chat_id, 'name', cg.name, "
            "'owner', cg.owner_userid, 'create_time', extract(epoch FROM cg.created_at)::bigint, 'notice', '', "
            "'status', 0, 'admin_list', '[]'::jsonb, 'member_list', (SELECT jsonb_agg(jsonb_build_object("
            "'userid', m.userid, 'type', m.kind, 'join_time', extract(epoch FROM m.join_time)::bigint, "
            "'join_scene', 3) || CASE WHEN m.kind = 2 THEN jsonb_build_object('invitor', "
            "jsonb_build_object('userid', cg.owner_userid)) ELSE '{}'::jsonb END ORDER BY m.id) "
            "FROM group_members m WHERE m.group_id = cg.id))::json FROM customer_groups cg"))
        conn.execute(text("ANALYZE"))
        written = conn.execute(text("SELECT count(*) FROM group_members")).scalar_one()
    engine.dispose()
    return written


def chat_id(g: int) -> str:
    return f"wrbench{g:06d}"


def first_half(groups: int) -> list[str]:
    """The groups put on live codes (when there are codes): the first half, CODE_CHATS a code."""
    return [chat_id(g) for g in range(groups // 2 // CODE_CHATS * CODE_CHATS)]


def seed_codes(runtime, chats: list[str], limit: int) -> dict[str, str] | None:  # noqa: ANN001
    """Live codes over ``chats``, CODE_CHATS each, made through the service (each with its join
    way in the sandbox WeCom): each chat's way ``state``; None when this branch has no codes."""
    try:
        from scrm.groups import codes
        from scrm.groups.code_schemas import GroupCodeIn
    except ImportError:
        return None
    states = {}
    for start in range(0, len(chats), CODE_CHATS):
        mine = chats[start:start + CODE_CHATS]
        code_id = codes.create(runtime=runtime, code_in=GroupCodeIn(
            name=f"活码{start // CODE_CHATS}", chat_ids=mine, member_limit=limit))
        states |= dict.fromkeys(mine, codes.way_state(code_id))
    return states


# -- the bursts --------------------------------------------------------------------------------


def chat_changes(groups: int, count: int, run: int) -> list[tuple[str, str, str]]:
    """``count`` changes as (chat_id, add_member|del_member, external_userid): each group in
    turn, PER_GROUP rounds of 4 joins then 1 quit of one of its first members."""
    changes = []
    for n in range(count):
        g, k = n % groups, n // groups
        if k % PER_GROUP == PER_GROUP - 1:
            changes.append((chat_id(g), "del_member", f"wmb{g:06d}x{1 + run * 4 + k // PER_GROUP}"))
        else:
            changes.append((chat_id(g), "add_member", f"wmb{g:06d}r{run}j{k}"))
    return changes


def apply_to_sandbox(url: str, changes: list[tuple[str, str, str]], states: dict[str, str]) -> None:
    """Change the sandbox's group chats as the callbacks will say (WeCom's side of the burst);
    a customer joining a group on a code joins by its way (its ``state``)."""
    from sqlalchemy import bindparam, create_engine, select, update

    from scrm.sandbox.models import SandboxDocument

    table = SandboxDocument.__table__
    now = int(time.time())
    engine = create_engine(url)
    with engine.begin() as conn:
        chats = dict(conn.execute(select(table.c.key, table.c.doc).where(
            table.c.kind == "work_groupchat", table.c.key.in_({c for c, _, _ in changes}))).all())
        for chat, detail, userid in changes:
            doc = chats[chat]
            if detail == "add_member":
                entry = {"userid": userid, "type": 2, "join_time": now, "join_scene": 3,
                         "invitor": {"userid": doc["owner"]}}
                doc["member_list"].append(entry | ({"state": states[chat]} if chat in states else {}))
            else:
                doc["member_list"] = [m for m in doc["member_list"] if m["userid"] != userid]
        conn.execute(update(table).where(table.c.kind == "work_groupchat", table.c.key == bindparam("k"))
                     .values(doc=bindparam("d")), [{"k": k, "d": d} for k, d in chats.items()])
    engine.dispose()


def chat_callbacks(config, changes: list[tuple[str, str, str]]) -> list:  # noqa: ANN001
    """The signed, sealed ``change_external_chat`` callbacks of ``changes``."""
    from handlers.render import cdata
    from handlers.signed_callbacks import CallbackSender

    sender = CallbackSender.from_config(config, "work")
    corp, now = config.wechat.work.corp_id, int(time.time())
    signed = []
    for chat, detail, userid in changes:
        joined = detail == "add_member"
        signed.append(sender.sign(
            f"<xml><ToUserName>{cdata(corp)}</ToUserName><FromUserName>{cdata('sys')}</FromUserName>"
            f"<CreateTime>{now}</CreateTime><MsgType>{cdata('event')}</MsgType>"
            f"<Event>{cdata('change_external_chat')}</Event><ChatId>{cdata(chat)}</ChatId>"
            f"<ChangeType>{cdata('update')}</ChangeType><UpdateDetail>{cdata(detail)}</UpdateDetail>"
            f"<JoinScene>{3 if joined else 0}</JoinScene><QuitScene>{0 if joined else 1}</QuitScene>"
            f"<MemChangeCnt>1</MemChangeCnt><MemChangeList><Item>{cdata(userid)}</Item></MemChangeList></xml>"))
    return signed


def wire(base_url: str, signed: list) -> list[bytes]:
    """The signed callbacks as the bytes wrk sends (bench/raw_requests.lua)."""
    return [raw_request("POST", base_url + request.path, headers={"Content-Type": "text/xml"}, body=request.body)
            for request in signed]


def text_callbacks(config, count: int, customers: int, first_msg_id: int) -> list:  # noqa: ANN001
    """``count`` safe-mode MP texts from ``customers`` customers in turn, signed and sealed."""
    from handlers.signed_callbacks import CallbackSender, mp_text_xml
    from scrm.simulator import openid

    sender = CallbackSender.from_config(config, "mp", encrypt=True)
    to, now = config.wechat.mp.original_id, int(time.time())
    return [sender.sign(mp_text_xml(to=to, openid=openid(TEXT_SEED, n % customers), content=TEXTS[n % len(TEXTS)],
                                    msg_id=str(first_msg_id + n), create_time=now)) for n in range(count)]


# -- the jobs ----------------------------------------------------------------------------------


def take_refreshes(runtime) -> list:  # noqa: ANN001
    """The queued ``refresh_group`` jobs, in order, taken off the queues (emptied: the other
    jobs the texts queued are not part of this)."""
    from rq.job import Job

    from scrm.queue import QUEUE_NAMES

    refreshes = []
    for name in QUEUE_NAMES:
        queue = runtime.queue.rq_queue(name)
        jobs = Job.fetch_many(queue.job_ids, connection=runtime.redis)
        refreshes += [job for job in jobs if job is not None and job.func_name.endswith(".refresh_group")]
        queue.empty()
    return refreshes


def run_jobs(runtime, jobs: list) -> float:  # noqa: ANN001
    """Each job's function with its queued arguments, in this process: the seconds it took."""
    started = time.perf_counter()
    for job in jobs:
        job.func(*job.args, **job.kwargs)
    return time.perf_counter() - started


def rotations(url: str) -> tuple[int, int, int]:
    """Chats taken off a code because they were full; codes whose chats changed; joins counted
    by code (live codes only)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        off = conn.execute(text("SELECT count(*) FROM group_code_chats WHERE removed_reason = 'full'")).scalar_one()
        changed = conn.execute(text("SELECT count(*) FROM group_codes WHERE version > 1")).scalar_one()
        joins = conn.execute(text("SELECT coalesce(sum(joined), 0) FROM group_code_day_stats")).scalar_one()
    engine.dispose()
    return off, changed, joins


def time_refreshes(runtime, url: str, refreshes: list, on_code: set[str], coded: bool) -> dict:  # noqa: ANN001
    """The refreshes of groups on a code and of the others, CHUNK of one kind then CHUNK of the
    other (so both see the same load on this shared machine), timed apart; then the jobs the
    rotations queued (as a worker would: after the refreshes queued before them)."""
    from scrm.sandbox.state import clear_calls, list_calls

    first = [job for job in refreshes if job.args[0] in on_code]
    plain = [job for job in refreshes if job.args[0] not in on_code]
    result = {"coded": len(first), "plain": len(plain), "coded_s": 0.0, "plain_s": 0.0}
    note = time.monotonic()
    for start in range(0, max(len(first), len(plain)), CHUNK):
        result["coded_s"] += run_jobs(runtime, first[start:start + CHUNK])
        result["plain_s"] += run_jobs(runtime, plain[start:start + CHUNK])
        if time.monotonic() - note >= 60:
            note = time.monotonic()
            print(f"  {min(start + CHUNK, len(first))}/{len(first)} and {min(start + CHUNK, len(plain))}/{len(plain)} "
                  "refreshes done", flush=True)
    clear_calls(runtime.redis)
    started = time.perf_counter()
    result["pushes"] = runtime.queue.run_pending()  # what the rotations queued
    result["pushes_s"] = time.perf_counter() - started
    result["update_calls"] = sum(1 for call in list_calls(runtime.redis, "work") if "update_join_way" in call["api"])
    result["rotations"], result["codes_changed"], result["code_joins"] = rotations(url) if coded else (0, 0, 0)
    return result


# -- the run -----------------------------------------------------------------------------------


def main() -> None:  # noqa: PLR0915
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=2000)
    parser.add_argument("--members", type=int, default=200_000, help="in all (owners included)")
    parser.add_argument("--burst", type=int, default=10_000, help="callbacks per burst (and texts per anchor burst)")
    parser.add_argument("--runs", type=int, default=2, help="bursts of each kind, alternately")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (wrk threads)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--database", default="bench_groups")
    parser.add_argument("--redis-db", type=int, default=13)
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    args = parser.parse_args()
    if args.groups < 2 or args.members < 20 * args.groups or args.burst < args.groups or args.runs < 1:
        parser.error("need --groups >= 2, --members >= 20 per group, --burst >= --groups, --runs >= 1")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")

    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
    url = prepare_backends(args.database, redis_url)
    logdir = Path(tempfile.mkdtemp(prefix="scrm-bench-groups-"))
    (logdir / "empty.toml").write_text("")
    port = args.port or free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRM_")}
    env.update({
        "SCRM_CONFIG": str(logdir / "empty.toml"), "SCRM_DATABASE__URL": url, "SCRM_REDIS__URL": redis_url,
        "SCRM_LOGGING__LEVEL": "WARNING", "SCRM_SERVER__PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "SCRM_SERVER__PORT": str(port),
    })
    started = time.monotonic()
    seed_rules(env)
    written = seed_groups(url, args.groups, args.members)
    print(f"seeded {args.groups} groups, {written} members (ours and the sandbox's) in "
          f"{time.monotonic() - started:.1f} s", flush=True)

    from scrm.config import load_config
    from scrm.runtime import Runtime, install

    config = load_config(environ=env)
    runtime = install(Runtime(config))
    settings = ["--workers", str(args.workers), "--threads", str(args.threads), "--worker-class", "gthread",
                "--log-level", "warning", "--timeout", "30"]
    server = Gunicorn("scrm.wsgi:app", settings, env, port, logdir)
    customers = max(1, args.burst // PER_GROUP)
    results: list[tuple[str, int, dict]] = []
    try:
        server.wait_until_ready()
        half = first_half(args.groups)
        states = seed_codes(runtime, half, args.members // args.groups + LIMIT_OVER)
        coded = states is not None
        states = states or {}
        print(f"gunicorn {' '.join(settings)}; {os.cpu_count()} CPU cores; wrk -t {args.concurrency} -c "
              f"{args.concurrency}; " + (f"{len(half)} groups on {len(half) // CODE_CHATS} live codes" if coded else
                                         "no live codes on this branch: every refresh is plain"), flush=True)
        warm = chat_changes(args.groups, args.groups, run=0)
        apply_to_sandbox(url, warm, states)
        replay(server, wire(server.url, chat_callbacks(config, warm)), args.concurrency, logdir, "warm-groups")
        warm_texts = wire(server.url, text_callbacks(config, customers, customers, 10**9))
        replay(server, warm_texts, args.concurrency, logdir, "warm-texts")
        run_jobs(runtime, take_refreshes(runtime)[:WARM_JOBS])  # connections, caches; the rest are dropped
        runtime.queue.run_pending()  # and what their rotations queued
        for run in range(1, args.runs + 1):
            changes = chat_changes(args.groups, args.burst, run=run)
            apply_to_sandbox(url, changes, states)
            burst = wire(server.url, chat_callbacks(config, changes))
            figures = replay(server, burst, args.concurrency, logdir, f"groups-{run}")
            refreshes = take_refreshes(runtime)  # the last burst's are run below, earlier ones dropped
            results.append(("group callbacks", run, figures))
            print(f"  group callbacks, run {run}: {describe(figures)}; {len(refreshes)} refresh jobs queued",
                  flush=True)
            texts = text_callbacks(config, args.burst, customers, 2 * 10**9 + run * 10**7)
            figures = replay(server, wire(server.url, texts), args.concurrency, logdir, f"texts-{run}")
            results.append(("plain texts", run, figures))
            print(f"  plain texts,     run {run}: {describe(figures)}", flush=True)
        take_refreshes(runtime)  # empties the queues of the texts' jobs
        logging.getLogger("scrm.groups").setLevel(logging.ERROR)  # "every group is full" of each filled code
        print(f"running the last burst's {len(refreshes)} queued refresh jobs in this process…", flush=True)
        jobs = time_refreshes(runtime, url, refreshes, set(half), coded)
    finally:
        server.stop()
        runtime.close()
        shutil.rmtree(logdir, ignore_errors=True)
        import redis

        redis.Redis.from_url(redis_url).flushdb()
    report(args, results, jobs, coded)


def report(args, results: list, jobs: dict, coded: bool) -> None:  # noqa: ANN001
    print()
    print(f"{'burst of ' + str(args.burst):<24} {'req/s':>6} {'p50 ms':>7} {'p99 ms':>7}")
    for kind, run, figures in results:
        print(f"{kind + ', run ' + str(run):<24} {rate(figures):>6.0f} {figures['p50_us'] / 1000:>7.1f} "
              f"{figures['p99_us'] / 1000:>7.1f}")
    for run in range(1, args.runs + 1):
        group, text = (f for _, r, f in results if r == run)
        print(f"ratio, run {run}: group callbacks ÷ texts: req/s {rate(group) / rate(text):.2f}, "
              f"p99 {group['p99_us'] / max(1, text['p99_us']):.2f}")
    print()
    coded_rate = jobs["coded"] / jobs["coded_s"] if jobs["coded_s"] else 0.0
    plain_rate = jobs["plain"] / jobs["plain_s"] if jobs["plain_s"] else 0.0
    label = "rotation decisions (groups on a code)" if coded else "refreshes, first half of the groups"
    print(f"{label}: {jobs['coded']} refresh jobs in {jobs['coded_s']:.1f} s: {coded_rate:.0f}/s")
    if coded:
        print(f"  rotations: {jobs['rotations']} groups taken off full, {jobs['codes_changed']} codes changed, "
              f"{jobs['code_joins']} joins counted by code (warm-up included); the {jobs['pushes']} jobs they queued "
              f"ran in {jobs['pushes_s']:.1f} s with {jobs['update_calls']} update_join_way calls")
    print(f"plain refreshes ({'groups on no code' if coded else 'the other half'}): {jobs['plain']} refresh jobs "
          f"in {jobs['plain_s']:.1f} s: "
          f"{plain_rate:.0f}/s")
    if plain_rate:
        print(f"ratio: {label.split(' (')[0]}/s ÷ plain refreshes/s = {coded_rate / plain_rate:.2f}")
    print(f"Jobs run one after the other in this process (one worker), {CHUNK} of one kind then {CHUNK} of the other, "
          "each re-reading its group from the sandbox on the same gunicorn (groupchat/get over HTTP). cpu%: CPU time "
          "per second of wall time (100 = one core) "
          "of gunicorn, of every PostgreSQL and Redis process, of wrk, and of anything else; all share these cores.")


if __name__ == "__main__":
    main()
