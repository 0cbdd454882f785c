"""Fixtures: every database/Redis test runs on the embedded backend (SQLite + memory://)
and on the real one (PostgreSQL + Redis). With ``CI=true`` a real backend that does not
answer fails the test instead of skipping it.

Schemas come from the migrations (once per backend per session); each test starts from
empty tables and an empty Redis. Each runtime is served by a live loopback server so the
WeChat sandbox is reached over HTTP exactly as WeChat would be.
"""

from __future__ import annotations

import itertools
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server

PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

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


def _prepare_postgres() -> None:
    if "pg" in _prepared:
        if isinstance(_prepared["pg"], Exception):
            _unavailable("PostgreSQL", _prepared["pg"])
        return
    try:
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
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    from scrm.migrate import upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'scrm.db'}"
    upgrade(url)
    return url


@pytest.fixture(params=["embedded", "real"])
def backend(request: pytest.FixtureRequest, sqlite_url: str) -> Backend:
    if request.param == "embedded":
        return Backend("embedded", sqlite_url, f"memory://test-{next(_memory_ids)}")
    _prepare_postgres()
    _check_redis()
    return Backend("real", PG_URL, REDIS_URL)


def empty_database(url: str) -> None:
    from scrm.models import Base

    engine = create_engine(url)
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)] + ["apscheduler_jobs"]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))
    engine.dispose()


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    """Override in a test module to change configuration for its runtime."""
    return {}


class _Dispatch:
    """A WSGI app that forwards to whatever app is set later (the port is known first)."""

    app: Any = None

    def __call__(self, environ, start_response):  # noqa: ANN001, ANN204
        return self.app(environ, start_response)


@dataclass
class Stack:
    runtime: Any
    app: Any
    url: str


@pytest.fixture
def stack(backend: Backend, config_overrides: dict[str, Any]):  # noqa: ANN201
    from scrm.app import create_app
    from scrm.config import load_config
    from scrm.runtime import Runtime

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
    dispatch.app = app
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield Stack(runtime, app, url)
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


def reconfigure(runtime, overrides: dict[str, Any]) -> None:  # noqa: ANN001
    """Change a running test runtime's configuration (dotted keys), as a restart would."""
    from scrm.config import Config

    data = runtime.config.model_dump()
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        node = data
        for part in parents:
            node = node[part]
        node[leaf] = value
    runtime.config = Config.model_validate(data)


# shared/ lies beside the clone, here and in CI.
SAMPLES_DIR = Path(os.environ.get("WECHAT_SAMPLES_DIR", Path(__file__).resolve().parents[2] / "shared" / "wechat-samples"))


@pytest.fixture
def wechat(runtime, client):  # noqa: ANN001, ANN201
    """Send callbacks the way WeChat does: ``wechat.mp(xml)`` / ``wechat.work(xml)``."""
    from handlers.sender import CallbackSender

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


# ---- a real browser (Debian's chromium, driven by Playwright) --------------------------------

CHROMIUM = os.environ.get("SCRM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _require_browser() -> None:
    """``make test`` installs both; with ``CI=true`` a missing one fails the test."""
    import shutil

    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -e '.[dev]')")
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if missing:
        message = f"the browser test needs {' and '.join(missing)}; `make test` installs them"
        if IN_CI:
            pytest.fail(message + " (CI=true: it must run)")
        pytest.skip(message)


@pytest.fixture
def browser():  # noqa: ANN201
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
