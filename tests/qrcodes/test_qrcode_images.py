"""QR cards and poster sheets: the printed code decodes to what was asked, the names are drawn.

The codes are read back module by module from the pixels (no QR decoder needed): the top-left
finder pattern gives the module size, the top row's extent gives the symbol's width.
"""

from __future__ import annotations

import io
import logging
import re

import pytest
import segno
from PIL import Image, ImageFont

from qrcodes import fonts
from qrcodes.poster import (
    COLUMNS, GUTTER, HEADING_HEIGHT, MARGIN, PAGE_HEIGHT, PAGE_WIDTH, render_sheet,
)
from qrcodes.render import CARD_WIDTH, QUIET_ZONE, CodeCard, render_card, render_card_png, shorten

MP_URL = "http://weixin.qq.com/q/02Pz7kQ3xYcJe10000M07v"
WORK_URL = "https://work.weixin.qq.com/ca/cawcde4c1f0a6d5e2b7c9"


def mp_card(title: str = "王小美", content: str = MP_URL) -> CodeCard:
    return CodeCard(title=title, subtitle="上海静安店", caption="微信扫码关注", content=content)


def segno_png(content: str, **save_args) -> bytes:
    buffer = io.BytesIO()
    segno.make_qr(content, error="h").save(buffer, kind="png", **save_args)
    return buffer.getvalue()


def expected(content: str, error: str = "m") -> list[list[int]]:
    return [list(row) for row in segno.make_qr(content, error=error).matrix]


def find_code(image: Image.Image) -> tuple[int, int, int, float]:
    """``(left, top, modules, module_px)`` of the topmost QR code in ``image``."""
    gray = image.convert("L")
    px = gray.load()
    top = next(y for y in range(gray.height) if any(px[x, y] < 128 for x in range(gray.width)))
    dark = [x for x in range(gray.width) if px[x, top] < 128]
    left, right = dark[0], dark[-1]
    finder_edge = next(x for x in range(left, gray.width) if px[x, top] >= 128) - left
    modules = round((right - left + 1) / (finder_edge / 7))  # a finder pattern is 7 modules
    return left, top, modules, (right - left + 1) / modules


def read_matrix(image: Image.Image) -> list[list[int]]:
    """The topmost code's modules, sampled at each module's centre (1 = dark)."""
    left, top, modules, size = find_code(image)
    px = image.convert("L").load()
    centres = [(k + 0.5) * size for k in range(modules)]
    return [[int(px[int(left + x), int(top + y)] < 128) for x in centres] for y in centres]


def below_code(image: Image.Image) -> Image.Image:
    """The card from the end of the code's quiet zone down: where the text is."""
    left, top, modules, size = find_code(image)
    return image.crop((0, int(top + (modules + QUIET_ZONE) * size), image.width, image.height))


def test_card_png_is_a_printable_png_of_the_card_size():
    data = render_card_png(mp_card())
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(data))
    assert image.size == (CARD_WIDTH, CARD_WIDTH * 4 // 3) == (600, 800)
    assert round(image.info["dpi"][0]) == 150
    assert image.convert("RGB").getpixel((0, 0)) == (255, 255, 255)


def test_card_code_encodes_the_content_with_error_correction_m():
    image = render_card(mp_card())
    assert read_matrix(image) == expected(MP_URL)
    assert read_matrix(image) != expected(MP_URL, error="l")  # the level is part of the symbol


def test_card_code_is_crisp_with_whole_pixel_modules_and_a_white_quiet_zone():
    image = render_card(mp_card()).convert("L")
    left, top, modules, size = find_code(image)
    assert size == int(size) and size >= 8  # big enough to scan from a counter
    side = int(modules * size)
    code = image.crop((left, top, left + side, top + side))
    assert {value for _, value in code.getcolors()} == {0, 255}  # nearest: no grey edges
    quiet = int(QUIET_ZONE * size)
    around = image.crop((left - quiet, top - quiet, left + side + quiet, top + side + quiet))
    dark_box = around.point(lambda v: 255 if v < 128 else 0).getbbox()
    assert dark_box == (quiet, quiet, quiet + side, quiet + side)  # nothing dark in the quiet zone


def test_short_content_still_makes_a_full_qr_code_not_a_micro_one():
    assert len(read_matrix(render_card(mp_card(content="GUIDE7")))) == 21  # version 1, not M2


def test_names_are_drawn_under_the_code_in_a_real_cjk_font():
    first, second = render_card(mp_card("王小美")), render_card(mp_card("李大伟"))
    text = below_code(first)
    assert text.convert("L").point(lambda v: 255 if v < 128 else 0).getbbox() is not None
    # Missing glyphs all draw the same box: two different names must differ.
    assert below_code(first).tobytes() != below_code(second).tobytes()


def test_cjk_font_is_found_on_this_machine_and_has_chinese_glyphs():
    assert fonts.cjk_font_file() is not None, "install fonts-wqy-microhei (make test does)"
    font = fonts.cjk_font(40)
    assert isinstance(font, ImageFont.FreeTypeFont)
    assert font.getmask("王").getbbox()
    assert fonts.draws_chinese(font)


def test_a_latin_only_font_is_not_taken_for_a_cjk_one():
    assert not fonts.draws_chinese(ImageFont.load_default(40))


def test_without_a_cjk_font_cards_render_with_the_default_font_and_one_warning(monkeypatch, caplog):
    monkeypatch.setattr(fonts, "KNOWN_PATHS", ())
    monkeypatch.setattr(fonts, "_fontconfig_candidates", lambda: iter(()))
    fonts.cjk_font_file.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="qrcodes.fonts"):
            assert fonts.cjk_font_file() is None
            image = render_card(mp_card())
            render_card(mp_card("李大伟"))
        assert read_matrix(image) == expected(MP_URL)
        warnings = [record.getMessage() for record in caplog.records]
        assert len(warnings) == 1 and "fonts-wqy-microhei" in warnings[0]  # once per process
    finally:
        fonts.cjk_font_file.cache_clear()


def test_long_names_are_shortened_with_an_ellipsis_to_fit():
    font = fonts.cjk_font(45)
    name = "欧阳" + "娜" * 40
    short = shorten(name, font, 500)
    assert short.endswith("…") and short.startswith("欧阳娜") and font.getlength(short) <= 500
    assert shorten("王小美", font, 500) == "王小美"
    image = render_card(mp_card(name)).convert("L")
    text = below_code(image).point(lambda v: 255 if v < 128 else 0).getbbox()
    assert text[0] > 20 and text[2] < image.width - 20  # inside the card's margins


def test_image_card_places_the_given_code_scaled():
    data = segno_png(WORK_URL, scale=3, border=4)
    card = CodeCard(title="王小美", subtitle="上海静安店", caption="企业微信扫码添加", image=data)
    image = render_card(card)
    assert read_matrix(image) == expected(WORK_URL, error="h")
    left, top, modules, size = find_code(image)
    assert size > 3 and size == int(size)  # grown by a whole factor


def transparent_png(content: str, scale: int) -> bytes:
    """Dark modules opaque black, the rest transparent *black*: dropping alpha would blacken it."""
    rows = expected(content, error="h")
    modules = len(rows) + 2 * QUIET_ZONE
    image = Image.new("RGBA", (modules, modules), (0, 0, 0, 0))
    for i, row in enumerate(rows):
        for j, dark in enumerate(row):
            if dark:
                image.putpixel((j + QUIET_ZONE, i + QUIET_ZONE), (0, 0, 0, 255))
    buffer = io.BytesIO()
    image.resize((modules * scale,) * 2, Image.Resampling.NEAREST).save(buffer, "PNG")
    return buffer.getvalue()


def test_image_card_shrinks_a_large_image_and_flattens_transparency():
    data = transparent_png(WORK_URL, scale=25)
    assert Image.open(io.BytesIO(data)).width > CARD_WIDTH
    card = CodeCard(title="王小美", subtitle="上海静安店", caption="企业微信扫码添加", image=data)
    image = render_card(card)
    assert image.size == (600, 800)
    assert read_matrix(image) == expected(WORK_URL, error="h")


def test_a_card_needs_exactly_one_of_content_or_image():
    with pytest.raises(ValueError):
        CodeCard(title="王小美", subtitle="上海静安店", caption="扫码",
                 content=MP_URL, image=segno_png(MP_URL))
    with pytest.raises(ValueError):
        CodeCard(title="王小美", subtitle="上海静安店", caption="扫码")
    with pytest.raises(ValueError):
        CodeCard(title="王小美", subtitle="上海静安店", caption="扫码", content="")


def test_an_unreadable_image_is_a_value_error():
    card = CodeCard(title="王小美", subtitle="上海静安店", caption="扫码", image=b"<html>error</html>")
    with pytest.raises(ValueError, match="PNG/JPEG"):
        render_card(card)


def cards(count: int) -> list[CodeCard]:
    return [mp_card(f"导购{i}", content=f"{MP_URL}{i:03d}") for i in range(count)]


def test_sheet_pdf_has_one_a4_page_per_six_cards():
    for count, pages in ((1, 1), (6, 1), (7, 2), (13, 3)):
        pdf = render_sheet(cards(count), title="上海静安店 导购二维码", fmt="pdf")
        assert pdf.startswith(b"%PDF")
        assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == pages
        assert re.search(rb"/MediaBox\s*\[\s*0 0 595\.\d+ 841\.\d+\s*\]", pdf)  # A4 in points


def test_sheet_png_stacks_the_pages_and_each_cell_holds_its_card():
    one = Image.open(io.BytesIO(render_sheet(cards(6), title="上海静安店", fmt="png")))
    sheet = Image.open(io.BytesIO(render_sheet(cards(7), title="上海静安店", fmt="png")))
    assert one.size == (PAGE_WIDTH, PAGE_HEIGHT)
    assert sheet.size == (PAGE_WIDTH, 2 * PAGE_HEIGHT)
    cell_width = (PAGE_WIDTH - 2 * MARGIN - (COLUMNS - 1) * GUTTER) // COLUMNS
    grid_top = MARGIN + HEADING_HEIGHT
    second = sheet.crop((MARGIN + cell_width + GUTTER, grid_top, PAGE_WIDTH - MARGIN, PAGE_HEIGHT))
    assert read_matrix(second) == expected(f"{MP_URL}001")
    seventh = sheet.crop((MARGIN, PAGE_HEIGHT + grid_top, MARGIN + cell_width, 2 * PAGE_HEIGHT))
    assert read_matrix(seventh) == expected(f"{MP_URL}006")
    heading = sheet.crop((MARGIN, 0, PAGE_WIDTH - MARGIN, grid_top)).convert("L")
    assert heading.getextrema()[0] < 128  # the title is drawn


def test_sheet_refuses_no_cards_and_unknown_formats():
    with pytest.raises(ValueError, match="no codes to print"):
        render_sheet([], title="上海静安店", fmt="pdf")
    with pytest.raises(ValueError):
        render_sheet(cards(1), title="上海静安店", fmt="svg")  # type: ignore[arg-type]
