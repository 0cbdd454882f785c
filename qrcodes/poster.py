"""A store's poster sheet: every guide's code card on A4 pages, for one print run.

The store manager prints the sheet, cuts along the light frames and hands each guide their
card, so the grid is fixed (2 x 3 per page), each card is framed, and pages are numbered:
a missing page is noticed before the cards are cut. Cards are rendered at the size the grid
has room for (never a scaled-down 600 px card) so codes keep whole-pixel modules.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Literal

from PIL import Image, ImageDraw

from qrcodes.fonts import cjk_font
from qrcodes.render import PRINT_DPI, WHITE, CodeCard, draw_centred, render_card, shorten

PAGE_WIDTH, PAGE_HEIGHT = 1240, 1754  # A4 (210 x 297 mm) at PRINT_DPI = 150
COLUMNS, ROWS = 2, 3
MARGIN = 60  # about 1 cm: inside what office printers can reach
HEADING_HEIGHT = 100
FOOTER_HEIGHT = 40
GUTTER = 24
FRAME_COLOUR = (200, 200, 200)  # cutting guide: visible on paper, not mistaken for the code
FOOTER_COLOUR = (120, 120, 120)


def render_sheet(
    cards: Sequence[CodeCard], *, title: str, fmt: Literal["pdf", "png"]
) -> bytes:
    """The cards on numbered A4 pages under ``title``: one PDF, or the pages stacked in one PNG.

    The PNG holds every page in memory at once (about 6.5 MB a page uncompressed), which is
    fine for a store's few dozen guides; the PDF is what to print.
    """
    if fmt not in ("pdf", "png"):
        raise ValueError(f"unknown sheet format {fmt!r}: 'pdf' or 'png'")
    if not cards:
        raise ValueError("no codes to print")
    per_page = COLUMNS * ROWS
    total = math.ceil(len(cards) / per_page)
    pages = [
        _page(cards[start : start + per_page], title=title, number=number, total=total)
        for number, start in enumerate(range(0, len(cards), per_page), start=1)
    ]
    return _pdf(pages, title=title) if fmt == "pdf" else _png(pages)


def _page(cards: Sequence[CodeCard], *, title: str, number: int, total: int) -> Image.Image:
    """One A4 page: the heading, up to COLUMNS x ROWS framed cards, the page number."""
    page = Image.new("RGB", (PAGE_WIDTH, PAGE_HEIGHT), WHITE)
    draw = ImageDraw.Draw(page)
    heading = cjk_font(48)
    line = shorten(title, heading, PAGE_WIDTH - 2 * MARGIN)
    draw_centred(draw, line, heading, y=MARGIN + 10, width=PAGE_WIDTH, fill=(0, 0, 0))

    grid_top = MARGIN + HEADING_HEIGHT
    cell_width = (PAGE_WIDTH - 2 * MARGIN - (COLUMNS - 1) * GUTTER) // COLUMNS
    grid_height = PAGE_HEIGHT - grid_top - FOOTER_HEIGHT - MARGIN
    cell_height = (grid_height - (ROWS - 1) * GUTTER) // ROWS
    card_width = min(cell_width, cell_height * 3 // 4)  # cards are 3:4
    for index, card in enumerate(cards):
        row, column = divmod(index, COLUMNS)
        image = render_card(card, width=card_width)
        x = MARGIN + column * (cell_width + GUTTER) + (cell_width - image.width) // 2
        y = grid_top + row * (cell_height + GUTTER) + (cell_height - image.height) // 2
        page.paste(image, (x, y))
        draw.rectangle((x - 1, y - 1, x + image.width, y + image.height), outline=FRAME_COLOUR)

    footer = cjk_font(24)
    draw_centred(
        draw, f"{number} / {total}", footer,
        y=PAGE_HEIGHT - MARGIN - FOOTER_HEIGHT + 8, width=PAGE_WIDTH, fill=FOOTER_COLOUR,
    )
    return page


def _pdf(pages: list[Image.Image], *, title: str) -> bytes:
    buffer = io.BytesIO()
    pages[0].save(
        buffer, "PDF", save_all=True, append_images=pages[1:], resolution=float(PRINT_DPI),
        title=title,
    )
    return buffer.getvalue()


def _png(pages: list[Image.Image]) -> bytes:
    sheet = Image.new("RGB", (PAGE_WIDTH, PAGE_HEIGHT * len(pages)), WHITE)
    for index, page in enumerate(pages):
        sheet.paste(page, (0, index * PAGE_HEIGHT))
    buffer = io.BytesIO()
    sheet.save(buffer, "PNG", dpi=(PRINT_DPI, PRINT_DPI))
    return buffer.getvalue()
