"""The phone sandbox speaks its admin's language (scrm/web/i18n.py): Chinese first, English
once chosen; the brand's data (the account's menu, customers' nicknames, stores' and guides'
names) stays as written."""

from __future__ import annotations

import json
import re

import pytest

from guide_world import create_guide, create_store
from web_world import log_in

PAGE = "/sandbox/phone"
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]+")
DATA = ("王小美", "小美", "上海静安店")  # longest first: 小美 is in 王小美
ENGLISH_WORDS = ("Follow", "Scan", "Send", "Customer", "customer", "Official Account", "Console", "Sandbox")  # /sandbox/… paths are code


@pytest.fixture(autouse=True)
def admin_session(client, make_token):  # noqa: ANN001, ANN201
    log_in(client, make_token, "admin")


def visible_text(html_text: str) -> str:
    """What a person reads: the page without its tags, scripts and styles, and without data."""
    html_text = re.sub(r"<(script|style)\b.*?</\1>", " ", html_text, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", html_text)
    for word in DATA:
        text = text.replace(word, " ")
    return text


def words(html_text: str) -> dict[str, str]:
    """The words phone.js draws with, from the page's boot JSON."""
    boot = re.search(r'<script id="phone-boot" type="application/json">(.*?)</script>', html_text, re.S)[1]
    return json.loads(boot)["words"]


def test_the_phone_reads_in_chinese_by_default_and_in_english_once_chosen(client, runtime):
    create_store(runtime)
    create_guide(runtime, "G1", name="王小美")
    assert client.post("/sandbox/phone/api/customers", json={"nickname": "小美"}).status_code == 201

    chinese = client.get(PAGE).text
    assert '<html lang="zh-CN">' in chinese
    assert ">上海静安店 门店码</option>" in chinese and ">关注</button>" in chinese
    assert [w for w in ENGLISH_WORDS if w in visible_text(chinese)] == []
    assert words(chinese)["following"] == "已关注" and words(chinese)["follow"] == "关注"

    client.post("/language", data={"lang": "en", "next": "/"})
    english = client.get(PAGE).text
    assert '<html lang="en">' in english
    assert CJK.findall(visible_text(english)) == []
    assert ">上海静安店 store code</option>" in english and ">Follow</button>" in english
    drawn = words(english)
    assert drawn["following"] == "Following" and drawn["unfollow"] == "Unfollow"
    assert [key for key, word in drawn.items() if CJK.search(word)] == []


def test_the_phones_notes_are_written_in_the_language_of_the_moment(client):
    openid = client.post("/sandbox/phone/api/customers", json={}).get_json()["openid"]
    client.post("/language", data={"lang": "en", "next": "/"})
    followed = client.post("/sandbox/phone/api/send", json={"openid": openid, "action": "follow"})
    assert followed.status_code == 200, followed.get_json()
    assert [m["text"] for m in followed.get_json()["messages"]] == ["You followed the account"]
