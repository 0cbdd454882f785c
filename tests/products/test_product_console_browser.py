"""The console's 码批次 pages in a real browser (Debian's chromium, driven by Playwright), at a
phone's width (390 px) and a desktop's (1366 px): the empty list, the new-batch form (only the
chosen reward's field shown; a refused form with each error under its field), the confirmation
stating the consequence, a double click on 确认生成 making one batch, the batch page with its
example label (the QR on the screen decodes to the code's URL) and its latest claims, the list
with data; no sideways scroll at either width. Screenshots go to ``test-artifacts/products/``."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from coupon_world import make_template
from guide_world import create_guide, create_store
from member_world import make_member
from platform_world import assert_no_sideways_scroll, screenshot
from product_world import claim
from scrm.products.batches import batch_by_prefix
from scrm.products.models import CodeBatch
from web_world import console_sign_in

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "products"
WIDTHS = {"390": {"width": 390, "height": 844}, "1366": {"width": 1366, "height": 900}}


def shoot(page, name: str, size: str) -> None:  # noqa: ANN001
    screenshot(page, ARTIFACTS, f"console-{name}-{size}")


def batches_made(runtime) -> list[tuple[int, str]]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return [tuple(row) for row in db_session.execute(select(CodeBatch.id, CodeBatch.prefix))]


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_a_manager_makes_a_batch_and_reads_it_at_a_phone_and_a_desktop_width(browser, stack, make_token):
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("console-*.png"):  # only this run's pictures, to look at
        old.unlink()
    runtime, errors = stack.runtime, []
    create_store(runtime, "S1", "上海静安店")
    make_template(runtime, name="婴儿湿巾赠品券", kind="gift", gift="婴儿湿巾一包", amount=None, min_spend=None)

    # ---- the empty list, then the form at a desktop's width: refused, then confirmed --------------------
    desk = browser.new_context(viewport=WIDTHS["1366"]).new_page()
    desk.set_default_timeout(15_000)
    desk.on("pageerror", lambda exc: errors.append(str(exc)))
    console_sign_in(desk, stack.url, make_token("manager"), "/console/product-codes")
    expect(desk.locator("#none")).to_contain_text("还没有码批次")
    shoot(desk, "01-empty", "1366")
    desk.locator("#none a.btn.primary").click()
    desk.wait_for_url(f"{stack.url}/console/product-codes/new")
    expect(desk.locator("#points-field")).to_be_visible()
    expect(desk.locator("#coupon-field")).to_be_hidden()  # only the chosen reward's field
    desk.check("#kind-coupon")
    expect(desk.locator("#coupon-field")).to_be_visible()
    expect(desk.locator("#points-field")).to_be_hidden()
    desk.check("#kind-points")
    desk.fill("#product", "英氏多维营养米粉")
    desk.fill("#quantity", "0")
    desk.click("#next")
    expect(desk.locator("#errors")).to_contain_text("SKU")
    expect(desk.locator("#error-quantity")).to_contain_text("每批 1 到 100,000,000 个码")
    expect(desk.locator("#error-points")).to_contain_text("请填写每个码可得的积分")
    expect(desk.locator("#product")).to_have_value("英氏多维营养米粉")  # what was typed is kept
    shoot(desk, "02-form-refused", "1366")
    desk.fill("#sku", "YS-MF-01")
    desk.fill("#quantity", "100,000")
    desk.fill("#points", "50")
    desk.select_option("#store_code", "S1")
    desk.click("#next")
    expect(desk.locator("#consequence")).to_have_text("将生成 100,000 个码，每个码首次扫码可得 50 积分")
    expect(desk.locator("#store")).to_have_text("上海静安店")
    shoot(desk, "03-confirm", "1366")
    assert batches_made(runtime) == []  # nothing before the confirmation
    desk.dblclick("#confirm")  # a double click makes one batch
    desk.wait_for_url(f"{stack.url}/console/product-codes/*")
    [(batch_id, prefix)] = batches_made(runtime)
    assert desk.url == f"{stack.url}/console/product-codes/{batch_id}"
    expect(desk.locator("p.flash")).to_contain_text("批次已创建：100,000 个码")

    # ---- the example label: its QR, read off the screen, is the code's URL ---------------------------------
    url = desk.locator("#example-url").text_content()
    shot = Image.open(io.BytesIO(desk.locator("#example svg").screenshot()))
    assert [found.text for found in zxingcpp.read_barcodes(shot)] == [url]
    assert url == f"{stack.url}/p/{desk.locator('#example-code').text_content()}"

    # ---- claims, then every page at both widths ------------------------------------------------------
    guide = create_guide(runtime, "G1", store="S1", name="王小美")
    batch = batch_by_prefix_of(runtime, prefix)
    for serial, name in ((3, "艾米"), (41, "鲍勃"), (977, None)):
        claim(runtime, batch, serial, make_member(runtime, nickname=name))
    assert guide.id  # the store's guide: the routed claims are credited to them
    pages = {"04-list": "/console/product-codes", "05-batch": f"/console/product-codes/{batch_id}",
             "06-form": "/console/product-codes/new"}
    for size, viewport in WIDTHS.items():
        page = desk if size == "1366" else browser.new_context(viewport=viewport).new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        if size == "390":
            console_sign_in(page, stack.url, make_token("manager"), "/console/product-codes")
        for name, path in pages.items():
            page.goto(stack.url + path)
            assert_no_sideways_scroll(page)
            shoot(page, name, size)
        page.goto(f"{stack.url}/console/product-codes/{batch_id}")
        expect(page.locator("#claimed")).to_have_text("3")
        expect(page.locator("#claims-table tbody tr")).to_have_count(3)
        expect(page.locator("#claims-table")).to_contain_text("王小美")
        for button in ("#csv-all", "#sheet-range button"):
            assert page.locator(button).bounding_box()["height"] >= 44, (size, button)
    # ---- the downloads, as the browser saves them ----------------------------------------------------------
    desk.goto(f"{stack.url}/console/product-codes/{batch_id}")
    with desk.expect_download() as csv_download:
        desk.click("#csv-all")
    lines = Path(csv_download.value.path()).read_text().splitlines()
    assert lines[0] == "serial,code,url" and len(lines) == 100_001
    assert lines[1].startswith("1,") and lines[-1].startswith("100000,")
    desk.fill("#sheet-from", "66")
    desk.fill("#sheet-to", "130")
    with desk.expect_download() as pdf_download:
        desk.click("#sheet-range button")
    assert pdf_download.value.suggested_filename == f"英氏多维营养米粉-{prefix}-66-130.pdf"
    assert Path(pdf_download.value.path()).read_bytes().startswith(b"%PDF")
    desk.fill("#sheet-from", "1")
    desk.fill("#sheet-to", "5001")
    desk.click("#sheet-range button")  # too many for one file: said on the page
    expect(desk.locator("#download-errors")).to_contain_text("一个标签文件最多 5,000 张，请分段下载")
    expect(desk.locator("#sheet-to")).to_have_value("5001")
    shoot(desk, "07-download-refused", "1366")
    assert errors == []


def batch_by_prefix_of(runtime, prefix: str):  # noqa: ANN001, ANN201
    with runtime.transaction() as db_session:
        return batch_by_prefix(db_session=db_session, prefix=prefix)
