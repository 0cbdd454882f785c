"""Fixtures: every database/Redis test runs on the embedded backend (SQLite + memory://)
and on the real one (PostgreSQL + Redis). With ``CI=true`` a real backend that does not
answer fails the test instead of skipping it.

Schemas come from the migrations (once per backend per test process); each test starts from
empty tables and an empty Redis. Under pytest-xdist (``make test`` runs one process per core)
each process has a PostgreSQL database and a Redis database of its own. Each runtime is
served by a live loopback server so the WeChat sandbox is reached over HTTP exactly as
WeChat would be.

Why not a rolled-back transaction per test: the tests drive the app through that server and
its job threads, and race real connections against each other (64 threads redeeming the
same coupons); one shared connection would hide what they are there to show. Emptying the
tables costs a few milliseconds instead (:func:`empty_database`).
"""

from __future__ import annotations

import functools
import itertools
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from werkzeug.serving import make_server

from platform_world import CHROMIUM, CHROMIUM_ARGS, ChineseBrowser, require_browser

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# "gw0", "gw1", … in a pytest-xdist process; "" in a plain pytest run.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_WORKER_NUMBER = int(XDIST_WORKER[2:]) if XDIST_WORKER.startswith("gw") else 0


def _worker_database_url(url: str) -> str:
    """``test`` → ``test_gw1`` in xdist process gw1; commits without waiting for the disk
    (a test database needs no durability, and every test commits many times)."""
    parsed = make_url(url)
    if XDIST_WORKER:
        parsed = parsed.set(database=f"{parsed.database}_{XDIST_WORKER}")
    if "options" not in parsed.query:
        parsed = parsed.update_query_dict({"options": "-c synchronous_commit=off"})
    return parsed.render_as_string(hide_password=False)


def _worker_redis_url(url: str) -> str:
    """Database 15 for the first process, 14 for the next, …"""
    base, _, db = url.rpartition("/")
    if not db.isdigit():
        return url
    if int(db) - _WORKER_NUMBER < 0:
        raise pytest.UsageError(f"test process {XDIST_WORKER} would have no Redis database of its own below "
                                f"{url}: run fewer (make test TEST_WORKERS=N)")
    return f"{base}/{int(db) - _WORKER_NUMBER}"


ADMIN_PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PG_URL = _worker_database_url(ADMIN_PG_URL)
REDIS_URL = _worker_redis_url(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))

_memory_ids = itertools.count()


@dataclass(frozen=True)
class Backend:
    name: str
    database_url: str
    redis_url: str


def _unavailable(what: str, exc: Exception) -> None:
    message = f"{what} is not answering: {exc}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: the real services are required)")
    pytest.skip(message)


_prepared: dict[str, Any] = {}


def _create_worker_database() -> None:
    """This process's own database beside the one TEST_DATABASE_URL names."""
    if not XDIST_WORKER:  # a plain pytest run uses TEST_DATABASE_URL's database itself
        return
    name = make_url(PG_URL).database
    admin = create_engine(ADMIN_PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}):
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()


def _prepare_postgres() -> None:
    if "pg" in _prepared:
        if isinstance(_prepared["pg"], Exception):
            _unavailable("PostgreSQL", _prepared["pg"])
        return
    try:
        _create_worker_database()
        engine = create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        from scrm.migrate import upgrade

        upgrade(PG_URL)
        _prepared["pg"] = True
    except Exception as exc:  # noqa: BLE001 - any failure to reach it is reported the same way
        _prepared["pg"] = exc
        _unavailable("PostgreSQL", exc)


def _check_redis() -> None:
    if "redis" not in _prepared:
        import redis

        try:
            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
            _prepared["redis"] = True
        except Exception as exc:  # noqa: BLE001
            _prepared["redis"] = exc
    if isinstance(_prepared["redis"], Exception):
        _unavailable("Redis", _prepared["redis"])


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrated once per process, in memory-backed /dev/shm where there is one: SQLite's
    fsync per commit is what a test would otherwise wait on."""
    from scrm.migrate import upgrade

    shm = Path("/dev/shm")
    folder = Path(tempfile.mkdtemp(prefix="scrm-test-", dir=shm)) if shm.is_dir() else tmp_path_factory.mktemp("db")
    url = f"sqlite:///{folder / 'scrm.db'}"
    upgrade(url)
    yield url
    for leftover in folder.glob("scrm.db*"):
        leftover.unlink()
    folder.rmdir()


@pytest.fixture(params=["embedded", "real"])
def backend(request: pytest.FixtureRequest, sqlite_url: str) -> Backend:
    if request.param == "embedded":
        return Backend("embedded", sqlite_url, f"memory://test-{next(_memory_ids)}")
    _prepare_postgres()
    _check_redis()
    return Backend("real", PG_URL, REDIS_URL)


_engines: dict[str, Engine] = {}


@functools.cache
def _emptying_statements(dialect: str) -> tuple[str, ...]:
    from scrm.models import Base

    tables = [t.name for t in reversed(Base.metadata.sorted_tables)] + ["apscheduler_jobs"]
    statements = [f"DELETE FROM {table}" for table in tables]
    if dialect == "postgresql":
        # Ids from 1 again, as a fresh database would give them: one statement for every sequence.
        statements.append(
            "SELECT setval(oid, 1, false) FROM pg_class WHERE relkind = 'S' AND relnamespace = 'public'::regnamespace"
        )
    return tuple(statements)


def empty_database(url: str) -> None:
    """Every table emptied and PostgreSQL's ids restarted: DELETEs in one transaction, which
    on tables of a few rows take milliseconds where TRUNCATE took a quarter of a second."""
    engine = _engines.get(url)
    if engine is None:
        engine = _engines[url] = create_engine(url)
    with engine.begin() as conn:
        for statement in _emptying_statements(engine.dialect.name):
            conn.exec_driver_sql(statement)


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    """Override in a test module to change configuration for its runtime."""
    return {}


class _Dispatch:
    """A WSGI app that forwards to whatever app is set later (the port is known first), and
    knows how many requests it is still answering: a test whose client gave up on a slow
    answer waits for the server to finish it (:meth:`Stack.wait_until_answered`)."""

    def __init__(self) -> None:
        self.app: Any = None
        self._answering = 0
        self._changed = threading.Condition()

    def __call__(self, environ, start_response):  # noqa: ANN001, ANN204
        from werkzeug.wsgi import ClosingIterator

        with self._changed:
            self._answering += 1
        try:
            return ClosingIterator(self.app(environ, start_response), self._answered)
        except BaseException:
            self._answered()
            raise

    def _answered(self) -> None:
        with self._changed:
            self._answering -= 1
            self._changed.notify_all()

    def wait_until_answered(self, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._answering == 0, timeout)


@dataclass
class Stack:
    runtime: Any
    app: Any
    url: str
    dispatch: _Dispatch

    def wait_until_answered(self, timeout: float = 10) -> None:
        """Until the live server has finished every request it took (the sandbox finishing a
        call whose answer the client stopped waiting for, as WeChat would)."""
        assert self.dispatch.wait_until_answered(timeout), f"the live server still answering after {timeout} s"


@pytest.fixture
def stack(backend: Backend, config_overrides: dict[str, Any]):  # noqa: ANN201
    from scrm.app import create_app
    from scrm.config import load_config
    from scrm.runtime import Runtime
    from web_world import PageClient

    empty_database(backend.database_url)
    dispatch = _Dispatch()
    server = make_server("127.0.0.1", 0, dispatch, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    overrides = {
        "database.url": backend.database_url,
        "redis.url": backend.redis_url,
        "server.public_base_url": url,
        "queue.backoff_seconds": [0],
        **config_overrides,
    }
    runtime = Runtime(load_config(environ={}, overrides=overrides))
    runtime.redis.flushdb()
    app = create_app(runtime=runtime)
    app.testing = True
    app.test_client_class = PageClient
    dispatch.app = app
    # A short poll: shutdown() waits for the loop to look, once per test.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield Stack(runtime, app, url, dispatch)
    server.shutdown()
    thread.join(5)
    runtime.close()


@pytest.fixture
def runtime(stack: Stack):  # noqa: ANN201
    return stack.runtime


@pytest.fixture
def app(stack: Stack):  # noqa: ANN201
    return stack.app


@pytest.fixture
def client(app):  # noqa: ANN001, ANN201
    return app.test_client()


@pytest.fixture
def now(request: pytest.FixtureRequest):  # noqa: ANN201
    """The moment ``frozen`` stops the clock at: the test module's ``NOW``."""
    return request.module.NOW


@pytest.fixture
def frozen(runtime, now):  # noqa: ANN001, ANN201
    """The runtime with its clock stopped at ``now``, installed as this process's runtime so
    that jobs reach it as they would in a worker."""
    from scrm.clock import FrozenClock
    from scrm.runtime import install

    runtime.clock = FrozenClock(now)
    return install(runtime)


@pytest.fixture
def manager(auth):  # noqa: ANN001, ANN201
    """Request headers of a new manager (a module testing console pages may override it with a
    signed-in client)."""
    return auth("manager")


@pytest.fixture
def make_token(runtime):  # noqa: ANN001, ANN201
    """``make_token("manager")`` → a bearer token for a new user of that role."""
    from scrm.users import service

    names = itertools.count()

    def make(role: str, guide_code: str | None = None) -> str:
        with runtime.transaction() as session:
            _, token = service.create_user(
                db_session=session, name=f"{role}-{next(names)}", role=role, guide_code=guide_code
            )
        return token

    return make


@pytest.fixture
def auth(make_token):  # noqa: ANN001, ANN201
    """``auth("admin")`` → request headers carrying a token of that role."""

    def headers(role: str = "admin", guide_code: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(role, guide_code)}"}

    return headers




@pytest.fixture
def wechat(runtime, client):  # noqa: ANN001, ANN201
    """Send callbacks the way WeChat does: ``wechat.mp(xml)`` / ``wechat.work(xml)``."""
    from handlers.signed_callbacks import CallbackSender

    class Phone:
        def sender(self, channel: str, encrypt: bool = True) -> CallbackSender:
            return CallbackSender.from_config(runtime.config, channel, encrypt=encrypt)

        def post(self, channel: str, xml: str, *, encrypt: bool = True):  # noqa: ANN202
            signed = self.sender(channel, encrypt).sign(xml)
            return client.post(signed.path, data=signed.body, content_type="text/xml")

        def mp(self, xml: str, *, encrypt: bool = False):  # noqa: ANN202
            return self.post("mp", xml, encrypt=encrypt)

        def work(self, xml: str):  # noqa: ANN202
            return self.post("work", xml)

        def reply_text(self, channel: str, response, *, encrypt: bool = True) -> str:  # noqa: ANN001
            return self.sender(channel, encrypt).open_reply(response.data)

    return Phone()


@pytest.fixture
def browser():  # noqa: ANN201
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield ChineseBrowser(launched)
        finally:
            launched.close()
