"""Product codes by the thousand: the fast path of ProductCodec.codes() (scrm/products/codes.py)
for a CSV export of millions (SPEC §14), giving exactly the codes :meth:`ProductCodec.encode` gives.

A code costs five keyed BLAKE2b digests (four Feistel rounds and the MAC), and done one at a
time in Python the digests are the smaller part of the cost. Here Python does per code only
what cannot be done otherwise, and everything else on a whole block at once, in C:

- **Feistel rounds.** A round's function maps a 20-bit half to 20 bits, so for a range of
  TABLE_FROM codes or more each round is tabulated once (2^20 digests, 4 MiB per round) and a
  code's four rounds are four array lookups; a smaller range computes its rounds per code.
- **MAC.** One BLAKE2b per code, whose state already holds the batch prefix (the same digest as
  over prefix + serial part, as BLAKE2b is a stream).
- **Base 32.** The enciphered serials and the MACs of a block are spread into one byte per
  5 bits by a few masks and shifts of one big integer (every code at once), then mapped to the
  alphabet with ``bytes.translate``; the codes are laid end to end by strided slice copies.

Memory stays flat: a block at a time, and the tables (16 MiB) for a large range.
"""

from __future__ import annotations

import array
import functools
import sys
from collections.abc import Iterator
from struct import iter_unpack
from typing import Any

HALF_BITS = 20
HALF_MASK = (1 << HALF_BITS) - 1
PREFIX_CHARS, SERIAL_CHARS, MAC_CHARS = 5, 8, 8
CODE_CHARS = PREFIX_CHARS + SERIAL_CHARS + MAC_CHARS
# From this many codes the round functions are tabulated: 4 × 2^20 digests, fewer than the
# 4 × n of computing each code's rounds.
TABLE_FROM = 1 << HALF_BITS
_TABLE_PIECE = 1 << 16  # inputs digested between two writes into a table (keeps the digests' list small)
_LITTLE = sys.byteorder == "little"
_ALPHABET = b"abcdefghijklmnopqrstuvwxyz234567"
_TO_ALPHABET = bytes.maketrans(bytes(range(32)), _ALPHABET)


def blocks(*, rounds: tuple[Any, ...], mac_state: Any, prefix: str, first: int, last: int,  # noqa: ANN401
           size: int) -> Iterator[tuple[int, bytes]]:
    """``(first serial, codes end to end)`` for serials ``first``…``last``, ``size`` a block.
    ``rounds``: the batch's keyed Feistel round states; ``mac_state``: the keyed MAC state."""
    tables = _tables(rounds) if last - first + 1 >= TABLE_FROM else None
    prefixed = mac_state.copy()
    prefixed.update(prefix.encode())
    template = prefix.encode() + bytes(SERIAL_CHARS + MAC_CHARS)
    for start in range(first, last + 1, size):
        end = min(start + size, last + 1)
        lanes = _enciphered_tables(tables, start, end) if tables else _enciphered(rounds, start, end)
        serials = _base32(lanes, end - start)
        macs = _base32(_macs(prefixed, serials), end - start)
        yield start, _interleaved(template, serials, macs, end - start)


def _enciphered_tables(tables: tuple[array.array, ...], start: int, end: int) -> int:
    """The enciphered serials as one integer of 64-bit lanes, the first serial's the highest:
    each lane is ``left << 32 | right``, the Feistel network's two 20-bit halves."""
    t1, t2, t3, t4 = tables
    values = []
    append = values.append
    for serial in range(start, end):
        left, right = serial >> HALF_BITS, serial & HALF_MASK
        left ^= t1[right]
        right ^= t2[left]
        left ^= t3[right]
        right ^= t4[left]
        append(left << 32 | right)
    return _lanes_int(values)


def _enciphered(rounds: tuple[Any, ...], start: int, end: int) -> int:
    """As :func:`_enciphered_tables`, each round's digest computed per code."""
    c1, c2, c3, c4 = (state.copy for state in rounds)
    values = []
    append = values.append
    for serial in range(start, end):
        left, right = serial >> HALF_BITS, serial & HALF_MASK
        m = c1()
        m.update(right.to_bytes(3))
        left ^= int.from_bytes(m.digest()) & HALF_MASK
        m = c2()
        m.update(left.to_bytes(3))
        right ^= int.from_bytes(m.digest()) & HALF_MASK
        m = c3()
        m.update(right.to_bytes(3))
        left ^= int.from_bytes(m.digest()) & HALF_MASK
        m = c4()
        m.update(left.to_bytes(3))
        right ^= int.from_bytes(m.digest()) & HALF_MASK
        append(left << 32 | right)
    return _lanes_int(values)


def _lanes_int(values: list[int]) -> int:
    lanes = array.array("Q", values)
    if _LITTLE:
        lanes.byteswap()
    return int.from_bytes(lanes, "big")


def _macs(prefixed: Any, serials: bytes) -> int:  # noqa: ANN401
    """The 40-bit MAC of each code (prefix + its 8 serial characters) as 64-bit lanes of one
    integer, each ``upper 20 bits << 32 | lower 20 bits``."""
    copy = prefixed.copy
    digests = []
    append = digests.append
    for (chars,) in iter_unpack("8s", serials):
        m = copy()
        m.update(chars)
        append(m.digest())
    n = len(digests)
    lanes = int.from_bytes(b"\0\0\0".join(digests), "big")  # 3 zero bytes before each digest but the first
    return (lanes & _repeated(0x00000000000FFFFF, n)) | (lanes & _repeated(0x000000FFFFF00000, n)) << 12


def _base32(lanes: int, n: int) -> bytes:
    """``n`` 64-bit lanes of ``left << 32 | right`` (20 bits each) as 8 base-32 characters each:
    the 10-bit quarters go to 16-bit lanes, their 5-bit halves to bytes, bytes to letters."""
    lanes = (lanes & _repeated(0x000003FF000003FF, n)) | (lanes & _repeated(0x000FFC00000FFC00, n)) << 6
    lanes = (lanes & _repeated(0x001F001F001F001F, n)) | (lanes & _repeated(0x03E003E003E003E0, n)) << 3
    return lanes.to_bytes(8 * n, "big").translate(_TO_ALPHABET)


def _interleaved(template: bytes, serials: bytes, macs: bytes, n: int) -> bytes:
    """Codes end to end: the prefix, the 8 serial characters, the 8 MAC characters."""
    out = bytearray(template * n)
    for j in range(SERIAL_CHARS):
        out[PREFIX_CHARS + j::CODE_CHARS] = serials[j::SERIAL_CHARS]
    for j in range(MAC_CHARS):
        out[PREFIX_CHARS + SERIAL_CHARS + j::CODE_CHARS] = macs[j::MAC_CHARS]
    return bytes(out)


@functools.lru_cache(maxsize=32)
def _repeated(pattern: int, n: int) -> int:
    """``pattern`` in each of ``n`` 64-bit lanes."""
    return int.from_bytes(pattern.to_bytes(8, "big") * n, "big")


def _tables(rounds: tuple[Any, ...]) -> tuple[array.array, ...]:
    """Each round's function over every 20-bit half: ``table[h]`` = the round's digest of
    ``h.to_bytes(3)``, its low 20 bits."""
    tables = []
    for state in rounds:
        copy = state.copy
        table = array.array("I", bytes(4 << HALF_BITS))
        for piece in range(0, 1 << HALF_BITS, _TABLE_PIECE):
            inputs = array.array("I", range(piece, piece + _TABLE_PIECE))  # big-endian below: 0, then to_bytes(3)
            if _LITTLE:
                inputs.byteswap()
            digests = []
            append = digests.append
            for (half,) in iter_unpack("x3s", inputs):
                m = copy()
                m.update(half)
                append(m.digest())
            lanes = int.from_bytes(b"\0" + b"\0".join(digests), "big") & _repeated(0x000FFFFF000FFFFF, _TABLE_PIECE // 2)
            values = array.array("I", lanes.to_bytes(4 * _TABLE_PIECE, "big"))
            if _LITTLE:
                values.byteswap()
            table[piece:piece + _TABLE_PIECE] = values
        tables.append(table)
    return tuple(tables)
