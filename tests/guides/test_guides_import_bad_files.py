"""A CSV the csv module cannot read is a bad file (422 naming it), never a 500 (SPEC §12):
found by bench/api_fuzz.py."""

from __future__ import annotations

import pytest

from test_guides_import import GOOD_CSV, post_csv, store_s1  # noqa: F401 - a fixture


@pytest.mark.parametrize("text", [
    ">$TN\x9a\x07\x03\r\U000989d7⋶",  # a lone \r inside a field: "new-line character seen in unquoted field"
    "code,name,store,wecom_userid\n" + "G1,\"" + "x" * 200_000 + "\",S1,m\n",  # over csv's field size limit
], ids=["lone-cr", "huge-field"])
def test_a_file_csv_cannot_read_is_refused_with_a_reason(client, manager, text):
    response = post_csv(client, manager, text)
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    body = response.get_json()
    assert body["error"] == "bad_rows" and body["errors"][0]["field"] in ("header", "file")


def test_lines_ending_in_a_lone_cr_are_read_as_lines(store_s1, client, manager):
    response = post_csv(client, manager, GOOD_CSV.replace("\n", "\r"))  # old Mac Excel's line ends
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["created"] == ["G1", "G2"]
