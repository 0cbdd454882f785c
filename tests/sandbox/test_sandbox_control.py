"""The sandbox's control API: the call log (secrets masked) and faults (once, N times, delay,
bare HTTP status, consumed atomically), with its auth and input checks."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from scrm.sandbox import state

MP = "/sandbox/wechat/mp/cgi-bin/"
WORK = "/sandbox/wechat/work/cgi-bin/"
MP_CREDENTIALS = {"grant_type": "client_credential", "appid": "wxsandbox0000000001", "secret": "sandbox-mp-app-secret"}
WORK_CREDENTIALS = {"corpid": "wwsandbox00000001", "corpsecret": "sandbox-work-contact-secret"}


@pytest.fixture
def admin(auth):
    return auth("admin")


def mp_token(client) -> str:
    return client.get(MP + "token", query_string=MP_CREDENTIALS).get_json()["access_token"]


def tags_get(client, token: str):
    return client.get(MP + "tags/get", query_string={"access_token": token})


# ---- the call log ------------------------------------------------------------------------


def test_every_call_is_recorded_with_secrets_masked(client, admin):
    token = mp_token(client)
    client.get(WORK + "gettoken", query_string=WORK_CREDENTIALS)
    tags_get(client, token)
    client.post(MP + "tags/create", query_string={"access_token": token}, data=b"<xml/>")
    client.get(MP + "token", query_string={**MP_CREDENTIALS, "secret": "wrong"})
    calls = client.get("/api/sandbox/calls", headers=admin).get_json()["calls"]
    assert [(c["channel"], c["api"], c["method"], c["errcode"]) for c in calls] == [
        ("mp", "token", "GET", 0),
        ("work", "gettoken", "GET", 0),
        ("mp", "tags/get", "GET", 0),
        ("mp", "tags/create", "POST", 47001),
        ("mp", "token", "GET", 40125),
    ]
    assert set(calls[0]) >= {"id", "channel", "api", "method", "query", "body", "errcode", "at"}
    assert calls[0]["query"] == {**MP_CREDENTIALS, "secret": "***"}
    assert calls[1]["query"] == {**WORK_CREDENTIALS, "corpsecret": "***"}
    assert calls[2]["query"] == {"access_token": "***"}
    assert calls[3]["body"] == "<xml/>"
    assert [c["id"] for c in calls] == sorted(c["id"] for c in calls)
    text = str(calls)
    assert token not in text and "sandbox-mp-app-secret" not in text and "sandbox-work-contact-secret" not in text


def test_calls_are_filtered_and_cleared(client, admin, runtime):
    token = mp_token(client)
    tags_get(client, token)
    client.post(MP + "tags/create", query_string={"access_token": token}, json={"tag": {"name": "vip"}})
    client.get(WORK + "gettoken", query_string=WORK_CREDENTIALS)
    only = client.get("/api/sandbox/calls?channel=mp&api=tags/create", headers=admin).get_json()["calls"]
    assert [(c["api"], c["body"]) for c in only] == [("tags/create", {"tag": {"name": "vip"}})]
    assert [c["api"] for c in state.list_calls(runtime.redis, channel="work")] == ["gettoken"]
    assert client.delete("/api/sandbox/calls", headers=admin).status_code == 204
    assert client.get("/api/sandbox/calls", headers=admin).get_json() == {"calls": []}


def test_control_api_needs_admin_or_manager(client, auth):
    assert client.get("/api/sandbox/calls").status_code == 401
    assert client.post("/api/sandbox/faults", json={"channel": "mp", "api": "*", "errcode": 1}).status_code == 401
    guide = auth("guide", guide_code="G1")
    for method, path in (("get", "/api/sandbox/calls"), ("delete", "/api/sandbox/calls"), ("get", "/api/sandbox/faults"),
                         ("post", "/api/sandbox/faults"), ("delete", "/api/sandbox/faults")):
        answer = getattr(client, method)(path, headers=guide, json={})
        assert answer.status_code == 403 and answer.get_json()["error"] == "forbidden"
    assert client.get("/api/sandbox/faults", headers=auth("manager")).status_code == 200


def test_calls_refuse_an_unknown_channel(client, admin):
    answer = client.get("/api/sandbox/calls?channel=sms", headers=admin)
    assert answer.status_code == 400 and "channel" in answer.get_json()["message"]


# ---- faults ------------------------------------------------------------------------------


def add_fault(client, headers, **fault):
    return client.post("/api/sandbox/faults", headers=headers, json=fault)


def test_a_fault_answers_the_next_call_once(client, admin):
    token = mp_token(client)
    made = add_fault(client, admin, channel="mp", api="tags/get", errcode=45009)
    assert made.status_code == 201
    assert made.get_json() == {"id": made.get_json()["id"], "channel": "mp", "api": "tags/get", "errcode": 45009,
                               "times": 1, "remaining": 1, "delay_ms": 0, "http_status": None}
    client.post(MP + "tags/create", query_string={"access_token": token}, json={"tag": {"name": "a"}})  # not matched
    assert tags_get(client, token).get_json()["errcode"] == 45009
    assert tags_get(client, token).get_json()["tags"][0]["name"] == "a"
    assert client.get("/api/sandbox/faults", headers=admin).get_json() == {"faults": []}
    calls = client.get("/api/sandbox/calls?api=tags/get", headers=admin).get_json()["calls"]
    assert [c["errcode"] for c in calls] == [45009, 0]


def test_a_fault_comes_before_validation_and_lasts_n_times(client, admin):
    add_fault(client, admin, channel="work", api="*", errcode=-1, times=3)
    answers = [client.get(WORK + "user/get").get_json()["errcode"] for _ in range(4)]
    assert answers == [-1, -1, -1, 41001]


def test_faults_are_listed_with_what_is_left_and_cleared(client, admin):
    add_fault(client, admin, channel="mp", api="token", errcode=-1, times=2)
    client.get(MP + "token", query_string=MP_CREDENTIALS)
    listed = client.get("/api/sandbox/faults", headers=admin).get_json()["faults"]
    assert [(f["api"], f["times"], f["remaining"]) for f in listed] == [("token", 2, 1)]
    assert client.delete("/api/sandbox/faults", headers=admin).status_code == 204
    assert client.get(MP + "token", query_string=MP_CREDENTIALS).get_json()["expires_in"] == 7200


def test_a_delay_fault_slows_the_call_then_it_proceeds(client, admin):
    token = mp_token(client)
    add_fault(client, admin, channel="mp", api="tags/get", delay_ms=300)
    started = time.monotonic()
    answer = tags_get(client, token).get_json()
    assert time.monotonic() - started >= 0.3 and answer == {"tags": []}
    # Used up: the next call finds no fault to delay it.
    assert client.get("/api/sandbox/faults", headers=admin).get_json()["faults"] == []
    assert tags_get(client, token).get_json() == {"tags": []}


def test_a_delay_with_an_errcode(client, admin):
    add_fault(client, admin, channel="mp", api="token", errcode=-1, delay_ms=100)
    started = time.monotonic()
    assert client.get(MP + "token", query_string=MP_CREDENTIALS).get_json()["errcode"] == -1
    assert time.monotonic() - started >= 0.1


def test_an_http_status_fault_answers_without_json(client, admin):
    add_fault(client, admin, channel="work", api="gettoken", http_status=502)
    answer = client.get(WORK + "gettoken", query_string=WORK_CREDENTIALS)
    assert answer.status_code == 502 and answer.get_json(silent=True) is None
    assert client.get(WORK + "gettoken", query_string=WORK_CREDENTIALS).get_json()["errcode"] == 0
    calls = client.get("/api/sandbox/calls?channel=work", headers=admin).get_json()["calls"]
    assert [(c["errcode"], c["http_status"]) for c in calls] == [(None, 502), (0, 200)]


def test_concurrent_calls_consume_a_fault_exactly_times(stack, client, admin):
    add_fault(client, admin, channel="mp", api="token", errcode=45009, times=5)
    answers: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def call() -> None:
        start.wait()
        errcode = requests.get(stack.url + MP + "token", params=MP_CREDENTIALS, timeout=10).json().get("errcode", 0)
        with lock:
            answers.append(errcode)

    threads = [threading.Thread(target=call) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert sorted(answers) == [0] * 11 + [45009] * 5


def test_take_fault_from_16_threads_directly(runtime):
    state.add_fault(runtime.redis, channel="work", api="*", errcode=-1, times=7)
    taken: list[dict | None] = []
    start = threading.Barrier(16)

    def take() -> None:
        start.wait()
        taken.append(state.take_fault(runtime.redis, "work", "gettoken"))

    threads = [threading.Thread(target=take) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert sum(1 for t in taken if t) == 7 and state.list_faults(runtime.redis) == []


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"channel": "sms", "api": "*", "errcode": 1}, "channel"),
        ({"channel": "mp", "errcode": 1}, "api"),
        ({"channel": "mp", "api": "tags/nope", "errcode": 1}, "tags/nope"),
        ({"channel": "mp", "api": "gettoken", "errcode": 1}, "gettoken"),
        ({"channel": "mp", "api": "*"}, "errcode, http_status or delay_ms"),
        ({"channel": "mp", "api": "*", "errcode": 0}, "errcode 0"),
        ({"channel": "mp", "api": "*", "errcode": 1, "http_status": 502}, "not both"),
        ({"channel": "mp", "api": "*", "errcode": 1, "times": 0}, "times"),
        ({"channel": "mp", "api": "*", "errcode": "40001"}, "errcode"),
        ({"channel": "mp", "api": "*", "delay_ms": -5}, "delay_ms"),
        ({"channel": "mp", "api": "*", "http_status": 200}, "http_status"),
        ({"channel": "mp", "api": "*", "errcode": 1, "when": "now"}, "when"),
    ],
)
def test_bad_faults_are_refused_clearly(client, admin, body, mentions):
    answer = client.post("/api/sandbox/faults", headers=admin, json=body)
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "invalid_fault" and mentions in answer.get_json()["message"]
    assert client.get("/api/sandbox/faults", headers=admin).get_json() == {"faults": []}


def test_a_fault_body_must_be_json(client, admin):
    answer = client.post("/api/sandbox/faults", headers=admin, data="channel=mp", content_type="text/plain")
    assert answer.status_code == 415 and answer.get_json()["error"] == "unsupported_media_type"
    answer = client.post("/api/sandbox/faults", headers=admin, data="[1]", content_type="application/json")
    assert answer.status_code == 400 and "JSON object" in answer.get_json()["message"]
    assert client.get("/api/sandbox/faults", headers=admin).get_json() == {"faults": []}
