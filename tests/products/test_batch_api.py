"""The product-code batches' API (scrm/products/routes.py, SPEC §14) on both backends: a batch is
made, listed, read; its codes stream as CSV rows that decode back to their serials, of any size
in flat memory and with no transaction open while they stream; label sheets are served for a
range; every bad input is refused with 422 naming the field, and nothing is written."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from datetime import UTC, datetime
from urllib.parse import unquote

import jsonschema_rs
import pytest
from sqlalchemy import func, select

from coupon_world import issue, make_customer, make_template
from guide_world import create_guide, create_store
from product_world import claim, make_batch
from scrm.products.batches import batch_by_prefix
from scrm.products.codes import CODE_CHARS, ProductCodec
from scrm.products.models import CodeBatch

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # 11:00 on 7 December in Shanghai
BODY = {"product": "英氏多维营养米粉", "sku": "YS-MF-01", "quantity": 1000, "reward": {"points": 50}}


def batches(runtime) -> int:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.scalar(select(func.count()).select_from(CodeBatch))


def post(client, headers, body):  # noqa: ANN001, ANN201
    return client.post("/api/code-batches", json=body, headers=headers)


def csv_rows(response) -> list[list[str]]:  # noqa: ANN001
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


# ---- making, listing, reading batches ------------------------------------------------------


def test_a_manager_makes_a_points_batch_and_reads_it_back(frozen, client, manager):
    made = post(client, manager, {**BODY, "valid_until": "2027-06-30"})
    assert made.status_code == 201, made.get_json()
    batch = made.get_json()
    assert batch["product"] == "英氏多维营养米粉" and batch["quantity"] == 1000
    assert batch["reward"] == {"points": 50} and batch["valid_until"] == "2027-06-30"
    assert batch["claims"] == 0 and batch["store_code"] is None and len(batch["prefix"]) == 5
    assert batch["created_by"].startswith("manager")
    again = client.get(f"/api/code-batches/{batch['id']}", headers=manager)
    assert again.status_code == 200 and again.get_json() == batch


def test_a_coupon_batch_names_its_template_and_store(frozen, client, manager):
    create_store(frozen, "S1")
    template_id = make_template(frozen, name="英氏到店礼")
    made = post(client, manager, {**BODY, "reward": {"coupon_template_id": template_id}, "store_code": "S1"})
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["reward"] == {"coupon_template_id": template_id, "coupon_template": "英氏到店礼",
                                         "coupons_left": None}  # no stock limit
    assert made.get_json()["store_code"] == "S1"
    scarce = make_template(frozen, name="米饼试吃装", stock=3)
    batch = post(client, manager, {**BODY, "reward": {"coupon_template_id": scarce}}).get_json()
    assert batch["reward"]["coupons_left"] == 3
    issue(frozen, scarce, make_customer(frozen))  # the stock is shared with whatever else issues the coupon
    assert client.get(f"/api/code-batches/{batch['id']}", headers=manager).get_json()["reward"]["coupons_left"] == 2


def test_the_list_is_newest_first_a_page_at_a_time_with_claims(frozen, client, manager):
    made = [post(client, manager, {**BODY, "sku": f"SKU-{n}"}).get_json() for n in range(3)]
    customer = make_customer(frozen)
    with frozen.transaction() as db_session:
        ref = batch_by_prefix(db_session=db_session, prefix=made[0]["prefix"])
    claim(frozen, ref, 7, customer)
    first = client.get("/api/code-batches?per_page=2", headers=manager).get_json()
    assert [b["sku"] for b in first["batches"]] == ["SKU-2", "SKU-1"]
    assert (first["total"], first["has_more"], first["page"]) == (3, True, 1)
    second = client.get("/api/code-batches?per_page=2&page=2", headers=manager).get_json()
    assert [(b["sku"], b["claims"]) for b in second["batches"]] == [("SKU-0", 1)] and not second["has_more"]
    assert client.get("/api/code-batches?per_page=101", headers=manager).status_code == 400


def test_only_admins_and_managers_reach_batches(frozen, client, auth):
    assert client.get("/api/code-batches").status_code == 401
    assert post(client, {}, BODY).status_code == 401
    create_store(frozen, "S1")
    create_guide(frozen, "G1")
    assert client.get("/api/code-batches", headers=auth("guide", "G1")).status_code == 403
    assert post(client, auth("admin"), BODY).status_code == 201


def test_an_unknown_batch_is_404(frozen, client, manager):
    assert client.get("/api/code-batches/9", headers=manager).status_code == 404
    assert client.get(f"/api/code-batches/{2**40}/codes.csv", headers=manager).status_code == 404  # beyond INTEGER
    assert client.get("/api/code-batches/9/sheet.pdf?from=1&to=2", headers=manager).status_code == 404


# ---- refusals: 422 naming the field, nothing written ----------------------------------------


@pytest.mark.parametrize(("change", "field"), [
    ({"store_code": "NOPE"}, "store_code"),
    ({"reward": {"coupon_template_id": 999}}, "reward.coupon_template_id"),
    ({"reward": {"coupon_template_id": 2**31}}, "reward.coupon_template_id"),
    ({"valid_until": "2026-12-06"}, "valid_until"),  # yesterday in Shanghai
    ({"valid_until": "2026-13-01"}, "valid_until"),
    ({"product": "米粉\u0000"}, "product"),
    ({"product": "米" * 65}, "product"),
    ({"sku": "   "}, "sku"),
    ({"quantity": "10"}, "quantity"),
    ({"quantity": 0}, "quantity"),
    ({"quantity": 100_000_001}, "quantity"),
    ({"quantity": 10.5}, "quantity"),
    ({"quantity": True}, "quantity"),
    ({"reward": {"points": 50, "coupon_template_id": 1}}, "reward.points"),
    ({"reward": {}}, "reward.points"),
    ({"reward": {"points": 0}}, "reward.points"),
    ({"colour": "red"}, "colour"),
])
def test_a_bad_field_is_refused_and_nothing_is_written(frozen, client, manager, change, field):
    make_template(frozen)  # id 1 exists: the both-rewards case is refused for being both
    answer = post(client, manager, {**BODY, **change})
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["field"] == field
    assert batches(frozen) == 0


def test_a_missing_field_an_infinite_number_and_a_form_are_refused(frozen, client, manager):
    missing = post(client, manager, {k: v for k, v in BODY.items() if k != "product"})
    assert missing.status_code == 422 and missing.get_json()["field"] == "product"
    infinite = client.post("/api/code-batches", data=json.dumps(BODY).replace("1000", "1e999"),
                           content_type="application/json", headers=manager)
    assert infinite.status_code == 422 and infinite.get_json()["field"] == "quantity"
    form = client.post("/api/code-batches", data={"product": "米粉"}, headers=manager)
    assert form.status_code == 415
    assert batches(frozen) == 0


# ---- codes.csv --------------------------------------------------------------------------------


def test_codes_csv_rows_decode_to_their_serials_and_point_at_the_claim_page(frozen, client, manager):
    batch = post(client, manager, {**BODY, "quantity": 1234}).get_json()
    response = client.get(f"/api/code-batches/{batch['id']}/codes.csv", headers=manager)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith(f'attachment; filename="batch-{batch["id"]}-1-1234.csv"; filename*=UTF-8\'\'')
    assert unquote(disposition.split("''", 1)[1]) == "英氏多维营养米粉-YS-MF-01-1-1234.csv"
    disposition.encode("ascii")  # every byte of the header is ASCII
    rows = csv_rows(response)
    assert rows[0] == ["serial", "code", "url"] and len(rows) == 1235
    codec = ProductCodec.from_config(frozen.config)
    base = frozen.config.server.public_base_url
    for serial, code, url in rows[1:]:
        decoded = codec.decode(code)
        assert (decoded.prefix, decoded.serial) == (batch["prefix"], int(serial))
        assert url == f"{base}/p/{code}"
    assert len({code for _, code, _ in rows[1:]}) == 1234


def test_codes_csv_gives_a_range_and_refuses_one_beyond_the_batch(frozen, client, manager):
    batch = post(client, manager, {**BODY, "quantity": 50_000}).get_json()
    url = f"/api/code-batches/{batch['id']}/codes.csv"
    rows = csv_rows(client.get(f"{url}?from=9990&to=10010", headers=manager))
    assert [int(serial) for serial, *_ in rows[1:]] == list(range(9990, 10011))
    codec = ProductCodec.from_config(frozen.config)
    assert all(codec.decode(code).serial == int(serial) for serial, code, _ in rows[1:])
    tail = csv_rows(client.get(f"{url}?from=49999", headers=manager))
    assert [row[0] for row in tail[1:]] == ["49999", "50000"]
    for query, field in (("to=50001", "to"), ("from=0", "from"), ("from=abc", "from"), ("from=20&to=10", "to"),
                         ("from=50001", "from"), ("to=1e3", "to")):
        answer = client.get(f"{url}?{query}", headers=manager)
        assert answer.status_code == 422, (query, answer.get_data(as_text=True))
        assert answer.get_json()["field"] == field, query


def test_a_large_csv_streams_in_flat_memory_with_no_connection_held(frozen, client, manager):
    quantity = 300_000
    batch = post(client, manager, {**BODY, "quantity": quantity}).get_json()
    response = client.get(f"/api/code-batches/{batch['id']}/codes.csv", headers=manager, buffered=False)
    assert response.status_code == 200 and response.is_streamed
    pool = frozen.engine.pool
    before = resident_bytes()
    peak = size = rows = chunks = 0
    last_row = ""
    for chunk in response.response:
        chunks += 1
        size += len(chunk)
        rows += chunk.count(b"\n")
        last_row = chunk.rsplit(b"\n", 2)[-2].decode()
        peak = max(peak, resident_bytes() - before)
        assert pool.checkedout() == 0  # no transaction stays open while the rows are made
    response.close()
    assert rows == quantity + 1 and chunks > 250  # the header and ~1,000 rows a chunk
    assert size > 20_000_000 and peak < 12_000_000  # 22 MB sent; the process grew by far less
    serial, code, _ = last_row.split(",")
    assert int(serial) == quantity and ProductCodec.from_config(frozen.config).decode(code).serial == quantity


def test_the_csv_of_thirty_thousand_codes_peaks_at_a_fraction_of_its_size(frozen, client, manager):
    batch = post(client, manager, {**BODY, "quantity": 30_000}).get_json()
    response = client.get(f"/api/code-batches/{batch['id']}/codes.csv", headers=manager, buffered=False)
    tracemalloc.start()
    try:
        size = sum(len(chunk) for chunk in response.response)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        response.close()
    assert size > 2_000_000 and peak < 600_000  # traced: what Python allocated at most at once


# ---- sheet.pdf --------------------------------------------------------------------------------


def test_a_sheet_is_a_pdf_of_the_range(frozen, client, manager):
    batch = post(client, manager, BODY).get_json()
    response = client.get(f"/api/code-batches/{batch['id']}/sheet.pdf?from=11&to=80", headers=manager)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-") and response.data.count(b"/Type /Page\n") == 2  # 70 labels: 65 + 5
    assert response.headers["Content-Disposition"].startswith(f'inline; filename="batch-{batch["id"]}-11-80.pdf"')


@pytest.mark.parametrize(("query", "field"), [
    ("to=10", "from"), ("from=1", "to"), ("from=1&to=5001", "to"), ("from=1&to=1001", "to"),
    ("from=5&to=4", "to"), ("from=0&to=4", "from"), ("from=x&to=4", "from"),
])
def test_a_bad_sheet_range_is_refused(frozen, client, manager, query, field):
    batch = post(client, manager, BODY).get_json()
    answer = client.get(f"/api/code-batches/{batch['id']}/sheet.pdf?{query}", headers=manager)
    assert answer.status_code == 422, answer.get_data(as_text=True)
    assert answer.get_json()["field"] == field


def test_codes_of_the_csv_are_those_the_foundation_encodes(frozen):
    """The fast path (code_blocks) gives exactly encode()'s codes, in and out of its tables."""
    batch = make_batch(frozen, quantity=100)
    codec = ProductCodec.from_config(frozen.config)
    for first, last in ((1, 100), (999, 1003), (2**20 - 2, 2**20 + 2)):
        made = list(codec.codes(batch.prefix, first, last))
        assert made == [(s, codec.encode(batch.prefix, s)) for s in range(first, last + 1)]
        assert all(len(code) == CODE_CHARS for _, code in made)


def test_the_answers_fit_what_openapi_json_describes(frozen, client, manager):
    spec = client.get("/api/openapi.json").get_json()
    made = post(client, manager, {**BODY, "valid_until": "2027-01-31"})
    refused = post(client, manager, {**BODY, "quantity": 0})
    listed = client.get("/api/code-batches", headers=manager)
    one = client.get(f"/api/code-batches/{made.get_json()['id']}", headers=manager)
    for path, method, response in (("/api/code-batches", "post", made), ("/api/code-batches", "post", refused),
                                   ("/api/code-batches", "get", listed), ("/api/code-batches/{batch_id}", "get", one)):
        answer = spec["paths"][path][method]["responses"][str(response.status_code)]
        if "$ref" in answer:
            answer = spec["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
        schema = {**answer["content"]["application/json"]["schema"], "components": spec["components"]}
        errors = [e.message for e in jsonschema_rs.validator_for(schema).iter_errors(response.get_json())]
        assert not errors, (path, method, errors)
    csv_answer = spec["paths"]["/api/code-batches/{batch_id}/codes.csv"]["get"]["responses"]["200"]
    assert list(csv_answer["content"]) == ["text/csv"]
    sheet = spec["paths"]["/api/code-batches/{batch_id}/sheet.pdf"]["get"]
    assert {p["name"]: p["required"] for p in sheet["parameters"] if p["in"] == "query"} == {"from": True, "to": True}
