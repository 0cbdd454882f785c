"""The phone sandbox (SPEC §10): each action is a sealed, signed callback to the real webhook
over HTTP, its reply comes back, the fake WeChat learns of the customer, the conversation
survives a reload, and bad input is refused with nothing stored."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import func, select

from handlers.models import CallbackRecord
from scrm.customers.models import Customer, CustomerIdentity, Interaction
from scrm.sandbox import phone, world
from web_world import log_in

SEND = "/sandbox/phone/api/send"
CUSTOMERS = "/sandbox/phone/api/customers"


def _count(runtime, model) -> int:
    with runtime.transaction() as db_session:
        return db_session.scalar(select(func.count()).select_from(model))


def _ledger(runtime) -> list[tuple[str, dict]]:
    with runtime.transaction() as db_session:
        return [(r.kind, r.payload) for r in db_session.scalars(select(CallbackRecord).order_by(CallbackRecord.id))]


def _timeline(runtime) -> list[tuple[str, dict]]:
    with runtime.transaction() as db_session:
        return [(i.kind, i.payload) for i in db_session.scalars(select(Interaction).order_by(Interaction.id))]


def _rule(client, auth, **rule) -> None:
    response = client.post("/api/reply-rules", json=rule, headers=auth("manager"))
    assert response.status_code == 201, response.get_json()


@pytest.fixture(autouse=True)
def admin_session(request):  # noqa: ANN001, ANN201
    """The phone sandbox needs the console's admin session (SPEC §12); tests that build their own
    app (outside sandbox mode) have no ``client`` fixture to sign in."""
    if "client" in request.fixturenames:
        log_in(request.getfixturevalue("client"), request.getfixturevalue("make_token"), "admin")


@pytest.fixture
def customer(client) -> dict:
    response = client.post(CUSTOMERS, json={"nickname": "小美"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def act(client, openid: str, action: str, value: str = ""):
    return client.post(SEND, json={"openid": openid, "action": action, "value": value})


def ok(client, openid: str, action: str, value: str = "") -> dict:
    response = act(client, openid, action, value)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# ---- customers and the page --------------------------------------------------------------


def test_a_new_customer_has_a_fresh_openid_and_is_not_yet_a_follower(client, runtime):
    first = client.post(CUSTOMERS, json={}).get_json()
    second = client.post(CUSTOMERS, json={"nickname": " 阿杰 "}).get_json()
    assert re.fullmatch(r"oSandbox[A-Za-z0-9_-]{20}", first["openid"]) and first["openid"] != second["openid"]
    assert first["nickname"] and second["nickname"] == "阿杰"
    assert not first["following"] and world.get_follower(runtime.redis, first["openid"]) is None
    assert _count(runtime, Customer) == 0  # a customer of ours only once they contact the account
    listed = client.get(CUSTOMERS).get_json()["customers"]
    assert [c["openid"] for c in listed] == [second["openid"], first["openid"]]  # newest first


def test_the_page_shows_the_customers_and_the_menu(client, customer):
    for path in ("/sandbox/phone", "/sandbox/phone/"):
        response = client.get(path)
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert customer["openid"] in html and "小美" in html
        assert all(item.value in html for item in phone.MENU)
        assert "/sandbox/phone/static/phone.js" in html
    assert client.get("/sandbox/phone/static/phone.js").status_code == 200


def test_the_phone_needs_an_admins_console_session_and_its_writes_a_csrf_token(app, client, make_token, runtime):
    stranger = app.test_client()
    assert stranger.get("/sandbox/phone").headers["Location"] == "/login?next=/sandbox/phone"
    for path in (CUSTOMERS, "/sandbox/phone/api/conversation?openid=oSandbox1"):
        refused = stranger.get(path, headers={"Accept": "application/json"})
        assert refused.status_code == 401 and refused.get_json()["error"] == "unauthorized"
    assert stranger.post(CUSTOMERS, json={}, headers={"Accept": "application/json"}).status_code == 401
    manager = app.test_client()
    log_in(manager, make_token, "manager")
    assert manager.get(CUSTOMERS).status_code == 403  # the console's admins only
    assert manager.post(CUSTOMERS, json={}).status_code == 403
    no_token = client.post(CUSTOMERS, json={}, csrf=False)
    assert no_token.status_code == 403 and no_token.get_json()["error"] == "csrf_failed"
    assert phone.list_customers(runtime.redis) == []  # nothing made by the refused writes
    page = client.get("/sandbox/phone").get_data(as_text=True)
    token = json.loads(re.search(r'<script id="phone-boot" type="application/json">(.*?)</script>', page, re.S)[1])["csrf_token"]
    made = client.post(CUSTOMERS, json={}, headers={"X-CSRFToken": token}, csrf=False)
    assert made.status_code == 201 and phone.list_customers(runtime.redis)[0]["openid"] == made.get_json()["openid"]


def test_the_home_page_and_the_startup_lines_lead_to_the_phone(client, runtime, capsys):
    from scrm.serving import _print_where_to_look

    home = client.get("/").get_data(as_text=True)
    assert 'href="/sandbox/phone"' in home
    _print_where_to_look(runtime, "127.0.0.1", urlsplit(runtime.config.server.public_base_url).port)
    printed = [line for line in capsys.readouterr().out.splitlines() if "http" in line]
    assert "phone sandbox" in printed[0] and printed[0].split()[2] == runtime.config.server.public_base_url + "/sandbox/phone"


def test_the_phone_is_not_served_outside_sandbox_mode(tmp_path):
    from scrm.app import create_app
    from scrm.config import load_config

    config = load_config(
        environ={},
        overrides={"wechat.sandbox": False, "security.secret_key": "x" * 40, "database.url": f"sqlite:///{tmp_path}/n.db"},
    )
    client = create_app(config).test_client()
    assert client.get("/sandbox/phone").status_code == 404
    assert client.post(SEND, json={"openid": "o1", "action": "follow"}).status_code == 404
    assert "/sandbox/phone" not in client.get("/").get_data(as_text=True)


def test_scrm_sandbox_refuses_outside_sandbox_mode(tmp_path, monkeypatch):
    import os

    from click.testing import CliRunner

    from scrm.cli import main

    for name in [n for n in os.environ if n.startswith("SCRM_")]:
        monkeypatch.delenv(name)
    config = tmp_path / "config.toml"
    config.write_text(f'[security]\nsecret_key = "{"x" * 40}"\n[wechat]\nsandbox = false\n')
    result = CliRunner().invoke(main, ["--config", str(config), "sandbox"])
    assert result.exit_code != 0 and "wechat.sandbox is false" in result.output


# ---- actions -----------------------------------------------------------------------------


def test_follow_is_a_sealed_signed_callback_over_http_and_registers_the_follower(client, runtime, customer, monkeypatch):
    sent = []
    real_post = requests.post

    def spy(url, **kwargs):
        sent.append((url, kwargs["data"]))
        return real_post(url, **kwargs)

    monkeypatch.setattr(phone.requests, "post", spy)
    body = ok(client, customer["openid"], "follow")

    (url, data), = sent
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == runtime.config.server.public_base_url + "/wechat/mp"
    assert query["encrypt_type"] == ["aes"] and query["msg_signature"] and query["signature"]
    assert query["openid"] == [customer["openid"]]
    assert b"<Encrypt>" in data and b"subscribe" not in data  # sealed: safe mode
    assert body["reply"] is None and body["customer"]["following"] is True
    assert [m["text"] for m in body["messages"]] == ["你关注了公众号"]

    assert [kind for kind, _ in _ledger(runtime)] == ["follow"]
    assert [kind for kind, _ in _timeline(runtime)] == ["follow"]
    with runtime.transaction() as db_session:
        identity = db_session.scalar(select(CustomerIdentity))
        assert (identity.external_id, identity.following) == (customer["openid"], True)
    follower = world.get_follower(runtime.redis, customer["openid"])
    assert follower["subscribe"] == "1" and follower["nickname"] == "小美"


def test_a_keyword_gets_its_reply_and_the_conversation_survives_a_reload(client, runtime, auth, customer):
    _rule(client, auth, match="contains", keyword="奶粉", reply_kind="text", text="奶粉在这里: 1 段 2 段 3 段")
    openid = customer["openid"]
    ok(client, openid, "follow")
    body = ok(client, openid, "text", "请问有奶粉吗")

    assert body["reply"] == {"kind": "text", "text": "奶粉在这里: 1 段 2 段 3 段", "articles": []}
    assert [(m["from"], m["text"]) for m in body["messages"]] == [("me", "请问有奶粉吗"), ("account", "奶粉在这里: 1 段 2 段 3 段")]
    assert _timeline(runtime)[-1] == ("text", _timeline(runtime)[-1][1]) and _timeline(runtime)[-1][1]["content"] == "请问有奶粉吗"
    assert world.get_follower(runtime.redis, openid)["last_message_at"]  # the 48 h window is open

    shown = client.get("/sandbox/phone/api/conversation", query_string={"openid": openid}).get_json()
    assert [(m["from"], m["text"]) for m in shown["messages"]] == [
        ("note", "你关注了公众号"),
        ("me", "请问有奶粉吗"),
        ("account", "奶粉在这里: 1 段 2 段 3 段"),
    ]
    assert shown["customer"] == {"openid": openid, "nickname": "小美", "following": True}


def test_the_follow_greeting_and_a_news_reply_come_back(client, auth, customer):
    _rule(client, auth, match="follow", reply_kind="text", text="欢迎关注!回复 新品 看本周新品")
    article = {"title": "本周新品", "description": "春季新款到店", "url": "https://shop.example.com/new"}
    _rule(client, auth, match="exact", keyword="新品", reply_kind="news", articles=[article])

    greeting = ok(client, customer["openid"], "follow")["reply"]
    news = ok(client, customer["openid"], "text", "新品")["reply"]

    assert greeting == {"kind": "text", "text": "欢迎关注!回复 新品 看本周新品", "articles": []}
    assert news["kind"] == "news" and news["articles"] == [{**article, "picurl": ""}]


def test_each_action_makes_its_own_callback(client, runtime, customer):
    openid = customer["openid"]
    ok(client, openid, "follow")
    ok(client, openid, "click", "MENU_NEW_ARRIVALS")
    ok(client, openid, "view", "https://shop.example.com/")
    ok(client, openid, "scan", "G001")  # a follower scans: SCAN
    ok(client, openid, "unfollow")
    assert world.get_follower(runtime.redis, openid)["subscribe"] == "0"
    body = ok(client, openid, "scan", "G002")  # a non-follower scans: subscribe with the scene

    assert body["customer"]["following"] and world.get_follower(runtime.redis, openid)["subscribe"] == "1"
    timeline = _timeline(runtime)
    assert [kind for kind, _ in timeline] == ["follow", "click", "view", "scan", "unfollow", "follow"]
    assert timeline[1][1]["key"] == "MENU_NEW_ARRIVALS"
    assert timeline[2][1]["url"] == "https://shop.example.com/"
    assert timeline[3][1]["scene"] == "G001"
    assert timeline[5][1]["scene"] == "G002"
    assert [kind for kind, _ in _ledger(runtime)] == [kind for kind, _ in timeline]
    notes = [m["text"] for m in client.get("/sandbox/phone/api/conversation", query_string={"openid": openid}).get_json()["messages"]]
    assert notes[1] == "点击菜单「新品 New in」" and notes[-1] == "扫描二维码「G002」，并关注"


def test_two_quick_taps_are_two_deliveries_not_a_retry(client, runtime, customer):
    ok(client, customer["openid"], "follow")
    ok(client, customer["openid"], "click", "MENU_MEMBER_CENTER")
    ok(client, customer["openid"], "click", "MENU_MEMBER_CENTER")
    assert [kind for kind, _ in _timeline(runtime)] == ["follow", "click", "click"]


def test_what_the_account_sends_later_through_the_api_shows_after_the_reply(client, runtime, customer):
    openid = customer["openid"]
    ok(client, openid, "follow")
    ok(client, openid, "text", "你好")
    later = runtime.clock.now().isoformat()
    world.deliver(runtime.redis, "mp", [openid], {"kind": "custom", "msgtype": "text", "content": {"content": "送你一张券"}, "at": later})

    shown = client.get("/sandbox/phone/api/conversation", query_string={"openid": openid}).get_json()["messages"]
    assert [(m["from"], m["text"]) for m in shown][-2:] == [("me", "你好"), ("account", "送你一张券")]


# ---- refusals ----------------------------------------------------------------------------

BAD = [
    ({"action": "dance", "value": "x"}, "action must be one of"),
    ({"action": "text", "value": ""}, "a text message needs"),
    ({"action": "text", "value": "   "}, "a text message needs"),
    ({"action": "text"}, "a text message needs"),
    ({"action": "text", "value": "x" * 601}, "a text message needs"),
    ({"action": "text", "value": "bell\x07"}, "control characters"),
    ({"action": "text", "value": 5}, "value must be a string"),
    ({"action": "scan", "value": ""}, "scene"),
    ({"action": "scan", "value": "two words"}, "scene"),
    ({"action": "click", "value": ""}, "key"),
    ({"action": "view", "value": "javascript:alert(1)"}, "http"),
    ({"openid": "", "action": "follow"}, "openid"),
    ({"openid": "o<script>", "action": "follow"}, "openid"),
    ({"openid": None, "action": "follow"}, "openid"),
]


@pytest.mark.parametrize(("body", "message"), BAD, ids=[f"{b.get('action')}-{i}" for i, (b, _) in enumerate(BAD)])
def test_bad_input_is_refused_and_nothing_is_stored(client, runtime, customer, body, message):
    ok(client, customer["openid"], "follow")
    before = (_count(runtime, CallbackRecord), _count(runtime, Interaction))
    response = client.post(SEND, json={"openid": customer["openid"], **body})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_action" and message in response.get_json()["message"]
    assert (_count(runtime, CallbackRecord), _count(runtime, Interaction)) == before
    assert len(client.get("/sandbox/phone/api/conversation", query_string={"openid": customer["openid"]}).get_json()["messages"]) == 1


def test_a_body_that_is_not_json_is_refused(client, runtime, customer):
    response = client.post(SEND, data=f'{{"openid": "{customer["openid"]}", "action": "follow"}}', content_type="text/plain")
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_action"
    assert client.post(CUSTOMERS, json={"nickname": "x" * 33}).status_code == 400
    assert _count(runtime, CallbackRecord) == 0 and world.get_follower(runtime.redis, customer["openid"]) is None


@pytest.mark.parametrize("action", ["text", "click", "view", "unfollow"])
def test_a_non_follower_cannot_message_tap_or_unfollow(client, runtime, customer, action):
    value = {"text": "hi", "click": "MENU_NEW_ARRIVALS", "view": "https://shop.example.com/"}.get(action, "")
    response = act(client, customer["openid"], action, value)
    assert response.status_code == 409 and response.get_json()["error"] == "not_following"
    assert _count(runtime, CallbackRecord) == 0 and world.get_follower(runtime.redis, customer["openid"]) is None


def test_following_twice_is_refused(client, customer):
    ok(client, customer["openid"], "follow")
    response = act(client, customer["openid"], "follow")
    assert response.status_code == 409 and response.get_json()["error"] == "already_following"


def test_an_unreachable_webhook_is_a_502_and_the_customer_can_try_again(client, runtime, customer):
    from platform_world import reconfigure

    served = runtime.config.server.public_base_url
    reconfigure(runtime, {"server.public_base_url": "http://127.0.0.1:9"})
    response = act(client, customer["openid"], "follow")
    assert response.status_code == 502 and response.get_json()["error"] == "webhook_failed"
    assert world.get_follower(runtime.redis, customer["openid"])["subscribe"] == "0"
    assert client.get("/sandbox/phone/api/conversation", query_string={"openid": customer["openid"]}).get_json()["messages"] == []

    reconfigure(runtime, {"server.public_base_url": served})
    assert ok(client, customer["openid"], "follow")["customer"]["following"]


def test_the_phone_offers_the_ready_guide_and_store_codes_to_scan(runtime, client):
    from guide_world import create_guide, create_store, store_scene

    create_store(runtime)
    guide = create_guide(runtime, "G1", name="王小美")
    page = client.get("/sandbox/phone").get_data(as_text=True)
    assert f'<option value="{guide.mp_scene}">王小美 · 上海静安店</option>' in page
    assert f'<option value="{store_scene(runtime, "S1")}">上海静安店 门店码</option>' in page


def test_the_home_page_offers_the_phone_to_admins_and_visitors_not_to_managers(app, make_token):
    manager = app.test_client()
    log_in(manager, make_token, "manager")
    assert 'href="/sandbox/phone"' not in manager.get("/").get_data(as_text=True)  # it would refuse them
    assert 'href="/sandbox/phone"' in app.test_client().get("/").get_data(as_text=True)  # then signs in
