"""The console's live-code pages (群活码): a manager creates a code from the synced groups, sees
it in the list with how full its groups are, changes it, prints its poster and retires it; a
refused form changes nothing and says why; guides cannot see them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from guide_world import create_guide, create_store
from scrm.groups.models import GroupCode
from scrm.groups.sync import sync_groups
from scrm.sandbox import world
from web_world import log_in, page_text

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
def signed_in(frozen, client, make_token):  # noqa: ANN001, ANN201
    create_store(frozen)
    create_guide(frozen, "G1", name="王小美")
    world.add_group_chat(frozen.redis, "wr1", owner="member-g1", name="静安店福利1群", external_userids=["wmA"], at=NOW)
    world.add_group_chat(frozen.redis, "wr2", owner="member-g1", name="静安店福利2群", at=NOW)
    sync_groups()
    log_in(client, make_token, "manager")
    return frozen


def codes_count(runtime) -> int:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.scalar(select(func.count()).select_from(GroupCode))


def test_a_manager_creates_changes_prints_and_retires_a_code(signed_in, client):
    form = page_text(client.get("/console/group-codes/new"))
    assert "静安店福利1群" in form and "王小美" in form  # groups picked by name and owner

    made = client.post("/console/group-codes", data={"name": "福利群码", "member_limit": "3",
                                                     "chat_ids": ["wr1", "wr2"]})
    assert made.status_code == 302
    page = page_text(client.get(made.headers["Location"], follow_redirects=False))
    assert "群活码 福利群码 已创建。" in page and "使用中" in page
    assert re.search(r'<table id="on-code">.*静安店福利1群.*2/3.*静安店福利2群.*1/3', page, re.S)
    code_id = int(made.headers["Location"].rsplit("/", 1)[1])
    image = client.get(f"/console/group-codes/{code_id}/qrcode.png")
    assert image.status_code == 200 and image.data.startswith(b"\x89PNG")

    listed = page_text(client.get("/console/group-codes"))
    assert "福利群码" in listed and "2/3" in listed

    changed = client.post(f"/console/group-codes/{code_id}", data={"name": "福利群码", "member_limit": "2",
                                                                   "chat_ids": ["wr1", "wr2"]})
    assert changed.status_code == 302  # wr1 has 2 of 2 now: taken off as full
    page = page_text(client.get(f"/console/group-codes/{code_id}"))
    assert re.search(r'<table id="removed">.*静安店福利1群.*已满', page, re.S)

    poster = page_text(client.get(f"/console/group-codes/{code_id}/poster"))
    assert "福利群码" in poster and "扫码加入" in poster and "@media print" in poster

    assert client.post(f"/console/group-codes/{code_id}/retire").status_code == 302
    signed_in.queue.run_pending()
    page = page_text(client.get(f"/console/group-codes/{code_id}"))
    assert "已停用" in page and 'id="retire"' not in page
    assert world.join_ways(signed_in.redis) == {}


def test_a_refused_form_says_why_and_changes_nothing(signed_in, client):
    refused = client.post("/console/group-codes", data={"name": "太多", "member_limit": "501", "chat_ids": ["wr1"]})
    assert refused.status_code == 422
    text = page_text(refused)
    assert "member_limit" in text and 'value="太多"' in text
    empty = client.post("/console/group-codes", data={"name": "空", "member_limit": "200"})
    assert empty.status_code == 422 and "至少选一个群，或开启自动建群" in page_text(empty)
    full = client.post("/console/group-codes", data={"name": "满", "member_limit": "2", "chat_ids": ["wr2", "wr1"]})
    assert full.status_code == 422 and "这个群已达到人数上限：wr1" in page_text(full)
    assert codes_count(signed_in) == 0
    assert client.get("/console/group-codes/999").status_code == 404


def test_guides_cannot_open_the_live_code_pages(signed_in, client, make_token):
    client.post("/logout")
    log_in(client, make_token, "guide", "G1")
    assert client.get("/console/group-codes").status_code in (302, 403)
