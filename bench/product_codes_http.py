"""What bench/product_codes.py sends and reads over HTTP: whole requests built beforehand and
replayed once each by ``wrk`` (:mod:`bench.wrk_replay`), the claim page's CSRF token, the
streamed codes.csv read and counted, and a gunicorn worker's memory sampled while it streams.

The requests are built here, not in wrk's Lua, so that what is measured is the server: each
claim is a ``POST /p/<code>`` with the customer's session cookie and the page's ``csrf_token``
as a browser in WeChat sends it, each to a different code.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, urlsplit

from bench.webhook import Gunicorn
from bench.wrk_replay import raw_request

SAMPLE_SECONDS = 0.5


# -- building requests -------------------------------------------------------------------------


def claim_request(base_url: str, code: str, *, cookie: str, csrf_token: str) -> bytes:
    """A signed-in customer's 领取 on the claim page: ``POST /p/<code>``, as the page's form sends it."""
    return raw_request("POST", f"{base_url}/p/{quote(code)}", headers={"Cookie": cookie, "Origin": base_url,
                                                                        "Referer": f"{base_url}/p/{code}"},
                       form={"csrf_token": csrf_token})


def peer_claim_request(base_url: str, code: str, *, customer_id: int) -> bytes:
    """The peers' claim (bench/product_codes_peer_app.py): the code and who claims it."""
    return raw_request("POST", f"{base_url}/claim/{quote(code)}", form={"customer": str(customer_id)})


class _FormTokens(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tokens: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input" and values.get("name") == "csrf_token" and values.get("value"):
            self.tokens.append(values["value"])


def csrf_token_of(html: str) -> str:
    """The ``csrf_token`` of the page's form; ValueError when the page has none (not the
    unclaimed code's page: signed out, refused, or claimed already)."""
    parser = _FormTokens()
    parser.feed(html)
    if not parser.tokens:
        raise ValueError("the page has no form with a csrf_token")
    return parser.tokens[0]


def cookie_header(jar) -> str:  # noqa: ANN001
    """The ``Cookie`` header a browser with this jar (requests' ``session.cookies``) sends."""
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in jar)


# -- streaming codes.csv -----------------------------------------------------------------------


def read_csv_stream(url: str, token: str, chunk: int = 1 << 20) -> dict:
    """GET the streamed CSV, reading the body as it comes: rows (lines after the header), bytes,
    seconds, the first and last data rows."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    started = time.monotonic()
    connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""),
                       headers={"Authorization": f"Bearer {token}"})
    response = connection.getresponse()
    if response.status != 200:
        raise SystemExit(f"GET {url}: {response.status} {response.read()[:500]!r}")
    lines, size, head, tail = 0, 0, b"", b""
    while block := response.read(chunk):
        lines += block.count(b"\n")
        size += len(block)
        if len(head) < 4096:
            head += block[:4096]
        tail = (tail + block)[-4096:]
    seconds = time.monotonic() - started
    connection.close()
    head_lines, tail_lines = head.decode().split("\n"), tail.decode(errors="replace").rstrip("\n").split("\n")
    return {"rows": lines - 1, "bytes": size, "seconds": seconds, "header": head_lines[0],
            "first": head_lines[1] if len(head_lines) > 1 else "", "last": tail_lines[-1],
            "content_type": response.getheader("Content-Type", ""),
            "chunked": response.getheader("Transfer-Encoding", "") == "chunked"}


def rss_kib(pid: int) -> int | None:
    """The process's resident memory (VmRSS, KiB), None once it has gone."""
    try:
        for text_line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if text_line.startswith("VmRSS:"):
                return int(text_line.split()[1])
    except OSError:
        return None
    return None


@dataclass
class RssSampler:
    """VmRSS of some processes every ``every`` seconds, on a thread, until stopped."""

    pids: list[int]
    every: float = SAMPLE_SECONDS
    samples: dict[int, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()  # the end

    def _run(self) -> None:
        while True:
            self._sample()
            if self._stop.wait(self.every):
                return

    def _sample(self) -> None:
        for pid in self.pids:
            kib = rss_kib(pid)
            if kib is not None:
                self.samples.setdefault(pid, []).append(kib)

    def summary(self, pid: int) -> tuple[int, int, int, int, int]:
        """(start, peak, end, samples, spread) in KiB; spread: max - min of the samples after
        the first 2 s or tenth of them, whichever is longer (the working set set up: then held,
        or growing with the rows)."""
        series = self.samples.get(pid) or [0]
        settled = series[max(int(2 / self.every), len(series) // 10):-1] or series
        return series[0], max(series), series[-1], len(series), max(settled) - min(settled)


def worker_pids(server: Gunicorn) -> list[int]:
    """The gunicorn master's workers."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                if int(stat[stat.rindex(")") + 2:].split()[1]) == server.process.pid:
                    pids.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                pass
    return sorted(pids)


def cpu_ticks(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return 0
