"""Replay pre-signed requests with ``wrk``, each exactly once (``bench/groups.lua``), and read
back its figures with the CPU time of the server, PostgreSQL + Redis, wrk and the machine.

``wrk`` is the Debian package (``apt-get install wrk``): a C load generator whose own CPU is a
small share of the machine's, unlike a Python one's.
"""

from __future__ import annotations

import re
import resource
import signal
import subprocess
import time
from pathlib import Path

from bench.webhook import Gunicorn, backend_cpu_seconds, machine_busy_seconds

LUA = Path(__file__).resolve().with_name("groups.lua")


def replay(server: Gunicorn, signed: list, concurrency: int, logdir: Path, name: str) -> dict:
    """Every request of ``signed`` once, by wrk at ``concurrency`` in flight: its figures and
    the CPU seconds of gunicorn, PostgreSQL + Redis, wrk and the whole machine."""
    path = logdir / f"{name}.requests"
    with open(path, "wb") as out:
        for request in signed:
            out.write(f"{request.path} {len(request.body)}\n".encode() + request.body)
    threads = max(1, min(concurrency, len(signed)))
    before = (server.cpu_seconds(), backend_cpu_seconds(), _children_cpu(), machine_busy_seconds(), time.monotonic())
    done_file = logdir / f"{name}.done"
    wrk = subprocess.Popen(["wrk", "-t", str(threads), "-c", str(threads), "-d", "600s", "--timeout", "30s",
                            "-s", str(LUA), server.url, "--", str(path), str(threads), str(done_file)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while wrk.poll() is None:  # wrk sleeps for all of -d: interrupted once every thread is done
        if done_file.exists() and done_file.read_text().count("\n") >= threads:
            after = (server.cpu_seconds(), backend_cpu_seconds(), 0.0, machine_busy_seconds(), time.monotonic())
            wrk.send_signal(signal.SIGINT)
            break
        time.sleep(0.005)
    else:
        after = (server.cpu_seconds(), backend_cpu_seconds(), 0.0, machine_busy_seconds(), time.monotonic())
    stdout, stderr = wrk.communicate(timeout=60)
    after = (after[0], after[1], _children_cpu(), after[3], after[4])  # wrk's CPU counts once it has exited
    found = re.search(r"^RESULT (.*)$", stdout, re.MULTILINE)
    if not found:
        raise SystemExit(f"wrk failed ({wrk.returncode}):\n{stdout}\n{stderr}")
    figures = {key: int(value) for key, value in (pair.split("=") for pair in found.group(1).split())}
    figures["cpu"] = [b - a for a, b in zip(before, after)]
    figures["wall"] = after[4] - before[4]  # from wrk's start to the last answer (wrk's duration runs to its exit)
    return figures


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def rate(figures: dict) -> float:
    return figures["answered"] / figures["wall"]


def line(figures: dict) -> str:
    server, db, gen, busy, wall = figures["cpu"]
    cpu = "/".join(f"{part / wall * 100:.0f}" for part in (server, db, gen, max(0.0, busy - server - db - gen)))
    errors = sum(figures[k] for k in ("connect", "read", "write", "timeout"))
    return (f"{figures['answered']}/{figures['requests']} answered, {figures['non200']} not 200, {errors} socket "
            f"errors; {rate(figures):.0f} req/s, p50 {figures['p50_us'] / 1000:.1f} ms, p99 "
            f"{figures['p99_us'] / 1000:.1f} ms, max {figures['max_us'] / 1000:.1f} ms; cpu% app/db/wrk/other {cpu}")
