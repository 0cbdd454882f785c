"""One printable card per QR code: the code, big and crisp, with who it belongs to under it.

A guide (导购) prints their card and stands it on the counter; customers scan it from a metre
away with a phone, often in poor light. So the code is drawn for scanners, not for looks:
black on white, a quiet zone of four modules, every module the same whole number of pixels
(nearest-neighbour scaling only, never a blur), error correction M so a crease or a
fingerprint does not kill it. The name under it is for people: the customer sees whose code
it is, the store manager sees whose card is missing from the stand.

Two sources of codes: an Official Account code (公众号带参二维码) is a URL WeChat returns and
is drawn here from ``content``; a WeCom contact-way code (联系我) comes from WeCom as an image
and is placed as ``image``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import segno
from PIL import Image, ImageDraw

from qrcodes.fonts import Font, cjk_font

CARD_WIDTH = 600  # px; the card is 3:4, so 600 x 800 (about 10 x 13.5 cm at PRINT_DPI)
PRINT_DPI = 150
QUIET_ZONE = 4  # modules of white around the code, as ISO/IEC 18004 asks
ELLIPSIS = "…"

WHITE = (255, 255, 255)
TITLE_COLOUR = (0, 0, 0)
SUBTITLE_COLOUR = (51, 51, 51)
CAPTION_COLOUR = (102, 102, 102)


@dataclass(frozen=True)
class CodeCard:
    """What one card shows. Exactly one of ``content`` (drawn as a QR code) or ``image``."""

    title: str  # the guide's name, 王小美 (or the store's name on a store code)
    subtitle: str  # the store's name, 上海静安店
    caption: str  # what to do, 微信扫码关注 / 企业微信扫码添加
    content: str | None = None  # text to encode, e.g. the MP code's URL
    image: bytes | None = None  # an existing code as PNG/JPEG bytes, e.g. WeCom's contact-way code

    def __post_init__(self) -> None:
        if (self.content is None) == (self.image is None):
            raise ValueError("a code card needs exactly one of content or image")
        if self.content == "" or self.image == b"":
            raise ValueError("a code card's content or image is empty")


def render_card_png(card: CodeCard) -> bytes:
    """The card as PNG bytes, tagged with PRINT_DPI so it prints at its intended size."""
    buffer = io.BytesIO()
    render_card(card).save(buffer, "PNG", dpi=(PRINT_DPI, PRINT_DPI))
    return buffer.getvalue()


def render_card(card: CodeCard, *, width: int = CARD_WIDTH) -> Image.Image:
    """The card as an RGB image ``width`` x ``width * 4/3``: the code, then three lines of text.

    The poster sheet asks for the width its grid has room for, rather than shrinking a 600 px
    card, so the code keeps whole-pixel modules and the text stays sharp.
    """
    if width < 200:
        raise ValueError(f"a code card narrower than 200 px is not scannable (got {width})")
    height = width * 4 // 3
    pad = round(width * 0.06)
    code, quiet = _code(card, box=width - 2 * pad)
    lines = [
        (card.title, round(width * 0.075), TITLE_COLOUR),
        (card.subtitle, round(width * 0.05), SUBTITLE_COLOUR),
        (card.caption, round(width * 0.042), CAPTION_COLOUR),
    ]
    # The text starts where the quiet zone ends, and code + text sit in the middle of the card.
    gap = max(quiet, round(width * 0.03))
    block = code.height + gap + sum(_line_height(size) for _, size, _ in lines)
    y = max(pad, quiet, (height - block) // 2)

    sheet = Image.new("RGB", (width, height), WHITE)
    sheet.paste(code, ((width - code.width) // 2, y))
    draw = ImageDraw.Draw(sheet)
    y += code.height + gap
    for text, size, colour in lines:
        font = cjk_font(size)
        line = shorten(text, font, width - 2 * pad)
        draw_centred(draw, line, font, y=y, width=width, fill=colour)
        y += _line_height(size)
    return sheet


def shorten(text: str, font: Font, max_width: float) -> str:
    """``text`` as drawn in ``font``, cut to ``max_width`` px with an ellipsis when too long."""
    text = " ".join(text.split())  # a name pasted with a newline or tabs prints on one line
    if font.getlength(text) <= max_width:
        return text
    for end in range(len(text) - 1, 0, -1):
        candidate = text[:end].rstrip() + ELLIPSIS
        if font.getlength(candidate) <= max_width:
            return candidate
    return ELLIPSIS


def draw_centred(
    draw: ImageDraw.ImageDraw, text: str, font: Font, *, y: int, width: int, fill: tuple[int, ...]
) -> None:
    """Draw one line centred across ``width`` (by hand: Pillow's bitmap font has no anchors)."""
    if text:
        draw.text(((width - font.getlength(text)) / 2, y), text, font=font, fill=fill)


def _line_height(font_size: int) -> int:
    return round(font_size * 1.35)


def _code(card: CodeCard, *, box: int) -> tuple[Image.Image, int]:
    """The card's code, fitting a ``box`` px square, and the px of white it needs around it."""
    if card.content is not None:
        return _code_from_content(card.content, box)
    return _code_from_image(card.image, box), 0  # WeCom's image carries its own quiet zone


def _code_from_content(content: str, box: int) -> tuple[Image.Image, int]:
    """``content`` as a QR code at the largest whole scale that leaves its quiet zone in ``box``."""
    # make_qr, not make: segno.make picks a Micro QR for short content, which WeChat cannot scan.
    matrix = segno.make_qr(content, error="m").matrix
    modules = len(matrix)
    scale = box // (modules + 2 * QUIET_ZONE)
    if scale < 1:
        raise ValueError(f"content too long to print as a QR code ({modules} modules)")
    code = Image.new("L", (modules, modules))
    code.putdata([0 if dark else 255 for row in matrix for dark in row])
    return code.resize((modules * scale,) * 2, Image.Resampling.NEAREST), QUIET_ZONE * scale


def _code_from_image(data: bytes, box: int) -> Image.Image:
    """A code image, on white, scaled nearest-neighbour to fit ``box``.

    Smaller images grow by a whole factor only, so each module stays the same width; larger
    ones shrink to fit (WeCom's codes carry their own quiet zone; the card's margin adds to it).
    """
    try:
        with Image.open(io.BytesIO(data)) as source:
            source.load()
            image = _on_white(source)
    except OSError as exc:  # includes UnidentifiedImageError and truncated files
        raise ValueError("the code image is not a readable PNG/JPEG") from exc
    side = max(image.size)
    if side <= box:
        factor = box // side
        size = (image.width * factor, image.height * factor)
    else:
        size = (max(1, image.width * box // side), max(1, image.height * box // side))
    return image if size == image.size else image.resize(size, Image.Resampling.NEAREST)


def _on_white(image: Image.Image) -> Image.Image:
    """``image`` as RGB, transparent parts white (without alpha they show as black, often)."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, WHITE)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")
