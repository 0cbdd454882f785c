"""Days and moments at the ends of Python's calendar (SPEC §12): 0001-01-01 in Asia/Shanghai
starts in year 0 in UTC, 9999-12-31 at -08:00 ends in year 10000, and computing either was an
OverflowError, a 500. Query days are 1970-01-01 … 2999-12-31 (400 otherwise) and moments in
bodies 1970 … 2999 (422 naming the field). Found by probing past bench/api_fuzz.py."""

from __future__ import annotations

import pytest

CAMPAIGN = {"name": "c", "audience": {}, "channel": "mp_custom", "content": {"kind": "text", "text": "hi"}}


@pytest.mark.parametrize("path", ["/api/stats/funnel", "/api/coupons/stats", "/api/groups/any-chat",
                                  "/api/guides/G1/stats"])
@pytest.mark.parametrize("query", ["from=0001-01-01&to=0001-01-02", "to=0001-01-03", "from=9999-12-30&to=9999-12-31",
                                   "from=1969-12-31"])
def test_a_query_day_beyond_the_calendar_it_can_count_is_400(client, manager, path, query):
    response = client.get(f"{path}?{query}", headers=manager)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"] == "bad_query"


def test_the_first_and_last_query_days_are_counted(client, manager):
    for query in ("from=1970-01-01&to=1970-01-02", "to=1970-01-01", "from=2999-12-01&to=2999-12-31"):
        response = client.get(f"/api/stats/funnel?{query}", headers=manager)
        assert response.status_code == 200, (query, response.get_data(as_text=True))


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-08:00",
                                    "1969-12-31T23:59:59+00:00", "3000-01-01T00:00:00+00:00"])
@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/campaigns", lambda at: {**CAMPAIGN, "schedule": {"kind": "once", "at": at}}, "schedule.at"),
    ("/api/coupon-templates", lambda at: {"name": "t", "kind": "cash", "amount": "5", "valid_from": at,
                                          "valid_until": "2030-01-01T00:00:00+08:00"}, "valid_from"),
    ("/api/events", lambda at: {"name": "visit", "customer_id": 1, "occurred_at": at}, "occurred_at"),
], ids=["campaign", "coupon-template", "event"])
def test_a_moment_beyond_1970_to_2999_is_422_naming_the_field(client, manager, moment, path, body, field):
    response = client.post(path, json=body(moment), headers=manager)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json()["field"] == field
