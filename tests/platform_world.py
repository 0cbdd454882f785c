"""Helpers every test folder uses: changing a running runtime's configuration, the WeChat
samples beside the clone, and Debian's chromium for the browser tests. (Kept out of
conftest.py, which each test folder has one of: ``from platform_world import`` would be ambiguous.)"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


# ---- in a browser: nothing wider than the screen, and a picture to look at ----------------------

SIDEWAYS = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


def sideways(page) -> int:  # noqa: ANN001
    """How many CSS pixels the page is wider than its viewport (0: it scrolls up and down only)."""
    return page.evaluate(SIDEWAYS)


def assert_no_sideways_scroll(page, what: str | None = None) -> None:  # noqa: ANN001
    """The page fits its viewport's width (a phone never scrolls a page sideways)."""
    over = sideways(page)
    assert over <= 0, f"{what or page.url}: {over} px wider than the {page.viewport_size['width']} px screen"


def screenshot(page, folder: Path, name: str) -> None:  # noqa: ANN001
    """The whole page as ``folder/name.png``, to look at."""
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def count(runtime, model) -> int:  # noqa: ANN001
    """How many rows ``model``'s table holds."""
    from sqlalchemy import func, select

    with runtime.transaction() as db_session:
        return db_session.scalar(select(func.count()).select_from(model))


def reconfigure(runtime, overrides: dict[str, Any]) -> None:  # noqa: ANN001
    """Change a running test runtime's configuration (dotted keys), as a restart would."""
    from scrm.config import Config

    data = runtime.config.model_dump()
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        node = data
        for part in parents:
            node = node[part]
        node[leaf] = value
    runtime.config = Config.model_validate(data)


# shared/ lies beside the clone, here and in CI.
SAMPLES_DIR = Path(os.environ.get("WECHAT_SAMPLES_DIR", Path(__file__).resolve().parents[2] / "shared" / "wechat-samples"))


# ---- a real browser (Debian's chromium, driven by Playwright) --------------------------------

CHROMIUM = os.environ.get("SCRM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class ChineseBrowser:
    """The launched browser, whose pages read Chinese (``Accept-Language: zh-CN``) as the people
    the tests play do; Playwright's own default is en-US. A test of the English console chooses
    English on the page, as a person would."""

    LOCALE = "zh-CN"

    def __init__(self, browser) -> None:  # noqa: ANN001
        self._browser = browser

    def new_context(self, **options):  # noqa: ANN003, ANN201
        return self._browser.new_context(**{"locale": self.LOCALE, **options})

    def new_page(self, **options):  # noqa: ANN003, ANN201
        return self._browser.new_page(**{"locale": self.LOCALE, **options})

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self._browser, name)


def require_browser() -> None:
    """``make test`` installs both; with ``CI=true`` a missing one fails the test."""
    import shutil

    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -e '.[dev]')")
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if missing:
        message = f"the browser test needs {' and '.join(missing)}; `make test` installs them"
        if IN_CI:
            pytest.fail(message + " (CI=true: it must run)")
        pytest.skip(message)


def run_together(work, threads: int, *, refusals: tuple[type[Exception], ...] = ()) -> list:  # noqa: ANN001
    """``work(i)`` in ``threads`` threads started at one moment (a barrier): each one's result,
    or the ``code`` of a refusal of the kinds named; any other error fails the test."""
    import threading

    barrier = threading.Barrier(threads)
    results: list = [None] * threads
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except refusals as refused:
            results[i] = refused.code
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors, errors[:3]
    return results
