"""A font that has Chinese glyphs, for guides' and stores' names under their QR codes.

Pillow's own font has no CJK glyphs: 王小美 would print as three empty boxes (豆腐块), which
is worse than no name at all on a poster hung in a store. So the font is looked up once per
process among the usual Linux (and macOS/Windows) install paths, then through fontconfig, and
each candidate is checked to really draw Chinese before it is used: fontconfig happily answers
``fc-match :lang=zh`` with DejaVu when no CJK font is installed.

``make demo`` and ``make test`` install ``fonts-wqy-microhei``. When nothing is found the
cards still render, with Pillow's default font and one logged warning.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator

from PIL import ImageFont

log = logging.getLogger(__name__)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

# Most likely first: the Debian packages the Makefile installs, then other common ones.
KNOWN_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/STHeiti Medium.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simhei.ttf",
)

_PROBE = "王"  # a common glyph in every Simplified Chinese font
_MISSING = "\U0010fffd"  # a private-use code point no font draws: its mask is the .notdef box


def cjk_font(size: int) -> Font:
    """A font of ``size`` px that draws Chinese, or Pillow's default when none is installed."""
    found = cjk_font_file()
    if found is None:
        return ImageFont.load_default(size)
    path, index = found
    return ImageFont.truetype(path, size, index=index)


@functools.cache
def cjk_font_file() -> tuple[str, int] | None:
    """``(path, face index)`` of the first font that draws Chinese; looked up once per process."""
    found = next(cjk_font_files(), None)
    if found is None:
        log.warning(
            "no CJK font found (install fonts-wqy-microhei): Chinese names on QR cards will be "
            "drawn with Pillow's default font and may print as boxes"
        )
    return found


def cjk_font_files() -> Iterator[tuple[str, int]]:
    """``(path, face index)`` of every installed font that draws Chinese, best first: a
    caller that cannot use the first (reportlab embeds TrueType outlines only, not a Noto CJK
    collection's CFF ones) takes the next."""
    # fontconfig is asked only when no known path has a usable font (it costs a subprocess).
    for path in itertools.chain(KNOWN_PATHS, _fontconfig_candidates()):
        if os.path.isfile(path):
            index = _simplified_face(path)
            if index is not None:
                yield path, index


def draws_chinese(font: Font) -> bool:
    """True when ``font`` has a real glyph for 王, not the missing-glyph box or nothing."""
    probe = font.getmask(_PROBE)
    if probe.getbbox() is None:
        return False
    missing = font.getmask(_MISSING)
    return probe.size != missing.size or bytes(probe) != bytes(missing)


def _simplified_face(path: str) -> int | None:
    """Index of the face in ``path`` to use, or None when no face draws Chinese.

    A Noto CJK collection holds JP, KR, SC, TC and HK faces, in an order that has changed
    between releases; the SC face is preferred (the shapes mainland customers expect).
    """
    usable: list[int] = []
    for index in range(8):  # collections hold at most a handful of faces
        try:
            font = ImageFont.truetype(path, 24, index=index)
        except OSError:
            break  # past the last face, or not a font file at all
        if draws_chinese(font):
            family = font.getname()[0] or ""
            if family.endswith(" SC"):
                return index
            usable.append(index)
    return usable[0] if usable else None


def _fontconfig_candidates() -> Iterator[str]:
    """Files fontconfig ranks best for Chinese, best first; none without fontconfig."""
    if shutil.which("fc-match") is None:
        return
    try:
        out = subprocess.run(
            ["fc-match", "--sort", "--format=%{file}\n", "sans-serif:lang=zh-cn"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return
    files = (line for line in out.splitlines() if line.endswith((".ttf", ".ttc", ".otf")))
    yield from dict.fromkeys(files)  # a collection is listed once per face
