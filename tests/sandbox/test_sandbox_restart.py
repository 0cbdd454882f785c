"""The sandbox's world is kept in the database (SPEC §10): a runtime started again on the same
database, with Redis emptied as a restart of ``scrm demo`` (memory://) leaves it, still knows
every follower, customer, group and conversation; only access tokens are new."""

from __future__ import annotations

from scrm.app import create_app
from scrm.runtime import Runtime
from scrm.sandbox import world
from web_world import PageClient, log_in

MP = "/sandbox/wechat/mp/cgi-bin/"
WORK = "/sandbox/wechat/work/cgi-bin/"
MP_CREDENTIALS = {"grant_type": "client_credential", "appid": "wxsandbox0000000001", "secret": "sandbox-mp-app-secret"}
PHONE = "/sandbox/phone/api/"


def _restart(stack):  # noqa: ANN001, ANN202
    """Redis emptied, then a new runtime and app on the same configuration (so the same
    database), served where the old one was."""
    stack.runtime.redis.flushdb()
    fresh = Runtime(stack.runtime.config)
    fresh.redis.flushdb()
    app = create_app(runtime=fresh)
    app.testing = True
    app.test_client_class = PageClient
    stack.dispatch.app = app
    return fresh, app.test_client()


def _work_token(client, config) -> str:  # noqa: ANN001
    query = {"corpid": config.wechat.work.corp_id, "corpsecret": config.wechat.work.secret}
    return client.get(WORK + "gettoken", query_string=query).get_json()["access_token"]


def test_followers_customers_groups_and_the_phone_survive_a_restart(stack, client, make_token):  # noqa: ANN001
    log_in(client, make_token, "admin")
    made = client.post(PHONE + "customers", json={"nickname": "小美"}).get_json()
    openid = made["openid"]
    for action, value in (("follow", ""), ("text", "你好")):
        answer = client.post(PHONE + "send", json={"openid": openid, "action": action, "value": value})
        assert answer.status_code == 200, answer.get_json()
    before = client.get(PHONE + "conversation", query_string={"openid": openid}).get_json()["messages"]
    redis = stack.runtime.redis
    world.add_external_contact(redis, "wmRestart", userid="zhangsan", name="王芳", unionid="uWang")
    world.add_group_chat(redis, "wrRestart", owner="zhangsan", name="老客群", external_userids=["wmRestart"])
    old_token = client.get(MP + "token", query_string=MP_CREDENTIALS).get_json()["access_token"]

    fresh, client = _restart(stack)
    try:
        log_in(client, make_token, "admin")
        assert client.get(MP + "user/info", query_string={"access_token": old_token, "openid": openid}
                          ).get_json()["errcode"] == 40001  # tokens are ephemeral: a restart refreshes them
        token = client.get(MP + "token", query_string=MP_CREDENTIALS).get_json()["access_token"]
        info = client.get(MP + "user/info", query_string={"access_token": token, "openid": openid}).get_json()
        assert info["subscribe"] == 1 and info["openid"] == openid and info["nickname"] == "小美"
        sent = client.post(MP + "message/custom/send", query_string={"access_token": token},
                           json={"touser": openid, "msgtype": "text", "text": {"content": "欢迎回来"}}).get_json()
        assert sent == {"errcode": 0, "errmsg": "ok"}  # the 48 h window the text opened is still open

        listed = client.get(PHONE + "customers").get_json()["customers"]
        assert {"openid": openid, "nickname": "小美", "following": True} in listed
        after = client.get(PHONE + "conversation", query_string={"openid": openid}).get_json()["messages"]
        assert after[:len(before)] == before and len(before) >= 2
        assert after[-1]["from"] == "account" and after[-1]["text"] == "欢迎回来"

        work_token = _work_token(client, fresh.config)
        contact = client.get(WORK + "externalcontact/get",
                             query_string={"access_token": work_token, "external_userid": "wmRestart"}).get_json()
        assert contact["external_contact"]["unionid"] == "uWang"
        assert [f["userid"] for f in contact["follow_user"]] == ["zhangsan"]
        chat = client.post(WORK + "externalcontact/groupchat/get", query_string={"access_token": work_token},
                           json={"chat_id": "wrRestart", "need_name": 1}).get_json()["group_chat"]
        assert [(m["userid"], m["name"]) for m in chat["member_list"]] == [("zhangsan", "张三"), ("wmRestart", "王芳")]
    finally:
        fresh.close()
