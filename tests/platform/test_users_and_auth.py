from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from scrm.cli import main
from scrm.users.models import ApiToken


@pytest.fixture
def cli(runtime, monkeypatch):
    """Run ``scrm`` against the test runtime's database and Redis."""
    monkeypatch.setenv("SCRM_DATABASE__URL", runtime.config.database.url)
    monkeypatch.setenv("SCRM_REDIS__URL", runtime.config.redis.url)
    runner = CliRunner()
    return lambda *args: runner.invoke(main, list(args), catch_exceptions=False)


def test_users_create_prints_the_token_last_and_stores_only_its_hash(cli, runtime, client):
    result = cli("users", "create", "amy", "--role", "manager")
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("scrm_")
    with runtime.transaction() as db_session:
        stored = db_session.scalars(select(ApiToken.token_hash)).all()
    assert token not in stored and len(stored) == 1
    response = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert response.get_json() == {"id": 1, "name": "amy", "role": "manager", "guide_code": None}


@pytest.mark.parametrize(
    "args, message",
    [
        (["users", "create", "g", "--role", "guide"], "needs --guide"),
        (["users", "create", "m", "--role", "manager", "--guide", "G1"], "only a guide"),
        (["users", "create", "x", "--role", "owner"], "Invalid value for '--role'"),
    ],
)
def test_users_create_refuses_bad_input(cli, runtime, args, message):
    result = cli(*args)
    assert result.exit_code != 0 and message in result.output
    with runtime.transaction() as db_session:
        assert db_session.scalars(select(ApiToken)).all() == []


def test_duplicate_user_is_refused(cli):
    assert cli("users", "create", "amy", "--role", "admin").exit_code == 0
    result = cli("users", "create", "amy", "--role", "admin")
    assert result.exit_code == 1 and "exists already" in result.output


def test_revoked_token_gets_401(cli, client):
    token = cli("users", "create", "bob", "--role", "admin").output.strip().splitlines()[-1]
    assert client.get("/api/users", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert "revoked 1 token" in cli("users", "revoke", "bob").output
    response = client.get("/api/users", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


@pytest.mark.parametrize("header", ["", "Bearer ", "Bearer nonsense", "Bearer scrm_forged_token_value", "Basic abc"])
def test_missing_or_bad_token_is_401(client, header):
    response = client.get("/api/users", headers={"Authorization": header} if header else {})
    assert response.status_code == 401


def test_wrong_role_is_403_with_a_reason(client, auth):
    response = client.get("/api/users", headers=auth("guide", "G001"))
    assert response.status_code == 403
    assert "admin" in response.get_json()["message"]


def test_login_session_for_pages_ends_when_the_token_is_revoked(cli, client):
    token = cli("users", "create", "carol", "--role", "admin").output.strip().splitlines()[-1]
    assert client.post("/login", data={"token": "scrm_wrong"}).status_code == 401
    response = client.post("/login?next=/console/customers", data={"token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/console/customers"
    assert client.get("/console/customers").status_code == 200
    cli("users", "revoke", "carol")
    assert client.get("/console/customers").headers["Location"] == "/login?next=/console/customers"


@pytest.mark.parametrize("target", ["//evil.example/x", "/%09/evil.example/x", "/%5Cevil.example/x", "%2F%2Fevil.example",
                                    "https://evil.example/", "/%0D%0ASet-Cookie:%20x=1", "javascript:alert(1)"])
def test_login_never_redirects_off_site(cli, client, target):
    token = cli("users", "create", "dan", "--role", "admin").output.strip().splitlines()[-1]
    response = client.post(f"/login?next={target}", data={"token": token})
    assert (response.status_code, response.headers["Location"]) == (302, "/")


def test_login_goes_on_to_a_path_of_this_site_with_its_query(cli, client):
    token = cli("users", "create", "erin", "--role", "admin").output.strip().splitlines()[-1]
    response = client.post("/login?next=/console/customers%3Fq%3D%E5%B0%8F%E6%9D%8E", data={"token": token})
    assert (response.status_code, response.headers["Location"]) == (302, "/console/customers?q=%E5%B0%8F%E6%9D%8E")


def test_jobs_cli_lists_failed_jobs(cli, runtime):
    import sample_jobs

    runtime.queue.enqueue(sample_jobs.always_fails, 7)
    runtime.queue.run_pending()
    result = cli("jobs", "failed")
    assert "sample_jobs.always_fails(7,)" in result.output and "1 failed job(s)" in result.output


def test_last_used_is_kept_to_the_minute_not_written_on_every_request(runtime, client, make_token):
    from datetime import UTC, datetime

    from scrm.clock import FrozenClock

    runtime.clock = FrozenClock(datetime(2026, 11, 1, 4, 0, tzinfo=UTC))
    headers = {"Authorization": f"Bearer {make_token('manager')}"}

    def last_used() -> datetime:
        with runtime.transaction() as db_session:
            return db_session.scalar(select(ApiToken.last_used_at)).replace(tzinfo=UTC)

    assert client.get("/api/me", headers=headers).status_code == 200
    first = last_used()
    assert first == runtime.clock.now()
    runtime.clock.advance(seconds=59)
    client.get("/api/me", headers=headers)  # read again (remembered 30 s), not written: under a minute
    assert last_used() == first
    runtime.clock.advance(seconds=31)
    client.get("/api/me", headers=headers)  # read again, a minute and a half on: written
    assert last_used() == runtime.clock.now()


def test_a_revoked_token_is_refused_at_once_though_the_process_remembered_it(cli, client):
    token = cli("users", "create", "amy", "--role", "manager").output.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/me", headers=headers).status_code == 200  # now remembered
    assert cli("users", "revoke", "amy").exit_code == 0
    assert client.get("/api/me", headers=headers).status_code == 401


def test_a_token_revoked_by_another_process_is_refused_at_once(cli, runtime, client):
    """``scrm users revoke`` in a process of its own: with memory:// it cannot reach the
    server's Redis to make it forget, so the server must not have remembered the caller."""
    import os
    import subprocess
    import sys

    token = cli("users", "create", "zoe", "--role", "manager").output.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/me", headers=headers).status_code == 200  # as remembered as it may be
    env = {**os.environ, "SCRM_DATABASE__URL": runtime.config.database.url, "SCRM_REDIS__URL": runtime.config.redis.url}
    revoked = subprocess.run([sys.executable, "-m", "scrm.cli", "users", "revoke", "zoe"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert revoked.returncode == 0 and "revoked 1 token(s) of zoe" in revoked.stdout, revoked.stderr
    assert client.get("/api/me", headers=headers).status_code == 401


def test_a_console_session_lasts_its_hours_and_logging_out_ends_it_on_the_server(cli, runtime, client):
    from datetime import UTC, datetime

    from scrm.clock import FrozenClock

    runtime.clock = FrozenClock(datetime(2026, 11, 2, 1, 0, tzinfo=UTC))
    token = cli("users", "create", "ivy", "--role", "manager").output.strip().splitlines()[-1]
    assert client.post("/login", data={"token": token}).status_code == 302
    runtime.clock.advance(hours=11, minutes=59)
    assert client.get("/console/customers").status_code == 200
    runtime.clock.advance(minutes=2)  # past security.session_hours.console (12)
    expired = client.get("/console/customers")
    assert expired.status_code == 302 and expired.headers["Location"].startswith("/login")

    assert client.post("/login", data={"token": token}).status_code == 302
    kept = client.get_cookie("session").value  # what a thief copied from this browser
    assert client.post("/logout").status_code == 302
    thief = client.application.test_client()
    thief.set_cookie("session", kept)
    assert thief.get("/console/customers").status_code == 302  # the session ended on the server
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200  # the token lives on
