"""bench/product_codes.py's requests are the ones a phone sends: its customers (made by the
bench's seeding) sign in through the claim page's MP web sign-in, the claims it builds in
advance are taken by the real app as a 领取 (303, the claim and its points written), a claim
with a wrong CSRF token is refused, and wrk replays them once each (bench/raw_requests.lua).
Its codes with one character changed are never genuine. On both backends, against the live
test server."""

from __future__ import annotations

import random
import shutil
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import func, select

from bench import product_codes_ours as ours
from bench.product_codes_http import claim_request, csrf_token_of
from bench.product_codes_peers import one_changed
from bench.wrk_replay import parse_result, replay
from product_world import code_of
from scrm.members.models import PointEntry
from scrm.products.batches import batch_by_prefix
from scrm.products.codes import ProductCodec
from scrm.products.models import ProductClaim

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
QUANTITY = 50


@pytest.fixture
def config_overrides():
    return {"products.daily_claims": 100, "security.rate_limits.product_claims_per_ip": "100000/minute"}


@dataclass
class LiveServer:
    """What the bench's replay needs of its gunicorn: where it answers (its CPU: not counted here)."""

    url: str

    def cpu_seconds(self) -> float:
        return 0.0


def send(url: str, raw: bytes) -> int:
    """The request's bytes as they are, on a socket of their own: the answer's status."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn:
        conn.sendall(raw)
        answer = b""
        while b"\r\n" not in answer:
            block = conn.recv(4096)
            if not block:
                break
            answer += block
    return int(answer.split(b" ", 2)[1])


def seeded(stack):  # noqa: ANN001, ANN201
    """The bench's people (2 customers, 1 guide) and a batch made through the API as the bench makes it."""
    people = ours.seed_people(stack.runtime, customers=2, guides=1)
    made = ours.create_batch(stack.url, people.manager_token, QUANTITY)
    with stack.runtime.transaction() as db_session:
        batch = batch_by_prefix(db_session=db_session, prefix=made["prefix"])
    return people, batch


def claims_of(runtime, customer_id: int) -> list[int]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return sorted(db_session.scalars(select(ProductClaim.serial).where(ProductClaim.customer_id == customer_id)))


def test_a_built_claim_is_taken_by_the_app_as_the_page_form_is(stack, frozen):  # noqa: ANN001
    runtime = stack.runtime
    people, batch = seeded(stack)
    cookie, token = ours.sign_in(stack.url, people.openids[0], code_of(runtime, batch, QUANTITY))
    assert claims_of(runtime, people.customer_ids[0]) == []  # signing in on a code's page claims nothing

    assert send(stack.url, claim_request(stack.url, code_of(runtime, batch, 1), cookie=cookie,
                                         csrf_token=_forged(token))) == 403
    assert send(stack.url, claim_request(stack.url, code_of(runtime, batch, 1), cookie=cookie, csrf_token=token)) == 303
    assert send(stack.url, claim_request(stack.url, code_of(runtime, batch, 1), cookie=cookie, csrf_token=token)) == 303

    assert claims_of(runtime, people.customer_ids[0]) == [1]
    with runtime.transaction() as db_session:
        points = db_session.scalar(select(func.sum(PointEntry.amount)).where(
            PointEntry.customer_id == people.customer_ids[0], PointEntry.source == "product_claim"))
    assert points == ours.POINTS


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")
def test_wrk_replays_each_built_claim_once(stack, frozen, tmp_path):  # noqa: ANN001
    runtime = stack.runtime
    people, batch = seeded(stack)
    signed = [ours.sign_in(stack.url, openid, code_of(runtime, batch, QUANTITY)) for openid in people.openids]
    built = [claim_request(stack.url, code_of(runtime, batch, serial), cookie=signed[serial % 2][0],
                           csrf_token=signed[serial % 2][1]) for serial in range(2, 12)]

    figures = replay(LiveServer(stack.url), built, 2, tmp_path, "claims", 303)

    assert (figures["requests"], figures["answered"], figures["failed"]) == (10, 10, 0)
    assert claims_of(runtime, people.customer_ids[0]) == [2, 4, 6, 8, 10]
    assert claims_of(runtime, people.customer_ids[1]) == [3, 5, 7, 9, 11]


def test_a_code_with_one_character_changed_is_refused_and_its_page_has_no_form(stack, frozen):  # noqa: ANN001
    runtime = stack.runtime
    _, batch = seeded(stack)
    codec, rng = ProductCodec.from_config(runtime.config), random.Random(7)
    genuine = [code_of(runtime, batch, serial) for serial in range(1, QUANTITY + 1)]
    changed = [one_changed(code, rng) for code in genuine]

    assert all(sum(a != b for a, b in zip(code, other)) == 1 for code, other in zip(genuine, changed))
    assert [codec.decode(code) for code in changed] == [None] * QUANTITY
    page = requests.get(f"{stack.url}/p/{changed[0]}", timeout=10)
    assert page.status_code == 404
    with pytest.raises(ValueError, match="csrf_token"):
        csrf_token_of(page.text)


def test_the_result_line_of_the_wrk_script_is_read_whole():
    out = ("Running 10m test @ http://127.0.0.1:5076\n"
           "RESULT requests=12 answered=12 failed=1 duration_us=900 p50_us=3 p99_us=9 max_us=10 connect=0 read=0 "
           "write=0 timeout=0\n")
    assert parse_result(out) == {"requests": 12, "answered": 12, "failed": 1, "duration_us": 900, "p50_us": 3,
                                 "p99_us": 9, "max_us": 10, "connect": 0, "read": 0, "write": 0, "timeout": 0}
    with pytest.raises(ValueError):
        parse_result("wrk: unable to connect")


def _forged(token: str) -> str:
    """The token with the first character of its signature changed: every bit of that one counts
    (the last character of a base64 signature carries padding bits, and changing it may not)."""
    head, _, signature = token.rpartition(".")
    return f"{head}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"
