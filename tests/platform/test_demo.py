"""``scrm demo`` from nothing: a new SQLite file, memory:// Redis, the sandbox WeChat. It
migrates, seeds the demo brand, serves, and the guides' codes become ready through the
in-process worker calling the sandbox over HTTP, as on a newcomer's machine; 30 days of history
are backfilled before it says it is running, and a second run keeps them."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from scrm.demo import COUPONS, GUIDES, seed_demo_brand
from scrm.demo_groups import CODE_NAME
from scrm.demo_history import DAYS


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_seeding_twice_makes_the_brand_once(runtime, client):
    from sqlalchemy import func, select

    from guides.models import Guide, Store
    from scrm.coupons.models import CouponRule, CouponTemplate

    first = seed_demo_brand(runtime)
    second = seed_demo_brand(runtime)
    with runtime.transaction() as db_session:
        assert db_session.scalar(select(func.count()).select_from(Store)) == 2
        assert db_session.scalar(select(func.count()).select_from(Guide)) == len(GUIDES)
        assert db_session.scalar(select(func.count()).select_from(CouponTemplate)) == len(COUPONS)
        assert db_session.scalar(select(func.count()).select_from(CouponRule)) == 2
    assert first.admin_token != second.admin_token  # a fresh token each start; both work
    runtime.queue.run_pending()
    headers = {"Authorization": f"Bearer {first.admin_token}"}
    body = client.get("/api/guides/G001", headers=headers).get_json()
    assert {c["status"] for c in body["codes"].values()} == {"ready"}
    path = "/" + second.guide_link.split("/", 3)[3]  # /m/login?t=…
    assert client.get(path).headers["Location"].endswith("/m/")


@pytest.mark.slow
def test_scrm_demo_serves_a_seeded_brand_from_an_empty_directory(tmp_path: Path):
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SCRM_")},
        "SCRM_DATABASE__URL": f"sqlite:///{tmp_path}/demo.db",
        "SCRM_SERVER__PORT": str(port),
        "SCRM_SERVER__PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
    }
    process, output, token = _start_demo(tmp_path, env)
    try:
        assert f"history: {DAYS} days of" in output and "demo ready in" in output, output
        assert f"live code {CODE_NAME} over 2 groups" in output, output  # the groups' live code, welcome and SOP
        assert "/console/group-codes" in output and "社群数据" in output, output  # where to look, in the banner
        members = re.search(r"members: (\d+) members \(普通 \d+ · 银卡 \d+ · 金卡 \d+ · 钻石 (\d+)\), mall 3 items", output)
        assert members and int(members[1]) > 10 and int(members[2]) >= 1, output  # the membership, over the history
        assert "/console/members" in output, output
        # The terminal is for a person: no JSON log lines bury the URLs and the token; they
        # are in var/demo.log, which the banner names.
        assert not [line for line in output.splitlines() if line.lstrip().startswith("{")], output
        log_file = tmp_path / "var" / "demo.log"
        assert str(log_file) in output and "redemptions: " in output
        logged = [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines()]
        assert any(entry["logger"] == "scrm.request" for entry in logged)
        headers = {"Authorization": f"Bearer {token}"}
        base = f"http://127.0.0.1:{port}"
        stages = requests.get(f"{base}/api/stats/funnel", headers=headers, timeout=10).json()["stages"]
        counts = [stage["count"] for stage in stages]
        assert counts[0] > 0 and all(later <= earlier for earlier, later in zip(counts, counts[1:])), stages
        assert counts[-1] > 0, stages  # the guides redeemed some of the coupons they gave
        deadline = time.monotonic() + 30
        codes = {}
        while time.monotonic() < deadline:  # the server starts; the worker asks the sandbox for the codes
            try:
                codes = requests.get(f"{base}/api/guides/G001", headers=headers, timeout=5).json()["codes"]
            except requests.ConnectionError:
                codes = {}
            if codes and {c["status"] for c in codes.values()} == {"ready"}:
                break
            time.sleep(0.3)
        assert {c["status"] for c in codes.values()} == {"ready"}
        card = requests.get(f"{base}/api/guides/G001/qrcode.png?channel=mp", headers=headers, timeout=10)
        assert card.status_code == 200 and card.content.startswith(b"\x89PNG")
        browser = requests.Session()  # the phone sandbox: after signing in with the printed token, as a person does
        login = browser.get(f"{base}/sandbox/phone", timeout=5)
        assert login.url == f"{base}/login?next=/sandbox/phone"
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)
        phone = browser.post(login.url, data={"token": token, "csrf_token": csrf}, timeout=5)
        assert phone.url == f"{base}/sandbox/phone" and codes["mp"]["scene"] in phone.text
    finally:
        process.terminate()
        process.wait(10)

    # Run again on the same database: it keeps what is there and adds nothing twice.
    process, output, token = _start_demo(tmp_path, env)
    try:
        assert "history: kept" in output and "were there" in output and "community: kept" in output, output
        assert f"{members[0]} (kept)" in output, output
        again = requests.get(f"{base}/api/stats/funnel", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert [stage["count"] for stage in again.json()["stages"]] == counts
    finally:
        process.terminate()
        process.wait(10)


def _start_demo(directory: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str, str | None]:
    """``scrm demo`` (this checkout's) started, read until its banner ends (seeding and
    history included)."""
    env = {**env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen([sys.executable, "-m", "scrm.cli", "demo"], cwd=directory, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, token = "", None
    deadline = time.monotonic() + 240  # the history takes 25-40 s alone; much longer on a busy machine
    while time.monotonic() < deadline and "Ctrl+C" not in output:
        line = process.stdout.readline()
        if not line:
            break
        output += line
        found = re.search(r"admin token\s+(scrm_\S+)", line)
        token = found.group(1) if found else token
    if "SCRM is running" not in output or "Ctrl+C" not in output or not token:
        process.terminate()
        process.wait(10)
        raise AssertionError(output)
    return process, output, token
