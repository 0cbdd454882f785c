"""Fuzz every /api/ operation against /api/openapi.json with schemathesis (SPEC §11, §12).

The app is built in sandbox mode on a temporary SQLite database and a ``memory://`` Redis (or,
with ``--postgres``, the PostgreSQL database ``bench_api`` (it must exist) and Redis DB 11, both emptied first),
migrated, and given a little data through the services and the API (stores and guides, coupon
templates, a tag group and a tag, a customer, a reply rule, a campaign) so that fuzzed ids and
codes sometimes exist. Each operation is then fed generated requests, valid ones and invalid
ones, with an admin's bearer token, for its share of ``--seconds`` (at most ``--max-examples``
of each kind), and every answer is checked:

- ``not_a_server_error``: no 5xx (SPEC §12: bad input is a 4xx with a reason);
- ``response_schema_conformance``: the body fits the schema described for its status;
- ``status_code_conformance``: the status is one the description lists;
- ``content_type_conformance``: the Content-Type is one the description lists.

    .venv/bin/python bench/api_fuzz.py [--seconds 120] [--max-examples 50] [--postgres] [--only PATH] [--seed N]

Prints one line per operation (cases, failures) and a summary; exits 1 on any failure, with the
first failures of each operation and check shown as curl commands.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_api"
REDIS_URL = "redis://127.0.0.1:6379/11"
SHOWN_PER_OPERATION = 2  # failures printed in full for each (operation, kind of failure)


@dataclass
class Tally:
    cases: int = 0
    statuses: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)  # kind of failure → count
    shown: list[str] = field(default_factory=list)


# -- the app -----------------------------------------------------------------------------------


@contextlib.contextmanager
def backends(postgres: bool) -> Iterator[tuple[str, str]]:
    if not postgres:
        folder = tempfile.mkdtemp(prefix="scrm-fuzz-")
        try:
            yield f"sqlite:///{folder}/scrm.db", "memory://api-fuzz"
        finally:
            for leftover in Path(folder).glob("*"):
                leftover.unlink()
            os.rmdir(folder)
        return
    import redis
    from sqlalchemy import create_engine, text

    engine = create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    redis.Redis.from_url(REDIS_URL).flushdb()
    try:
        yield POSTGRES_URL, REDIS_URL
    finally:
        redis.Redis.from_url(REDIS_URL).flushdb()


@contextlib.contextmanager
def served_app(database_url: str, redis_url: str) -> Iterator[Any]:
    """The app in sandbox mode, also served on a loopback port: the sandbox WeChat is reached
    over HTTP, as the real one would be."""
    from werkzeug.serving import make_server

    from scrm.app import create_app
    from scrm.config import load_config
    from scrm.migrate import upgrade
    from scrm.runtime import Runtime

    upgrade(database_url)
    holder: dict[str, Any] = {}
    server = make_server("127.0.0.1", 0, lambda environ, start: holder["app"](environ, start), threaded=True)
    overrides = {
        "database.url": database_url,
        "redis.url": redis_url,
        "wechat.sandbox": True,
        "server.public_base_url": f"http://127.0.0.1:{server.server_port}",
        "queue.backoff_seconds": [0],
    }
    runtime = Runtime(load_config(environ={}, overrides=overrides))
    app = holder["app"] = create_app(runtime=runtime)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield app
    finally:
        server.shutdown()
        thread.join(5)
        runtime.close()


def seed(app: Any) -> tuple[str, dict[str, list[Any]]]:
    """The demo brand (stores, guides, coupon templates and rules, an admin) through the
    services, then a little more through the API: the admin's token, and path values that exist
    (the ids and codes a share of the generated requests are sent to)."""
    from scrm.customers.service import contact
    from scrm.demo import GUIDES, STORES, seed_demo_brand
    from scrm.outreach.journeys import JOURNEYS

    runtime = app.extensions["scrm"]
    token = seed_demo_brand(runtime).admin_token
    runtime.queue.run_pending()  # the guides' and stores' codes, made by the sandbox WeChat
    with runtime.transaction() as db_session:
        for n in range(3):
            contact(db_session=db_session, channel="mp", external_id=f"o-fuzz-{n}")
        contact(db_session=db_session, channel="work", external_id="wm-fuzz-0")
    client, headers = app.test_client(), {"Authorization": f"Bearer {token}"}
    group = client.post("/api/tag-groups", json={"name": "兴趣"}, headers=headers).get_json()
    answers = {}
    for path, body in (
        ("/api/tags", {"group": group["id"], "name": "奶粉"}),
        ("/api/tag-rules", {"kind": "keyword", "pattern": "奶粉", "tag_id": 1}),
        ("/api/reply-rules", {"match": "contains", "keyword": "奶粉", "reply_kind": "text", "text": "您好"}),
        ("/api/campaigns", {"name": "欢迎", "audience": {"expr": "奶粉"}, "channel": "mp_custom",
                            "content": {"kind": "text", "text": "欢迎"},
                            "schedule": {"kind": "once", "at": "2030-01-01T08:00:00+08:00"}}),
        ("/api/coupons", {"template_id": 1, "customer_id": 1}),
        ("/api/orders", {"order_no": "FUZZ-1", "customer": {"openid": "o-fuzz-0"}, "amount": "99.50",
                         "ordered_at": "2026-01-01T10:00:00+08:00", "store_code": "S001"}),
        ("/api/code-batches", {"product": "英氏多维营养米粉", "sku": "YS-MF-01", "quantity": 1000,
                               "reward": {"points": 50}, "store_code": "S001"}),
    ):
        answer = client.post(path, json=body, headers=headers)
        if answer.status_code != 201:
            raise SystemExit(f"seeding {path} answered {answer.status_code}: {answer.get_data(as_text=True)}")
        answers[path] = answer.get_json()
    known = {
        "int": [1, 2, 3],
        "code": [code for code, *_ in STORES + GUIDES] + [answers["/api/coupons"]["code"]],
        "key": [journey.key for journey in JOURNEYS],
        "fmt": ["pdf", "png"],
    }
    return token, known


# -- the fuzzing -------------------------------------------------------------------------------


def fuzz(app: Any, token: str, known: dict[str, list[Any]], *, seconds: float, max_examples: int,  # noqa: ANN401
         only: str | None, case_seed: int | None = None) -> dict[str, Tally]:
    import hypothesis
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if only is None or only in op.path]
    share = seconds / max(len(operations), 1) / 2  # positive, then negative
    tallies: dict[str, Tally] = {}
    for operation in operations:
        tally = tallies.setdefault(f"{operation.method.upper()} {operation.path}", Tally())
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            test = _test(app, operation, mode, tally, until=time.monotonic() + share, checks=checks, headers=headers,
                         known=known if mode == schemathesis.GenerationMode.POSITIVE else {},
                         max_examples=max_examples, case_seed=case_seed)
            try:
                test()
            except (OutOfTime, hypothesis.errors.Unsatisfiable):
                pass
            except hypothesis.errors.HypothesisException as exc:  # the generator's trouble, not the app's
                tally.failures[type(exc).__name__] += 1
                tally.shown.append(f"{type(exc).__name__}: {str(exc)[:300]}")
    return tallies


class OutOfTime(Exception):
    """The operation's share of ``--seconds`` is spent."""


def _test(app: Any, operation: Any, mode: Any, tally: Tally, *, until: float, checks: list[Any],  # noqa: ANN401
          headers: dict[str, str], known: dict[str, list[Any]], max_examples: int,
          case_seed: int | None) -> Any:  # noqa: ANN401
    """A hypothesis test sending ``operation`` the cases it generates until ``until``, tallying
    answers and failures (caught: one bad answer does not end the operation's run). With
    ``known``, about half the cases go to path values that exist."""
    import hypothesis
    from hypothesis import HealthCheck, Phase
    from hypothesis import strategies as st
    from schemathesis.core.failures import FailureGroup

    from scrm.sandbox import state

    runtime = app.extensions["scrm"]

    @hypothesis.seed(case_seed if case_seed is not None else 0)
    @hypothesis.settings(max_examples=max_examples, deadline=None, database=None, derandomize=case_seed is None,
                         phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def run(case: Any, data: Any) -> None:  # noqa: ANN401
        if known and case.path_parameters and data.draw(st.booleans(), label="known path values"):
            for name, value in case.path_parameters.items():
                choices = known.get(name) or (known["int"] if isinstance(value, int) else None)
                if choices:
                    case.path_parameters[name] = data.draw(st.sampled_from(choices), label=name)
        if known and operation.path.endswith(("/codes.csv", "/sheet.pdf")):
            _at_most_100_serials(case)
        if time.monotonic() > until:  # after the draws: hypothesis wants each case to draw alike
            raise OutOfTime  # ends the run now (no shrinking phase), instead of generating the rest
        response = case.call(headers=headers)
        tally.cases += 1
        tally.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                kind = type(failure).__name__
                tally.failures[kind] += 1
                if sum(1 for s in tally.shown if s.startswith(kind + ":")) < SHOWN_PER_OPERATION:
                    tally.shown.append(f"{kind}: {failure.title}\n    {failure.message[:600]}\n    "
                                       f"{case.as_curl_command(headers=headers)}")
        finally:
            if operation.path.startswith("/api/sandbox/faults"):  # a fault would slow or fail what follows
                state.clear_faults(runtime.redis)

    return run


def _at_most_100_serials(case: Any) -> None:  # noqa: ANN401
    """A fuzzed batch may hold 100,000,000 codes: its whole codes.csv is 9 GB, a sheet of 5,000
    labels takes seconds. A valid case asks for 100 serials at most (invalid ones are left be)."""
    query = dict(case.query or {})
    first = query.get("from") if isinstance(query.get("from"), int) and query["from"] >= 1 else 1
    last = query.get("to")
    query["from"], query["to"] = first, last if isinstance(last, int) and first <= last < first + 100 else first + 99
    case.query = query


SERVER_ERRORS = {"ServerError", "ContentTypeServerError"}
SCHEMA_VIOLATIONS = {"JsonSchemaError", "MalformedJson", "ContentDeserializationError"}


def report(tallies: dict[str, Tally], elapsed: float) -> int:
    totals: Counter = Counter()
    for name, tally in sorted(tallies.items(), key=lambda item: item[0].split(" ", 1)[::-1]):
        statuses = " ".join(f"{status}×{n}" for status, n in sorted(tally.statuses.items()))
        failures = ", ".join(f"{kind} {n}" for kind, n in sorted(tally.failures.items())) or "ok"
        print(f"{name:62} {tally.cases:5} cases  {failures:30} [{statuses}]")
        totals.update(tally.failures)
    for name, tally in tallies.items():
        for shown in tally.shown:
            print(f"\n{name}\n  {shown}")
    server = sum(n for kind, n in totals.items() if kind in SERVER_ERRORS)
    schema = sum(n for kind, n in totals.items() if kind in SCHEMA_VIOLATIONS)
    other = sum(totals.values()) - server - schema
    cases = sum(t.cases for t in tallies.values())
    print(f"\noperations: {len(tallies)}  test cases: {cases}  server errors: {server}  schema violations: {schema}  "
          f"other failures: {other}  seconds: {elapsed:.0f}")
    return 1 if sum(totals.values()) else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120, help="the whole run's time budget")
    parser.add_argument("--max-examples", type=int, default=50, help="per operation and kind (valid, invalid)")
    parser.add_argument("--postgres", action="store_true", help=f"on {POSTGRES_URL} and {REDIS_URL}")
    parser.add_argument("--only", help="only operations whose path contains this")
    parser.add_argument("--seed", type=int, help="other cases than the default, reproducible ones")
    args = parser.parse_args()
    started = time.monotonic()
    import logging

    logging.disable(logging.ERROR)  # the 500s are counted here, not logged with their tracebacks
    with backends(args.postgres) as (database_url, redis_url), served_app(database_url, redis_url) as app:
        token, known = seed(app)
        tallies = fuzz(app, token, known, seconds=args.seconds, max_examples=args.max_examples, only=args.only,
                       case_seed=args.seed)
    return report(tallies, time.monotonic() - started)


if __name__ == "__main__":
    sys.exit(main())
