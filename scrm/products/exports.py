"""A batch's codes as CSV (codes.csv, SPEC §14): ``serial,code,url``, one row per serial, for
the printer who puts one code on each package.

Nothing is read from the database: the codes are computed from the batch's prefix
(scrm/products/codes.py), a block of about a thousand at a time, so a batch of 100,000,000
streams in flat memory. The rows of a block are laid out the way the codes are
(scrm/products/code_blocks.py): every row of a block has the same width (blocks are split
where the serial gains a digit), so each column is one strided copy instead of a string
formatted per row.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from scrm.products.codes import CODE_CHARS, ProductCodec, code_url

if TYPE_CHECKING:
    from scrm.config import Config

HEADER = "serial,code,url\n"
_NEEDS_QUOTES = (",", '"', "\r", "\n")


def csv_chunks(*, config: Config, batch: Any, first: int = 1, last: int | None = None) -> Iterator[str]:  # noqa: ANN401
    """The header, then serials ``first``…``last`` (default: the batch's last) as CSV rows,
    in chunks of about a thousand rows (codes.BLOCK_CODES). ``batch``: anything with ``prefix`` and ``quantity``
    (a CodeBatch, a BatchRef), read now, so the caller's transaction may end before the rows
    are made. A range outside 1…quantity is a ValueError."""
    last = batch.quantity if last is None else last
    if not 1 <= first <= last <= batch.quantity:
        raise ValueError(f"serials from 1 to {batch.quantity}, from ≤ to")
    codec = ProductCodec.from_config(config)
    blocks = codec.code_blocks(batch.prefix, first, last)
    return _rows(blocks, url_stem=code_url(config.server.public_base_url, ""))


def _rows(blocks: Iterator[tuple[int, bytes]], *, url_stem: str) -> Iterator[str]:
    yield HEADER
    # The url column: <stem><code>, quoted (RFC 4180) only if the configured URL needs it.
    if any(char in url_stem for char in _NEEDS_QUOTES):
        before_code, after_code = ',"' + url_stem.replace('"', '""'), '"\n'
    else:
        before_code, after_code = "," + url_stem, "\n"
    middle, end = before_code.encode(), after_code.encode()
    for start, codes in blocks:
        n = len(codes) // CODE_CHARS
        pieces = []
        for lo, hi in _same_width(start, start + n):
            offset = (lo - start) * CODE_CHARS
            pieces.append(_rows_of(lo, hi, codes[offset:offset + (hi - lo) * CODE_CHARS], middle, end))
        yield b"".join(pieces).decode()


def _same_width(start: int, end: int) -> Iterator[tuple[int, int]]:
    """``start``…``end`` (exclusive) split where the serial gains a digit (999 | 1000)."""
    while start < end:
        cut = min(end, 10 ** len(str(start)))
        yield start, cut
        start = cut


def _rows_of(lo: int, hi: int, codes: bytes, middle: bytes, end: bytes) -> bytes:
    """Rows ``serial,code<middle>code<end>`` for serials lo…hi-1, all of one width."""
    n, digits = hi - lo, len(str(lo))
    serials = "".join(map(str, range(lo, hi))).encode()
    code_at = digits + 1
    url_code_at = code_at + CODE_CHARS + len(middle)
    template = bytes(digits) + b"," + bytes(CODE_CHARS) + middle + bytes(CODE_CHARS) + end
    width = len(template)
    out = bytearray(template * n)
    for j in range(digits):
        out[j::width] = serials[j::digits]
    for j in range(CODE_CHARS):
        column = codes[j::CODE_CHARS]
        out[code_at + j::width] = column
        out[url_code_at + j::width] = column
    return bytes(out)

