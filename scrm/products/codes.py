"""The product code codec (一物一码, SPEC §14): 21 characters, checked without a lookup.

A code is ``<prefix><serial><mac>``, all in lower-case base 32 (``a-z2-7``, no 0/1/8/9 to
misread), e.g. ``k3m9dq2hx7tbw4nrea5yc``:

- ``prefix`` (5): the batch's random prefix (CodeBatch.prefix);
- ``serial`` (8): the serial (1…quantity) enciphered with a 4-round Feistel network over
  40 bits, keyed per batch: consecutive labels carry unrelated-looking codes, and a code says
  nothing about how many were printed (SPEC §12);
- ``mac`` (8): 40 bits of keyed BLAKE2b over the first 13 characters. A code typed in,
  edited or made up is refused before any table is read (one in 10^12 passes by chance).

Upper case is read as lower case (some scanners and people shout). The key is
``products.code_key``, else one derived from ``security.secret_key``: printed codes depend on
it for as long as the packages are on shelves.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
from collections.abc import Iterator
from dataclasses import dataclass

from scrm.products import code_blocks

PREFIX_CHARS = 5
SERIAL_CHARS = 8
MAC_CHARS = 8
CODE_CHARS = PREFIX_CHARS + SERIAL_CHARS + MAC_CHARS
MAX_SERIAL = 2**40 - 1
_HALF_BITS = 20
_HALF_MASK = (1 << _HALF_BITS) - 1
_ROUNDS = 4
_SHAPE = re.compile(r"[a-z2-7]{%d}" % CODE_CHARS)
BLOCK_CODES = 1000  # codes in one block of code_blocks(): about 21 KB
PREFIX_SHAPE = re.compile(r"[a-z2-7]{%d}" % PREFIX_CHARS)


@dataclass(frozen=True)
class ProductCode:
    """A code whose MAC checks: the batch prefix and the serial it carries."""

    prefix: str
    serial: int


class ProductCodec:
    def __init__(self, key: str) -> None:
        master = hashlib.sha256(key.encode()).digest()
        self._mac_state = hashlib.blake2b(key=master, digest_size=5, person=b"scrm-mac")
        self._master = master

    @classmethod
    def from_config(cls, config) -> ProductCodec:  # noqa: ANN001
        """``products.code_key``, else a key derived from ``security.secret_key``."""
        if config.products.code_key:
            return cls(config.products.code_key)
        return cls(hmac.new(config.secret_key.encode(), b"scrm product codes", hashlib.sha256).hexdigest())

    def encode(self, prefix: str, serial: int) -> str:
        if not PREFIX_SHAPE.fullmatch(prefix):
            raise ValueError(f"a batch prefix is {PREFIX_CHARS} characters of a-z2-7")
        if not 1 <= serial <= MAX_SERIAL:
            raise ValueError("serial out of range")
        body = prefix + _b32(self._encipher(prefix, serial))
        return body + self._mac(body)

    def codes(self, prefix: str, first: int, last: int) -> Iterator[tuple[int, str]]:
        """``(serial, code)`` for serials ``first``…``last``, one at a time (memory stays flat)."""
        for start, block in self.code_blocks(prefix, first, last):
            text = block.decode()
            for i in range(len(text) // CODE_CHARS):
                yield start + i, text[i * CODE_CHARS:(i + 1) * CODE_CHARS]

    def code_blocks(self, prefix: str, first: int, last: int, *, size: int = BLOCK_CODES) -> Iterator[tuple[int, bytes]]:
        """The codes of serials ``first``…``last`` a block at a time: ``(first serial of the
        block, its codes end to end)``, at most ``size`` codes of CODE_CHARS ASCII bytes each.

        The same codes as :meth:`encode`, made several times faster for the millions a CSV
        export streams (scrm/products/code_blocks.py says how); memory stays flat.
        """
        if not PREFIX_SHAPE.fullmatch(prefix) or not 1 <= first or last > MAX_SERIAL or size < 1:
            raise ValueError("bad prefix or serial range")
        yield from code_blocks.blocks(rounds=self._rounds(prefix), mac_state=self._mac_state, prefix=prefix,
                                      first=first, last=last, size=size)

    def decode(self, code: str | None) -> ProductCode | None:
        """The prefix and serial of a genuine code; ``None`` for anything else. No I/O."""
        if not isinstance(code, str) or len(code) != CODE_CHARS:
            return None
        code = code.lower()
        if not _SHAPE.fullmatch(code):
            return None
        body, mac = code[:-MAC_CHARS], code[-MAC_CHARS:]
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        prefix = body[:PREFIX_CHARS]
        serial = self._decipher(prefix, int.from_bytes(base64.b32decode(body[PREFIX_CHARS:].upper())))
        return ProductCode(prefix, serial) if serial >= 1 else None

    def _mac(self, body: str) -> str:
        mac = self._mac_state.copy()
        mac.update(body.encode())
        return _b32(int.from_bytes(mac.digest()))

    def _rounds(self, prefix: str) -> tuple:  # noqa: ANN001
        return _round_states(self._master, prefix)

    def _encipher(self, prefix: str, serial: int) -> int:
        return _feistel(self._rounds(prefix), serial)

    def _decipher(self, prefix: str, value: int) -> int:
        rounds = self._rounds(prefix)
        left, right = value >> _HALF_BITS, value & _HALF_MASK
        for state in reversed(rounds):
            left, right = right ^ _round(state, left), left
        return (left << _HALF_BITS) | right


@functools.lru_cache(maxsize=4096)
def _round_states(master: bytes, prefix: str) -> tuple:
    """One keyed BLAKE2b state per Feistel round of the batch, copied for each use (keying a
    BLAKE2b costs a block; copying a keyed state does not)."""
    return tuple(hashlib.blake2b(key=master, digest_size=3, person=b"scrm-fst", salt=f"{prefix}{i}".encode().ljust(16, b"."))
                 for i in range(_ROUNDS))


def _round(state, half: int) -> int:  # noqa: ANN001
    mixed = state.copy()
    mixed.update(half.to_bytes(3))
    return int.from_bytes(mixed.digest()) & _HALF_MASK


def _feistel(rounds: tuple, value: int) -> int:
    left, right = value >> _HALF_BITS, value & _HALF_MASK
    for state in rounds:
        left, right = right, left ^ _round(state, right)
    return (left << _HALF_BITS) | right


def _b32(value: int) -> str:
    """40 bits as 8 lower-case base-32 characters."""
    return base64.b32encode(value.to_bytes(5)).decode().lower()


def code_url(public_base_url: str, code: str) -> str:
    """Where a code's QR points: the claim page."""
    return f"{public_base_url.rstrip('/')}/p/{code}"
