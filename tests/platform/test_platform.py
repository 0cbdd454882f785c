"""Migrations, health, logs, CLI start-up."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys

import pytest
from sqlalchemy import select, text

from scrm.config import load_config
from scrm.customers.models import Customer, Interaction, TimelineIsAppendOnly
from scrm.logs import configure_demo_logging, configure_logging


# SQLite cannot reflect segments' lower(name) index, so it is compared on PostgreSQL only.
@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_models_and_migrations_agree(runtime):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from scrm.migrate import include_object
    from scrm.models import Base

    with runtime.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include_object})
        assert compare_metadata(context, Base.metadata) == []


def test_schema_is_at_head(runtime):
    from alembic.script import ScriptDirectory

    from scrm.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config(runtime.config.database.url)).get_current_head()
    with runtime.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head


def test_identity_is_unique_per_channel(runtime):
    from sqlalchemy.exc import IntegrityError

    from scrm.customers.models import CustomerIdentity

    with pytest.raises(IntegrityError):
        with runtime.transaction() as db_session:
            a, b = Customer(), Customer()
            db_session.add_all([a, b])
            db_session.flush()
            db_session.add(CustomerIdentity(customer_id=a.id, channel="mp", external_id="oX"))
            db_session.add(CustomerIdentity(customer_id=b.id, channel="mp", external_id="oX"))


def test_segment_names_are_unique_whatever_their_case(runtime):
    """The service checks first; the index (migration 0017) holds when two writers race past it."""
    from datetime import UTC, datetime

    from sqlalchemy.exc import IntegrityError

    from tagging.models import Segment

    at = datetime(2026, 12, 7, tzinfo=UTC)
    with runtime.transaction() as db_session:
        db_session.add(Segment(name="奶粉VIP", expr="兴趣:奶粉", created_by="a", updated_by="a", created_at=at, updated_at=at))
    with pytest.raises(IntegrityError):
        with runtime.transaction() as db_session:
            db_session.add(Segment(name="奶粉vip", expr="兴趣:辅食", created_by="b", updated_by="b",
                                   created_at=at, updated_at=at))
    with runtime.transaction() as db_session:
        assert db_session.scalars(select(Segment.name)).all() == ["奶粉VIP"]


def test_timeline_is_append_only(runtime):
    with runtime.transaction() as db_session:
        customer = Customer()
        db_session.add(customer)
        db_session.flush()
        entry = Interaction(customer_id=customer.id, kind="message", occurred_at=runtime.clock.now(), payload={"t": 1})
        db_session.add(entry)
    with pytest.raises(TimelineIsAppendOnly):
        with runtime.transaction() as db_session:
            db_session.get(Interaction, entry.id).payload = {"t": 2}
    with pytest.raises(TimelineIsAppendOnly):
        with runtime.transaction() as db_session:
            db_session.delete(db_session.get(Interaction, entry.id))
    with runtime.transaction() as db_session:
        assert db_session.get(Interaction, entry.id).payload == {"t": 1}


def test_healthz_reports_every_part(client, runtime):
    from alembic.script import ScriptDirectory

    from scrm.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config(runtime.config.database.url)).get_current_head()
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True, "backend": runtime.engine.dialect.name, "revision": head}
    assert body["redis"]["ok"] is True
    assert body["queue"] == {"depth": 0, "scheduled": 0, "failed": 0}


def test_healthz_says_unavailable_when_redis_is_down(backend, sqlite_url):
    from scrm.app import create_app

    config = load_config(environ={}, overrides={"database.url": sqlite_url, "redis.url": "redis://127.0.0.1:1/0"})
    response = create_app(config).test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable" and body["redis"]["ok"] is False and body["database"]["ok"] is True


def test_logs_are_json_and_never_carry_secrets_or_tokens():
    config = load_config(environ={}, overrides={"wechat.mp.app_secret": "super-secret-app-secret"})
    stream = io.StringIO()
    handler = configure_logging(config, stream)
    try:
        log = logging.getLogger("scrm.test")
        log.warning(
            "GET https://api.example/cgi-bin/token?appid=wx1&secret=super-secret-app-secret&access_token=ACCESS123 "
            "Authorization: Bearer scrm_abcdefghijklmnop",
            extra={"body": {"access_token": "ACCESS456", "openid": "o1"}},
        )
    finally:
        logging.getLogger().removeHandler(handler)
    line = stream.getvalue().strip()
    entry = json.loads(line)
    for secret in ("super-secret-app-secret", "ACCESS123", "ACCESS456", "abcdefghijklmnop"):
        assert secret not in line
    assert entry["level"] == "WARNING" and "appid=wx1" in entry["msg"] and entry["body"]["openid"] == "o1"


def test_the_demo_logs_everything_to_its_file_and_only_warnings_to_the_terminal(tmp_path):
    """scrm demo: the terminal keeps its URLs and token readable; the file keeps JSON lines."""
    config = load_config(environ={}, overrides={"wechat.mp.app_secret": "super-secret-app-secret"})
    terminal, root = io.StringIO(), logging.getLogger()
    before, level = list(root.handlers), root.level
    path = configure_demo_logging(config, tmp_path / "var" / "demo.log", terminal)
    try:
        log = logging.getLogger("scrm.test")
        log.info("GET /api/guides 200", extra={"status": 200})
        log.warning("the sandbox answered slowly\n(1.2 s) secret=super-secret-app-secret")
        try:
            raise ValueError("bad\nscene")
        except ValueError:
            log.exception("a callback failed")
    finally:  # the suite's other tests log where they did
        for handler in set(root.handlers) - set(before):
            root.removeHandler(handler)
            handler.close()
        for handler in set(before) - set(root.handlers):
            root.addHandler(handler)
        root.setLevel(level)
    assert path == (tmp_path / "var" / "demo.log").resolve()
    shown = terminal.getvalue().splitlines()
    assert shown == ["warning: the sandbox answered slowly (1.2 s) secret=*** (scrm.test)",
                     "error: a callback failed (scrm.test): ValueError: bad scene"]
    kept = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(e["level"], e["msg"].split("\n")[0]) for e in kept] == [
        ("INFO", "GET /api/guides 200"), ("WARNING", "the sandbox answered slowly"), ("ERROR", "a callback failed")]
    assert kept[0]["status"] == 200 and "Traceback" in kept[2]["exc"]
    assert "super-secret-app-secret" not in path.read_text(encoding="utf-8")


def test_help_imports_nothing_heavy():
    code = (
        "import sys; from scrm.cli import main\n"
        "try: main(['--help'])\n"
        "except SystemExit: pass\n"
        "heavy = [m for m in ('flask', 'wechatpy', 'jieba', 'sqlalchemy', 'rq', 'scrm.app') if m in sys.modules]\n"
        "print('HEAVY:' + ','.join(heavy))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip().splitlines()[-1] == "HEAVY:"


def test_nothing_connects_at_import():
    """Importing every module with unreachable services configured must not fail or hang."""
    code = (
        "import importlib, pkgutil, scrm, handlers, tagging, guides, qrcodes\n"
        "for package in (scrm, handlers, tagging, guides, qrcodes):\n"
        "    for m in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "        if m.name != 'scrm.wsgi': importlib.import_module(m.name)\n"
        "print('ok')"
    )
    env = {"SCRM_DATABASE__URL": "postgresql+psycopg://nobody@127.0.0.1:1/none", "SCRM_REDIS__URL": "redis://127.0.0.1:1/0"}
    import os

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env}, timeout=60)
    assert result.stdout.strip() == "ok", result.stderr
