"""Bulk import of guides from CSV (guides/importing.py, POST /api/guides/import): all or
nothing, every bad line named, a file sent twice changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from guides.models import Guide
from qrcodes.models import ChannelCode
from scrm.sandbox import world
from test_guides_api import count, post_store


GOOD_CSV = (
    "code,name,store,wecom_userid,daily_cap,backup\n"
    "G1,王小美,S1,member-g1,20,no\n"
    "G2,李大力,S1,member-g2,,是\n"
)


def post_csv(client, headers, text: str | bytes):  # noqa: ANN001, ANN201
    data = text.encode("utf-8") if isinstance(text, str) else text
    return client.post("/api/guides/import", data=data, content_type="text/csv", headers=headers)


@pytest.fixture
def store_s1(runtime, client, manager):  # noqa: ANN001, ANN201
    assert post_store(client, manager).status_code == 201
    for userid in ("member-g1", "member-g2", "member-g3"):
        world.add_member(runtime.redis, userid, userid)
    runtime.queue.run_pending()
    return runtime


def test_a_good_file_creates_the_guides_and_their_codes_and_again_changes_nothing(store_s1, client, manager):
    response = post_csv(client, manager, "\ufeff" + GOOD_CSV)  # Excel's "CSV UTF-8" starts with a BOM
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"created": ["G1", "G2"], "unchanged": []}
    g1, g2 = (client.get(f"/api/guides/{c}", headers=manager).get_json() for c in ("G1", "G2"))
    assert (g1["name"], g1["daily_cap"], g1["backup"]) == ("王小美", 20, False)
    assert (g2["name"], g2["daily_cap"], g2["backup"]) == ("李大力", None, True)
    assert set(g1["codes"]) == set(g2["codes"]) == {"mp", "work"}

    store_s1.queue.run_pending()
    with store_s1.transaction() as db_session:
        statuses = db_session.execute(select(ChannelCode.kind, ChannelCode.status)).all()
    assert sorted(statuses) == [("guide", "ready")] * 4 + [("store", "ready")] * 2

    again = post_csv(client, manager, GOOD_CSV)
    assert again.status_code == 200
    assert again.get_json() == {"created": [], "unchanged": ["G1", "G2"]}
    assert count(store_s1, Guide) == 2 and count(store_s1, ChannelCode) == 6
    assert store_s1.queue.run_pending() == 0


@pytest.mark.parametrize(("bad_row", "field"), [
    ("G3,新人,S9,member-g3", "store"),
    ("G1,重名,S1,member-g3", "code"),
    ("G3,新人,S1,member-g1", "wecom_userid"),
    ("G3,新人,S1,member-g3,x", "daily_cap"),
    ("G3,新人,S1,member-g3,²", "daily_cap"),  # a digit to str.isdigit, not to int()
    ("G 3,新人,S1,member-g3", "code"),
])
def test_one_bad_row_imports_nothing_and_names_its_line(store_s1, client, manager, bad_row, field):
    text = "code,name,store,wecom_userid,daily_cap\nG1,王小美,S1,member-g1,20\n\n" + bad_row + "\n"
    response = post_csv(client, manager, text)
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["error"] == "bad_rows"
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(4, field)]
    assert count(store_s1, Guide) == 0
    assert count(store_s1, ChannelCode) == 1  # the store's own MP code only
    assert store_s1.queue.run_pending() == 0


def test_every_bad_row_is_reported(store_s1, client, manager):
    text = "code,name,store,wecom_userid\nG1,王小美,S9,member-g1\nG2,,S1,member-g2\nG3,新人,S1,member-g3\n"
    body = post_csv(client, manager, text).get_json()
    assert [(e["row"], e["code"], e["field"]) for e in body["errors"]] == [(2, "G1", "store"), (3, "G2", "name")]
    assert count(store_s1, Guide) == 0


def test_a_file_missing_a_column_names_it(store_s1, client, manager):
    response = post_csv(client, manager, "code,name,store\nG1,王小美,S1\n")
    assert response.status_code == 422
    [error] = response.get_json()["errors"]
    assert (error["row"], error["field"]) == (1, "header")
    assert "wecom_userid" in error["message"]
    assert count(store_s1, Guide) == 0


def test_a_file_that_is_not_utf8_is_400(store_s1, client, manager):
    response = post_csv(client, manager, GOOD_CSV.encode("gbk"))
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_encoding"
    assert count(store_s1, Guide) == 0
