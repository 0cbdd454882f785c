"""The guide's sign-in link and its QR code on the guide's console page (issue 16): a manager
makes one, it signs the guide in once, and a guide who left gets none."""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

from guide_world import create_guide, create_store
from web_world import log_in


def _made(client, code: str) -> tuple[str, str]:  # noqa: ANN001
    response = client.post(f"/console/guides/{code}/login-link")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    link = html.unescape(re.search(r'id="login-link" readonly value="([^"]+)"', page)[1])
    return link, page


def test_a_manager_makes_a_one_time_sign_in_link_with_its_qr_code(app, client, runtime, make_token):
    create_store(runtime)
    create_guide(runtime, "G1", name="王小美")
    log_in(client, make_token, "manager")
    assert "生成登录链接" in client.get("/console/guides/G1").get_data(as_text=True)
    link, page = _made(client, "G1")
    assert link.startswith(runtime.config.server.public_base_url + "/m/login?t=")
    assert "<svg" in page and "72 小时" in page and "仅限一次" in page

    phone = app.test_client()  # the guide's phone opens it
    parts = urlsplit(link)
    opened = phone.get(f"{parts.path}?{parts.query}")
    assert opened.status_code == 302 and opened.headers["Location"].endswith("/m/")
    assert "王小美" in phone.get("/m/").get_data(as_text=True)
    forwarded = app.test_client().get(f"{parts.path}?{parts.query}")  # someone else, after the guide
    assert forwarded.status_code in (403, 409) and "登录链接已经用过了" in forwarded.get_data(as_text=True)
    second, _ = _made(client, "G1")
    assert second != link  # each one is new


def test_no_link_for_a_guide_who_left_or_does_not_exist(client, runtime, make_token):
    from guides.models import Guide
    from sqlalchemy import select

    create_store(runtime)
    create_guide(runtime, "G1")
    with runtime.transaction() as db_session:
        db_session.scalar(select(Guide).where(Guide.code == "G1")).status = "left"
    log_in(client, make_token, "manager")
    refused = client.post("/console/guides/G1/login-link")
    assert refused.status_code == 409 and "has left" in refused.get_data(as_text=True)
    assert "/m/login?t=" not in refused.get_data(as_text=True)
    assert client.post("/console/guides/NOPE/login-link").status_code == 404
