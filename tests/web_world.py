"""Helpers for tests that read the pages people see."""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from urllib.parse import urlsplit

from flask import session
from flask.testing import FlaskClient
from flask_wtf.csrf import generate_csrf

from scrm.web.csrf import NOT_BY_COOKIE, WRITES


def page_text(response) -> str:  # noqa: ANN001
    """A page's HTML with its entities decoded, to look for what a person reads."""
    return html.unescape(response.get_data(as_text=True))


def log_in(client, make_token, role: str = "manager", guide_code: str | None = None) -> None:  # noqa: ANN001
    """Open a console session on ``client`` for a new user of ``role``."""
    assert client.post("/login", data={"token": make_token(role, guide_code)}).status_code == 302


class PageClient(FlaskClient):
    """A test client whose writes carry the session's CSRF token, as a browser's do when it
    submits one of our forms (the hidden ``csrf_token`` field) or a page script posts (the
    ``X-CSRFToken`` header). The token comes from Flask-WTF's ``generate_csrf`` on the client's
    own session. ``csrf=False`` on a call sends none, to see a write without one refused.

    That every form on our pages holds the field is tested apart
    (tests/platform/test_csrf.py), so this does not hide a form without it."""

    def open(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        send_token = kwargs.pop("csrf", True)
        method = (kwargs.get("method") or "GET").upper()
        path = args[0] if args and isinstance(args[0], str) else kwargs.get("path", "/")
        if send_token and method in WRITES and not urlsplit(path).path.startswith(NOT_BY_COOKIE):
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("X-CSRFToken", self.csrf_token())
            kwargs["headers"] = headers
        return super().open(*args, **kwargs)

    def csrf_token(self) -> str:
        """The token this client's session's pages would carry (made now if it has none)."""
        with self.session_transaction() as held, self.application.test_request_context():
            session.update(held)
            token = generate_csrf()
            held.update(session)
        return token


def console_sign_in(page, base_url: str, token: str, next_path: str = "/") -> None:  # noqa: ANN001
    """Sign a browser page in with ``token`` through the login form, as a person does, and wait
    until it has gone on to ``next_path``."""
    page.goto(f"{base_url}/login?next={next_path}")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}{next_path}")


def open_phone_sandbox(page, base_url: str, admin_token: str) -> None:  # noqa: ANN001
    """Sign a browser page in to the console as an admin and go on to the phone sandbox, which
    needs that session (SPEC §12)."""
    console_sign_in(page, base_url, admin_token, "/sandbox/phone")


@contextmanager
def demo_processes(runtime, start: datetime, name: str) -> Iterator[None]:  # noqa: ANN001
    """The in-process worker and the scheduler ``scrm demo`` runs (scrm/serving.py), on a clock
    stopped at ``start``: for browser tests that watch jobs do their work."""
    from scrm.clock import FrozenClock
    from scrm.scheduler import SchedulerService

    runtime.clock = FrozenClock(start)
    worker = runtime.queue.start_in_process_worker()
    scheduler = SchedulerService(runtime, name=name)
    thread = threading.Thread(target=scheduler.run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        scheduler.stop()
        worker.stop()
        thread.join(15)
        worker.join(15)


def reload_until(page, selector: str, text: str, seconds: float = 15) -> None:  # noqa: ANN001
    """A server-drawn page, reloaded until ``selector`` says ``text`` (a job is doing the work)."""
    deadline = time.monotonic() + seconds
    while True:
        page.reload()
        if text in (page.locator(selector).text_content() or ""):
            return
        assert time.monotonic() < deadline, f"{selector} never said {text!r}: {page.locator(selector).text_content()!r}"
        page.wait_for_timeout(300)
