"""Membership figures (会员数据): from members who joined on different days (one just after local
midnight), orders' points (frozen), a grant, check-ins and an exchange through their services,
and an expiry written through the ledger; the period beside the one before; the API, the console page (with data and empty)
and the dashboard's 会员 card."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from member_world import make_member
from scrm.members import checkin, ledger, mall
from scrm.members.models import PointEntry
from scrm.members.schemas import MallItemIn
from coupon_world import make_template
from web_world import log_in, page_text

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 10:00, 2 November, Asia/Shanghai
PERIOD = {"from": "2026-10-27", "to": "2026-11-02"}  # the one before: 10-20 … 10-26


def local(day: int, month: int = 10, hour: int = 12, minute: int = 0) -> datetime:
    """A moment in Asia/Shanghai (UTC+8), as UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


def earn(runtime, customer_id: int, amount: int, kind: str, at: datetime, *, frozen_days: int = 0) -> int:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return ledger.earn(db_session=db_session, config=runtime.config, customer_id=customer_id, amount=amount,
                           kind=kind, source=kind, source_id=None, key=f"{kind}:{customer_id}:{at.isoformat()}",
                           at=at, available_at=at + timedelta(days=frozen_days)).entry.id


def check_in(runtime, customer_id: int, at: datetime) -> None:  # noqa: ANN001
    with runtime.transaction() as db_session:
        assert checkin.check_in(runtime=runtime, db_session=db_session, customer_id=customer_id, at=at).created


@pytest.fixture
def history(frozen):  # noqa: ANN001, ANN201
    """A joined before, D at 23:30 on the last day before; B in the period, C at 00:30 on its last day."""
    a = make_member(frozen, nickname="A", at=local(21))
    d = make_member(frozen, nickname="D", at=local(26, hour=23, minute=30))
    b = make_member(frozen, nickname="B", at=local(28))
    c = make_member(frozen, nickname="C", at=local(2, month=11, hour=0, minute=30))
    earn(frozen, a, 200, "order", local(22), frozen_days=7)
    check_in(frozen, a, local(25))
    earn(frozen, b, 300, "order", local(28), frozen_days=7)  # frozen until 11-04
    earn(frozen, b, 50, "grant", local(29))
    check_in(frozen, b, local(31))
    check_in(frozen, b, local(1, month=11))
    template = make_template(frozen, name="咖啡券")
    with frozen.transaction() as db_session:
        item = mall.create_item(db_session=db_session, item_in=MallItemIn(name="咖啡券", template_id=template,
                                                                          points=100), at=NOW)
        mall.exchange(runtime=frozen, db_session=db_session, customer_id=a, item_id=item.id, key="k1", at=local(30))
        lot = db_session.scalar(select(PointEntry.id).where(PointEntry.customer_id == a, PointEntry.kind == "order"))
        ledger.take_back(db_session=db_session, customer_id=a, amount=20, lot_id=lot, kind="expire",
                         source="expire", source_id=None, key="expire:a", at=local(1, month=11, hour=0, minute=5))
    return {"a": a, "b": b, "c": c, "d": d, "item": item.id}


def test_the_api_gives_the_period_beside_the_one_before(history, client, auth):
    got = client.get("/api/members/stats", query_string=PERIOD, headers=auth("manager"))
    assert got.status_code == 200, got.get_data(as_text=True)
    body = got.get_json()
    assert (body["first_day"], body["last_day"], body["before_first_day"], body["before_last_day"]) == (
        "2026-10-27", "2026-11-02", "2026-10-20", "2026-10-26")
    assert body["members"] == 4
    assert [(lv["name"], lv["members"]) for lv in body["by_level"]] == [("普通", 4), ("银卡", 0), ("金卡", 0),
                                                                       ("钻石", 0)]
    assert body["totals"] == {"joined": 2, "issued": 360, "spent": 100, "expired": 20, "reversed": 0,
                              "checkins": 2, "exchanges": 1, "exchange_points": 100}
    assert body["before"] == {"joined": 2, "issued": 205, "spent": 0, "expired": 0, "reversed": 0,
                              "checkins": 1, "exchanges": 0, "exchange_points": 0}
    days = {d["day"]: d for d in body["days"]}
    assert len(days) == 7 and days["2026-11-02"]["joined"] == 1 and days["2026-10-28"]["joined"] == 1
    assert days["2026-10-28"]["issued"] == 300 and days["2026-11-01"]["expired"] == 20
    assert days["2026-10-30"]["spent"] == 100 and days["2026-10-31"]["checkins"] == 1
    assert body["items"] == [{"item_id": history["item"], "name": "咖啡券", "exchanges": 1, "points": 100}]
    assert body["outstanding"] == {"total": 445, "available": 145, "frozen": 300}


def test_the_api_refuses_bad_periods_and_guides(history, frozen, client, auth):
    from guide_world import create_guide, create_store

    for query in ({"from": "2026-11-03", "to": "2026-11-02"}, {"from": "yesterday"}, {"from": "2020-01-01"},
                  {"to": "99999-01-01"}):
        refused = client.get("/api/members/stats", query_string=query, headers=auth("manager"))
        assert refused.status_code == 400 and refused.get_json()["error"] == "bad_query", query
    create_store(frozen)
    create_guide(frozen, "G1")
    assert client.get("/api/members/stats", headers=auth("guide", "G1")).status_code == 403
    assert client.get("/api/members/stats").status_code == 401


def test_the_console_page_shows_the_figures_and_the_period_before(history, client, make_token):
    log_in(client, make_token, "manager")
    page = page_text(client.get("/console/member-stats", query_string=PERIOD))
    assert re.search(r'id="t-members"><b>4<', page)
    assert re.search(r'id="t-joined"><b>2</b>.*?上期 2', page, re.S)
    assert re.search(r'id="t-issued"><b>360</b>.*?上期 205 · \+155', page, re.S)
    assert re.search(r'id="t-spent"><b>100<', page) and re.search(r'id="t-expired"><b>20<', page)
    assert re.search(r'id="o-total"><b>445<', page) and re.search(r'id="o-frozen"><b>300<', page)
    assert re.search(r'<tr data-day="2026-11-01">.*?class="num expired">20<', page, re.S)
    assert re.search(r'<tr data-item="\d+"><td>咖啡券</td>', page)
    assert 'data-day="2026-10-28"><rect class="now"' in page  # the chart of new members, beside the period before
    assert "对比上期 2026-10-20 – 2026-10-26" in page
    refused = client.get("/console/member-stats", query_string={"from": "2026-11-05", "to": "2026-11-01"})
    assert refused.status_code == 422


def test_the_console_page_and_the_dashboard_say_what_to_do_first_when_empty(frozen, client, make_token):
    log_in(client, make_token, "manager")
    page = client.get("/console/member-stats")
    assert page.status_code == 200 and "还没有会员" in page_text(page) and "这段时间没有兑换" in page_text(page)
    board = page_text(client.get("/console/dashboard"))
    assert 'id="members-card"' in board and "还没有会员" in board


def test_the_dashboard_has_a_members_card(history, client, make_token):
    log_in(client, make_token, "manager")
    board = page_text(client.get("/console/dashboard", query_string=PERIOD))
    card = re.search(r'<section class="card" id="members-card".*?</section>', board, re.S).group(0)
    assert re.search(r'id="m-members">4<', card) and re.search(r'id="m-joined">2<', card)
    assert "上期 2" in card and re.search(r'id="m-outstanding">445<', card)
