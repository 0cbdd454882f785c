"""The console's customer group pages: the list with owners, members and the period's joins and
quits (dismissed groups on request), one group with its chart and members linked to their
customer pages; a bad period is shown; managers only."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from guide_world import create_guide, create_store
from scrm.clock import FrozenClock
from scrm.customers.models import Customer, CustomerIdentity
from scrm.groups.models import CustomerGroup
from scrm.groups.sync import sync_groups
from scrm.sandbox import world
from web_world import page_text

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@pytest.fixture
def groups(runtime, client, make_token):  # noqa: ANN001, ANN201
    from scrm.runtime import install

    runtime.clock = FrozenClock(NOW)
    install(runtime)
    create_store(runtime)
    create_guide(runtime, "G1", name="王小美")
    with runtime.transaction() as db_session:
        amy = Customer(nickname="艾米")
        db_session.add(amy)
        db_session.flush()
        db_session.add(CustomerIdentity(customer_id=amy.id, channel="work", external_id="wmAmy"))
        amy_id = amy.id
    world.add_group_chat(runtime.redis, "wrVIP", owner="member-g1", name="静安店VIP群",
                         external_userids=["wmAmy", "wmStranger"], at=NOW - timedelta(days=2))
    world.add_group_chat(runtime.redis, "wrGone", owner="member-g1", name="解散的群", at=NOW - timedelta(days=5))
    sync_groups()
    runtime.clock.advance(days=1)
    world.remove_group_chat_members(runtime.redis, "wrVIP", userids=["wmStranger"])
    sync_groups()
    with runtime.transaction() as db_session:
        db_session.execute(update(CustomerGroup).where(CustomerGroup.chat_id == "wrGone")
                           .values(status="dismissed", dismissed_at=NOW))
    assert client.post("/login", data={"token": make_token("manager")}).status_code == 302
    return {"amy": amy_id}


def test_the_list_shows_owners_members_joins_and_quits(groups, client):
    text = page_text(client.get("/console/groups"))
    rows = re.findall(r'<tr><td><a class="name"[^>]*>([^<]+)</a></td>\s*<td>([^<]+)</td><td class="num">(\d+)</td>'
                      r'<td class="num">(\d+)</td>\s*<td class="num joined">(\d+)</td><td class="num quit">(\d+)</td>',
                      text)
    assert rows == [("静安店VIP群", "王小美", "2", "1", "3", "1")]  # the dismissed one is hidden
    shown = page_text(client.get("/console/groups", query_string={"dismissed": "1"}))
    assert "解散的群" in shown and "dismissed" in shown
    before = page_text(client.get("/console/groups", query_string={"from": "2026-10-01", "to": "2026-10-30"}))
    assert 'class="num joined">0<' in before and 'class="num quit">0<' in before  # the joins were on 31 October, the quit on 3 November


def test_a_group_page_charts_its_days_and_links_its_customers(groups, client):
    response = client.get("/console/groups/wrVIP")
    assert response.status_code == 200
    text = page_text(response)
    assert 'id="joined">3<' in text and 'id="quit">1<' in text and "王小美 (G1)" in text
    assert "<title>2026-10-31 入群: 3</title>" in text and "<title>2026-11-03 退群: 1</title>" in text
    assert f'href="/console/customers/{groups["amy"]}">艾米<' in text and "wmStranger" in text
    assert client.get("/console/groups/wrNobody").status_code == 404


def test_a_bad_period_is_shown_with_the_last_thirty_days(groups, client):
    response = client.get("/console/groups/wrVIP", query_string={"from": "yesterday"})
    assert response.status_code == 422 and "须为日期（YYYY-MM-DD）" in page_text(response)
    assert 'id="joined">3<' in page_text(response)


def test_the_group_pages_are_for_managers(runtime, client, make_token):
    create_store(runtime)
    create_guide(runtime, "G9")
    assert client.get("/console/groups").status_code == 302
    assert client.post("/login", data={"token": make_token("guide", "G9")}).status_code == 302
    assert client.get("/console/groups").status_code == 403
    assert client.get("/console/groups/wrVIP").status_code == 403
