"""Label sheets (scrm/products/sheets.py, SPEC §14): read back from the PDF itself. Each page's
content stream is decompressed and interpreted (the rectangles filled, under the transforms in
force), painted with Pillow, and every label's QR is decoded with zxing-cpp: it must be the
claim URL of that label's serial. Also: one page per 65 labels, the CJK font embedded, and the
QR is exactly segno's symbol with the mask an independent penalty count prefers."""

from __future__ import annotations

import math
import re
import zlib
from types import SimpleNamespace

import pytest
import segno
import zxingcpp
from PIL import Image, ImageDraw

from scrm.config import load_config
from scrm.products import label_qr, sheets
from scrm.products.codes import ProductCodec, code_url

SCALE = 4  # pixels a point when painting a page
BASE = "http://127.0.0.1:5071"


@pytest.fixture(scope="module")
def config():  # noqa: ANN201
    return load_config(environ={}, overrides={"server.public_base_url": BASE, "products.code_key": "k" * 24})


def batch(quantity: int = 10_000, product: str = "英氏多维营养米粉（原味）一段 258g") -> SimpleNamespace:
    return SimpleNamespace(id=3, prefix="k3m7d", product=product, sku="YS-MF-01", quantity=quantity)


# ---- reading a PDF back ----------------------------------------------------------------------


def pdf_objects(pdf: bytes) -> dict[int, bytes]:
    return {int(number): body for number, body in re.findall(rb"(\d+) 0 obj\b(.*?)\bendobj", pdf, re.S)}


def stream_of(body: bytes) -> bytes:
    length = int(re.search(rb"/Length (\d+)", body).group(1))
    start = re.search(rb"stream\r?\n", body).end()
    data = body[start:start + length]
    return zlib.decompress(data) if b"/FlateDecode" in body else data


def page_contents(pdf: bytes) -> list[bytes]:
    """Each page's content stream, decompressed, in page order."""
    objects = pdf_objects(pdf)
    root = next(body for body in objects.values() if re.search(rb"/Type /Pages\b", body))
    kids = re.search(rb"/Kids \[([^\]]*)\]", root).group(1)
    pages = [objects[int(n)] for n in re.findall(rb"(\d+) 0 R", kids)]
    return [stream_of(objects[int(re.search(rb"/Contents (\d+) 0 R", page).group(1))]) for page in pages]


_TOKEN = re.compile(rb"\s*(?:(\((?:\\.|[^\\)])*\))|(<[0-9A-Fa-f\s]*>)|(/[^\s/\[\]()<>]+)|(\[|\])|([-+]?[\d.]+)|([A-Za-z*'\"]+))",
                    re.S)


def filled_rectangles(content: bytes) -> list[tuple[float, float, float, float]]:
    """(x0, y0, x1, y1) in page points of every rectangle the stream fills (``re`` … ``f``),
    under the ``cm`` transforms in force (``q``/``Q``); text and stroked paths are passed over."""
    matrix, saved, operands, pending, filled = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0), [], [], [], []
    position = 0
    while position < len(content):
        found = _TOKEN.match(content, position)
        if found is None:
            break
        position = found.end()
        *_, number, operator = found.groups()
        if number is not None:
            operands.append(float(number))
            continue
        if operator is None:
            continue  # strings, names and arrays are operands of text operators: not needed here
        op = operator.decode()
        if op == "q":
            saved.append(matrix)
        elif op == "Q":
            matrix = saved.pop()
        elif op == "cm":
            a, b, c, d, e, f = operands[-6:]
            ma, mb, mc, md, me, mf = matrix
            matrix = (a * ma + b * mc, a * mb + b * md, c * ma + d * mc, c * mb + d * md,
                      e * ma + f * mc + me, e * mb + f * md + mf)
        elif op == "re":
            x, y, w, h = operands[-4:]
            ma, _, _, md, me, mf = matrix
            pending.append((ma * x + me, md * y + mf, ma * (x + w) + me, md * (y + h) + mf))
        elif op in ("f", "f*", "F"):
            filled += pending
            pending = []
        elif op in ("S", "s", "n", "B", "b", "W"):
            pending = []
        operands = []
    return filled


def paint(rectangles: list[tuple[float, float, float, float]], width: float, height: float) -> Image.Image:
    image = Image.new("L", (round(width * SCALE), round(height * SCALE)), 255)
    draw = ImageDraw.Draw(image)
    for x0, y0, x1, y1 in rectangles:
        left, right = round(x0 * SCALE), round(x1 * SCALE)
        top, bottom = round((height - y1) * SCALE), round((height - y0) * SCALE)
        draw.rectangle((left, top, right - 1, bottom - 1), fill=0)
    return image


def label_qrs(pdf: bytes) -> list[str | None]:
    """What each label of each page decodes to, in order (None: nothing read)."""
    width, height = sheets.A4
    read = []
    for content in page_contents(pdf):
        page = paint(filled_rectangles(content), width, height)
        for place in range(sheets.LABELS_PER_PAGE):
            x, y = sheets.label_origin(place)
            box = (round(x * SCALE), round((height - y - sheets.LABEL_HEIGHT) * SCALE),
                   round((x + sheets.LABEL_HEIGHT) * SCALE), round((height - y) * SCALE))  # the QR's square
            found = zxingcpp.read_barcodes(page.crop(box), formats=zxingcpp.BarcodeFormat.QRCode)
            if not found and place > 0 and not filled_rectangles_in(page, box):
                break  # the last page's empty labels
            read.append(found[0].text if found else None)
    return read


def filled_rectangles_in(page: Image.Image, box: tuple[int, int, int, int]) -> bool:
    return page.crop(box).getextrema()[0] == 0


# ---- the tests ---------------------------------------------------------------------------------


def test_every_label_reads_as_the_claim_url_of_its_serial(config):
    first, last = 96, 96 + 70  # 71 labels: a full page and 6 on the next
    pdf = sheets.render_sheet(config=config, batch=batch(), first=first, last=last)
    assert len(page_contents(pdf)) == math.ceil(71 / sheets.LABELS_PER_PAGE) == 2
    codec = ProductCodec.from_config(config)
    expected = [code_url(BASE, code) for _, code in codec.codes("k3m7d", first, last)]
    assert label_qrs(pdf) == expected


def test_pages_are_counted_by_the_labels_and_the_cjk_font_is_embedded(config):
    for labels in (1, 65, 66, 200):
        pdf = sheets.render_sheet(config=config, batch=batch(), first=1, last=labels)
        assert len(page_contents(pdf)) == math.ceil(labels / sheets.LABELS_PER_PAGE)
    font = sheets.label_font()
    assert font == sheets.FONT_NAME  # a TrueType CJK font is installed (fonts-wqy-microhei)
    descriptor = next(body for body in pdf_objects(pdf).values() if b"/FontFile2" in body)
    assert re.search(rb"/FontName /[A-Z]{6}\+\w+", descriptor)  # a subset, embedded
    fonts_used = b"".join(page_contents(pdf))
    assert re.search(rb"/F\d+\+0 6 Tf", fonts_used)  # the product's name is set in its subset at 6 pt


def test_the_page_margins_name_the_batch_range_and_page(config):
    pdf = sheets.render_sheet(config=config, batch=batch(product="Rice cereal"), first=1, last=66)
    first, second = page_contents(pdf)
    # ASCII keeps its own bytes in the embedded font's subset; the Chinese words are other bytes.
    assert re.search(rb"\(Rice cereal [^)]* YS-MF-01 [^)]*k3m7d[^)]* 1\S+66\) Tj", first)
    assert b" 1 / 2 " in first and b" 2 / 2 " in second  # 第 1 / 2 页
    assert first.count(b"(Rice cereal) Tj") == 65 and second.count(b"(Rice cereal) Tj") == 1
    assert b"(No. 65) Tj" in first and b"(No. 66) Tj" in second


def test_a_range_outside_the_batch_or_too_long_is_refused(config):
    for first, last in ((0, 5), (5, 4), (1, 10_001), (1, sheets.SHEET_MAX_LABELS + 1)):
        with pytest.raises(ValueError):
            sheets.render_sheet(config=config, batch=batch(quantity=10_000), first=first, last=last)


def test_a_long_name_is_cut_with_an_ellipsis_within_the_label():
    font = sheets.label_font()
    lines = sheets._lines("英氏" * 40, font, sheets.NAME_SIZE, 50, most=3)
    assert len(lines) == 3 and lines[-1].endswith("…")
    assert all(sheets.pdfmetrics.stringWidth(line, font, sheets.NAME_SIZE) <= 50 for line in lines)


# ---- the QR's mask ----------------------------------------------------------------------------

_RUN = re.compile(r"0{5,}|1{5,}")


def reference_penalty(rows: list[str]) -> int:
    """ISO/IEC 18004 §7.8.3.1 counted the plain way, module by module."""
    size = len(rows)
    lines = rows + ["".join(column) for column in zip(*rows, strict=True)]
    score = sum(len(run) - 2 for line in lines for run in _RUN.findall(line))
    score += 40 * sum(len(re.findall(r"(?=00001011101|10111010000)", f"0000{line}0000")) for line in lines)
    score += 3 * sum(1 for i in range(size - 1) for j in range(size - 1)
                     if rows[i][j] == rows[i][j + 1] == rows[i + 1][j] == rows[i + 1][j + 1])
    dark = sum(row.count("1") for row in rows) * 100 / size**2
    return score + 10 * int(abs(dark - 50) // 5)


@pytest.mark.parametrize("base", [BASE, "https://scrm.yingshi.example.com.cn/brand-deployment/of/a/long/name"])
def test_the_qr_is_segnos_symbol_with_the_mask_of_least_penalty(config, base):
    codec = ProductCodec.from_config(config)
    for _, code in codec.codes("k3m7d", 1, 12):
        url = code_url(base, code)
        symbols = [["".join(map(str, row)) for row in segno.make_qr(url, error="m", mask=mask).matrix]
                   for mask in range(8)]
        penalties = [reference_penalty(rows) for rows in symbols]
        ours = [format(row, f"0{len(symbols[0])}b") for row in label_qr.label_matrix(url)]
        assert ours in [rows for rows, p in zip(symbols, penalties, strict=True) if p == min(penalties)]
