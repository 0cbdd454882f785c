"""Printable label sheets for a range of a batch's codes (sheet.pdf, SPEC §14).

The sheet is laid out for the most common A4 sheet of small labels: **65 labels of
38.1 × 21.2 mm, 5 across and 13 down** (Avery L7651 and its equivalents: 4.67 mm side margins,
10.7 mm top and bottom, 2.54 mm between columns, none between rows). Printed at actual size
(no "fit to page") on such a sheet each code lands on its own label; on plain paper the light
frame around each label is the line to cut along.

Each label carries the code's QR (the claim page's URL; segno's symbol, scrm/products/label_qr.py,
drawn as vector rectangles, one per run of dark modules in a row, so it stays sharp at any
printer resolution), the product's name (in an embedded CJK font), the serial and the code itself in
small type (to type in when a camera will not read the print). The top margin names the
batch, the product and the range; the bottom margin the page, "page N / M": a page missing
from a print run is noticed before the labels are stuck on.
"""

from __future__ import annotations

import functools
import io
import logging
import math
import re
from typing import TYPE_CHECKING, Any

from reportlab import rl_config
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.pdfgen.canvas import Canvas

from qrcodes import fonts
from scrm.products.codes import ProductCodec, code_url
from scrm.products.label_qr import label_matrix
from scrm.products.schemas import SHEET_MAX_LABELS

if TYPE_CHECKING:
    from scrm.config import Config

log = logging.getLogger(__name__)

COLUMNS, ROWS = 5, 13
LABELS_PER_PAGE = COLUMNS * ROWS
LABEL_WIDTH, LABEL_HEIGHT = 38.1 * mm, 21.2 * mm
SIDE_MARGIN, TOP_MARGIN = 4.67 * mm, 10.7 * mm
COLUMN_PITCH, ROW_PITCH = 40.64 * mm, 21.2 * mm
PADDING = 1.2 * mm  # inside a label: the frame and the die-cut's tolerance
QR_SIZE = LABEL_HEIGHT - 2 * PADDING  # the QR's square, its quiet zone included
QUIET_MODULES = 2  # white modules around the QR (the label's own margin adds to it)
FRAME_GREY = 0.8  # the cutting frame: seen on paper, not taken for part of the code
TEXT_GREY = 0.35
FONT_NAME = "ScrmCJK"
CODE_FONT = "Courier"
NAME_SIZE, SMALL_SIZE, MARGIN_SIZE = 6.0, 5.0, 7.0
_DARK_RUN = re.compile("1+")


def render_sheet(*, config: Config, batch: Any, first: int, last: int) -> bytes:  # noqa: ANN401
    """An A4 PDF of labels for serials ``first``…``last`` of ``batch`` (a CodeBatch: ``id``,
    ``prefix``, ``product``, ``sku``, ``quantity``), LABELS_PER_PAGE a page. A range outside
    the batch, or of more than SHEET_MAX_LABELS, is a ValueError."""
    if not 1 <= first <= last <= batch.quantity or last - first + 1 > SHEET_MAX_LABELS:
        raise ValueError(f"serials from 1 to {batch.quantity}, from ≤ to, at most {SHEET_MAX_LABELS} labels")
    font = label_font()
    codec = ProductCodec.from_config(config)
    pages = math.ceil((last - first + 1) / LABELS_PER_PAGE)
    out = io.BytesIO()
    rl_config.useA85 = 0  # streams stay binary (Flate only): ASCII85 makes a PDF a quarter larger, for nothing
    canvas = Canvas(out, pagesize=A4, pageCompression=1)
    canvas.setTitle(f"{batch.product} {first}-{last}")
    canvas.setCreator("SCRM product codes")
    for index, (serial, code) in enumerate(codec.codes(batch.prefix, first, last)):
        page, place = divmod(index, LABELS_PER_PAGE)
        if place == 0:
            if page:
                canvas.showPage()
            _page_margins(canvas, font, batch, first, last, page + 1, pages)
        x, y = label_origin(place)
        _label(canvas, font, x, y, url=code_url(config.server.public_base_url, code), product=batch.product,
               serial=serial, code=code)
    canvas.showPage()
    canvas.save()
    return out.getvalue()


def label_origin(place: int) -> tuple[float, float]:
    """The lower left corner (points, from the page's lower left) of the ``place``-th label of
    a page, across then down."""
    row, column = divmod(place, COLUMNS)
    return SIDE_MARGIN + column * COLUMN_PITCH, A4[1] - TOP_MARGIN - (row + 1) * ROW_PITCH


@functools.cache
def label_font() -> str:
    """The name of a registered font that draws Chinese: the first installed TrueType CJK font
    (qrcodes/fonts.py finds them), embedded (subset) in every sheet; else reportlab's
    STSong-Light, which is not embedded and is drawn by the reader's own Chinese font."""
    for path, index in fonts.cjk_font_files():
        try:
            pdfmetrics.registerFont(TTFont(FONT_NAME, path, subfontIndex=index))
            return FONT_NAME
        except TTFError:  # CFF outlines (Noto CJK): reportlab embeds TrueType outlines only
            continue
    log.warning("no TrueType CJK font found (install fonts-wqy-microhei): label sheets name products in "
                "STSong-Light, which is not embedded")
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    return "STSong-Light"


def _page_margins(canvas: Canvas, font: str, batch: Any, first: int, last: int, page: int,  # noqa: ANN401
                  pages: int) -> None:
    width, height = A4
    canvas.setFillGray(TEXT_GREY)
    canvas.setFont(font, MARGIN_SIZE)
    heading = f"{batch.product} · {batch.sku} · 批次 {batch.id}（{batch.prefix}）· 序号 {first:,}–{last:,}"
    canvas.drawString(SIDE_MARGIN, height - TOP_MARGIN / 2 - MARGIN_SIZE / 3, _fit(heading, font, MARGIN_SIZE,
                                                                                   width - 2 * SIDE_MARGIN))
    footer_y = TOP_MARGIN / 2 - MARGIN_SIZE / 3
    canvas.drawString(SIDE_MARGIN, footer_y, "38.1 × 21.2 mm，5 × 13 枚/页（A4）：以实际大小打印，不要缩放")
    canvas.drawRightString(width - SIDE_MARGIN, footer_y, f"第 {page} / {pages} 页")


def _label(canvas: Canvas, font: str, x: float, y: float, *, url: str, product: str, serial: int,
           code: str) -> None:
    canvas.setStrokeGray(FRAME_GREY)
    canvas.setLineWidth(0.3)
    canvas.rect(x, y, LABEL_WIDTH, LABEL_HEIGHT, stroke=1, fill=0)
    _qr(canvas, url, x + PADDING, y + PADDING, QR_SIZE)
    text_x = x + PADDING + QR_SIZE + 0.6 * mm
    text_width = x + LABEL_WIDTH - PADDING - text_x
    top = y + LABEL_HEIGHT - PADDING - NAME_SIZE
    canvas.setFillGray(0)
    canvas.setFont(font, NAME_SIZE)
    for n, line in enumerate(_lines(product, font, NAME_SIZE, text_width, most=3)):
        canvas.drawString(text_x, top - n * (NAME_SIZE + 1), line)
    canvas.setFillGray(TEXT_GREY)
    canvas.setFont(font, SMALL_SIZE)
    canvas.drawString(text_x, y + PADDING + 2 * (SMALL_SIZE + 0.8) + 1, f"No. {serial}")
    canvas.setFont(CODE_FONT, SMALL_SIZE)
    half = len(code) // 2
    canvas.drawString(text_x, y + PADDING + SMALL_SIZE + 0.8, code[:half])
    canvas.drawString(text_x, y + PADDING, code[half:])


def _qr(canvas: Canvas, url: str, x: float, y: float, size: float) -> None:
    """The QR of ``url`` in the square at (x, y) of side ``size``, quiet zone included: drawn
    in module units (a translate and a scale), each run of dark modules in a row one
    rectangle, all filled at once."""
    rows = label_matrix(url)
    modules = len(rows)
    unit = size / (modules + 2 * QUIET_MODULES)
    canvas.saveState()
    canvas.translate(x + QUIET_MODULES * unit, y + QUIET_MODULES * unit)
    canvas.scale(unit, unit)
    canvas.setFillGray(0)
    rectangles = [f"{run.start()} {modules - 1 - row} {run.end() - run.start()} 1 re"
                  for row, bits in enumerate(rows) for run in _DARK_RUN.finditer(format(bits, f"0{modules}b"))]
    canvas.addLiteral("\n".join(rectangles) + "\nf")
    canvas.restoreState()


def _lines(text: str, font: str, size: float, width: float, *, most: int) -> list[str]:
    """``text`` broken into at most ``most`` lines of ``width`` (character by character: a
    Chinese name has no spaces), the last shortened with … when it does not fit."""
    lines: list[str] = []
    rest = text
    while rest and len(lines) < most:
        taken = 1
        while taken < len(rest) and pdfmetrics.stringWidth(rest[:taken + 1], font, size) <= width:
            taken += 1
        lines.append(rest[:taken])
        rest = rest[taken:]
    if rest:
        lines[-1] = _fit(lines[-1] + rest, font, size, width)
    return lines


def _fit(text: str, font: str, size: float, width: float) -> str:
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"
