"""Helpers for tests that read the pages people see."""

from __future__ import annotations

import html


def page_text(response) -> str:  # noqa: ANN001
    """A page's HTML with its entities decoded, to look for what a person reads."""
    return html.unescape(response.get_data(as_text=True))


def log_in(client, make_token, role: str = "manager", guide_code: str | None = None) -> None:  # noqa: ANN001
    """Open a console session on ``client`` for a new user of ``role``."""
    assert client.post("/login", data={"token": make_token(role, guide_code)}).status_code == 302
