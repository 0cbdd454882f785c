"""The phone sandbox's membership part (SPEC §13): before the account sets a menu the phone
offers 会员 → 会员中心 on ``members.menu_key`` (the webhook answers with the member page's link),
and the phone's 短信 shows the customer the codes the sandbox's SMS received for the numbers
they typed on the member page, and nobody else's."""

from __future__ import annotations

import json
import re

import pytest

from scrm.customers.models import Interaction
from scrm.sandbox import phone
from web_world import log_in

SEND = "/sandbox/phone/api/send"
CUSTOMERS = "/sandbox/phone/api/customers"


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
