"""codes.csv's rows (scrm/products/exports.py) without the web: exactly one row per serial of
the range, in order, across the places where a serial gains a digit and the codec's blocks
end; a public URL that needs CSV quoting is quoted; a range outside the batch is refused."""

from __future__ import annotations

import csv
import io
from types import SimpleNamespace

import pytest

from scrm.config import load_config
from scrm.products.codes import ProductCodec, code_url
from scrm.products.exports import HEADER, csv_chunks

BATCH = SimpleNamespace(prefix="k3m7d", quantity=20_000)


def configured(base: str):  # noqa: ANN201
    return load_config(environ={}, overrides={"server.public_base_url": base, "products.code_key": "k" * 24,
                                              "security.secret_key": "s" * 40})


@pytest.mark.parametrize("base", ["https://scrm.example.com", 'https://scrm.example.com/a,b"c'])
def test_rows_are_the_codes_of_the_range_in_order(base):
    config = configured(base)
    chunks = list(csv_chunks(config=config, batch=BATCH, first=95, last=10_050))
    assert chunks[0] == HEADER and all(len(chunk) < 200_000 for chunk in chunks)
    rows = list(csv.reader(io.StringIO("".join(chunks))))
    codec = ProductCodec.from_config(config)
    assert rows[1:] == [[str(serial), code, code_url(base, code)] for serial, code in codec.codes("k3m7d", 95, 10_050)]


def test_the_whole_batch_by_default_and_a_range_outside_it_refused():
    config = configured("https://scrm.example.com")
    small = SimpleNamespace(prefix="k3m7d", quantity=3)
    assert "".join(csv_chunks(config=config, batch=small)).count("\n") == 4
    for first, last in ((0, 3), (2, 1), (1, 4)):
        with pytest.raises(ValueError):
            csv_chunks(config=config, batch=small, first=first, last=last)
