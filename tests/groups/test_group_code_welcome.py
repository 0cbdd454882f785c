"""Live codes use the group welcome (入群欢迎语, SPEC §9): a code names a template (an unknown or
deleted one is refused, nothing written; a template an active code carries is not deleted);
each group's owner is asked by ONE WeCom app message per group on the code and template,
however often the job runs or the code is saved; a new template asks again; a group WeCom
makes for the code is asked too; without an agent secret nothing is sent and the page says so;
the sandbox's owner applies the welcome and the phone shows it. The sandbox plays WeCom."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from guide_world import create_guide, create_store, send
from scrm.groups import codes
from scrm.groups.code_welcome import ask_message, ask_owners
from scrm.groups.models import GroupCode, GroupCodeChat
from scrm.groups.sync import sync_groups
from scrm.sandbox import state, world
from test_group_codes import chat_xml
from web_world import log_in, page_text

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
TEMPLATES = "/api/group-welcome-templates"
ASKED = f"{NOW.isoformat()}"


@pytest.fixture
def config_overrides() -> dict:
    return {"wechat.work.agent_secret": "sandbox-work-agent-secret"}  # app messages on


@pytest.fixture
def groups(frozen):  # noqa: ANN001, ANN201
    create_store(frozen)
    create_guide(frozen, "G1", name="王小美")
    create_guide(frozen, "G2")
    world.add_group_chat(frozen.redis, "wr1", owner="member-g1", name="福利群1", at=NOW)
    world.add_group_chat(frozen.redis, "wr2", owner="member-g2", name="福利群2", at=NOW)
    world.add_group_chat(frozen.redis, "wr3", owner="member-g1", name="福利群3", at=NOW)
    sync_groups()
    return frozen


def template(client, manager, name: str, text: str) -> dict:  # noqa: ANN001
    made = client.post(TEMPLATES, headers=manager, json={"name": name, "text": text})
    assert made.status_code == 201, made.get_json()
    return made.get_json()


def asks(runtime, userid: str) -> list[str]:  # noqa: ANN001
    return [m["text"]["content"] for m in world.list_messages(runtime.redis, userid, channel="work_app")]


def test_each_owner_is_asked_once_per_group_and_template(groups, client, manager):
    runtime = groups
    first = template(client, manager, "新人欢迎", "欢迎 %NICKNAME%！")
    second = template(client, manager, "双十一", "%NICKNAME%，双十一快乐")
    made = client.post("/api/group-codes", headers=manager,
                       json={"name": "福利码", "chat_ids": ["wr1", "wr2"], "welcome_template_id": first["id"]})
    assert made.status_code == 201, made.get_json()
    code_id = made.get_json()["id"]
    runtime.queue.run_pending()
    assert asks(runtime, "member-g1") == ["【入群欢迎语】请在企业微信为群「福利群1」设置入群欢迎语「新人欢迎」（已在素材库）。"]
    assert asks(runtime, "member-g2") == [ask_message("福利群2", "新人欢迎")]

    assert ask_owners(code_id) == 0  # the job again, the code saved again with the same template: nobody asked twice
    saved = client.patch(f"/api/group-codes/{code_id}", headers=manager,
                         json={"name": "福利码2", "welcome_template_id": first["id"]})
    assert saved.status_code == 200
    runtime.queue.run_pending()
    assert (len(asks(runtime, "member-g1")), len(asks(runtime, "member-g2"))) == (1, 1)
    shown = saved.get_json()
    assert shown["welcome_template"] == {"id": first["id"], "name": "新人欢迎", "text": "欢迎 %NICKNAME%！",
                                         "deleted": False}
    assert [g["welcome_asked_at"] for g in shown["groups"]] == [ASKED, ASKED]
    assert shown["welcome_owners_by_hand"] is False

    runtime.clock.advance(hours=1)
    client.patch(f"/api/group-codes/{code_id}", headers=manager, json={"chat_ids": ["wr1", "wr2", "wr3"]})
    runtime.queue.run_pending()
    assert asks(runtime, "member-g1")[1:] == [ask_message("福利群3", "新人欢迎")]  # only the group put on

    client.patch(f"/api/group-codes/{code_id}", headers=manager, json={"welcome_template_id": second["id"]})
    runtime.queue.run_pending()
    runtime.queue.run_pending()
    assert asks(runtime, "member-g1")[2:] == [ask_message("福利群1", "双十一"), ask_message("福利群3", "双十一")]
    assert asks(runtime, "member-g2")[1:] == [ask_message("福利群2", "双十一")]

    # another code over wr1 with the same template: its owner was asked already
    other = client.post("/api/group-codes", headers=manager,
                        json={"name": "二号码", "chat_ids": ["wr1"], "welcome_template_id": second["id"]}).get_json()
    runtime.queue.run_pending()
    assert len(asks(runtime, "member-g1")) == 4
    assert client.get(f"/api/group-codes/{other['id']}", headers=manager).get_json()["groups"][0]["welcome_asked_at"]

    # a template an active code carries is not deleted; one no code carries is
    in_use = client.delete(f"{TEMPLATES}/{second['id']}", headers=manager)
    assert in_use.status_code == 409 and in_use.get_json()["error"] == "template_in_use"
    assert client.delete(f"{TEMPLATES}/{first['id']}", headers=manager).status_code == 204
    for code in (code_id, other["id"]):
        client.delete(f"/api/group-codes/{code}", headers=manager)
    assert client.delete(f"{TEMPLATES}/{second['id']}", headers=manager).status_code == 204  # its codes retired


def test_a_group_wecom_makes_for_the_code_has_its_owner_asked(groups, client, manager):
    runtime = groups
    tpl = template(client, manager, "新人欢迎", "欢迎！")
    code_id = client.post("/api/group-codes", headers=manager, json={
        "name": "自动建群", "chat_ids": [], "auto_create": True, "room_base_name": "自动群",
        "welcome_template_id": tpl["id"]}).get_json()["id"]
    runtime.queue.run_pending()
    with runtime.transaction() as db_session:
        config_id = codes.own_way(db_session=db_session, code_id=code_id).config_id
    way = world.get_join_way(runtime.redis, config_id)
    world.add_group_chat(runtime.redis, "wrAuto", owner="member-g2", name="自动群1", at=runtime.clock.now())
    world.save_join_way(runtime.redis, {**way, "chat_id_list": ["wrAuto"], "room_base_id": 2})  # WeCom made it
    send(runtime, client, "work", chat_xml(runtime, "wrAuto", "create"))
    runtime.queue.run_pending()
    runtime.queue.run_pending()
    assert asks(runtime, "member-g2") == [ask_message("自动群1", "新人欢迎")]


@pytest.mark.parametrize("config_overrides", [{"wechat.work.agent_secret": ""}])
def test_without_an_agent_secret_no_owner_is_asked_and_the_page_says_so(groups, client, manager, make_token):
    runtime = groups
    tpl = template(client, manager, "新人欢迎", "欢迎 %NICKNAME%！")
    made = client.post("/api/group-codes", headers=manager,
                       json={"name": "福利码", "chat_ids": ["wr1"], "welcome_template_id": tpl["id"]}).get_json()
    runtime.queue.run_pending()
    assert asks(runtime, "member-g1") == [] and state.list_calls(runtime.redis, channel="work", api="message/send") == []
    shown = client.get(f"/api/group-codes/{made['id']}", headers=manager).get_json()
    assert shown["welcome_owners_by_hand"] is True and shown["groups"][0]["welcome_asked_at"] is None
    log_in(client, make_token, "manager")
    page = page_text(client.get(f"/console/group-codes/{made['id']}"))
    assert 'id="welcome-by-hand"' in page and "新人欢迎" in page and "欢迎 小美！" in page and "未请" in page


@pytest.mark.parametrize("body", [{"welcome_template_id": 999}, {"welcome_template_id": "1"},
                                  {"welcome_template_id": 0}, {"welcome_template_id": "deleted"}])
def test_an_unknown_or_deleted_template_is_refused_and_nothing_is_written(groups, client, manager, body):
    runtime = groups
    kept = template(client, manager, "留着", "hi")
    if body["welcome_template_id"] == "deleted":
        gone = template(client, manager, "删了", "bye")
        assert client.delete(f"{TEMPLATES}/{gone['id']}", headers=manager).status_code == 204
        body = {"welcome_template_id": gone["id"]}
    refused = client.post("/api/group-codes", headers=manager, json={"name": "码", "chat_ids": ["wr1"], **body})
    assert refused.status_code == 422 and refused.get_json()["field"] == "welcome_template_id", refused.get_json()
    with runtime.transaction() as db_session:
        assert db_session.scalar(select(func.count()).select_from(GroupCode)) == 0
    assert state.list_calls(runtime.redis, channel="work", api="externalcontact/groupchat/add_join_way") == []

    code_id = client.post("/api/group-codes", headers=manager,
                          json={"name": "码", "chat_ids": ["wr1"], "welcome_template_id": kept["id"]}).get_json()["id"]
    changed = client.patch(f"/api/group-codes/{code_id}", headers=manager, json={"name": "新名", **body})
    assert changed.status_code == 422 and changed.get_json()["field"] == "welcome_template_id"
    with runtime.transaction() as db_session:
        code = db_session.get(GroupCode, code_id)
        assert (code.name, code.welcome_template_id) == ("码", kept["id"])


def test_the_console_form_picks_a_welcome_and_the_page_shows_who_was_asked(groups, client, manager, make_token):
    runtime = groups
    tpl = template(client, manager, "新人欢迎", "欢迎 %NICKNAME% 进群！")
    log_in(client, make_token, "manager")
    form = page_text(client.get("/console/group-codes/new"))
    assert "不使用" in form and f'value="{tpl["id"]}"' in form and 'data-text="欢迎 小美 进群！"' in form

    refused = client.post("/console/group-codes", data={"name": "码", "member_limit": "200", "chat_ids": ["wr1"],
                                                        "welcome_template_id": "999"})
    assert refused.status_code == 422 and "这条入群欢迎语不存在或已删除" in page_text(refused)
    made = client.post("/console/group-codes", data={"name": "码", "member_limit": "200", "chat_ids": ["wr1", "wr2"],
                                                     "welcome_template_id": str(tpl["id"])})
    assert made.status_code == 302
    runtime.queue.run_pending()
    page = page_text(client.get(made.headers["Location"]))
    assert "新人欢迎" in page and "欢迎 小美 进群！" in page and page.count("已请 2026-11-02 10:00") == 2
    code_id = int(made.headers["Location"].rsplit("/", 1)[1])
    edit = page_text(client.get(f"/console/group-codes/{code_id}/edit"))
    assert f'<option value="{tpl["id"]}" data-text="欢迎 小美 进群！" selected>' in edit

    # 不使用: the welcome is taken off the code
    assert client.post(f"/console/group-codes/{code_id}", data={"name": "码", "member_limit": "200",
                                                                "chat_ids": ["wr1", "wr2"], "welcome_template_id": ""}
                       ).status_code == 302
    with runtime.transaction() as db_session:
        assert db_session.get(GroupCode, code_id).welcome_template_id is None
        assert db_session.scalar(select(func.count()).select_from(GroupCodeChat)
                                 .where(GroupCodeChat.welcome_asked_template_id == tpl["id"])) == 2  # the record stays
    assert client.delete(f"{TEMPLATES}/{tpl['id']}", headers=manager).status_code == 204


def test_the_phone_reads_the_welcome_the_owner_applied_for_the_code(groups, client, manager, make_token):
    runtime = groups
    tpl = template(client, manager, "新人欢迎", "欢迎 %NICKNAME% 进群！")
    code_id = client.post("/api/group-codes", headers=manager, json={
        "name": "码", "chat_ids": ["wr2"], "welcome_template_id": tpl["id"]}).get_json()["id"]
    runtime.queue.run_pending()
    with runtime.transaction() as db_session:
        config_id = codes.own_way(db_session=db_session, code_id=code_id).config_id
    applied = client.post("/api/sandbox/work/groups/wr2/welcome", headers=manager,
                          json={"template_id": tpl["template_id"]})  # the owner does as the app message asked
    assert applied.status_code == 200
    answer = runtime.work.transport.call("POST", "externalcontact/groupchat/get", body={"chat_id": "wr2"})
    assert answer["group_chat"]["chat_id"] == "wr2" and "welcome_template_id" not in answer["group_chat"]  # not WeCom's
    log_in(client, make_token, "admin")
    openid = client.post("/sandbox/phone/api/customers", json={"nickname": "阿珍"}).get_json()["openid"]
    joined = client.post("/sandbox/phone/api/groups/join", json={"openid": openid, "config_id": config_id}).get_json()
    assert [(m["from"], m["text"]) for m in joined["messages"]] == [("note", "你已加入群「福利群2」"),
                                                                    ("group", "欢迎 阿珍 进群！")]


def test_a_message_wecom_refuses_is_not_recorded_and_the_next_save_asks_again(groups, client, manager):
    runtime = groups
    tpl = template(client, manager, "新人欢迎", "欢迎！")
    state.add_fault(runtime.redis, channel="work", api="message/send", errcode=81013)  # the owner is out of reach
    code_id = client.post("/api/group-codes", headers=manager, json={
        "name": "码", "chat_ids": ["wr1"], "welcome_template_id": tpl["id"]}).get_json()["id"]
    runtime.queue.run_pending()
    assert asks(runtime, "member-g1") == []
    assert client.get(f"/api/group-codes/{code_id}", headers=manager).get_json()["groups"][0]["welcome_asked_at"] is None
    client.patch(f"/api/group-codes/{code_id}", headers=manager, json={"name": "码2"})
    runtime.queue.run_pending()
    assert asks(runtime, "member-g1") == [ask_message("福利群1", "新人欢迎")]
