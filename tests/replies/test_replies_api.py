"""The reply rule API: CRUD, every validation error (nothing written), follow/default uniqueness."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from scrm.replies.models import ReplyRule
from scrm.replies.service import VERSION_KEY

URL = "/api/reply-rules"
ARTICLE = {"title": "新品奶粉", "description": "限时优惠", "url": "https://shop.example.com/a/1", "picurl": ""}


def rule_count(runtime) -> int:
    with runtime.transaction() as db_session:
        return db_session.scalar(select(func.count()).select_from(ReplyRule))


def post(client, headers, **payload):
    return client.post(URL, json=payload, headers=headers)


def test_create_read_list_update_delete(client, manager, runtime):
    created = post(client, manager, match="contains", keyword=" 奶粉 ", text="您好，奶粉请看菜单", priority=5)
    assert created.status_code == 201, created.get_json()
    rule = created.get_json()
    assert rule["keyword"] == "奶粉" and rule["reply_kind"] == "text" and rule["enabled"] is True
    assert rule["articles"] == [] and rule["priority"] == 5 and rule["created_at"]
    assert client.get(f"{URL}/{rule['id']}", headers=manager).get_json() == rule
    assert client.get(URL, headers=manager).get_json() == {"rules": [rule]}

    patched = client.patch(f"{URL}/{rule['id']}", json={"keyword": "VIP", "priority": 9}, headers=manager)
    assert patched.status_code == 200
    assert patched.get_json()["keyword"] == "VIP" and patched.get_json()["text"] == "您好，奶粉请看菜单"

    assert client.delete(f"{URL}/{rule['id']}", headers=manager).status_code == 204
    assert client.get(f"{URL}/{rule['id']}", headers=manager).status_code == 404
    assert client.delete(f"{URL}/{rule['id']}", headers=manager).status_code == 404
    assert rule_count(runtime) == 0


def test_switching_to_news_drops_the_text_and_to_follow_drops_the_keyword(client, manager):
    rule = post(client, manager, match="exact", keyword="hi", text="hello").get_json()
    news = client.patch(f"{URL}/{rule['id']}", json={"reply_kind": "news", "articles": [ARTICLE]}, headers=manager)
    assert news.status_code == 200, news.get_json()
    assert news.get_json()["text"] == "" and news.get_json()["articles"] == [ARTICLE]
    follow = client.patch(f"{URL}/{rule['id']}", json={"match": "follow"}, headers=manager)
    assert follow.status_code == 200 and follow.get_json()["keyword"] is None
    back = client.patch(f"{URL}/{rule['id']}", json={"match": "exact"}, headers=manager)
    assert back.status_code == 422 and back.get_json()["field"] == "keyword"


def test_limits_that_are_allowed(client, manager):
    assert post(client, manager, match="exact", keyword="奶" * 64, text="x").status_code == 201
    # 682 Chinese characters are 2046 bytes of UTF-8: inside WeChat's 2048.
    assert post(client, manager, match="exact", keyword="long", text="奶" * 682).status_code == 201
    assert post(client, manager, match="exact", keyword="ascii", text="a" * 2048).status_code == 201
    eight = [dict(ARTICLE, title=f"第{i}篇") for i in range(8)]
    response = post(client, manager, match="follow", reply_kind="news", articles=eight)
    assert response.status_code == 201 and len(response.get_json()["articles"]) == 8
    assert post(client, manager, match="default", text="收到", priority=-3).status_code == 201


KEYWORD_TEXT = {"match": "exact", "keyword": "hi", "text": "hello"}
NEWS = {"match": "contains", "keyword": "hi", "reply_kind": "news", "articles": [ARTICLE]}


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"keyword": "hi", "text": "hello"}, "match"),
        ({**KEYWORD_TEXT, "match": "regex"}, "match"),
        ({**KEYWORD_TEXT, "keyword": None}, "keyword"),
        ({"match": "contains", "text": "hello"}, "keyword"),
        ({**KEYWORD_TEXT, "keyword": "   "}, "keyword"),
        ({**KEYWORD_TEXT, "keyword": "k" * 65}, "keyword"),
        ({**KEYWORD_TEXT, "keyword": 5}, "keyword"),
        ({**KEYWORD_TEXT, "keyword": "a\x00b"}, "keyword"),
        ({"match": "follow", "keyword": "hi", "text": "welcome"}, "keyword"),
        ({**KEYWORD_TEXT, "text": ""}, "text"),
        ({**KEYWORD_TEXT, "text": " \n "}, "text"),
        ({**KEYWORD_TEXT, "text": "a" * 2049}, "text"),
        ({**KEYWORD_TEXT, "text": "奶" * 683}, "text"),  # 683 characters, 2049 bytes
        ({**KEYWORD_TEXT, "text": "bell\x07"}, "text"),
        ({**KEYWORD_TEXT, "articles": [ARTICLE]}, "articles"),
        ({**KEYWORD_TEXT, "reply_kind": "card"}, "reply_kind"),
        ({**NEWS, "articles": []}, "articles"),
        ({**NEWS, "articles": [ARTICLE, ARTICLE]}, "articles"),
        ({"match": "follow", "reply_kind": "news", "articles": [ARTICLE] * 9}, "articles"),
        ({**NEWS, "text": "extra"}, "text"),
        ({**NEWS, "articles": [dict(ARTICLE, url="ftp://shop.example.com/a")]}, "articles.0.url"),
        ({**NEWS, "articles": [dict(ARTICLE, url="javascript:alert(1)")]}, "articles.0.url"),
        ({**NEWS, "articles": [dict(ARTICLE, url="https:///nohost")]}, "articles.0.url"),
        ({**NEWS, "articles": [dict(ARTICLE, picurl="not a url")]}, "articles.0.picurl"),
        ({**NEWS, "articles": [dict(ARTICLE, title="t" * 65)]}, "articles.0.title"),
        ({**NEWS, "articles": [dict(ARTICLE, title=" ")]}, "articles.0.title"),
        ({**NEWS, "articles": [{"url": "https://shop.example.com"}]}, "articles.0.title"),
        ({**NEWS, "articles": [dict(ARTICLE, description="d" * 513)]}, "articles.0.description"),
        ({**NEWS, "articles": [dict(ARTICLE, colour="red")]}, "articles.0.colour"),
        ({**NEWS, "articles": "not a list"}, "articles"),
        ({**KEYWORD_TEXT, "priority": "5"}, "priority"),
        ({**KEYWORD_TEXT, "priority": 10**7}, "priority"),
        ({**KEYWORD_TEXT, "priority": 1.5}, "priority"),
        ({**KEYWORD_TEXT, "enabled": "yes"}, "enabled"),
        ({**KEYWORD_TEXT, "id": 7}, "id"),
    ],
)
def test_invalid_rule_is_422_naming_the_field_and_writes_nothing(client, manager, runtime, payload, field):
    response = client.post(URL, json=payload, headers=manager)
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["error"] == "unprocessable" and body["field"] == field and field in body["message"]
    assert rule_count(runtime) == 0
    assert runtime.redis.get(VERSION_KEY) is None


@pytest.mark.parametrize("data", ["{not json", "[1, 2]", "null", "", "\"text\""])
def test_bad_json_is_400(client, manager, runtime, data):
    response = client.post(URL, data=data, content_type="application/json", headers=manager)
    assert response.status_code == 400 and response.get_json()["error"] == "bad_json"
    assert rule_count(runtime) == 0


def test_invalid_patch_is_refused_and_changes_nothing(client, manager, runtime):
    rule = post(client, manager, **KEYWORD_TEXT).get_json()
    version = runtime.redis.get(VERSION_KEY)
    for changes, status, field in [
        ({"text": "奶" * 683}, 422, "text"),
        ({"keyword": ""}, 422, "keyword"),
        ({"reply_kind": "news"}, 422, "articles"),
        ({"colour": "red"}, 422, "colour"),
        ({"enabled": None}, 422, "enabled"),
    ]:
        response = client.patch(f"{URL}/{rule['id']}", json=changes, headers=manager)
        assert response.status_code == status and response.get_json()["field"] == field, response.get_json()
    bad_json = client.patch(f"{URL}/{rule['id']}", data="{", content_type="application/json", headers=manager)
    assert bad_json.status_code == 400
    assert client.get(f"{URL}/{rule['id']}", headers=manager).get_json() == rule
    assert runtime.redis.get(VERSION_KEY) == version


@pytest.mark.parametrize("rule_id", ["999", "0", "99999999999999999999999", "abc", "-1"])
def test_unknown_id_is_404(client, manager, rule_id):
    for method in (client.get, client.delete):
        response = method(f"{URL}/{rule_id}", headers=manager)
        assert response.status_code == 404 and response.get_json()["error"] == "not_found"
    response = client.patch(f"{URL}/{rule_id}", json={"priority": 1}, headers=manager)
    assert response.status_code == 404


def test_roles(client, auth):
    assert client.get(URL).status_code == 401
    guide = auth("guide", "G001")
    assert client.get(URL, headers=guide).status_code == 403
    assert client.post(URL, json=KEYWORD_TEXT, headers=guide).status_code == 403
    assert client.get(URL, headers=auth("admin")).status_code == 200


@pytest.mark.parametrize("match", ["follow", "default"])
def test_one_enabled_follow_and_one_enabled_default(client, manager, runtime, match):
    first = post(client, manager, match=match, text="欢迎").get_json()
    second = post(client, manager, match=match, text="再次欢迎")
    assert second.status_code == 409
    assert second.get_json()["error"] == "conflict" and second.get_json()["existing_id"] == first["id"]
    assert rule_count(runtime) == 1

    spare = post(client, manager, match=match, text="备用", enabled=False)
    assert spare.status_code == 201
    enable = client.patch(f"{URL}/{spare.get_json()['id']}", json={"enabled": True}, headers=manager)
    assert enable.status_code == 409
    # Turning a keyword rule into a second one is refused the same way.
    keyword_rule = post(client, manager, **KEYWORD_TEXT).get_json()
    assert client.patch(f"{URL}/{keyword_rule['id']}", json={"match": match}, headers=manager).status_code == 409

    assert client.patch(f"{URL}/{first['id']}", json={"enabled": False}, headers=manager).status_code == 200
    assert client.patch(f"{URL}/{spare.get_json()['id']}", json={"enabled": True}, headers=manager).status_code == 200
    # Editing the enabled one is not a conflict with itself.
    assert client.patch(f"{URL}/{spare.get_json()['id']}", json={"text": "新欢迎"}, headers=manager).status_code == 200


def test_the_database_refuses_a_second_enabled_follow_rule_too(runtime):
    """The partial unique index settles two writers racing past the service's check."""
    with pytest.raises(IntegrityError):
        with runtime.transaction() as db_session:
            for _ in range(2):
                db_session.add(ReplyRule(match="follow", reply_kind="text", text="hi", enabled=True))
                db_session.flush()
    with runtime.transaction() as db_session:  # disabled ones and keyword rules are not limited
        for match, keyword in [("follow", None), ("follow", None), ("exact", "k"), ("exact", "k")]:
            db_session.add(ReplyRule(match=match, keyword=keyword, reply_kind="text", text="x", enabled=False))
        db_session.add(ReplyRule(match="default", reply_kind="text", text="x"))
        db_session.add(ReplyRule(match="follow", reply_kind="text", text="x"))
    assert rule_count(runtime) == 6


def test_a_writer_that_races_past_the_check_gets_409_not_500(client, manager, runtime, monkeypatch):
    from scrm.replies import service

    assert post(client, manager, match="follow", text="欢迎").status_code == 201
    monkeypatch.setattr(service, "_ensure_single", lambda *args, **kwargs: None)
    response = post(client, manager, match="follow", text="又一个")
    assert response.status_code == 409 and response.get_json()["error"] == "conflict"
    assert rule_count(runtime) == 1
