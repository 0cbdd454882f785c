"""The console's batches area (一物一码 · 码批次, scrm/products/pages.py): the list with its
filters, empty state and pages; a new batch checked field by field (every refusal named on its
field, nothing written), confirmed with its consequence, made once whatever the double posts;
one batch's summary, example label and latest claims; the downloads; guides and visitors kept
out."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from coupon_world import make_customer, make_template
from guide_world import create_guide, create_store
from guides.binding import bind, guide_card
from member_world import make_member
from platform_world import run_together
from product_world import claim, make_batch
from scrm.coupons.models import CouponTemplate
from scrm.products.codes import ProductCodec
from scrm.products.models import CodeBatch
from web_world import log_in, page_text

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # 11:00 on 2026-12-07 in Shanghai


@pytest.fixture
def config_overrides():
    return {"database.pool_size": 4, "database.max_overflow": 0}


@pytest.fixture
def signed_in(frozen, client, make_token):  # noqa: ANN001, ANN201
    log_in(client, make_token, "manager")
    return frozen


def batch_count(runtime) -> int:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.scalar(select(func.count()).select_from(CodeBatch))


def made_batches(runtime) -> list[CodeBatch]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        rows = db_session.scalars(select(CodeBatch).order_by(CodeBatch.id)).all()
        db_session.expunge_all()
        return rows


def form_key(client) -> str:  # noqa: ANN001
    page = page_text(client.get("/console/product-codes/new"))
    return re.search(r'name="key" value="([^"]+)"', page).group(1)


def batch_form(key: str, **fields: str) -> dict[str, str]:
    return {"product": "英氏多维营养米粉", "sku": "YS-MF-01", "quantity": "100,000", "reward_kind": "points",
            "points": "50", "coupon_template_id": "", "store_code": "", "valid_until": "", "key": key, **fields}


def row_of(page: str, batch_id: int) -> str:
    return re.search(rf'<tr data-batch="{batch_id}">.*?</tr>', page, re.S).group(0)


# ---- the list ---------------------------------------------------------------------------------

def test_the_empty_list_says_what_a_batch_is_and_offers_the_button(signed_in, client):
    page = page_text(client.get("/console/product-codes"))
    assert "还没有码批次" in page and "一个批次是同一商品的一批码" in page
    assert page.count('href="/console/product-codes/new"') == 2  # the header's action and the empty state's
    assert 'id="batches"' not in page and 'role="search"' not in page  # nothing to filter yet


def test_the_list_shows_each_batch_in_words_and_filters_by_product_and_store(signed_in, client):
    create_store(signed_in, "S1", "上海静安店")
    create_store(signed_in, "S2", "北京朝阳店")
    gift = make_template(signed_in, name="婴儿湿巾赠品券", kind="gift", gift="婴儿湿巾一包", amount=None, min_spend=None)
    rice = make_batch(signed_in, quantity=100_000)
    wipes = make_batch(signed_in, product="英氏婴儿湿巾", sku="YS-SJ-80", quantity=8,
                       reward={"coupon_template_id": gift}, store_code="S1", valid_until="2026-12-31")
    for serial in (1, 2):
        claim(signed_in, wipes, serial, make_member(signed_in))
    page = page_text(client.get("/console/product-codes"))
    assert re.search(r"英氏婴儿湿巾.*英氏多维营养米粉", page, re.S)  # newest first
    first = row_of(page, rice.id)
    assert "YS-MF-01" in first and f"<code>{rice.prefix}</code>" in first and ">100,000<" in first
    assert "50 积分" in first and "不限门店" in first and "长期" in first and "0 <small" in first
    assert "2026-12-07 11:00" in first  # created, local time
    second = row_of(page, wipes.id)
    assert "婴儿湿巾赠品券" in second and "上海静安店" in second and "2026-12-31" in second
    assert "已过期" not in second and re.search(r">2 <small class=\"muted\">\(25%\)", second)
    assert f'href="/console/product-codes/{wipes.id}"' in second and "下载码" in second
    assert 'id="total">2<' in page

    by_product = page_text(client.get("/console/product-codes", query_string={"product": "英氏婴儿湿巾"}))
    assert f'data-batch="{wipes.id}"' in by_product and f'data-batch="{rice.id}"' not in by_product
    store_ids = dict(re.findall(r'<option value="(\d+)"[^>]*>([^<(]+) \(', by_product))
    s1 = next(i for i, name in store_ids.items() if name == "上海静安店")
    s2 = next(i for i, name in store_ids.items() if name == "北京朝阳店")
    by_store = page_text(client.get("/console/product-codes", query_string={"store": s1}))
    assert f'data-batch="{wipes.id}"' in by_store and f'data-batch="{rice.id}"' not in by_store
    nobody = page_text(client.get("/console/product-codes", query_string={"store": s2}))
    assert "没有符合条件的批次" in nobody and "清除筛选" in nobody
    odd = client.get("/console/product-codes", query_string={"store": "x' OR 1=1", "page": "-3"})
    assert odd.status_code == 200 and f'data-batch="{rice.id}"' in page_text(odd)  # a hand-edited filter picks all


def test_an_expired_batch_is_marked_and_a_long_list_has_pages(signed_in, client):
    old = make_batch(signed_in, valid_until="2026-12-07")
    with signed_in.transaction() as db_session:  # its last day was yesterday
        db_session.get(CodeBatch, old.id).valid_until = date(2026, 12, 6)
    for i in range(20):
        make_batch(signed_in, sku=f"SKU-{i:02d}")
    first = page_text(client.get("/console/product-codes"))
    assert 'id="total">21<' in first and "1 / 2" in first and "SKU-19" in first
    assert f'data-batch="{old.id}"' not in first and 'href="/console/product-codes?page=2"' in first
    second = page_text(client.get("/console/product-codes", query_string={"page": 2}))
    assert "已过期" in row_of(second, old.id) and "2 / 2" in second


# ---- a new batch --------------------------------------------------------------------------------

def test_a_new_batch_is_confirmed_with_its_consequence_then_made_once_under_a_double_post(signed_in, client):
    key = form_key(client)
    asked = client.post("/console/product-codes", data=batch_form(key))
    assert asked.status_code == 200
    text = page_text(asked)
    assert "将生成 100,000 个码，每个码首次扫码可得 50 积分" in text and "长期有效" in text and "不指定门店" in text
    assert batch_count(signed_in) == 0  # nothing written before the confirmation

    body = {**batch_form(key), "confirm": "1"}
    first = client.post("/console/product-codes", data=body)
    second = client.post("/console/product-codes", data=body)  # a double click, a reload
    assert first.status_code == second.status_code == 303
    [made] = made_batches(signed_in)
    assert first.headers["Location"] == second.headers["Location"] == f"/console/product-codes/{made.id}"
    assert (made.product, made.sku, made.quantity, made.reward_points, made.reward_template_id) == (
        "英氏多维营养米粉", "YS-MF-01", 100_000, 50, None)
    assert made.created_by.startswith("manager-") and made.store_id is None and made.valid_until is None
    shown = page_text(client.get(first.headers["Location"]))
    assert "批次已创建" in shown or "这个批次已经创建过了，没有重复创建" in shown
    assert form_key(client) != key  # a fresh form, a fresh key


def test_a_coupon_batch_for_a_store_names_the_coupon_and_goes_back_to_edit_with_what_was_typed(signed_in, client):
    create_store(signed_in, "S1", "上海静安店")
    gift = make_template(signed_in, name="婴儿湿巾赠品券", kind="gift", gift="婴儿湿巾一包", amount=None, min_spend=None)
    paused = make_template(signed_in, name="已暂停的券")
    with signed_in.transaction() as db_session:
        db_session.get(CouponTemplate, paused).status = "paused"
    form = page_text(client.get("/console/product-codes/new"))
    assert "婴儿湿巾赠品券" in form and "已暂停的券" not in form and "上海静安店 (S1)" in form
    key = re.search(r'name="key" value="([^"]+)"', form).group(1)
    fields = batch_form(key, reward_kind="coupon", points="", coupon_template_id=str(gift), store_code="S1",
                        valid_until="2027-06-30", quantity="5000")
    asked = page_text(client.post("/console/product-codes", data=fields))
    assert "将生成 5,000 个码，每个码首次扫码可得一张「婴儿湿巾赠品券」" in asked
    assert "上海静安店" in asked and "2027-06-30" in asked
    back = client.post("/console/product-codes", data={**fields, "edit": "1"})
    assert back.status_code == 200 and batch_count(signed_in) == 0
    again = page_text(back)
    assert 'value="5000"' in again and f'<option value="{gift}" selected>' in again
    assert '<option value="S1" selected>' in again and 'value="2027-06-30"' in again and f'value="{key}"' in again
    assert client.post("/console/product-codes", data={**fields, "confirm": "1"}).status_code == 303
    [made] = made_batches(signed_in)
    assert (made.reward_template_id, made.reward_points, made.valid_until) == (gift, None, date(2027, 6, 30))


def test_a_coupon_with_less_stock_than_codes_or_a_per_customer_limit_is_said_before_and_after(signed_in, client):
    """What leaves a claimed code without its coupon (奖品已领完) is said on the confirmation and,
    as the coupons go, on the batch page; a coupon without limits says nothing."""
    scarce = make_template(signed_in, name="英氏到店礼", kind="gift", gift="米粉试用装", amount=None, min_spend=None,
                           stock=3, per_customer_limit=1)
    plenty = make_template(signed_in, name="满100减20")
    key = form_key(client)
    fields = batch_form(key, reward_kind="coupon", points="", coupon_template_id=str(scarce), quantity="5")
    asked = page_text(client.post("/console/product-codes", data=fields))
    assert "「英氏到店礼」只剩 3 张，少于 5 个码" in asked and 'id="stock-warning"' in asked
    assert "每位顾客最多持有 1 张「英氏到店礼」" in asked and 'id="limit-warning"' in asked
    unlimited = page_text(client.post("/console/product-codes", data={**fields, "coupon_template_id": str(plenty)}))
    assert "将生成 5 个码" in unlimited and "stock-warning" not in unlimited and "limit-warning" not in unlimited
    assert batch_count(signed_in) == 0  # said, nothing made

    assert client.post("/console/product-codes", data={**fields, "confirm": "1"}).status_code == 303
    [made] = made_batches(signed_in)
    page = page_text(client.get(f"/console/product-codes/{made.id}"))
    assert "「英氏到店礼」还剩 3 张" in page and "券比未领取的码少 2 张" in page
    listed = page_text(client.get("/console/product-codes"))
    assert "券不足" in row_of(listed, made.id)
    batch = make_batch(signed_in, quantity=2, reward={"coupon_template_id": scarce})
    claim(signed_in, batch, 1, make_customer(signed_in))  # a coupon of the 3 goes to another batch's code
    page = page_text(client.get(f"/console/product-codes/{made.id}"))
    assert "「英氏到店礼」还剩 2 张" in page and "券比未领取的码少 3 张" in page
    other = page_text(client.get(f"/console/product-codes/{batch.id}"))  # 1 code left, 2 coupons: enough
    assert "「英氏到店礼」还剩 2 张" in other and "stock-warning" not in other
    listed = page_text(client.get("/console/product-codes"))
    assert "券不足" in row_of(listed, made.id) and "券不足" not in row_of(listed, batch.id)


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"product": ""}, "product", "须为 1–64 个字符"),
    ({"product": "米" * 65}, "product", "须为 1–64 个字符"),
    ({"sku": "YS\x07MF"}, "sku", "不能含控制字符"),
    ({"quantity": ""}, "quantity", "必填"),
    ({"quantity": "abc"}, "quantity", "须为整数"),
    ({"quantity": "1e999"}, "quantity", "须为整数"),
    ({"quantity": "0"}, "quantity", "每批 1 到 100,000,000 个码"),
    ({"quantity": "100,000,001"}, "quantity", "每批 1 到 100,000,000 个码"),
    ({"reward_kind": ""}, "reward_kind", "请选择奖励：积分或优惠券"),
    ({"reward_kind": "cash"}, "reward_kind", "请选择奖励：积分或优惠券"),
    ({"points": ""}, "points", "请填写每个码可得的积分"),
    ({"points": "0"}, "points", "须大于或等于 1"),
    ({"points": "NaN"}, "points", "须为整数"),
    ({"points": "1000001"}, "points", "须小于或等于 1000000"),
    ({"reward_kind": "coupon", "coupon_template_id": ""}, "coupon_template_id", "请选择一张优惠券"),
    ({"reward_kind": "coupon", "coupon_template_id": "999999"}, "coupon_template_id", "请选择一张启用中的优惠券"),
    ({"reward_kind": "coupon", "coupon_template_id": str(2**31)}, "coupon_template_id", "须小于或等于"),
    ({"store_code": "S9"}, "store_code", "没有这个门店"),
    ({"store_code": "S" * 40}, "store_code", "须为 1–32 个字符"),
    ({"valid_until": "2026-12-06"}, "valid_until", "不能早于今天"),
    ({"valid_until": "2026-13-01"}, "valid_until", "须为日期（YYYY-MM-DD）"),
    ({"valid_until": "1798675200"}, "valid_until", "须为日期（YYYY-MM-DD）"),
    ({"key": ""}, "key", "这张表单已过期"),
])
@pytest.mark.parametrize("confirm", ["", "1"])
def test_every_refusal_is_named_on_its_field_and_nothing_is_written(signed_in, client, fields, field, words,
                                                                     confirm):
    key = form_key(client)
    typed = {**batch_form(key), **fields}
    refused = client.post("/console/product-codes", data={**typed, "confirm": confirm})
    assert refused.status_code == 422
    text = page_text(refused)
    assert words in re.search(r'<ul class="errors".*?</ul>', text, re.S).group(0)  # the list above the form
    if field != "key":  # and under the field itself
        assert words in re.search(rf'<small class="error" id="error-{field}">([^<]*)</small>', text).group(1)
    assert batch_count(signed_in) == 0
    assert 'value="英氏多维营养米粉"' in text or field == "product"  # what was typed is kept
    if field != "key":
        fixed = client.post("/console/product-codes", data={**batch_form(key), "confirm": "1"})
        assert fixed.status_code == 303 and batch_count(signed_in) == 1  # the key was not spent by the refusal


def test_a_nul_byte_is_refused_before_the_page_sees_it(signed_in, client):
    refused = client.post("/console/product-codes", data={**batch_form(form_key(client), sku="YS\x00MF"), "confirm": "1"})
    assert refused.status_code == 400 and batch_count(signed_in) == 0


def test_a_template_paused_between_the_steps_is_refused_at_the_confirmation(signed_in, client):
    gift = make_template(signed_in, name="婴儿湿巾赠品券")
    key = form_key(client)
    fields = batch_form(key, reward_kind="coupon", points="", coupon_template_id=str(gift))
    assert client.post("/console/product-codes", data=fields).status_code == 200
    with signed_in.transaction() as db_session:
        db_session.get(CouponTemplate, gift).status = "paused"
    refused = client.post("/console/product-codes", data={**fields, "confirm": "1"})
    assert refused.status_code == 422 and "请选择一张启用中的优惠券" in page_text(refused)
    assert batch_count(signed_in) == 0


def test_the_same_form_sent_again_with_other_fields_is_refused(signed_in, client):
    key = form_key(client)
    assert client.post("/console/product-codes", data={**batch_form(key), "confirm": "1"}).status_code == 303
    changed = client.post("/console/product-codes", data={**batch_form(key, quantity="200"), "confirm": "1"})
    assert changed.status_code == 409 and "这张表单已过期，请重新填写" in page_text(changed)
    assert re.search(r'name="key" value="([^"]+)"', page_text(changed)).group(1) != key
    assert batch_count(signed_in) == 1


def test_two_confirmations_at_once_make_one_batch(signed_in, app, make_token):
    clients = [app.test_client() for _ in range(2)]
    for each in clients:
        log_in(each, make_token, "manager")
    body = {**batch_form("same-form-key-0123456789"), "confirm": "1"}
    answers = run_together(lambda i: clients[i].post("/console/product-codes", data=body), 2)
    assert [a.status_code for a in answers] == [303, 303]
    [made] = made_batches(signed_in)
    assert {a.headers["Location"] for a in answers} == {f"/console/product-codes/{made.id}"}


# ---- one batch ----------------------------------------------------------------------------------

def bind_to(runtime, customer_id: int, guide_id: int) -> None:  # noqa: ANN001
    with runtime.transaction() as db_session:
        bind(runtime=runtime, db_session=db_session, customer_id=customer_id,
             guide=guide_card(db_session=db_session, guide_id=guide_id), code_id=None, channel="mp",
             at=runtime.clock.now(), previous_guide_id=None)


def test_the_batch_page_shows_the_summary_an_example_label_the_downloads_and_the_latest_claims(signed_in, client):
    create_store(signed_in, "S1", "上海静安店")
    guide = create_guide(signed_in, "G1", store="S1", name="王小美")
    batch = make_batch(signed_in, quantity=12_000, store_code="S1", valid_until="2027-03-31")
    amy = make_member(signed_in, nickname="艾米")
    bind_to(signed_in, amy, guide.id)
    newcomer = make_customer(signed_in, nickname=None)  # not a member: the points wait until they join
    claim(signed_in, batch, 7, amy)
    signed_in.clock.advance(minutes=30)
    claim(signed_in, batch, 9, newcomer)
    page = page_text(client.get(f"/console/product-codes/{batch.id}"))
    assert re.search(r'id="quantity">12,000<', page) and f'<code id="prefix">{batch.prefix}</code>' in page
    assert "50 积分" in re.search(r'id="reward">.*?</dd>', page, re.S).group(0)
    assert "上海静安店" in page and "2027-03-31" in page
    assert re.search(r'id="claimed">2<', page) and "0.02%" in page

    code = re.search(r'id="example-code">([a-z2-7]+)<', page).group(1)
    decoded = ProductCodec.from_config(signed_in.config).decode(code)
    assert (decoded.prefix, decoded.serial) == (batch.prefix, 1)
    assert re.search(rf'id="example-url" href="[^"]+/p/{code}"', page) and "<svg" in page

    assert f'href="/console/product-codes/{batch.id}/codes.csv"' in page and "下载全部 12,000 个码" in page
    assert f'action="/console/product-codes/{batch.id}/sheet.pdf"' in page
    assert 'id="sheet-to" name="to" min="1" max="12000" value="5000"' in page
    assert "每个文件最多 5,000 张标签" in page and "5,001–10,000" in page

    claims = re.search(r'<table id="claims-table">.*?</table>', page, re.S).group(0)
    assert re.search(rf'顾客 #{newcomer}.*入会后到账.*艾米.*王小美', claims, re.S)  # newest first
    assert f'href="/console/customers/{amy}"' in claims and "2026-12-07 11:00" in claims
    assert "2026-12-07 11:30" in claims and "上海静安店" in claims


def test_a_batch_without_claims_says_so_and_an_unknown_batch_is_404(signed_in, client):
    batch = make_batch(signed_in)
    assert "还没有人领取" in page_text(client.get(f"/console/product-codes/{batch.id}"))
    for path in ("/console/product-codes/999999", f"/console/product-codes/{2**31}", f"/console/product-codes/{2**63}",
                 "/console/product-codes/999999/codes.csv", "/console/product-codes/999999/sheet.pdf"):
        assert client.get(path).status_code == 404, path


# ---- downloads ----------------------------------------------------------------------------------

def test_the_codes_download_streams_every_code_and_a_range(signed_in, client):
    batch = make_batch(signed_in, quantity=2_500)
    codec, base = ProductCodec.from_config(signed_in.config), signed_in.config.server.public_base_url.rstrip("/")
    whole = client.get(f"/console/product-codes/{batch.id}/codes.csv")
    assert whole.status_code == 200 and whole.is_streamed and whole.mimetype == "text/csv"
    assert whole.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = whole.headers["Content-Disposition"]
    assert f'filename="codes-{batch.prefix}.csv"' in disposition
    assert f"filename*=UTF-8''{quote(f'英氏多维营养米粉-{batch.prefix}.csv')}" in disposition
    lines = whole.get_data(as_text=True).splitlines()
    assert lines[0] == "serial,code,url" and len(lines) == 2_501
    for line in lines[1:]:
        serial, code, url = line.split(",")
        decoded = codec.decode(code)
        assert (decoded.prefix, decoded.serial) == (batch.prefix, int(serial)) and url == f"{base}/p/{code}"
    assert [line.split(",")[0] for line in lines[1:]] == [str(n) for n in range(1, 2_501)]

    part = client.get(f"/console/product-codes/{batch.id}/codes.csv", query_string={"from": 1000, "to": 1009})
    assert part.status_code == 200
    assert f'filename="codes-{batch.prefix}-1000-1009.csv"' in part.headers["Content-Disposition"]
    rows = part.get_data(as_text=True).splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == [str(n) for n in range(1000, 1010)]


@pytest.mark.parametrize(("kind", "query", "words"), [
    ("codes.csv", {"from": "0", "to": "10"}, "序号须在 1 到 12,000 之间"),
    ("codes.csv", {"from": "11", "to": "10"}, "序号须在 1 到 12,000 之间"),
    ("codes.csv", {"from": "1", "to": "12001"}, "序号须在 1 到 12,000 之间"),
    ("codes.csv", {"from": "1", "to": "1e3"}, "序号须为整数"),
    ("codes.csv", {"from": "1"}, "序号须为整数"),
    ("sheet.pdf", {"from": "1", "to": "5001"}, "一个标签文件最多 5,000 张，请分段下载"),
    ("sheet.pdf", {"from": "11990", "to": "12001"}, "序号须在 1 到 12,000 之间"),
    ("sheet.pdf", {"from": "-5", "to": "3"}, "序号须为整数"),
    ("sheet.pdf", {"from": "9" * 40, "to": "3"}, "序号须为整数"),
])
def test_a_range_outside_the_batch_or_too_long_for_a_sheet_is_named_on_the_batch_page(signed_in, client, kind,
                                                                                      query, words):
    batch = make_batch(signed_in, quantity=12_000)
    refused = client.get(f"/console/product-codes/{batch.id}/{kind}", query_string=query)
    assert refused.status_code == 422 and refused.mimetype == "text/html"
    text = page_text(refused)
    assert words in re.search(r'<ul class="errors" role="alert" id="download-errors">.*?</ul>', text, re.S).group(0)
    assert 'id="summary"' in text  # the batch page, with the typed range kept in its form
    form = "csv-range" if kind == "codes.csv" else "sheet-range"
    typed_to = query.get("to", "")
    assert re.search(rf'id="{form}".*?name="to"[^>]*value="{re.escape(typed_to)}"', text, re.S)


def test_label_sheets_come_for_a_range_as_a_pdf(signed_in, client):
    batch = make_batch(signed_in, quantity=12_000)
    pdf = client.get(f"/console/product-codes/{batch.id}/sheet.pdf", query_string={"from": 5001, "to": 5070})
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert f'filename="labels-{batch.prefix}-5001-5070.pdf"' in pdf.headers["Content-Disposition"]
    small = make_batch(signed_in, product="米粉/试用装", quantity=30)
    whole = client.get(f"/console/product-codes/{small.id}/sheet.pdf")  # no range: the first labels, up to 5,000
    assert whole.status_code == 200 and whole.data.startswith(b"%PDF")
    disposition = whole.headers["Content-Disposition"]
    assert f'filename="labels-{small.prefix}-1-30.pdf"' in disposition
    assert f"filename*=UTF-8''{quote(f'米粉_试用装-{small.prefix}-1-30.pdf')}" in disposition  # no "/" in a file name


# ---- roles and forms ----------------------------------------------------------------------------

def test_a_guide_is_refused_and_a_visitor_is_sent_to_log_in(frozen, app, client, make_token):
    create_store(frozen, "S1")
    create_guide(frozen, "G1", store="S1")
    batch = make_batch(frozen)
    pages = ["/console/product-codes", "/console/product-codes/new", f"/console/product-codes/{batch.id}",
             f"/console/product-codes/{batch.id}/codes.csv", f"/console/product-codes/{batch.id}/sheet.pdf?from=1&to=2"]
    for path in pages:
        visitor = client.get(path)
        assert visitor.status_code == 302 and "/login" in visitor.headers["Location"], path
    log_in(client, make_token, "guide", "G1")
    for path in pages:
        assert client.get(path).status_code == 403, path
    assert client.post("/console/product-codes", data={**batch_form("guide-form-key-0123456789"),
                                                        "confirm": "1"}).status_code == 403
    assert batch_count(frozen) == 1


def test_the_confirmation_needs_its_csrf_token(signed_in, client):
    refused = client.post("/console/product-codes", data={**batch_form("no-csrf-form-key-01234"), "confirm": "1"},
                          csrf=False)
    assert refused.status_code == 403 and batch_count(signed_in) == 0
