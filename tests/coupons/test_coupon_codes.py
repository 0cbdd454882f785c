"""Coupon codes: short, self-checking (a typo is caught before any lookup), signed (a forged
code is refused without a database hit), forgiving of how people type."""

from __future__ import annotations

import itertools
import random

import pytest

from scrm.coupons.codes import ALPHABET, BadCode, CouponCodec, display

KEY = "k" * 32


@pytest.fixture
def codec() -> CouponCodec:
    return CouponCodec(KEY)


@pytest.mark.parametrize("coupon_id", [1, 31, 32, 1_048_575, 1_048_576, 10**9])
def test_a_code_names_its_coupon_and_is_short(codec, coupon_id):
    text = codec.encode(coupon_id)
    assert codec.decode(text).coupon_id == coupon_id
    assert len(text) == 12 if coupon_id < 32**4 else 13 <= len(text) <= 14
    assert set(text) <= set(ALPHABET)


def test_first_million_codes_are_twelve_characters_in_three_groups(codec):
    text = codec.encode(999_999)
    assert len(text) == 12
    assert display(text).count("-") == 2


def test_case_spaces_dashes_and_look_alike_letters_are_read_as_meant(codec):
    text = codec.encode(4242)
    typed = " ".join(display(text).lower().split("-"))
    assert codec.decode(typed).coupon_id == 4242
    with_look_alikes = text.replace("0", "O").replace("1", "I")
    assert codec.decode(with_look_alikes).coupon_id == 4242


def test_every_single_character_typo_is_caught_by_the_check_character(codec):
    text = codec.encode(777)
    for position, char in itertools.product(range(len(text)), ALPHABET):
        if char == text[position]:
            continue
        typo = text[:position] + char + text[position + 1:]
        with pytest.raises(BadCode) as refused:
            codec.decode(typo)
        assert refused.value.why == "typo"


def test_swapped_neighbours_are_caught(codec):
    text = codec.encode(123_456)
    for position in range(len(text) - 1):
        swapped = text[:position] + text[position + 1] + text[position] + text[position + 2:]
        if swapped == text:
            continue
        with pytest.raises(BadCode) as refused:
            codec.decode(swapped)
        assert refused.value.why in ("typo", "forged")


def test_a_code_made_with_another_key_is_forged_even_with_a_good_check_character(codec):
    other = CouponCodec("another key, not ours").encode(777)
    with pytest.raises(BadCode) as refused:
        codec.decode(other)
    assert refused.value.why == "forged"


def test_guessing_codes_finds_none(codec):
    from stdnum import luhn

    rng = random.Random(7)
    hits = 0
    for _ in range(20_000):  # well-formed guesses with a correct check character
        body = "".join(rng.choice(ALPHABET) for _ in range(11))
        guess = body + luhn.calc_check_digit(body, alphabet=ALPHABET)
        try:
            codec.decode(guess)
            hits += 1
        except BadCode as exc:
            assert exc.why == "forged"
    assert hits == 0


@pytest.mark.parametrize("typed", ["", "ABC", "0001-XHXP-ZBKU", "优惠券优惠券优惠券优惠券", "A" * 41])
def test_what_is_not_a_code_at_all_is_refused_by_its_shape(codec, typed):
    with pytest.raises(BadCode) as refused:
        codec.decode(typed)
    assert refused.value.why == "shape"


def test_the_key_comes_from_config_and_changes_codes():
    from scrm.config import load_config

    plain = load_config(environ={}, overrides={"security.secret_key": "s" * 40})
    pinned = load_config(environ={}, overrides={"security.secret_key": "s" * 40, "coupons.code_key": "p" * 20})
    rotated = load_config(environ={}, overrides={"security.secret_key": "t" * 40, "coupons.code_key": "p" * 20})
    assert CouponCodec.from_config(plain).encode(5) != CouponCodec.from_config(pinned).encode(5)
    assert CouponCodec.from_config(pinned).encode(5) == CouponCodec.from_config(rotated).encode(5)


# Codes issued before the ids were enciphered, made with KEY: they are still read as issued.
ISSUED_BEFORE = {"0001MG12KEYG": 1, "001AF99CTAN5": 42, "10000WDSGGH7P": 1_048_576, "XSNJG09DC61BCC": 10**9}


@pytest.mark.parametrize("text, coupon_id", ISSUED_BEFORE.items())
def test_codes_issued_before_the_ids_were_enciphered_are_still_read(codec, text, coupon_id):
    assert codec.decode(text).coupon_id == coupon_id
    assert codec.encode(coupon_id) != text  # no such code is issued any more
    assert codec.decode(display(text).lower()).coupon_id == coupon_id


def test_codes_show_no_sequence(codec):
    """The first hundred coupons: nothing in their codes counts up (SPEC §12)."""
    codes = [codec.encode(coupon_id) for coupon_id in range(1, 101)]
    heads = [code[:4] for code in codes]
    assert len(set(heads)) == 100 and heads != sorted(heads)
    assert sum(head.startswith("00") for head in heads) < 10  # about 1 in 1,024 would by chance
    rising = sum(a < b for a, b in itertools.pairwise(heads))
    assert 30 < rising < 70  # as often up as down, like shuffled cards
    assert all(codec.decode(code).coupon_id == n for n, code in enumerate(codes, start=1))
