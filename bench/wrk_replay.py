"""Replay requests built beforehand with ``wrk``, each exactly once (``bench/raw_requests.lua``),
and read back its figures with the CPU time of the server, PostgreSQL + Redis, wrk and the
machine. bench/groups.py replays signed callbacks with it, bench/product_codes.py claims.

``wrk`` is the Debian package (``apt-get install wrk``): a C load generator whose own CPU is a
small share of the machine's, unlike a Python one's. The requests are whole (request line,
headers, body) and built in Python, so that what wrk's Lua does per request is nothing but
send bytes.
"""

from __future__ import annotations

import re
import resource
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from bench.webhook import Gunicorn, backend_cpu_seconds, machine_busy_seconds

LUA = Path(__file__).resolve().with_name("raw_requests.lua")


def raw_request(method: str, url: str, *, headers: dict[str, str] | None = None, form: dict[str, str] | None = None,
                body: bytes | None = None) -> bytes:
    """The bytes of one HTTP/1.1 request (keep-alive): a form urlencoded, or ``body`` as it is
    (its Content-Type among ``headers``)."""
    if form is not None and body is not None:
        raise ValueError("a form or a body, not both")
    parts = urlsplit(url)
    payload = urlencode(form).encode() if form is not None else body or b""
    lines = [f"{method} {parts.path}{'?' + parts.query if parts.query else ''} HTTP/1.1", f"Host: {parts.netloc}"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if form is not None:
        lines.append("Content-Type: application/x-www-form-urlencoded")
    if method != "GET" or payload:
        lines.append(f"Content-Length: {len(payload)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


def write_requests(path: Path, requests: list[bytes]) -> None:
    """The file raw_requests.lua reads: each request after a line with its length."""
    with open(path, "wb") as out:
        for request in requests:
            out.write(b"%d\n" % len(request) + request)


def parse_result(stdout: str) -> dict[str, int]:
    """The figures of raw_requests.lua's ``RESULT key=value …`` line."""
    found = re.search(r"^RESULT (.*)$", stdout, re.MULTILINE)
    if not found:
        raise ValueError("no RESULT line in wrk's output")
    return {key: int(value) for key, value in (pair.split("=") for pair in found.group(1).split())}


def replay(server: Gunicorn, requests: list[bytes], concurrency: int, logdir: Path, name: str,
           ok_status: int = 200) -> dict:
    """Every request once, by wrk at ``concurrency`` connections (request i on connection
    i mod concurrency): its figures (an answer other than ``ok_status`` is ``failed``), the
    wall time to the last answer, and the CPU seconds of gunicorn, PostgreSQL + Redis, wrk and
    the whole machine."""
    path = logdir / f"{name}.requests"
    write_requests(path, requests)
    threads = max(1, min(concurrency, len(requests)))
    done_file = logdir / f"{name}.done"
    before = (server.cpu_seconds(), backend_cpu_seconds(), _children_cpu(), machine_busy_seconds(), time.monotonic())
    wrk = subprocess.Popen(["wrk", "-t", str(threads), "-c", str(threads), "-d", "600s", "--timeout", "30s", "-s",
                            str(LUA), server.url, "--", str(path), str(threads), str(done_file), str(ok_status)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while wrk.poll() is None:  # wrk sleeps for all of -d: interrupted once every thread is done
        if done_file.exists() and done_file.read_text().count("\n") >= threads:
            break
        time.sleep(0.005)
    after = [server.cpu_seconds(), backend_cpu_seconds(), 0.0, machine_busy_seconds(), time.monotonic()]
    if wrk.poll() is None:
        wrk.send_signal(signal.SIGINT)
    stdout, stderr = wrk.communicate(timeout=60)
    after[2] = _children_cpu()  # wrk's CPU counts once it has exited
    try:
        figures = parse_result(stdout)
    except ValueError:
        raise SystemExit(f"wrk failed ({wrk.returncode}):\n{stdout}\n{stderr}") from None
    figures["cpu"] = [b - a for a, b in zip(before, after)]
    figures["wall"] = after[4] - before[4]  # from wrk's start to the last answer (wrk's duration runs to its exit)
    return figures


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def rate(figures: dict) -> float:
    """Answers with the expected status per second of wall time."""
    return (figures["answered"] - figures["failed"]) / figures["wall"]


def describe(figures: dict) -> str:
    server, db, gen, busy, wall = figures["cpu"]
    cpu = "/".join(f"{part / wall * 100:.0f}" for part in (server, db, gen, max(0.0, busy - server - db - gen)))
    errors = sum(figures[k] for k in ("connect", "read", "write", "timeout"))
    return (f"{figures['answered']}/{figures['requests']} answered in {figures['wall']:.1f} s, {figures['failed']} "
            f"refused, {errors} socket errors; {rate(figures):.0f}/s, p50 {figures['p50_us'] / 1000:.1f} ms, "
            f"p99 {figures['p99_us'] / 1000:.1f} ms; cpu% app/db/wrk/other {cpu}")
