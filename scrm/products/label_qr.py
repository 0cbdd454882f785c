"""The QR of a label: segno's symbol of the claim URL, its data mask chosen several times faster
than segno chooses it.

A QR encoder tries the 8 data masks and keeps the one whose symbol scores the lowest penalty
(ISO/IEC 18004 §7.8.3: long runs, 2 × 2 blocks, finder-like patterns, an uneven share of dark
modules), which keeps a printed code easy to read. segno scores module by module in Python,
5-15 ms a symbol: over a minute for the 5,000 labels of the largest sheet. Here segno makes the
symbol once (mask 0), the mask is taken off its data modules, and each candidate is scored
with a few dozen operations on one big integer that holds every row and column of the
symbol, 5 light modules apart (:func:`penalty`). The result is exactly
``segno.make_qr(url, error="m", mask=best).matrix`` (tests/products/test_sheets.py checks it).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import segno

ERROR = "m"  # 15 % of the symbol may be lost (segno raises it when the version has room to spare)
GAP = 5  # light modules below each line in the packed integer: runs and patterns stop there
_MASKS = (  # ISO/IEC 18004 Table 10: a data module (row i, column j) is flipped where this holds
    lambda i, j: (i + j) % 2 == 0,
    lambda i, j: i % 2 == 0,
    lambda i, j: j % 3 == 0,
    lambda i, j: (i + j) % 3 == 0,
    lambda i, j: (i // 2 + j // 3) % 2 == 0,
    lambda i, j: (i * j) % 2 + (i * j) % 3 == 0,
    lambda i, j: ((i * j) % 2 + (i * j) % 3) % 2 == 0,
    lambda i, j: ((i + j) % 2 + (i * j) % 3) % 2 == 0,
)
FINDER_LIKE = ("00001011101", "10111010000")  # 1:1:3:1:1 with 4 light modules before or after
_DIGITS = bytes.maketrans(b"\x00\x01", b"01")


def label_matrix(url: str) -> list[int]:
    """The symbol's rows, top first, each an integer whose highest of ``len(rows)`` bits is the
    leftmost module (1: dark). No quiet zone."""
    made = segno.make_qr(url, error=ERROR, mask=0)
    layout = _layout(made.version, made.error)
    data = _pack(_lines(made.matrix), layout.size) ^ layout.flips[0]
    candidates = [(data ^ flips) & layout.keep | formats for flips, formats in zip(layout.flips, layout.formats,
                                                                                  strict=True)]
    best = min(candidates, key=lambda packed: penalty(packed, layout))
    stride = layout.size + GAP
    top = 2 * layout.size - 1
    return [(best >> ((top - row) * stride + GAP)) & layout.full for row in range(layout.size)]


def penalty(packed: int, layout: _Layout) -> int:
    """ISO/IEC 18004 §7.8.3.1's score of a symbol (lower reads better), its rows and columns
    packed in one integer (:func:`_pack`): N1 = 3 for a run of 5 modules of one colour and 1
    more for each further module, in rows and columns; N2 = 3 for each 2 × 2 block of one
    colour; N3 = 40 for each 1:1:3:1:1 pattern with 4 light modules before or after it
    (outside the symbol is light); N4 = 10 for each 5 % the dark share is off 50 %."""
    dark, light = packed, packed ^ layout.lines
    score = 0
    stride = layout.size + GAP
    for colour in (dark, light):
        windows = colour & colour >> 1  # bit p: modules p…p+4 all of the colour
        windows &= windows >> 2
        windows &= colour >> 4
        score += windows.bit_count() + 2 * (windows & ~(windows >> 1)).bit_count()  # (L - 4) + 2 a run
        pairs = colour & colour >> 1
        score += 3 * (pairs & pairs >> stride & layout.row_pairs).bit_count()
    for pattern in FINDER_LIKE:
        found = -1
        for k, module in enumerate(reversed(pattern)):
            found &= (packed if module == "1" else ~packed) >> k
        score += 40 * found.bit_count()
    dark_share = packed.bit_count() * 50 / (layout.size * layout.size)  # each module is in a row and a column
    return score + 10 * int(abs(dark_share - 50) // 5)


@dataclass(frozen=True)
class _Layout:
    """What the candidates of a version and error level share, packed as the symbol is: per
    mask the data modules it flips and the format information it writes; the modules other
    than the format information (``keep``); every line's modules (``lines``); the rows that
    have a row above them (``row_pairs``)."""

    size: int
    full: int
    flips: list[int]
    formats: list[int]
    keep: int
    lines: int
    row_pairs: int


@functools.lru_cache(maxsize=16)
def _layout(version: int, error: str) -> _Layout:
    size = 17 + 4 * version
    function, format_modules = _function_modules(version, size), _format_modules(size)

    def packed(where) -> int:  # noqa: ANN001
        return _pack([_bits(size, (j for j in range(size) if where(i, j))) for i in range(size)], size)

    flips = [packed(lambda i, j, mask=mask: (i, j) not in function and mask(i, j)) for mask in _MASKS]
    formats = []
    for mask in range(len(_MASKS)):  # the format information depends on the error level and the mask only
        reference = segno.make_qr("", error=error, version=version, mask=mask, boost_error=False)
        formats.append(_pack(_lines(reference.matrix), size) & packed(lambda i, j: (i, j) in format_modules))
    full = (1 << size) - 1
    lines = _pack([full] * size, size)
    stride = size + GAP
    row_pairs = sum(full << ((2 * size - 1 - row) * stride + GAP) for row in range(1, size))  # rows 1…: one above
    return _Layout(size, full, flips, formats, lines ^ packed(lambda i, j: (i, j) in format_modules), lines, row_pairs)


def _function_modules(version: int, size: int) -> set[tuple[int, int]]:
    """(row, column) of every module that is not data: the finder patterns with their
    separators and the format information beside them, the timing patterns, the alignment
    patterns, the dark module, the version information (version 7 and up)."""
    modules = {(i, j) for i in range(9) for j in range(9)}  # top left
    modules |= {(i, j) for i in range(9) for j in range(size - 8, size)}  # top right
    modules |= {(i, j) for i in range(size - 8, size) for j in range(9)}  # bottom left, with the dark module
    modules |= {(6, j) for j in range(size)} | {(i, 6) for i in range(size)}  # timing
    centres = _alignment_centres(version, size)
    for ci in centres:
        for cj in centres:
            if (ci, cj) not in ((6, 6), (6, size - 7), (size - 7, 6)):  # those would sit on a finder
                modules |= {(ci + di, cj + dj) for di in range(-2, 3) for dj in range(-2, 3)}
    if version >= 7:
        modules |= {(i, j) for i in range(6) for j in range(size - 11, size - 8)}
        modules |= {(i, j) for i in range(size - 11, size - 8) for j in range(6)}
    return modules


def _format_modules(size: int) -> set[tuple[int, int]]:
    """The two copies of the 15 format bits: around the top-left finder, and split between the
    other two."""
    near = {(8, j) for j in (0, 1, 2, 3, 4, 5, 7, 8)} | {(i, 8) for i in (0, 1, 2, 3, 4, 5, 7)}
    split = {(8, j) for j in range(size - 8, size)} | {(i, 8) for i in range(size - 7, size)}
    return near | split


def _alignment_centres(version: int, size: int) -> list[int]:
    """The row (and column) centres of the alignment patterns, ISO/IEC 18004 Annex E (the
    formula of Nayuki's qrcodegen, which gives the table)."""
    if version == 1:
        return []
    count = version // 7 + 2
    step = (version * 8 + count * 3 + 5) // (count * 4 - 4) * 2
    return [6] + sorted(size - 7 - k * step for k in range(count - 1))


def _lines(matrix: tuple[bytearray, ...]) -> list[int]:
    """segno's matrix (rows of 0/1 bytes) as row integers."""
    return [int(bytes(row).translate(_DIGITS), 2) for row in matrix]


def _pack(rows: list[int], size: int) -> int:
    """The rows, then the columns, as one integer: row 0 in the highest bits, each line
    ``size`` bits above GAP zero bits."""
    texts = [format(row, f"0{size}b") for row in rows]
    value = 0
    for line in rows + [int("".join(column), 2) for column in zip(*texts, strict=True)]:
        value = value << (size + GAP) | line << GAP
    return value


def _bits(size: int, columns) -> int:  # noqa: ANN001
    """A row with the modules of ``columns`` dark (column 0 is the highest bit)."""
    return sum(1 << (size - 1 - j) for j in columns)
