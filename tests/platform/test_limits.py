"""Rate limits (SPEC §12, scrm/web/limits.py): sign-in per IP, redemption attempts per user
and per IP, 429 with Retry-After, counted in the runtime's Redis (or in the process on
memory://). The limits here are small so that a test reaches them."""

from __future__ import annotations

import pytest

from guide_world import create_guide, create_store


@pytest.fixture
def config_overrides():  # noqa: ANN201
    return {"security.rate_limits.sign_in_per_ip": "3/minute", "security.rate_limits.redeem_per_user": "4/minute",
            "security.rate_limits.redeem_per_ip": "6/minute"}


def test_sign_in_guesses_from_one_address_get_429_with_retry_after(client, make_token):
    token = make_token("manager")
    assert [client.post("/login", data={"token": f"scrm_guess{n}"}).status_code for n in range(3)] == [401] * 3
    refused = client.post("/login", data={"token": token})  # even the right one, for now
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 60
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200  # the API is not


def test_guide_sign_in_links_are_limited_too(client):
    answers = [client.get(f"/m/login?t=forged{n}") for n in range(4)]
    assert [answer.status_code for answer in answers] == [403, 403, 403, 429]
    assert "请求太频繁" in answers[3].text and int(answers[3].headers["Retry-After"]) > 0  # a page, for a person


def test_redemption_attempts_are_limited_per_user_and_per_address(runtime, client, auth):
    create_store(runtime)
    create_guide(runtime, "G1")
    create_guide(runtime, "G2")
    first, second = auth("guide", "G1"), auth("guide", "G2")
    guesses = [client.post("/api/coupons/redeem", json={"code": f"0001-GUESS{n}"}, headers=first) for n in range(5)]
    assert [r.status_code for r in guesses] == [422, 422, 422, 422, 429]  # G1's fifth in the minute
    assert guesses[4].get_json()["error"] == "too_many_requests" and int(guesses[4].headers["Retry-After"]) > 0
    others = [client.post("/api/coupons/redeem", json={"code": f"0002-GUESS{n}"}, headers=second).status_code
              for n in range(3)]
    assert others == [422, 422, 429]  # another guide, the same address: its sixth attempt was the last


def _sign_in_guesses(client, forwarded_for: str) -> list[int]:  # noqa: ANN001
    return [client.post("/login", data={"token": f"scrm_guess{n}"}, headers={"X-Forwarded-For": forwarded_for},
                        environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code for n in range(4)]


def test_without_trusted_proxies_a_forwarded_for_header_does_not_dodge_the_limit(client):
    assert _sign_in_guesses(client, "203.0.113.7") == [401, 401, 401, 429]
    assert _sign_in_guesses(client, "203.0.113.8")[0] == 429  # made up addresses: still the connection's


@pytest.mark.parametrize("config_overrides", [{"server.trusted_proxies": 1,
                                               "security.rate_limits.sign_in_per_ip": "3/minute"}])
def test_behind_a_trusted_proxy_each_client_address_is_counted_apart(client):
    assert _sign_in_guesses(client, "203.0.113.7") == [401, 401, 401, 429]
    assert _sign_in_guesses(client, "198.51.100.1") == [401, 401, 401, 429]  # another customer behind the proxy
    # Only the last hop is the trusted proxy's: what a client puts in front of it is not believed.
    assert _sign_in_guesses(client, "192.0.2.1, 203.0.113.7")[0] == 429
