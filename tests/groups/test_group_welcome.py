"""Group welcome templates (入群欢迎语, SPEC §9): made, changed and deleted through the API and the
console, each sent to WeCom (the sandbox) with the body WeCom documents; bad input and WeCom's
refusals write nothing; the 101st template is refused; the sandbox's welcome text puts the
joiner's nickname for %NICKNAME%."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from guide_world import create_guide, create_store
from scrm.groups import welcome
from scrm.groups.models import GroupWelcomeTemplate
from scrm.sandbox import state, world
from scrm.wechat.errors import WeChatError
from web_world import log_in, page_text

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
API = "/api/group-welcome-templates"
PAGES = "/console/group-welcome"
WECOM = "externalcontact/group_welcome_template/"
LINK = {"title": "新人礼包", "url": "https://shop.example.com/gift", "desc": "进群即领 20 元券"}


def wecom_calls(runtime, action: str) -> list[dict]:  # noqa: ANN001
    return [c for c in state.list_calls(runtime.redis, channel="work", api=WECOM + action) if c["errcode"] == 0]


def kept(runtime) -> list[GroupWelcomeTemplate]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        found = list(db_session.scalars(select(GroupWelcomeTemplate).order_by(GroupWelcomeTemplate.id)))
        db_session.expunge_all()
        return found


def test_a_template_is_made_changed_and_deleted_through_the_api(frozen, client, manager):
    made = client.post(API, headers=manager, json={"name": "静安店进群", "text": "欢迎 %NICKNAME% 加入！", "link": LINK})
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    [add] = wecom_calls(frozen, "add")
    assert add["body"] == {"text": {"content": "欢迎 %NICKNAME% 加入！"}, "link": LINK, "notify": 1}
    assert body["template_id"] == world.group_welcomes(frozen.redis).popitem()[0]
    assert body["name"] == "静安店进群" and body["link"] == LINK and body["image_media_id"] is None

    renamed = client.patch(f"{API}/{body['id']}", headers=manager, json={"name": "静安店新人"})
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "静安店新人"
    assert wecom_calls(frozen, "edit") == []  # the name is ours alone: WeCom is not asked

    changed = client.patch(f"{API}/{body['id']}", headers=manager,
                           json={"text": "%NICKNAME%，欢迎！", "link": None, "image_media_id": "sbx-img-1"})
    assert changed.status_code == 200, changed.get_json()
    [edit] = wecom_calls(frozen, "edit")
    assert edit["body"] == {"template_id": body["template_id"], "text": {"content": "%NICKNAME%，欢迎！"},
                            "image": {"media_id": "sbx-img-1"}}
    got = frozen.work.get_group_welcome_template(body["template_id"])
    assert got == {"text": {"content": "%NICKNAME%，欢迎！"}, "image": {"media_id": "sbx-img-1"}}
    assert client.get(API, headers=manager).get_json()["templates"][0]["text"] == "%NICKNAME%，欢迎！"

    assert client.delete(f"{API}/{body['id']}", headers=manager).status_code == 204
    [deleted] = wecom_calls(frozen, "del")
    assert deleted["body"] == {"template_id": body["template_id"]}
    assert world.group_welcomes(frozen.redis) == {}
    assert client.get(f"{API}/{body['id']}", headers=manager).status_code == 404
    assert client.get(API, headers=manager).get_json() == {"templates": []}
    assert kept(frozen)[0].deleted_at is not None


@pytest.mark.parametrize(("sent", "field"), [
    ({"name": "空的"}, "text"),
    ({"name": "", "text": "hi"}, "name"),
    ({"name": "x" * 41, "text": "hi"}, "name"),
    ({"name": "长", "text": "好" * 1001}, "text"),  # 3003 bytes of UTF-8
    ({"name": "链接", "link": {"title": "t", "url": "javascript:alert(1)"}}, "link.url"),
    ({"name": "链接", "link": {"url": "https://a.example"}}, "link.title"),
    ({"name": "链接", "link": {"title": "好" * 43, "url": "https://a.example"}}, "link.title"),
    ({"name": "多", "text": "hi", "miniprogram": {}}, "miniprogram"),
])
def test_bad_input_is_refused_before_wecom_is_asked(frozen, client, manager, sent, field):
    refused = client.post(API, headers=manager, json=sent)
    assert refused.status_code == 422 and refused.get_json()["field"] == field, refused.get_json()
    assert state.list_calls(frozen.redis, channel="work", api=WECOM + "add") == [] and kept(frozen) == []


def test_a_bad_change_writes_nothing(frozen, client, manager):
    made = client.post(API, headers=manager, json={"name": "A", "text": "hi"}).get_json()
    refused = client.patch(f"{API}/{made['id']}", headers=manager, json={"text": "", "name": "B"})
    assert refused.status_code == 422 and refused.get_json()["field"] == "text"
    assert wecom_calls(frozen, "edit") == [] and kept(frozen)[0].name == "A"


def test_wecoms_refusal_is_told_and_nothing_is_written(frozen, client, manager):
    state.add_fault(frozen.redis, channel="work", api=WECOM + "add", errcode=40058)
    refused = client.post(API, headers=manager, json={"name": "A", "text": "hi"})
    assert refused.status_code == 502
    assert refused.get_json()["error"] == "wechat_error" and refused.get_json()["errcode"] == 40058
    assert "40058" in refused.get_json()["message"] and kept(frozen) == []

    made = client.post(API, headers=manager, json={"name": "A", "text": "hi"}).get_json()
    state.add_fault(frozen.redis, channel="work", api=WECOM + "edit", errcode=40037)
    assert client.patch(f"{API}/{made['id']}", headers=manager, json={"text": "bye"}).status_code == 502
    state.add_fault(frozen.redis, channel="work", api=WECOM + "del", errcode=40037)
    assert client.delete(f"{API}/{made['id']}", headers=manager).status_code == 502
    [template] = kept(frozen)
    assert template.text == "hi" and template.deleted_at is None


def test_the_101st_template_is_refused(frozen, client, manager):
    with frozen.transaction() as db_session:
        db_session.add_all(GroupWelcomeTemplate(template_id=f"old{i}", name=f"旧{i}", text="hi", created_at=NOW,
                                                updated_at=NOW) for i in range(welcome.MAX_TEMPLATES - 1))
    assert client.post(API, headers=manager, json={"name": "第100条", "text": "hi"}).status_code == 201
    refused = client.post(API, headers=manager, json={"name": "第101条", "text": "hi"})
    assert refused.status_code == 409 and refused.get_json()["error"] == "too_many_templates"
    assert len(wecom_calls(frozen, "add")) == 1 and len(kept(frozen)) == welcome.MAX_TEMPLATES


def test_the_sandbox_plays_wecoms_limits_and_the_nickname(frozen):
    work = frozen.work
    template_id = work.add_group_welcome_template(text="欢迎 %NICKNAME%！再见 %NICKNAME%", notify=False)
    assert world.group_welcome_text(frozen.redis, template_id, "小美") == "欢迎 小美！再见 小美"
    assert world.get_group_welcome(frozen.redis, template_id)["notify"] == 0
    assert world.group_welcome_text(frozen.redis, "msgNobody", "小美") is None
    image_only = work.add_group_welcome_template(text="", image_media_id="sbx-img-1")
    assert world.group_welcome_text(frozen.redis, image_only, "小美") is None
    for body, errcode in (({"text": {"content": "好" * 1001}}, 40058), ({}, 44004),
                          ({"link": {"title": "t"}}, 40058), ({"text": {"content": "hi"}, "notify": 2}, 40058)):
        with pytest.raises(WeChatError) as refused:
            work.transport.call("POST", WECOM + "add", body=body)
        assert refused.value.errcode == errcode, body
    for unknown in (lambda: work.edit_group_welcome_template("msgNobody", text="hi"),
                    lambda: work.get_group_welcome_template("msgNobody"),
                    lambda: work.del_group_welcome_template("msgNobody")):
        with pytest.raises(WeChatError) as refused:
            unknown()
        assert refused.value.errcode == 40037
    for i in range(98):
        world.save_group_welcome(frozen.redis, {"template_id": f"seeded{i}", "text": {"content": "hi"}, "notify": 1})
    with pytest.raises(WeChatError) as refused:
        work.add_group_welcome_template(text="one too many")
    assert refused.value.errcode == 40058 and "100" in refused.value.errmsg


def test_the_api_is_for_managers(frozen, client, auth):
    create_store(frozen)
    create_guide(frozen, "G9")
    guide = auth("guide", "G9")
    assert client.get(API, headers=guide).status_code == 403
    assert client.post(API, headers=guide, json={"name": "A", "text": "hi"}).status_code == 403
    assert client.get(API, headers=auth("admin")).status_code == 200


# ---- the console ------------------------------------------------------------------------------

def welcome_form(**fields: str) -> dict[str, str]:
    return {"name": "", "text": "", "image_media_id": "", "link_title": "", "link_url": "", "link_desc": "",
            **fields}


def test_a_template_is_made_edited_and_deleted_from_the_console(frozen, client, make_token):
    log_in(client, make_token, "manager")
    new = page_text(client.get(f"{PAGES}/new"))
    assert 'name="notify" checked' in new and "进群顾客手机上看到的样子" in new
    made = client.post(PAGES, data=welcome_form(name="静安店新人", text="欢迎 %NICKNAME%！", link_title="新人礼包",
                                                link_url="https://shop.example.com/gift", notify="on"))
    assert made.status_code == 302 and made.headers["Location"] == PAGES
    [add] = wecom_calls(frozen, "add")
    assert add["body"] == {"text": {"content": "欢迎 %NICKNAME%！"},
                           "link": {"title": "新人礼包", "url": "https://shop.example.com/gift"}, "notify": 1}
    listed = page_text(client.get(PAGES))
    assert "入群欢迎语“静安店新人”已保存到企业微信" in listed and "新人礼包" in listed and "1 / 100" in listed

    [template] = kept(frozen)
    page = page_text(client.get(f"{PAGES}/{template.id}"))
    assert 'id="preview-text" >欢迎 小美！<' in page  # the preview shows a sample joiner's nickname
    assert 'value="https://shop.example.com/gift"' in page and 'name="notify"' not in page
    saved = client.post(f"{PAGES}/{template.id}", data=welcome_form(name="静安店新人", text="%NICKNAME% 你好",
                                                                    image_media_id="sbx-img-9"))
    assert saved.status_code == 302
    [edit] = wecom_calls(frozen, "edit")
    assert edit["body"] == {"template_id": template.template_id, "text": {"content": "%NICKNAME% 你好"},
                            "image": {"media_id": "sbx-img-9"}}
    assert world.group_welcome_text(frozen.redis, template.template_id, "艾米") == "艾米 你好"

    assert client.post(f"{PAGES}/{template.id}/delete", csrf=False).status_code == 403  # no CSRF token, no delete
    assert client.post(f"{PAGES}/{template.id}/delete").status_code == 302
    assert len(wecom_calls(frozen, "del")) == 1 and "还没有入群欢迎语" in page_text(client.get(PAGES))
    assert client.get(f"{PAGES}/{template.id}").status_code == 404


def test_a_refused_form_shows_why_keeps_what_was_typed_and_writes_nothing(frozen, client, make_token):
    log_in(client, make_token, "manager")
    too_long = client.post(PAGES, data=welcome_form(name="长", text="好" * 1001))
    assert too_long.status_code == 422
    assert "有 3003 字节，企业微信最多 3000 字节" in page_text(too_long) and "好" * 1001 in page_text(too_long)
    empty = page_text(client.post(PAGES, data=welcome_form(name="空")))
    assert "欢迎语至少要有文字、图片或链接之一" in empty
    bad_link = page_text(client.post(PAGES, data=welcome_form(name="链接", link_title="礼包", link_url="shop")))
    assert "链接网址" in bad_link and "须为 http:// 或 https:// 开头的网址" in bad_link
    assert state.list_calls(frozen.redis, channel="work", api=WECOM + "add") == []

    state.add_fault(frozen.redis, channel="work", api=WECOM + "add", errcode=40058)
    refused = client.post(PAGES, data=welcome_form(name="A", text="hi"))
    assert refused.status_code == 502 and "企业微信没有收下（错误码 40058" in page_text(refused)
    assert kept(frozen) == []
    assert client.post(PAGES, data=welcome_form(name="A", text="hi"), csrf=False).status_code == 403
    assert kept(frozen) == []
