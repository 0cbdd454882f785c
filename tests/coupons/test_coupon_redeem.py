"""POST /api/coupons/redeem and its refusals, store scoping, void and un-redeem, the audit log,
and what a redemption does for the guide (protection renewed, the code credited)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from coupon_world import issue, make_customer, make_template
from guide_world import create_guide, create_store, mp_scan, openid
from scrm.clock import FrozenClock
from scrm.coupons.models import Coupon, CouponAttempt
from scrm.customers.models import Interaction

NOW = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)


@pytest.fixture
def shop(runtime):
    """Two stores, a guide in each, a template valid anywhere and one valid only in S2."""
    runtime.clock = FrozenClock(NOW)
    create_store(runtime, "S1")
    create_store(runtime, "S2", name="杭州店")
    create_guide(runtime, "G1", store="S1")
    create_guide(runtime, "G2", store="S2")
    return runtime


def attempts(runtime) -> list[tuple[str, str]]:
    with runtime.transaction() as db_session:
        return [(a.action, a.result) for a in db_session.scalars(select(CouponAttempt).order_by(CouponAttempt.id))]


def redeem(client, auth, code: str, guide: str = "G1", **extra):  # noqa: ANN001, ANN201
    return client.post("/api/coupons/redeem", json={"code": code, **extra}, headers=auth("guide", guide))


def test_a_guide_redeems_once_and_the_second_try_says_when_and_by_whom(shop, client, auth):
    coupon = issue(shop, make_template(shop), make_customer(shop, nickname="Amy", phone="13800138000"))
    first = redeem(client, auth, coupon.code.lower().replace("-", " "))
    assert first.status_code == 200, first.get_json()
    body = first.get_json()
    assert body["result"] == "redeemed" and body["coupon"]["status"] == "redeemed"
    assert body["coupon"]["customer"]["phone"] == "138****8000"  # masked for a guide
    shop.clock.advance(minutes=5)
    again = redeem(client, auth, coupon.code, guide="G1")
    assert again.status_code == 409
    refusal = again.get_json()
    assert refusal["error"] == "already_redeemed"
    assert refusal["redeemed_at"] == NOW.isoformat()
    assert refusal["redeemed_by"]["guide"] == "G1" and refusal["redeemed_by"]["store"] == "S1"
    assert attempts(shop) == [("redeem", "ok"), ("redeem", "already_redeemed")]


def test_bad_codes_are_refused_before_any_lookup_and_audited(shop, client, auth):
    coupon = issue(shop, make_template(shop), make_customer(shop))
    plain = coupon.code.replace("-", "")
    typo = plain[:5] + ("X" if plain[5] != "X" else "Y") + plain[6:]
    response = redeem(client, auth, typo)
    assert response.status_code == 422
    assert response.get_json()["error"] == "bad_code" and response.get_json()["why"] == "typo"
    shape = redeem(client, auth, "not a code")
    assert shape.get_json()["why"] == "shape"
    assert attempts(shop) == [("redeem", "bad_code"), ("redeem", "bad_code")]
    with shop.transaction() as db_session:
        assert db_session.get(Coupon, coupon.id).status == "issued"


def test_a_signed_code_for_no_coupon_is_not_found(shop, client, auth):
    from scrm.coupons.codes import CouponCodec, display

    ghost = display(CouponCodec.from_config(shop.config).encode(999_999))
    response = redeem(client, auth, ghost)
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"


def test_expired_and_not_yet_valid(shop, client, auth):
    soon = make_template(shop, valid_days=None, valid_from=NOW + timedelta(days=1), valid_until=NOW + timedelta(days=2))
    later = issue(shop, soon, make_customer(shop))
    early = redeem(client, auth, later.code)
    assert early.status_code == 409 and early.get_json()["error"] == "not_yet_valid"
    short = issue(shop, make_template(shop, valid_days=1), make_customer(shop))
    shop.clock.advance(days=1)  # exactly at valid_until: over
    expired = redeem(client, auth, short.code)
    assert expired.status_code == 409 and expired.get_json()["error"] == "expired"


def test_a_guide_redeems_only_where_the_coupon_is_valid_and_only_in_their_own_store(shop, client, auth):
    only_s2 = make_template(shop, stores=["S2"])
    coupon = issue(shop, only_s2, make_customer(shop))
    wrong_store = redeem(client, auth, coupon.code, guide="G1")
    assert wrong_store.status_code == 409
    assert wrong_store.get_json()["error"] == "not_valid_in_store" and wrong_store.get_json()["stores"] == ["S2"]
    posing = redeem(client, auth, coupon.code, guide="G1", store_code="S2")
    assert posing.status_code == 403
    assert redeem(client, auth, coupon.code, guide="G2").status_code == 200


def test_a_manager_redeems_naming_the_store(shop, client, auth):
    coupon = issue(shop, make_template(shop, stores=["S1"]), make_customer(shop))
    unnamed = client.post("/api/coupons/redeem", json={"code": coupon.code}, headers=auth("manager"))
    assert unnamed.status_code == 422 and unnamed.get_json()["field"] == "store_code"
    elsewhere = client.post("/api/coupons/redeem", json={"code": coupon.code, "store_code": "S2"},
                            headers=auth("manager"))
    assert elsewhere.get_json()["error"] == "not_valid_in_store"
    done = client.post("/api/coupons/redeem", json={"code": coupon.code, "store_code": "S1"}, headers=auth("manager"))
    assert done.status_code == 200 and done.get_json()["coupon"]["redeemed_by"]["guide"] is None


def test_bad_bodies_change_nothing(shop, client, auth):
    for body in ({}, {"code": ""}, {"code": 12}, {"code": "x" * 41}, {"code": "A", "extra": 1}):
        response = client.post("/api/coupons/redeem", json=body, headers=auth("guide", "G1"))
        assert response.status_code == 422, body
    assert client.post("/api/coupons/redeem", data="nope", headers=auth("guide", "G1"), content_type="application/json").status_code == 400
    assert client.post("/api/coupons/redeem", json={"code": "A"}).status_code == 401
    assert attempts(shop) == []


def test_void_and_unredeem_are_for_managers_with_a_reason_and_audited(shop, client, auth):
    coupon = issue(shop, make_template(shop), make_customer(shop))
    other = issue(shop, make_template(shop), make_customer(shop))
    assert client.post(f"/api/coupons/{coupon.code}/void", json={"reason": "发错了"},
                       headers=auth("guide", "G1")).status_code == 403
    assert client.post(f"/api/coupons/{coupon.code}/void", json={}, headers=auth()).status_code == 422
    voided = client.post(f"/api/coupons/{coupon.code}/void", json={"reason": "发错了"}, headers=auth("manager"))
    assert voided.status_code == 200 and voided.get_json()["status"] == "voided"
    refused = redeem(client, auth, coupon.code)
    assert refused.get_json()["error"] == "voided" and "发错了" in refused.get_json()["message"]
    assert redeem(client, auth, other.code).status_code == 200
    cannot_void = client.post(f"/api/coupons/{other.code}/void", json={"reason": "x"}, headers=auth())
    assert cannot_void.status_code == 409 and cannot_void.get_json()["error"] == "already_redeemed"
    back = client.post(f"/api/coupons/{other.code}/unredeem", json={"reason": "顾客退货"}, headers=auth())
    assert back.status_code == 200 and back.get_json()["status"] == "issued" and back.get_json()["redeemed_at"] is None
    not_redeemed = client.post(f"/api/coupons/{other.code}/unredeem", json={"reason": "again"}, headers=auth())
    assert not_redeemed.status_code == 409 and not_redeemed.get_json()["error"] == "not_redeemed"
    assert redeem(client, auth, other.code).status_code == 200  # usable again
    assert attempts(shop) == [("void", "ok"), ("redeem", "voided"), ("redeem", "ok"), ("void", "already_redeemed"),
                              ("unredeem", "ok"), ("unredeem", "not_redeemed"), ("redeem", "ok")]
    log = client.get(f"/api/coupons/attempts?coupon_id={other.id}", headers=auth()).get_json()["attempts"]
    assert [a["result"] for a in log] == ["ok", "not_redeemed", "ok", "already_redeemed", "ok"]
    assert log[2]["reason"] == "顾客退货"
    with shop.transaction() as db_session:
        kinds = list(db_session.scalars(select(Interaction.kind).where(Interaction.customer_id == other.customer_id)
                                        .order_by(Interaction.id)))
    assert kinds == ["coupon_issued", "coupon_redeemed", "coupon_unredeemed", "coupon_redeemed"]


def test_the_guide_checks_a_coupon_before_confirming_and_nothing_is_written(shop, client, auth):
    coupon = issue(shop, make_template(shop, stores=["S2"]), make_customer(shop, nickname="Amy"))
    seen = client.get(f"/api/coupons/{coupon.code}", headers=auth("guide", "G1")).get_json()
    assert seen["customer"]["nickname"] == "Amy" and seen["redeemable"] is False
    assert seen["refusal"]["error"] == "not_valid_in_store"
    fine = client.get(f"/api/coupons/{coupon.code}", headers=auth("guide", "G2")).get_json()
    assert fine["redeemable"] is True and fine["refusal"] is None
    assert client.get("/api/coupons/NOT-A-CODE", headers=auth("guide", "G2")).status_code == 422
    assert attempts(shop) == []


def test_redemption_by_the_bound_guide_renews_protection_and_credits_the_code(shop, client, auth):
    from guides.models import Binding
    from qrcodes.models import CodeDayStats

    g1 = create_guide(shop, "G3", store="S1")
    who = openid()
    mp_scan(shop, client, who, g1.mp_scene)
    with shop.transaction() as db_session:
        binding = db_session.scalar(select(Binding).where(Binding.ended_at.is_(None)))
        customer_id, before = binding.customer_id, binding.protected_until
    coupon = issue(shop, make_template(shop), customer_id)
    shop.clock.advance(days=10)
    done = redeem(client, auth, coupon.code, guide="G3")
    assert done.get_json()["credited_guide_id"] == g1.id
    with shop.transaction() as db_session:
        binding = db_session.scalar(select(Binding).where(Binding.ended_at.is_(None)))
        assert binding.protected_until.replace(tzinfo=UTC) > before.replace(tzinfo=UTC)
        assert db_session.scalar(select(func.sum(CodeDayStats.redemptions))) == 1
