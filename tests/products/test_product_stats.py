"""Product-code figures (scrm/products/stats.py, suspicious.py) on both backends, from claims and
scans made through the real claiming functions (tests/product_stats_world.py): the period beside
the one before, per day, batch, product, store and guide; the filters; each suspicious list and
its threshold; the small figures of the dashboard and the guides' pages; the JSON."""

from __future__ import annotations

import json
from datetime import date

import pytest

from product_stats_world import CONFIG, NOW, build, code_of
from scrm.products import stats, suspicious
from scrm.products.models import SCAN_RESULTS

pytestmark = pytest.mark.parametrize("config_overrides", [CONFIG])

FIRST, LAST = date(2026, 10, 29), date(2026, 11, 4)


def figures(runtime, first: date = FIRST, last: date = LAST, **scope) -> stats.ProductStats:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return stats.product_stats(db_session=db_session, config=runtime.config, first_day=first, last_day=last,
                                   **scope)


def counted(f: stats.Figures) -> tuple:
    """claims, customers, new followers, then the scans by reason that are not zero."""
    return f.claims, f.customers, f.new_followers, {k: n for k, n in f.scans.by_reason().items() if n}


@pytest.fixture
def world(frozen):  # noqa: ANN001, ANN201
    return build(frozen)


def test_the_period_beside_the_one_before(world, frozen):
    found = figures(frozen)
    assert (found.before_first, found.before_last) == (date(2026, 10, 22), date(2026, 10, 28))
    assert counted(found.totals) == (15, 4, 1, {
        "already_yours": 1, "claimed_by_other": 3, "not_genuine": 3, "expired": 1, "daily_limit": 2,
        "not_following": 1, "reward_unavailable": 1})
    assert (found.totals.scans.repeat, found.totals.scans.refused) == (4, 11)
    assert counted(found.before) == (2, 1, 0, {"not_genuine": 1})
    assert not found.empty
    days = {line.key: line for line in found.days}
    assert list(days) == [f"2026-{d}" for d in ("10-29", "10-30", "10-31", "11-01", "11-02", "11-03", "11-04")]
    assert counted(days["2026-10-30"].now) == (4, 1, 0, {"already_yours": 1, "daily_limit": 1})
    assert counted(days["2026-10-31"].now) == (4, 1, 0, {"claimed_by_other": 3, "daily_limit": 1})
    assert counted(days["2026-11-04"].now) == (1, 1, 1, {"not_following": 1})
    # each day beside the same day of the period before: 11-03 is a week after 10-27
    assert counted(days["2026-11-03"].before) == (2, None, 0, {"not_genuine": 1})  # a line's before: no unique customers
    assert counted(days["2026-11-03"].now) == (0, 0, 0, {"not_genuine": 3, "expired": 1})
    assert sum(line.now.claims for line in found.days) == found.totals.claims


def test_each_batch_product_store_and_guide_with_the_period_before(world, frozen):
    found = figures(frozen)
    a, b, c = world["a"], world["b"], world["c"]
    batches = {line.key: line for line in found.batches}
    # most claims first, then most refused scans: the forged codes (no batch) before C's one expired scan
    assert [line.key for line in found.batches] == [a.id, b.id, None, c.id]
    assert counted(batches[a.id].now) == (14, 3, 1, {"already_yours": 1, "claimed_by_other": 3, "daily_limit": 2,
                                                    "not_following": 1})
    assert counted(batches[a.id].before) == (2, None, 0, {})
    assert batches[a.id].label == "英氏多维营养米粉 · YS-MF-01" and batches[a.id].note == a.prefix
    assert counted(batches[b.id].now) == (1, 1, 0, {"reward_unavailable": 1})
    assert counted(batches[c.id].now) == (0, 0, 0, {"expired": 1})
    assert counted(batches[None].now) == (0, 0, 0, {"not_genuine": 3})  # forged codes have no batch
    assert counted(batches[None].before) == (0, None, 0, {"not_genuine": 1})
    assert [(line.key, line.now.claims) for line in found.products] == [
        ("英氏多维营养米粉", 14), ("英氏婴儿面条", 1), (None, 0), ("英氏米饼", 0)]
    stores = {line.label: line for line in found.stores}
    assert counted(stores["上海静安店"].now)[:3] == (14, 3, 1) and stores["上海静安店"].note == "S1"
    assert counted(stores["杭州西湖店"].now) == (1, 1, 0, {"reward_unavailable": 1})
    assert counted(stores[""].now) == (0, 0, 0, {"expired": 1, "not_genuine": 3})  # no store
    guides = {line.label: line for line in found.guides}
    # the collector and dan were routed to G1 by batch A's store; bob to G2 by batch B's
    assert counted(guides["王小美"].now) == (14, 3, 1, {"already_yours": 1, "daily_limit": 2})
    assert counted(guides["王小美"].before) == (2, None, 0, {})
    assert guides["王小美"].note == "G1 · 上海静安店"
    assert counted(guides["李小红"].now) == (1, 1, 0, {})
    # scans by customers bound to no guide: the strangers, eve, the faker, gil
    assert counted(guides[""].now) == (0, 0, 0, {"claimed_by_other": 3, "not_genuine": 3, "expired": 1,
                                                 "reward_unavailable": 1, "not_following": 1})
    assert [line.label for line in found.guides] == ["王小美", "李小红", ""]


def test_the_filters_narrow_claims_and_scans_alike(world, frozen):
    with frozen.transaction() as db_session:
        choices = stats.filter_choices(db_session=db_session)
    store = {code: sid for sid, code, _ in choices.stores}
    guide = {code: gid for gid, code, _ in choices.guides}
    assert choices.products == ("英氏多维营养米粉", "英氏婴儿面条", "英氏米饼")
    assert [bid for bid, _ in choices.batches] == [world["c"].id, world["b"].id, world["a"].id]  # newest first

    s2 = figures(frozen, store_id=store["S2"])
    assert counted(s2.totals) == (1, 1, 0, {"reward_unavailable": 1}) and counted(s2.before) == (0, 0, 0, {})
    assert [line.label for line in s2.stores] == ["杭州西湖店"]
    g1 = figures(frozen, guide_id=guide["G1"])
    assert counted(g1.totals) == (14, 3, 1, {"already_yours": 1, "daily_limit": 2})
    assert [line.key for line in g1.batches] == [world["a"].id]
    only_c = figures(frozen, batch_id=world["c"].id)
    assert counted(only_c.totals) == (0, 0, 0, {"expired": 1}) and not only_c.empty
    rice = figures(frozen, product="英氏多维营养米粉")
    assert counted(rice.totals) == counted(figures(frozen, batch_id=world["a"].id).totals)
    assert not rice.suspicious.not_genuine  # a forged code is of no product
    assert [m.customer.nickname for m in rice.suspicious.many_claims] == ["收码人"]
    nobody = figures(frozen, store_id=store["S2"], guide_id=guide["G1"])
    assert nobody.empty and nobody.totals == stats.Figures() and not nobody.suspicious.found


def test_the_suspicious_lists(world, frozen):
    found = figures(frozen).suspicious
    (many,) = found.many_claims
    assert (many.customer.customer_id, many.customer.nickname, many.customer.phone, many.claims, many.days) == (
        world["collector"], "收码人", "138****5678", 12, 3)
    (shared,) = found.shared_codes
    assert (shared.batch_id, shared.product, shared.serial, shared.scanners, shared.scans) == (
        world["a"].id, "英氏多维营养米粉", 1, 3, 3)
    assert shared.code == code_of(frozen, world["a"], 1)
    assert shared.owner.nickname == "艾米" and shared.owner.phone == "138****1111"
    (limited,) = found.limit_days
    assert (limited.customer.customer_id, limited.days, limited.scans) == (world["collector"], 2, 2)
    (fake,) = found.not_genuine
    assert (fake.customer.nickname, fake.scans) == ("造假者", 3)  # the unknown scanner of 10-27 is no one to list


def test_each_list_needs_its_threshold(world, frozen):
    assert (suspicious.MANY_CLAIMS, suspicious.SHARED_BY, suspicious.LIMIT_DAYS, suspicious.NOT_GENUINE) == (10, 3, 2, 3)
    # 10-30 … 10-31: the collector's 8 claims are fewer than 10; the daily limit on 2 days is listed
    two_days = figures(frozen, date(2026, 10, 30), date(2026, 10, 31)).suspicious
    assert two_days.many_claims == () and [x.days for x in two_days.limit_days] == [2]
    assert [s.scanners for s in two_days.shared_codes] == [3]
    # 10-30 alone: the limit on one day only; 11-01 … 11-04: no code scanned by others
    assert figures(frozen, date(2026, 10, 30), date(2026, 10, 30)).suspicious.limit_days == ()
    late = figures(frozen, date(2026, 11, 1), date(2026, 11, 4)).suspicious
    assert late.shared_codes == () and late.many_claims == () and [x.scans for x in late.not_genuine] == [3]
    assert figures(frozen, date(2026, 10, 22), date(2026, 10, 28)).suspicious.found is False


def test_the_json_has_every_figure(world, frozen):
    body = stats.stats_out(figures(frozen))
    assert (body["first_day"], body["last_day"], body["before_first_day"], body["before_last_day"]) == (
        "2026-10-29", "2026-11-04", "2026-10-22", "2026-10-28")
    assert body["totals"] == {"claims": 15, "customers": 4, "new_followers": 1, "repeat_scans": 4,
                              "refused_scans": 11, "scans_by_reason": {
                                  "already_yours": 1, "claimed_by_other": 3, "not_genuine": 3, "expired": 1,
                                  "daily_limit": 2, "not_following": 1, "reward_unavailable": 1}}
    assert body["before"]["claims"] == 2 and list(body["totals"]["scans_by_reason"]) == list(SCAN_RESULTS)
    assert body["scope"] == {"batch_id": None, "product": None, "store_id": None, "guide_id": None}
    assert len(body["days"]) == 7 and body["days"][1]["day"] == "2026-10-30" and body["days"][1]["claims"] == 4
    assert body["batches"][0]["key"] == world["a"].id and body["batches"][0]["before"]["claims"] == 2
    assert body["batches"][0]["customers"] == 3 and body["batches"][0]["before"]["customers"] is None
    assert body["before"]["customers"] == 1  # the totals count the period before's customers too
    assert [g["label"] for g in body["guides"]] == ["王小美", "李小红", ""]
    assert body["stores"][0]["note"] == "S1" and body["products"][0]["key"] == "英氏多维营养米粉"
    shown = body["suspicious"]
    assert shown["thresholds"]["many_claims"] == 10
    assert shown["many_claims"][0]["customer"]["phone"] == "138****5678"
    assert shown["shared_codes"][0]["owner"]["nickname"] == "艾米" and shown["shared_codes"][0]["claimed_at"]
    assert shown["limit_days"][0]["days"] == 2 and shown["not_genuine"][0]["scans"] == 3


def test_no_claims_or_scans_is_empty_with_every_day_listed(frozen):
    found = figures(frozen)
    assert found.empty and found.totals == found.before == stats.Figures()
    assert len(found.days) == 7 and found.batches == found.guides == () and not found.suspicious.found


def test_the_dashboard_and_guides_figures(world, frozen):
    with frozen.transaction() as db_session:
        card = stats.headline(db_session=db_session, today=date(2026, 11, 4))
        s2 = stats.headline(db_session=db_session, today=date(2026, 11, 4), store_id=world["b"].store_id)
        week = stats.week_claims(db_session=db_session, today=date(2026, 11, 4), guide_id=world["g1"].id)
        everyone = stats.week_claims(db_session=db_session, today=date(2026, 11, 4))
        per_day = stats.claims_per_day(db_session=db_session, first_day=date(2026, 10, 6), last_day=date(2026, 11, 4),
                                       guide_id=world["g1"].id)
    # this week is Monday 11-02 … Wednesday 11-04; the week before's same days 10-26 … 10-28
    assert (card.since, card.today, card.yesterday, card.week, card.week_before) == (date(2026, 11, 2), 1, 0, 2, 2)
    assert (card.refused_week, card.refused_week_before, card.batches) == (6, 1, 3)
    assert (s2.week, s2.week_before, s2.refused_week) == (1, 0, 1)
    assert week == (1, 2)  # G1: dan this week; amy's two on 10-27 (the collector's 10-30 … 11-01 are not the same days)
    assert everyone == (card.week, card.week_before)
    assert per_day == {date(2026, 10, 27): 2, date(2026, 10, 29): 1, date(2026, 10, 30): 4, date(2026, 10, 31): 4,
                       date(2026, 11, 1): 4, date(2026, 11, 4): 1}
    assert NOW.date() == date(2026, 11, 4)


# ---- the JSON API ---------------------------------------------------------------------------


def test_the_api_gives_the_figures_and_refuses_what_does_not_exist(world, frozen, client, manager, make_token):
    answer = client.get(f"/api/product-codes/stats?from={FIRST}&to={LAST}", headers=manager)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body == json.loads(json.dumps(stats.stats_out(figures(frozen))))
    assert body["totals"]["claims"] == 15
    batch_id = world["a"].id
    one = client.get(f"/api/product-codes/stats?from={FIRST}&to={LAST}&batch_id={batch_id}&store=S1&guide=G1",
                     headers=manager).get_json()
    assert one["scope"]["batch_id"] == batch_id and one["scope"]["store_id"] is not None
    assert one == json.loads(json.dumps(stats.stats_out(figures(
        frozen, batch_id=batch_id, store_id=one["scope"]["store_id"], guide_id=one["scope"]["guide_id"]))))
    for query, status in (("batch_id=999999", 404), ("store=NOPE", 404), ("guide=NOPE", 404),
                          ("product=%E6%97%A0", 404), ("from=2026-01-01&to=2026-12-31", 400),
                          ("from=2026-13-01", 400), ("batch_id=99999999999", 400)):
        assert client.get(f"/api/product-codes/stats?{query}", headers=manager).status_code == status, query
    assert client.get("/api/product-codes/stats").status_code == 401
    guide_token = make_token("guide", guide_code="G1")
    assert client.get("/api/product-codes/stats", headers={"Authorization": f"Bearer {guide_token}"}).status_code == 403
