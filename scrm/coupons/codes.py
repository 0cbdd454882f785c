"""Coupon codes: short enough to type, self-checking, signed.

A code is 12 characters of Crockford's base 32 (no I, L, O, U), shown in groups of four,
``7ZQ4-KD2M-9XHB``:

- the coupon's id, enciphered (a keyed Feistel permutation of the id's 4, 6, … characters),
  so that no code shows how many coupons came before it (SPEC §12);
- a 7-character MAC (35 bits of HMAC-SHA256 over those characters), so a made-up or edited
  code is refused without a database hit, and guessing one takes billions of tries;
- a Luhn mod 32 check character (python-stdnum), so a mistyped character or two swapped
  neighbours are caught before anything else is done.

Codes issued before the ids were enciphered carry the id in plain base 32 under a MAC of
another domain; they are still read (and redeemed), and none is issued any more.

Reading is forgiving where people are: case, spaces and dashes do not matter, and O/I/L are
read as 0/1/1, as Crockford intends.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from stdnum import luhn

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ID_MIN_CHARS = 4
MAC_CHARS = 7
MAX_CHARS = 20  # id up to 12 characters: far beyond any real coupon count
FEISTEL_ROUNDS = 4
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1", " ": None, "-": None})


class BadCode(ValueError):
    """A code that names no coupon of ours; ``why`` is ``typo`` (the check character does not
    match), ``shape`` (not a code at all) or ``forged`` (the MAC does not match)."""

    def __init__(self, why: str, message: str) -> None:
        super().__init__(message)
        self.why = why


@dataclass(frozen=True)
class CouponCode:
    coupon_id: int
    text: str  # the canonical 12+ characters, no dashes


def display(text: str) -> str:
    return "-".join(text[i:i + 4] for i in range(0, len(text), 4))


class CouponCodec:
    def __init__(self, key: str) -> None:
        self._key = key.encode()

    @classmethod
    def from_config(cls, config) -> CouponCodec:  # noqa: ANN001
        """``coupons.code_key``, else a key derived from ``security.secret_key``."""
        if config.coupons.code_key:
            return cls(config.coupons.code_key)
        return cls(hmac.new(config.secret_key.encode(), b"scrm coupon codes", hashlib.sha256).hexdigest())

    def encode(self, coupon_id: int) -> str:
        if coupon_id < 1:
            raise ValueError("coupon ids start at 1")
        width = ID_MIN_CHARS
        while coupon_id >= 32**width:
            width += 2  # an even number of characters: the permutation's halves are equal
        body = _base32(self._permute(coupon_id, width)).rjust(width, "0")
        body += self._mac(body, b"coupon-enciphered:")
        return body + luhn.calc_check_digit(body, alphabet=ALPHABET)

    def decode(self, typed: str) -> CouponCode:
        """The coupon a typed or scanned code names, or :class:`BadCode` saying why not."""
        text = (typed or "").upper().translate(_READ_AS)
        if not ID_MIN_CHARS + MAC_CHARS + 1 <= len(text) <= MAX_CHARS or any(c not in ALPHABET for c in text):
            raise BadCode("shape", "this is not a coupon code: 12 letters and digits, like 7ZQ4-KD2M-9XHB")
        if luhn.checksum(text, alphabet=ALPHABET) != 0:
            raise BadCode("typo", "this code has a typo: check each character against the coupon")
        body = text[:-1]
        id_part, mac = body[:-MAC_CHARS], body[-MAC_CHARS:]
        if len(id_part) % 2 == 0 and hmac.compare_digest(mac, self._mac(id_part, b"coupon-enciphered:")):
            coupon_id = self._permute(_from_base32(id_part), len(id_part), inverse=True)
        elif hmac.compare_digest(mac, self._mac(id_part, b"coupon:")):  # issued before ids were enciphered
            coupon_id = _from_base32(id_part)
        else:
            raise BadCode("forged", "this is not one of our coupon codes")
        if coupon_id < 1:
            raise BadCode("forged", "this is not one of our coupon codes")
        return CouponCode(coupon_id, text)

    def _mac(self, id_part: str, domain: bytes) -> str:
        digest = hmac.new(self._key, domain + id_part.encode(), hashlib.sha256).digest()
        number = int.from_bytes(digest[:5], "big") >> (40 - 5 * MAC_CHARS)
        return _base32(number).rjust(MAC_CHARS, "0")

    def _permute(self, number: int, width: int, *, inverse: bool = False) -> int:
        """A keyed permutation of the numbers of ``width`` base-32 characters (a balanced
        Feistel network, HMAC-SHA256 rounds): consecutive ids come out scattered."""
        half = 5 * width // 2
        mask = (1 << half) - 1
        left, right = number >> half, number & mask
        for step in (reversed(range(FEISTEL_ROUNDS)) if inverse else range(FEISTEL_ROUNDS)):
            if inverse:
                left, right = right ^ self._round(step, left, width, mask), left
            else:
                left, right = right, left ^ self._round(step, right, width, mask)
        return (left << half) | right

    def _round(self, step: int, value: int, width: int, mask: int) -> int:
        digest = hmac.new(self._key, f"coupon-round:{width}:{step}:{value}".encode(), hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big") & mask


def _base32(number: int) -> str:
    out = ""
    while True:
        number, digit = divmod(number, 32)
        out = ALPHABET[digit] + out
        if not number:
            return out


def _from_base32(text: str) -> int:
    number = 0
    for char in text:
        number = number * 32 + ALPHABET.index(char)
    return number
