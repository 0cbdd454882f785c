"""A guide hands out the live codes from their phone (/m/group-codes, SPEC §9): the active codes,
each with the guide's own join way (made once, the first time the guide opens the code) and its
QR, and the joins through it credited to the guide on their pages and on the console's code page.
The sandbox plays WeCom."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from group_world import scan_and_join
from guide_world import create_guide, create_store, guide_id
from sqlalchemy import select
from web_world import log_in, page_text

from guides.login_links import make_link
from scrm.groups.models import GroupCodeWay
from scrm.groups.sync import sync_groups
from scrm.sandbox import state, world

CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]+")
NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
ADD = "externalcontact/groupchat/add_join_way"


def _text(response) -> str:  # noqa: ANN001
    """What a person reads on the page, its words one space apart."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page_text(response), flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", body).split())


def _sign_in(runtime, client, code: str) -> None:  # noqa: ANN001
    with runtime.transaction() as db_session:
        parts = urlsplit(make_link(runtime=runtime, db_session=db_session, guide_code=code))
    assert client.get(f"{parts.path}?{parts.query}").status_code == 302


def _guide_ways(runtime, code_id: int) -> list[GroupCodeWay]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return list(db_session.scalars(select(GroupCodeWay).where(GroupCodeWay.code_id == code_id,
                                                                  GroupCodeWay.source == "guide")))


@pytest.fixture
def shop(frozen, client, manager):  # noqa: ANN001, ANN201
    create_store(frozen)
    create_guide(frozen, "G1", name="王小美")
    create_guide(frozen, "G2", name="李大力")
    world.add_group_chat(frozen.redis, "wr1", owner="member-g1", name="福利群1", at=NOW)
    sync_groups()
    made = {}
    for name in ("新品群活码", "停用的码"):
        response = client.post("/api/group-codes", json={"name": name, "chat_ids": ["wr1"], "member_limit": 200},
                               headers=manager)
        assert response.status_code == 201, response.json
        made[name] = response.json["id"]
    assert client.delete(f"/api/group-codes/{made['停用的码']}", headers=manager).status_code in (200, 204)
    return made["新品群活码"], made["停用的码"]


def test_a_guide_hands_out_their_own_code_and_sees_who_joined_through_it(frozen, shop, client, app, make_token):
    runtime, (code_id, retired_id) = frozen, shop
    _sign_in(runtime, client, "G1")
    listed = client.get("/m/group-codes")
    assert listed.status_code == 200
    assert "新品群活码" in listed.text and "停用的码" not in listed.text  # the active codes only
    assert f"/m/group-codes/{code_id}" in listed.text
    assert _guide_ways(runtime, code_id) == []  # listing makes no way

    adds = len(state.list_calls(runtime.redis, channel="work", api=ADD))
    for _ in range(3):
        page = client.get(f"/m/group-codes/{code_id}")
        assert page.status_code == 200 and f"/m/group-codes/{code_id}/qrcode.png" in page.text
    ways = _guide_ways(runtime, code_id)
    assert [(w.state, w.source_id) for w in ways] == [(f"gc{code_id}g{guide_id(runtime, 'G1')}", guide_id(runtime, "G1"))]
    assert len(state.list_calls(runtime.redis, channel="work", api=ADD)) == adds + 1  # one way however often opened
    image = client.get(f"/m/group-codes/{code_id}/qrcode.png")
    assert image.status_code == 200 and image.data.startswith(b"\x89PNG")
    assert client.get(f"/m/group-codes/{retired_id}").status_code == 404
    assert client.get(f"/m/group-codes/{retired_id}/qrcode.png").status_code == 404

    assert scan_and_join(runtime, client, ways[0].config_id, "wmAmy") == "wr1"
    assert scan_and_join(runtime, client, ways[0].config_id, "wmBob") == "wr1"
    page = _text(client.get(f"/m/group-codes/{code_id}"))
    assert "2 今天 2 7天 2 30天" in page
    assert "通过我的群活码入群：2（7天）" in _text(client.get("/m/"))
    runtime.clock.advance(days=8)
    _sign_in(runtime, client, "G1")  # a guide's session lasts 72 hours
    assert "0 今天 0 7天 2 30天" in _text(client.get(f"/m/group-codes/{code_id}"))
    assert "通过我的群活码入群：0（7天）" in _text(client.get("/m/"))

    other = app.test_client()
    _sign_in(runtime, other, "G2")
    assert "0 今天 0 7天 0 30天" in _text(other.get(f"/m/group-codes/{code_id}"))  # G2's own way: nobody yet
    assert len(_guide_ways(runtime, code_id)) == 2

    console = app.test_client()
    log_in(console, make_token, "manager")
    ways_table = _text(console.get(f"/console/group-codes/{code_id}")).split("发码渠道", 1)[1]
    g1, g2 = guide_id(runtime, "G1"), guide_id(runtime, "G2")
    assert f"导购 · 王小美 gc{code_id}g{g1} 2" in ways_table and f"导购 · 李大力 gc{code_id}g{g2} 0" in ways_table


def test_a_wecom_refusal_is_said_on_the_page_and_nothing_is_kept(frozen, shop, client):
    runtime, (code_id, _retired) = frozen, shop
    _sign_in(runtime, client, "G1")
    state.add_fault(runtime.redis, channel="work", api=ADD, errcode=41054)
    page = client.get(f"/m/group-codes/{code_id}")
    assert page.status_code == 502 and "企业微信暂时没有生成你的群活码" in page.text and "qrcode.png" not in page.text
    assert _guide_ways(runtime, code_id) == []
    assert client.get(f"/m/group-codes/{code_id}").status_code == 200  # WeCom answers again: the way is made
    assert len(_guide_ways(runtime, code_id)) == 1


def test_the_guides_group_code_pages_read_in_english(frozen, shop, client):
    code_id, _retired = shop
    _sign_in(frozen, client, "G1")
    client.post("/language", data={"lang": "en", "next": "/m/"})
    for url in ("/m/group-codes", f"/m/group-codes/{code_id}", "/m/"):
        text = _text(client.get(url)).replace("新品群活码", "").replace("王小美", "").replace("上海静安店", "").replace("中文", "")
        assert CJK.findall(text) == [], url
    assert "Joined through my group codes: 0 (7 days)" in _text(client.get("/m/"))
    assert "Joined through my code: today 0 · 7 days 0 · 30 days 0" in _text(client.get("/m/group-codes"))
