"""The phone sandbox's membership part (SPEC §13): before the account sets a menu the phone
offers 会员 → 会员中心 on ``members.menu_key`` (the webhook answers with the member page's link),
and the phone's 短信 shows the customer the codes the sandbox's SMS received for the numbers
they typed on the member page, and nobody else's."""

from __future__ import annotations

import json
import re

import pytest

from scrm.customers import service as customers
from scrm.customers.models import Interaction
from scrm.members import joining, service
from scrm.members.sms import SmsSender
from scrm.sandbox import phone
from web_world import log_in

SEND = "/sandbox/phone/api/send"
CUSTOMERS = "/sandbox/phone/api/customers"
SMS = "/sandbox/phone/api/sms"


@pytest.fixture(autouse=True)
def admin_session(client, make_token):  # noqa: ANN001, ANN201
    log_in(client, make_token, "admin")


def new_follower(client) -> str:  # noqa: ANN001
    openid = client.post(CUSTOMERS, json={"nickname": "小美"}).get_json()["openid"]
    assert client.post(SEND, json={"openid": openid, "action": "follow"}).status_code == 200
    return openid


def boot_menu(client) -> list[dict]:  # noqa: ANN001
    page = client.get("/sandbox/phone").get_data(as_text=True)
    return json.loads(re.search(r'<script id="phone-boot" type="application/json">(.*?)</script>', page, re.S)[1])["menu"]


def test_before_the_account_sets_a_menu_the_phone_offers_member_center_under_members(client, runtime):
    menu = boot_menu(client)

    assert [item["label"] for item in menu] == ["新品 New in", "我的优惠券 My coupons", "会员 Members"]
    assert [(s["kind"], s["label"], s["value"]) for s in menu[2]["sub"]] == [
        ("click", "会员中心 Member center", runtime.config.members.menu_key), ("view", "商城 Shop", phone.MENU[1].value)]
    openid = new_follower(client)
    tapped = client.post(SEND, json={"openid": openid, "action": "click", "value": runtime.config.members.menu_key})

    assert tapped.status_code == 200, tapped.get_json()
    assert tapped.get_json()["messages"][0]["text"] == "点击菜单「会员中心 Member center」"
    with runtime.transaction() as db_session:
        clicks = [i.payload for i in db_session.query(Interaction).filter(Interaction.kind == "click")]
    assert [c["key"] for c in clicks] == [runtime.config.members.menu_key]


# ---- 短信: the codes the customer asked for ------------------------------------------------------


def customer_of(runtime, openid: str) -> int:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return customers.lookup(db_session=db_session, channel="mp", external_id=openid).id


def ask_code(runtime, customer_id: int, phone: str) -> str:  # noqa: ANN001
    """What the member page's 获取验证码 does: a code for the customer, sent through the SMS
    adapter to the sandbox's Tencent Cloud SMS over HTTP."""
    with runtime.transaction() as db_session:
        issued = joining.new_code(db_session=db_session, config=runtime.config, customer_id=customer_id, phone=phone,
                                  at=runtime.clock.now())
    SmsSender.from_config(runtime.config, clock=runtime.clock).send_code(phone, issued.code, 5)
    return issued.code


def inbox(client, openid: str) -> dict:  # noqa: ANN001
    response = client.get(SMS, query_string={"openid": openid})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_the_phone_s_sms_shows_the_codes_for_the_numbers_the_customer_typed_newest_first(client, runtime):
    mine, theirs = new_follower(client), new_follower(client)
    assert inbox(client, mine) == {"phones": [], "messages": []}
    typo = ask_code(runtime, customer_of(runtime, mine), "13800138001")  # a mistyped number first
    other = ask_code(runtime, customer_of(runtime, theirs), "13900139000")
    code = ask_code(runtime, customer_of(runtime, mine), "13800138000")

    shown = inbox(client, mine)

    assert shown["phones"] == ["13800138000", "13800138001"]  # latest first
    assert [(m["phone"], m["code"]) for m in shown["messages"]] == [("13800138000", code), ("13800138001", typo)]
    assert f"您的验证码是{code}" in shown["messages"][0]["text"] and shown["messages"][0]["text"].startswith("【")
    assert [(m["phone"], m["code"]) for m in inbox(client, theirs)["messages"]] == [("13900139000", other)]
    assert other not in json.dumps(shown)  # nobody else's


def test_a_member_s_own_number_is_in_the_phone_s_sms_even_without_a_code(client, runtime):
    seeded, joined = new_follower(client), new_follower(client)
    with runtime.transaction() as db_session:  # joined elsewhere: the demo's seeds send no SMS
        service.create_member(db_session=db_session, config=runtime.config, customer_id=customer_of(runtime, seeded),
                              phone="13700137000", at=runtime.clock.now())
    code = ask_code(runtime, customer_of(runtime, joined), "13600136000")
    with runtime.transaction() as db_session:  # then joined with the number they asked a code for
        service.create_member(db_session=db_session, config=runtime.config, customer_id=customer_of(runtime, joined),
                              phone="13600136000", at=runtime.clock.now())

    assert inbox(client, seeded) == {"phones": ["13700137000"], "messages": []}
    assert inbox(client, joined)["phones"] == ["13600136000"]  # one number, listed once
    assert [m["code"] for m in inbox(client, joined)["messages"]] == [code]


def test_the_sms_inbox_needs_the_admin_s_session_and_a_good_openid(app, client, make_token):
    assert inbox(client, "oNobodyHere") == {"phones": [], "messages": []}
    for bad in ("", "o" * 65, "o bad", "o'--"):
        refused = client.get(SMS, query_string={"openid": bad})
        assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_action", bad
    nul = client.get(SMS, query_string={"openid": "o\x00"})  # refused before any route (scrm/web/edge.py)
    assert nul.status_code == 400 and nul.get_json()["error"] == "bad_request"
    stranger = app.test_client()
    assert stranger.get(SMS, query_string={"openid": "oX"}, headers={"Accept": "application/json"}).status_code == 401
    manager = app.test_client()
    log_in(manager, make_token, "manager")
    assert manager.get(SMS, query_string={"openid": "oX"}).status_code == 403
