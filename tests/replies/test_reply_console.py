"""The reply-rule and follow-greeting pages (SPEC §11): from the console's forms alone, a keyword
rule answers the phone sandbox and a signed callback, the greeting answers a follow, rules are
edited, switched and deleted, and bad input is refused with nothing saved."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import select

from handlers.signed_callbacks import mp_event_xml, mp_text_xml
from scrm.replies.models import ReplyRule
from web_world import log_in, page_text

RULES = "/console/reply-rules"
GREETING = "/console/follow-greeting"
PHONE = "/sandbox/phone/api"


@pytest.fixture(autouse=True)
def admin(client, make_token):  # noqa: ANN001, ANN201
    """An admin's console session: the reply pages are a manager's, the phone sandbox an admin's."""
    log_in(client, make_token, "admin")


def rules(runtime) -> list[ReplyRule]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        found = list(db_session.scalars(select(ReplyRule).order_by(ReplyRule.id)))
        db_session.expunge_all()
        return found


def rule_form(**fields: str) -> dict[str, str]:
    return {"match": "contains", "keyword": "", "reply_kind": "text", "text": "", "title": "", "description": "",
            "url": "", "picurl": "", "priority": "0", "enabled": "on", **fields}


def phone_customer(client) -> str:  # noqa: ANN001
    made = client.post(f"{PHONE}/customers", json={"nickname": "小美"})
    assert made.status_code == 201, made.get_json()
    return made.get_json()["openid"]


def phone_says(client, openid: str, action: str, value: str = "") -> dict:  # noqa: ANN001
    response = client.post(f"{PHONE}/send", json={"openid": openid, "action": action, "value": value})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["reply"]


def test_a_keyword_rule_made_in_the_console_answers_the_phone_and_a_signed_callback(client, runtime, wechat):
    made = client.post(RULES, data=rule_form(keyword="优惠", text="新人券请点菜单「我的优惠券」", priority="5"))
    assert made.status_code == 302 and made.headers["Location"] == RULES
    listed = page_text(client.get(RULES))
    assert "回复规则已创建" in listed and "优惠" in listed and "新人券请点菜单「我的优惠券」" in listed
    assert "半匹配" in listed

    openid = phone_customer(client)
    phone_says(client, openid, "follow")
    assert phone_says(client, openid, "text", "请问有优惠吗")["text"] == "新人券请点菜单「我的优惠券」"

    to = runtime.config.wechat.mp.original_id
    answer = wechat.mp(mp_text_xml(to=to, openid="oSigned", content="优惠", msg_id="9001", create_time=int(time.time())))
    assert "新人券请点菜单「我的优惠券」" in wechat.reply_text("mp", answer, encrypt=False)


def test_an_article_reply_and_a_default_reply(client, runtime):
    article = rule_form(match="exact", keyword="新品", reply_kind="news", title="春季新品", description="限时九折",
                        url="https://shop.example.com/new")
    assert client.post(RULES, data=article).status_code == 302
    assert client.post(RULES, data=rule_form(match="default", text="收到，稍后回复您")).status_code == 302
    news, default = rules(runtime)
    assert news.reply_kind == "news" and news.text == "" and news.articles == [
        {"title": "春季新品", "description": "限时九折", "url": "https://shop.example.com/new", "picurl": ""}]
    assert default.match == "default" and default.keyword is None
    openid = phone_customer(client)
    phone_says(client, openid, "follow")
    reply = phone_says(client, openid, "text", "新品")
    assert reply["kind"] == "news" and reply["articles"][0]["title"] == "春季新品"
    assert phone_says(client, openid, "text", "在吗")["text"] == "收到，稍后回复您"
    second = client.post(RULES, data=rule_form(match="default", text="另一条"))
    assert second.status_code == 409 and "exists already" in page_text(second) and len(rules(runtime)) == 2


@pytest.mark.parametrize(("fields", "blamed", "said"), [
    ({"match": "exact", "keyword": "", "text": "hi"}, "keyword", "全匹配和半匹配规则需要 1–64 个字符的关键词"),
    ({"keyword": "hi", "text": ""}, "text", "文字回复需要 1–2048 字节的文字"),
    ({"keyword": "hi", "text": "hi", "priority": "高"}, "priority", "须为 -1000000 到 1000000 之间的整数"),
    ({"keyword": "hi", "reply_kind": "news", "title": "t", "url": "javascript:alert(1)"}, "articles.0.url",
     "须为 http:// 或 https:// 开头的网址"),
    ({"keyword": "hi", "text": "奶" * 700}, "text", "有 2100 字节，微信的文字回复最多 2048 字节"),
])
def test_bad_input_is_refused_with_its_field_and_nothing_saved(client, runtime, fields, blamed, said):
    refused = client.post(RULES, data=rule_form(**fields))
    assert refused.status_code == 422
    text = page_text(refused)
    assert blamed in text and said in text and "未保存，没有任何改动" in text  # in the reader's words
    assert rules(runtime) == []
    client.post("/language", data={"lang": "en", "next": "/"})
    english = page_text(client.post(RULES, data=rule_form(**fields)))
    assert blamed in english and "Nothing was changed" in english and not re.search(r"[\u4e00-\u9fff]", english.split(
        'id="new-rule"')[1].split("</ul>")[0]), english  # the refusal itself reads English too
    assert rules(runtime) == []


def test_edit_disable_enable_and_delete_from_the_console(client, runtime):
    client.post(RULES, data=rule_form(keyword="hi", text="hello"))
    (rule,) = rules(runtime)
    page = page_text(client.get(f"{RULES}/{rule.id}"))
    assert 'value="hi"' in page and "hello" in page
    edited = client.post(f"{RULES}/{rule.id}", data=rule_form(match="exact", keyword="HELLO", text="你好", priority="3"))
    assert edited.status_code == 302
    (rule,) = rules(runtime)
    assert (rule.match, rule.keyword, rule.text, rule.priority) == ("exact", "HELLO", "你好", 3)
    bad = client.post(f"{RULES}/{rule.id}", data=rule_form(match="exact", keyword="", text="x"))
    assert bad.status_code == 422 and rules(runtime)[0].keyword == "HELLO"

    openid = phone_customer(client)
    phone_says(client, openid, "follow")
    assert client.post(f"{RULES}/{rule.id}/switch", data={"enabled": "off"}).status_code == 302
    assert rules(runtime)[0].enabled is False and phone_says(client, openid, "text", "hello") is None
    assert client.post(f"{RULES}/{rule.id}/switch", data={"enabled": "on"}).status_code == 302
    assert phone_says(client, openid, "text", "hello")["text"] == "你好"
    assert client.post(f"{RULES}/{rule.id}/delete").status_code == 302
    assert rules(runtime) == [] and client.get(f"{RULES}/{rule.id}").status_code == 404
    assert client.post(f"{RULES}/{rule.id}/delete").status_code == 404


def test_the_follow_greeting_is_edited_in_place_and_a_follow_hears_it(client, runtime, wechat):
    assert "还没有设置" in page_text(client.get(GREETING))
    assert client.post(GREETING, data=rule_form(text="欢迎关注！回复「优惠」领券")).status_code == 302
    assert client.post(GREETING, data=rule_form(text="欢迎光临小店")).status_code == 302
    (greeting,) = rules(runtime)
    assert greeting.match == "follow" and greeting.text == "欢迎光临小店" and greeting.keyword is None
    assert "欢迎光临小店" in page_text(client.get(GREETING))
    assert "欢迎光临小店" not in page_text(client.get(RULES))  # the greeting lives on its own page

    openid = phone_customer(client)
    assert phone_says(client, openid, "follow")["text"] == "欢迎光临小店"
    to = runtime.config.wechat.mp.original_id
    follow = wechat.mp(mp_event_xml(to=to, openid="oSigned", event="subscribe", create_time=int(time.time()), key=""))
    assert "欢迎光临小店" in wechat.reply_text("mp", follow, encrypt=False)

    refused = client.post(GREETING, data=rule_form(text="   "))
    assert refused.status_code == 422 and rules(runtime)[0].text == "欢迎光临小店"


def test_the_pages_need_a_managers_console_session(app, make_token, runtime):
    stranger = app.test_client()
    for path in (RULES, GREETING, "/console/menu"):
        assert stranger.get(path).headers["Location"] == f"/login?next={path}"
    assert stranger.post(RULES, data=rule_form(keyword="x", text="y"), csrf=False).status_code in (302, 403)
    manager = app.test_client()
    log_in(manager, make_token, "manager")
    for path in (RULES, GREETING, "/console/menu"):
        assert manager.get(path).status_code == 200
    assert manager.post(RULES, data=rule_form(keyword="x", text="y"), csrf=False).status_code == 403
    assert rules(runtime) == []
