"""The store and guide API (SPEC §6, §11): stores, guides, their codes as images and posters,
a guide's customers and numbers, the CSV import; roles and input errors (SPEC §12)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image
from sqlalchemy import select, update

from guide_world import mp_scan, openid
from guides.models import Binding, Guide, Store
from qrcodes.models import ChannelCode
from scrm.clock import FrozenClock
from scrm.customers.models import Customer, CustomerIdentity
from scrm.sandbox import world
from tagging.models import Order
from platform_world import count

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Shanghai
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# -- helpers ------------------------------------------------------------------------------


def post_store(client, headers, code: str = "S1", name: str = "上海静安店", **fields):  # noqa: ANN001, ANN003, ANN201
    return client.post("/api/stores", json={"code": code, "name": name, **fields}, headers=headers)


def post_guide(runtime, client, headers, code: str = "G1", *, store: str = "S1", **fields):  # noqa: ANN001, ANN003, ANN201
    """POST a guide whose WeCom member exists in the sandbox WeCom (as HR would have made it)."""
    body = {"code": code, "name": f"导购{code}", "store": store, "wecom_userid": f"member-{code.lower()}", **fields}
    world.add_member(runtime.redis, body["wecom_userid"], body["name"])
    return client.post("/api/guides", json=body, headers=headers)


@pytest.fixture
def shop(runtime, client, manager):  # noqa: ANN001, ANN201
    """Store S1 with guides G1 and G2, every code ready."""
    assert post_store(client, manager).status_code == 201
    for code in ("G1", "G2"):
        assert post_guide(runtime, client, manager, code).status_code == 201
    runtime.queue.run_pending()
    return runtime


def guide_id(runtime, code: str) -> int:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.scalar(select(Guide.id).where(Guide.code == code))


def customer_of(runtime, external_id: str) -> int:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.scalar(select(CustomerIdentity.customer_id).where(CustomerIdentity.external_id == external_id))


def mp_scene(client, headers, code: str) -> str:  # noqa: ANN001
    return client.get(f"/api/guides/{code}", headers=headers).get_json()["codes"]["mp"]["scene"]


def utc(moment: datetime) -> datetime:
    """SQLite hands datetimes back without their zone; every one stored is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# -- stores -------------------------------------------------------------------------------


def test_a_new_store_answers_its_mp_code_pending_and_the_queue_makes_it_ready(runtime, client, manager):
    response = post_store(client, manager, address="南京西路 1 号")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["code"], body["name"], body["address"], body["active_guides"]) == ("S1", "上海静安店", "南京西路 1 号", 0)
    # The WeCom contact way waits for a guide: a contact way needs a member.
    assert set(body["codes"]) == {"mp"}
    assert body["codes"]["mp"]["status"] == "pending" and body["codes"]["mp"]["png"] is None

    runtime.queue.run_pending()

    mp = client.get("/api/stores/S1", headers=manager).get_json()["codes"]["mp"]
    assert mp["status"] == "ready" and mp["error"] is None
    assert mp["url"].startswith(f"{runtime.config.server.public_base_url}/sandbox/wechat/mp/q/")
    assert mp["png"] == "/api/stores/S1/qrcode.png?channel=mp"


def test_a_store_code_taken_already_is_a_conflict(runtime, client, manager):
    assert post_store(client, manager).status_code == 201
    response = post_store(client, manager, name="另一家店")
    assert response.status_code == 409
    assert response.get_json()["error"] == "conflict" and "S1" in response.get_json()["message"]
    assert count(runtime, Store) == 1


def test_a_bad_store_code_is_refused_naming_the_field_and_nothing_is_created(runtime, client, manager):
    response = post_store(client, manager, code="S 1")
    assert response.status_code == 422
    assert response.get_json()["field"] == "code"
    assert (count(runtime, Store), count(runtime, ChannelCode)) == (0, 0)
    assert runtime.queue.run_pending() == 0


@pytest.mark.parametrize("body", [b"code=S1&name=x", b"[1, 2]", b"{not json"])
def test_a_store_body_that_is_not_a_json_object_is_400(runtime, client, manager, body):
    response = client.post("/api/stores", data=body, content_type="application/json", headers=manager)
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_json"
    assert count(runtime, Store) == 0


def test_stores_are_listed_with_their_guides_and_an_unknown_store_is_404(shop, client, manager):
    assert post_store(client, manager, code="S2", name="北京三里屯店").status_code == 201
    listed = client.get("/api/stores", headers=manager).get_json()["stores"]
    assert [(s["code"], s["active_guides"]) for s in listed] == [("S1", 2), ("S2", 0)]

    one = client.get("/api/stores/S1", headers=manager).get_json()
    assert [g["code"] for g in one["guides"]] == ["G1", "G2"]
    assert {c: one["codes"][c]["status"] for c in one["codes"]} == {"mp": "ready", "work": "ready"}

    missing = client.get("/api/stores/NOPE", headers=manager)
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_found"


# -- guides -------------------------------------------------------------------------------


def test_a_new_guide_answers_both_codes_pending_and_the_queue_makes_them_ready(runtime, client, manager):
    post_store(client, manager)
    runtime.queue.run_pending()
    response = post_guide(runtime, client, manager, "G1", name="王小美", daily_cap=20,
                          schedule={"mon": ["10-22"], "sat": ["22-2"]})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["code"] == "G1" and body["name"] == "王小美" and body["store"] == {"code": "S1", "name": "上海静安店"}
    assert (body["wecom_userid"], body["status"], body["daily_cap"], body["backup"]) == ("member-g1", "active", 20, False)
    assert body["schedule"] == {"mon": ["10-22"], "sat": ["22-2"]} and body["customers"] == 0
    assert {c: body["codes"][c]["status"] for c in body["codes"]} == {"mp": "pending", "work": "pending"}
    # Both codes carry the guide's one scene.
    assert body["codes"]["mp"]["scene"] == body["codes"]["work"]["scene"]

    runtime.queue.run_pending()

    codes = client.get("/api/guides/G1", headers=manager).get_json()["codes"]
    assert {c: codes[c]["status"] for c in codes} == {"mp": "ready", "work": "ready"}
    assert codes["work"]["config_id"] and codes["work"]["png"] == "/api/guides/G1/qrcode.png?channel=work"
    # The store's own contact way came with its first guide.
    assert client.get("/api/stores/S1", headers=manager).get_json()["codes"]["work"]["status"] == "ready"


def test_a_guide_of_an_unknown_store_is_404_and_nothing_is_created(runtime, client, manager):
    response = post_guide(runtime, client, manager, "G1", store="NOPE")
    assert response.status_code == 404 and "NOPE" in response.get_json()["message"]
    assert (count(runtime, Guide), count(runtime, ChannelCode)) == (0, 0)


@pytest.mark.parametrize("taken", ["code", "wecom_userid"])
def test_a_guide_code_or_wecom_member_taken_already_is_a_conflict(shop, client, manager, taken):
    body = {"code": "G9", "name": "新人", "store": "S1", "wecom_userid": "member-g9"}
    body[taken] = {"code": "G1", "wecom_userid": "member-g1"}[taken]
    response = client.post("/api/guides", json=body, headers=manager)
    assert response.status_code == 409
    assert response.get_json()["error"] == "conflict"
    assert count(shop, Guide) == 2


@pytest.mark.parametrize(("change", "field"), [
    ({"schedule": {"mon": ["25-3"]}}, "schedule"),
    ({"schedule": {"someday": ["10-22"]}}, "schedule"),
    ({"nickname": "小美"}, "nickname"),
    ({"daily_cap": 0}, "daily_cap"),
    ({"daily_cap": "20"}, "daily_cap"),
    ({"wecom_userid": "has space"}, "wecom_userid"),
])
def test_a_bad_guide_is_refused_naming_the_field(runtime, client, manager, change, field):
    post_store(client, manager)
    response = post_guide(runtime, client, manager, "G1", **change)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["field"] == field
    assert count(runtime, Guide) == 0


def test_a_guide_record_is_seen_by_managers_and_that_guide_only(shop, client, auth, manager):
    assert client.get("/api/guides/G1", headers=manager).status_code == 200
    own = client.get("/api/guides/G1", headers=auth("guide", "G1"))
    assert own.status_code == 200 and own.get_json()["code"] == "G1"
    other = client.get("/api/guides/G1", headers=auth("guide", "G2"))
    assert other.status_code == 403 and other.get_json()["error"] == "forbidden"
    assert client.get("/api/guides/NOPE", headers=manager).status_code == 404
    assert client.get("/api/guides/G1").status_code == 401


def test_patch_changes_only_the_fields_given(shop, client, manager):
    change = {"schedule": {"tue": ["9-18"]}, "daily_cap": 5, "backup": True}
    response = client.patch("/api/guides/G1", json=change, headers=manager)
    assert response.status_code == 200, response.get_json()
    after = client.get("/api/guides/G1", headers=manager).get_json()
    assert (after["schedule"], after["daily_cap"], after["backup"]) == ({"tue": ["9-18"]}, 5, True)
    assert after["name"] == "导购G1" and after["wecom_userid"] == "member-g1"


@pytest.mark.parametrize("change", [{"name": None}, {"daily_cap": 9, "schedule": None}, {"code": "G7"}])
def test_patch_refuses_what_cannot_change_and_changes_nothing(shop, client, manager, change):
    response = client.patch("/api/guides/G1", json=change, headers=manager)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["field"] == next(k for k in change if k != "daily_cap")
    after = client.get("/api/guides/G1", headers=manager).get_json()
    assert (after["code"], after["name"], after["daily_cap"], after["schedule"]) == ("G1", "导购G1", None, {})


def test_patch_of_an_unknown_guide_is_404(shop, client, manager):
    assert client.patch("/api/guides/NOPE", json={"daily_cap": 3}, headers=manager).status_code == 404


# -- code images and posters --------------------------------------------------------------


@pytest.mark.parametrize("channel", ["mp", "work"])
def test_a_guide_code_card_is_a_600_by_800_png(shop, client, auth, channel):
    response = client.get(f"/api/guides/G1/qrcode.png?channel={channel}", headers=auth("guide", "G1"))
    assert response.status_code == 200 and response.mimetype == "image/png"
    image = Image.open(io.BytesIO(response.data))
    assert (image.format, image.size) == ("PNG", (600, 800))


def test_a_code_card_of_an_unknown_channel_is_400(shop, client, manager):
    response = client.get("/api/guides/G1/qrcode.png?channel=xx", headers=manager)
    assert response.status_code == 400 and response.get_json()["error"] == "bad_query"


def test_a_code_card_is_409_while_wechat_has_not_made_the_code(runtime, client, manager):
    post_store(client, manager)
    post_guide(runtime, client, manager, "G1")  # its jobs are not run
    for channel in ("mp", "work"):
        response = client.get(f"/api/guides/G1/qrcode.png?channel={channel}", headers=manager)
        assert response.status_code == 409, channel
        assert "pending" in response.get_json()["message"]


def test_the_store_poster_is_a_pdf_or_a_png_of_every_code(shop, client, manager):
    pdf = client.get("/api/stores/S1/poster.pdf?channel=mp", headers=manager)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    assert "X-Codes-Missing" not in pdf.headers

    png = client.get("/api/stores/S1/poster.png?channel=work", headers=manager)
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert png.data.startswith(PNG_MAGIC)
    Image.open(io.BytesIO(png.data)).verify()

    assert client.get("/api/stores/S1/poster.txt?channel=mp", headers=manager).status_code == 404
    assert client.get("/api/stores/NOPE/poster.pdf?channel=mp", headers=manager).status_code == 404


def test_a_guide_may_not_create_stores_nor_print_posters(shop, client, auth):
    guide = auth("guide", "G1")
    assert post_store(client, guide, code="S9").status_code == 403
    assert client.get("/api/stores/S1/poster.pdf?channel=mp", headers=guide).status_code == 403
    assert client.post("/api/guides/import", data=b"code\n", content_type="text/csv", headers=guide).status_code == 403
    assert count(shop, Store) == 1


# -- a guide's customers and numbers ------------------------------------------------------


def test_a_guides_customers_are_listed_phones_masked_for_the_guide(shop, client, auth, manager):
    scene = mp_scene(client, manager, "G1")
    amy, bob = openid(), openid()
    mp_scan(shop, client, amy, scene)
    mp_scan(shop, client, bob, scene)
    mp_scan(shop, client, openid(), mp_scene(client, manager, "G2"))  # G2's customer
    shop.queue.run_pending()
    with shop.transaction() as db_session:
        db_session.execute(update(Customer).where(Customer.id == customer_of(shop, amy))
                           .values(phone="13800138000", nickname="Amy Chen"))
        db_session.execute(update(Customer).where(Customer.id == customer_of(shop, bob))
                           .values(phone="13900139000", nickname="Bob"))

    as_guide = client.get("/api/guides/G1/customers", headers=auth("guide", "G1"))
    assert as_guide.status_code == 200
    body = as_guide.get_json()
    assert body["total"] == 2
    assert {c["nickname"]: c["phone"] for c in body["customers"]} == {"Amy Chen": "138****8000", "Bob": "139****9000"}
    assert {c["channel"] for c in body["customers"]} == {"mp"}

    as_manager = client.get("/api/guides/G1/customers", headers=manager).get_json()
    assert {c["nickname"]: c["phone"] for c in as_manager["customers"]} == {"Amy Chen": "13800138000", "Bob": "13900139000"}

    found = client.get("/api/guides/G1/customers?q=amy", headers=auth("guide", "G1")).get_json()
    assert (found["total"], [c["id"] for c in found["customers"]]) == (1, [customer_of(shop, amy)])
    assert client.get("/api/guides/G1/customers?q=nobody", headers=manager).get_json()["total"] == 0

    assert client.get("/api/guides/G1/customers", headers=auth("guide", "G2")).status_code == 403
    for limit in ("0", "-1", "²", "x"):
        assert client.get(f"/api/guides/G1/customers?limit={limit}", headers=manager).status_code == 400, limit


def test_guide_stats_count_scans_follows_bindings_and_credited_orders(runtime, client, auth, manager):
    runtime.clock = FrozenClock(NOW)
    post_store(client, manager)
    post_guide(runtime, client, manager, "G1")
    runtime.queue.run_pending()
    scene = mp_scene(client, manager, "G1")
    customers = [openid() for _ in range(3)]
    for who in customers:
        mp_scan(runtime, client, who, scene)
    runtime.clock.advance(minutes=5)
    # Following already: a scan, not a new follow nor a new binding.
    mp_scan(runtime, client, customers[0], scene, event="SCAN")

    order = client.post("/api/orders", headers=manager, json={
        "order_no": "SO-1", "amount": "199.90", "ordered_at": "2026-11-02T09:00:00+08:00",
        "customer": {"openid": customers[1]}, "store_code": "S1",
    })
    assert order.status_code == 201, order.get_json()
    assert order.get_json()["credited_guide_id"] == guide_id(runtime, "G1")
    with runtime.transaction() as db_session:
        assert db_session.scalar(select(Order.credited_guide_id)) == guide_id(runtime, "G1")

    response = client.get("/api/guides/G1/stats", headers=auth("guide", "G1"))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    expected = {"scans": 4, "follows": 3, "bindings": 3, "orders": 1, "order_amount": "199.90", "redemptions": 0}
    assert body["totals"] == expected
    assert body["channels"]["mp"] == expected
    assert body["channels"]["work"] == {**{k: 0 for k in expected}, "order_amount": "0.00"}
    assert (body["start"], body["end"]) == ("2026-10-27", "2026-11-02")
    assert [d["day"] for d in body["days"] if d["scans"]] == ["2026-11-02"]

    one_day = client.get("/api/guides/G1/stats?from=2026-11-01&to=2026-11-01", headers=manager).get_json()
    assert one_day["totals"]["scans"] == 0 and len(one_day["days"]) == 1


@pytest.mark.parametrize("query", ["from=yesterday", "from=2026-11-03&to=2026-11-01", "from=2024-01-01&to=2026-11-01"])
def test_guide_stats_refuse_a_bad_range(shop, client, manager, query):
    response = client.get(f"/api/guides/G1/stats?{query}", headers=manager)
    assert response.status_code == 400 and response.get_json()["error"] == "bad_query"


def test_an_order_from_the_bound_guide_renews_the_protection(runtime, client, manager):
    assert runtime.config.binding.protect_days == 30
    runtime.clock = FrozenClock(NOW)
    post_store(client, manager)
    post_guide(runtime, client, manager, "G1")
    runtime.queue.run_pending()
    who = openid()
    mp_scan(runtime, client, who, mp_scene(client, manager, "G1"))

    def protected_until() -> datetime:
        with runtime.transaction() as db_session:
            return utc(db_session.scalar(select(Binding.protected_until).where(
                Binding.customer_id == customer_of(runtime, who), Binding.ended_at.is_(None))))

    assert protected_until() == NOW + timedelta(days=30)
    runtime.clock.advance(days=20)
    day_20 = NOW + timedelta(days=20)
    response = client.post("/api/orders", headers=manager, json={
        "order_no": "SO-20", "amount": "88", "ordered_at": day_20.isoformat(), "customer": {"openid": who},
    })
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["credited_guide_id"] == guide_id(runtime, "G1")
    assert protected_until() == NOW + timedelta(days=50)
