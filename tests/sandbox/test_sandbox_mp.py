"""The sandbox's Official Account api: tokens, QR codes, tags, followers, messages."""

from __future__ import annotations


import pytest

from scrm.sandbox import state

BASE = "/sandbox/wechat/mp/cgi-bin/"
CREDENTIALS = {"grant_type": "client_credential", "appid": "wxsandbox0000000001", "secret": "sandbox-mp-app-secret"}


class MP:
    def __init__(self, client, token: str | None) -> None:
        self.client, self.token = client, token

    def renew(self) -> None:
        self.token = fetch_token(self.client)["access_token"]

    def get(self, api: str, **params):
        return self.client.get(BASE + api, query_string={"access_token": self.token, **params}).get_json()

    def post(self, api: str, body=None, **params):
        return self.client.post(BASE + api, query_string={"access_token": self.token, **params}, json=body).get_json()


def fetch_token(client, **overrides) -> dict:
    return client.get(BASE + "token", query_string={**CREDENTIALS, **overrides}).get_json()


@pytest.fixture
def mp(client, clock):
    return MP(client, fetch_token(client)["access_token"])


# ---- tokens ------------------------------------------------------------------------------


def test_token_is_issued_with_weChat_shape(client, clock):
    body = fetch_token(client)
    assert set(body) == {"access_token", "expires_in"}
    assert body["expires_in"] == 7200 and len(body["access_token"]) > 20


@pytest.mark.parametrize(
    ("overrides", "errcode"),
    [
        ({"grant_type": "password"}, 40002),
        ({"appid": ""}, 41002),
        ({"appid": "wxsomeoneelse"}, 40013),
        ({"secret": ""}, 41004),
        ({"secret": "wrong"}, 40125),
    ],
)
def test_token_refuses_bad_credentials(client, clock, overrides, errcode):
    assert fetch_token(client, **overrides)["errcode"] == errcode


def test_calls_need_a_valid_token(client, mp, clock):
    assert MP(client, None).get("tags/get")["errcode"] == 41001
    assert MP(client, "not-a-token").get("tags/get")["errcode"] == 40001
    assert mp.get("tags/get") == {"tags": []}
    clock.advance(seconds=7201)
    expired = mp.get("tags/get")
    assert expired["errcode"] == 42001 and "expired" in expired["errmsg"]


def test_a_new_token_leaves_the_previous_one_five_minutes(client, clock):
    first = MP(client, fetch_token(client)["access_token"])
    second = MP(client, fetch_token(client)["access_token"])
    assert first.token != second.token
    clock.advance(seconds=299)
    assert first.get("tags/get") == {"tags": []}
    clock.advance(seconds=2)
    assert first.get("tags/get")["errcode"] == 40001
    assert second.get("tags/get") == {"tags": []}


def test_only_the_last_two_tokens_are_valid(client, clock):
    tokens = [MP(client, fetch_token(client)["access_token"]) for _ in range(3)]
    assert tokens[0].get("tags/get")["errcode"] == 40001
    assert tokens[1].get("tags/get") == {"tags": []}
    assert tokens[2].get("tags/get") == {"tags": []}


def test_method_body_and_unknown_api_are_refused(client, mp):
    assert client.get(BASE + "tags/create", query_string={"access_token": mp.token}).get_json()["errcode"] == 43002
    assert client.post(BASE + "user/info", query_string={"access_token": mp.token}, json={}).get_json()["errcode"] == 43001
    for data in (b"not json", b"[1, 2]", b""):
        answer = client.post(BASE + "tags/create", query_string={"access_token": mp.token}, data=data)
        assert answer.status_code == 200 and answer.get_json()["errcode"] == 47001
    missing = client.post(BASE + "menu/addconditional", query_string={"access_token": mp.token}, json={})
    assert missing.status_code == 404
    assert missing.get_json()["errcode"] == 404 and "not in sandbox" in missing.get_json()["errmsg"]


# ---- QR codes ----------------------------------------------------------------------------


def str_scene(action: str, scene: str, **extra) -> dict:
    return {"action_name": action, "action_info": {"scene": {"scene_str": scene}}, **extra}


def test_temporary_qrcode_and_its_image(client, mp, clock, redis):
    made = mp.post("qrcode/create", str_scene("QR_STR_SCENE", "guide:7", expire_seconds=600))
    assert set(made) == {"ticket", "expire_seconds", "url"} and made["expire_seconds"] == 600
    image = client.get(BASE + "showqrcode", query_string={"ticket": made["ticket"]})
    assert image.status_code == 200 and image.mimetype == "image/png"
    from scrm.sandbox.apis import png

    assert image.data == png(made["url"]).data
    assert state.find_qrcode(redis, url=made["url"])["scene_str"] == "guide:7"
    clock.advance(seconds=601)
    assert client.get(BASE + "showqrcode", query_string={"ticket": made["ticket"]}).status_code == 404


def test_temporary_qrcode_lasts_60_seconds_by_default(mp):
    made = mp.post("qrcode/create", {"action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": 42}}})
    assert made["expire_seconds"] == 60


def test_permanent_qrcode_is_the_same_for_the_same_scene(mp):
    first = mp.post("qrcode/create", str_scene("QR_LIMIT_STR_SCENE", "guide:7"))
    again = mp.post("qrcode/create", str_scene("QR_LIMIT_STR_SCENE", "guide:7"))
    other = mp.post("qrcode/create", str_scene("QR_LIMIT_STR_SCENE", "guide:8"))
    assert set(first) == {"ticket", "url"}
    assert again == first and other["ticket"] != first["ticket"]


def test_showqrcode_of_an_unknown_ticket_is_404(client):
    assert client.get(BASE + "showqrcode", query_string={"ticket": "nope"}).status_code == 404


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        (str_scene("QR_FOREVER", "x"), 40052),
        ({"action_name": "QR_STR_SCENE"}, 40053),
        (str_scene("QR_STR_SCENE", ""), 40053),
        (str_scene("QR_STR_SCENE", "x" * 65), 40053),
        (str_scene("QR_STR_SCENE", "x", expire_seconds=2592001), 40053),
        ({"action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": 0}}}, 40053),
        ({"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 100001}}}, 40053),
    ],
)
def test_qrcode_create_validates(mp, body, errcode):
    assert mp.post("qrcode/create", body)["errcode"] == errcode


def test_qrcode_scene_str_of_64_characters_is_fine(mp):
    assert "ticket" in mp.post("qrcode/create", str_scene("QR_LIMIT_STR_SCENE", "x" * 64))


# ---- tags --------------------------------------------------------------------------------


def create_tag(mp, name: str) -> dict:
    return mp.post("tags/create", {"tag": {"name": name}})


def test_tags_create_get_update_delete(mp, redis):
    state.add_follower(redis, "o1")
    tag = create_tag(mp, "广东")["tag"]
    assert tag["name"] == "广东" and tag["id"] >= 100
    assert mp.post("tags/members/batchtagging", {"openid_list": ["o1"], "tagid": tag["id"]}) == {"errcode": 0, "errmsg": "ok"}
    assert mp.get("tags/get") == {"tags": [{"id": tag["id"], "name": "广东", "count": 1}]}
    assert mp.post("tags/update", {"tag": {"id": tag["id"], "name": "广州"}})["errcode"] == 0
    assert mp.get("tags/get")["tags"][0]["name"] == "广州"
    assert mp.post("tags/delete", {"tag": {"id": tag["id"]}})["errcode"] == 0
    assert mp.get("tags/get") == {"tags": []}
    assert mp.post("tags/getidlist", {"openid": "o1"}) == {"tagid_list": []}


def test_tag_names_are_checked(mp):
    assert create_tag(mp, "x" * 30)["tag"]["name"] == "x" * 30
    assert create_tag(mp, "x" * 31)["errcode"] == 45158
    assert create_tag(mp, "")["errcode"] == 45157
    assert create_tag(mp, "x" * 30)["errcode"] == 45157  # duplicate
    other = create_tag(mp, "other")["tag"]
    assert mp.post("tags/update", {"tag": {"id": other["id"], "name": "x" * 30}})["errcode"] == 45157
    assert mp.post("tags/update", {"tag": {"id": 99999, "name": "y"}})["errcode"] == 45159
    assert mp.post("tags/update", {"tag": {"id": 2, "name": "y"}})["errcode"] == 45058
    assert mp.post("tags/delete", {"tag": {"id": 99999}})["errcode"] == 45159


def test_an_account_has_at_most_100_tags(mp):
    for i in range(100):
        assert "tag" in create_tag(mp, f"t{i}")
    assert create_tag(mp, "one more")["errcode"] == 45056


def test_batch_tagging_limits(mp, redis):
    tag_id = create_tag(mp, "vip")["tag"]["id"]
    for i in range(51):
        state.add_follower(redis, f"o{i}")
    many = [f"o{i}" for i in range(51)]
    assert mp.post("tags/members/batchtagging", {"openid_list": many, "tagid": tag_id})["errcode"] == 40032
    assert mp.post("tags/members/batchtagging", {"openid_list": [], "tagid": tag_id})["errcode"] == 40032
    assert mp.post("tags/members/batchtagging", {"openid_list": ["o1"], "tagid": 12345})["errcode"] == 45159
    refused = mp.post("tags/members/batchtagging", {"openid_list": ["o1", "stranger"], "tagid": tag_id})
    assert refused["errcode"] == 40003
    assert mp.post("tags/getidlist", {"openid": "o1"}) == {"tagid_list": []}  # all or nothing
    assert mp.post("tags/members/batchtagging", {"openid_list": many[:50], "tagid": tag_id})["errcode"] == 0
    assert mp.post("tags/members/batchuntagging", {"openid_list": ["o1"], "tagid": tag_id})["errcode"] == 0
    assert mp.post("tags/getidlist", {"openid": "o1"}) == {"tagid_list": []}
    assert mp.post("tags/getidlist", {"openid": "o2"}) == {"tagid_list": [tag_id]}
    assert mp.post("tags/getidlist", {"openid": "stranger"})["errcode"] == 40003


def test_a_follower_carries_at_most_20_tags(mp, redis):
    state.add_follower(redis, "o1")
    tag_ids = [create_tag(mp, f"t{i}")["tag"]["id"] for i in range(21)]
    for tag_id in tag_ids[:20]:
        assert mp.post("tags/members/batchtagging", {"openid_list": ["o1"], "tagid": tag_id})["errcode"] == 0
    assert mp.post("tags/members/batchtagging", {"openid_list": ["o1"], "tagid": tag_ids[0]})["errcode"] == 0
    assert mp.post("tags/members/batchtagging", {"openid_list": ["o1"], "tagid": tag_ids[20]})["errcode"] == 45059


# ---- followers ---------------------------------------------------------------------------


def test_user_info(mp, redis):
    state.add_follower(redis, "o1", nickname="小明", unionid="u1")
    tag_id = create_tag(mp, "vip")["tag"]["id"]
    mp.post("tags/members/batchtagging", {"openid_list": ["o1"], "tagid": tag_id})
    info = mp.get("user/info", openid="o1")
    assert info["subscribe"] == 1 and info["openid"] == "o1"
    assert info["nickname"] == "小明" and info["unionid"] == "u1" and info["tagid_list"] == [tag_id]
    assert mp.get("user/info", openid="nobody")["errcode"] == 40003
    state.unfollow(redis, "o1")
    assert mp.get("user/info", openid="o1") == {"subscribe": 0, "openid": "o1", "unionid": "u1"}


# ---- messages ----------------------------------------------------------------------------


def text(to: str, content: str = "hi") -> dict:
    return {"touser": to, "msgtype": "text", "text": {"content": content}}


def test_custom_message_needs_the_48_hour_window(mp, redis, clock):
    state.add_follower(redis, "o1")
    assert mp.post("message/custom/send", text("o1"))["errcode"] == 45015
    state.touch_follower(redis, "o1")
    assert mp.post("message/custom/send", text("o1", "你好")) == {"errcode": 0, "errmsg": "ok"}
    received = state.list_messages(redis, "o1")
    assert [(m["kind"], m["content"]) for m in received] == [("custom", {"content": "你好"})]
    clock.advance(hours=48, seconds=1)
    mp.renew()
    assert mp.post("message/custom/send", text("o1"))["errcode"] == 45015


def test_custom_messages_are_five_a_window(mp, redis, clock):
    state.add_follower(redis, "o1", last_message_at=clock.now())
    for _ in range(5):
        assert mp.post("message/custom/send", text("o1"))["errcode"] == 0
    assert mp.post("message/custom/send", text("o1"))["errcode"] == 45047
    state.touch_follower(redis, "o1")
    assert mp.post("message/custom/send", text("o1"))["errcode"] == 0


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        (text("stranger"), 40003),
        ({"touser": "o1", "msgtype": "sticker", "sticker": {}}, 40008),
        ({"touser": "o1", "msgtype": "text"}, 47001),
        (text("o1", ""), 44004),
        ({"touser": "o1", "msgtype": "image", "image": {}}, 40007),
        ({"touser": "o1", "msgtype": "news", "news": {"articles": [{"title": "a"}, {"title": "b"}]}}, 45008),
        ({"touser": "o1", "msgtype": "miniprogrampage", "miniprogrampage": {"thumb_media_id": "m"}}, 40165),
    ],
)
def test_custom_message_is_validated(mp, redis, clock, body, errcode):
    state.add_follower(redis, "o1", last_message_at=clock.now())
    assert mp.post("message/custom/send", body)["errcode"] == errcode


def test_custom_message_to_an_unsubscribed_follower(mp, redis, clock):
    state.add_follower(redis, "o1", last_message_at=clock.now())
    state.unfollow(redis, "o1")
    assert mp.post("message/custom/send", text("o1"))["errcode"] == 45015


def test_template_message(mp, redis):
    state.add_follower(redis, "o1")
    body = {"touser": "o1", "template_id": "tpl", "data": {"first": {"value": "hi"}}}
    sent = mp.post("message/template/send", body)
    assert sent["errcode"] == 0 and sent["errmsg"] == "ok" and isinstance(sent["msgid"], int)
    assert mp.post("message/template/send", {**body, "template_id": ""})["errcode"] == 40037
    assert mp.post("message/template/send", {**body, "touser": "stranger"})["errcode"] == 40003
    state.unfollow(redis, "o1")
    assert mp.post("message/template/send", body)["errcode"] == 43004
    assert [m["kind"] for m in state.list_messages(redis, "o1")] == ["template"]


def test_mass_send_by_tag_and_to_all(mp, redis, clock):
    for openid in ("o1", "o2", "o3"):
        state.add_follower(redis, openid)
    state.unfollow(redis, "o3")
    tag_id = create_tag(mp, "vip")["tag"]["id"]
    mp.post("tags/members/batchtagging", {"openid_list": ["o1"], "tagid": tag_id})
    body = {"filter": {"is_to_all": False, "tag_id": tag_id}, "msgtype": "text", "text": {"content": "sale"}}
    sent = mp.post("message/mass/sendall", body)
    assert sent["errcode"] == 0 and sent["errmsg"] == "send job submission success"
    assert isinstance(sent["msg_id"], int) and "msg_data_id" in sent
    assert len(state.list_messages(redis, "o1")) == 1 and state.list_messages(redis, "o2") == []
    mp.post("message/mass/sendall", {**body, "filter": {"is_to_all": True}})
    assert [len(state.list_messages(redis, o)) for o in ("o1", "o2", "o3")] == [2, 1, 0]


def test_mass_send_dedupes_clientmsgid_for_a_day(mp, redis, clock):
    body = {"filter": {"is_to_all": True}, "msgtype": "text", "text": {"content": "sale"}, "clientmsgid": "c1"}
    first = mp.post("message/mass/sendall", body)
    again = mp.post("message/mass/sendall", body)
    assert again["errcode"] == 45065 and again["msg_id"] == first["msg_id"]
    clock.advance(hours=24, seconds=1)
    mp.renew()
    assert mp.post("message/mass/sendall", body)["errcode"] == 0


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({"msgtype": "text", "text": {"content": "x"}}, 47001),
        ({"filter": {"is_to_all": False, "tag_id": 4242}, "msgtype": "text", "text": {"content": "x"}}, 40003),
        ({"filter": {"is_to_all": True}, "msgtype": "news", "news": {"articles": [{}]}}, 40008),
        ({"filter": {"is_to_all": True}, "msgtype": "mpnews", "mpnews": {}}, 40007),
    ],
)
def test_mass_send_is_validated(mp, body, errcode):
    assert mp.post("message/mass/sendall", body)["errcode"] == errcode
