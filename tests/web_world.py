"""Helpers for tests that read the pages people see."""

from __future__ import annotations

import html


def page_text(response) -> str:  # noqa: ANN001
    """A page's HTML with its entities decoded, to look for what a person reads."""
    return html.unescape(response.get_data(as_text=True))
