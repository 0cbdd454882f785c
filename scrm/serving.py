"""``scrm serve``/``scrm demo``: the development server, and with ``memory://`` the worker
and the scheduler as threads of the same process (the only process that can see its Redis)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

import click
from werkzeug.serving import make_server, run_simple

from scrm.app import create_app
from scrm.redis_store import is_memory_url
from scrm.runtime import Runtime
from scrm.scheduler import SchedulerService
from scrm.warmup import warm_up_in_background

log = logging.getLogger(__name__)


def serve_forever(runtime: Runtime, host: str, port: int, *, before_ready: Callable[[], None] | None = None,
                  notes: Sequence[tuple[str, str]] = ()) -> None:
    """Serve until interrupted. ``before_ready`` (``scrm demo``'s history) runs once the
    server listens and answers, before "SCRM is running" is printed; ``notes`` (label, text)
    end that banner (the demo's token, its guide's link, where its logs are)."""
    app = create_app(runtime=runtime)
    warm_up_in_background(runtime)
    stoppers = []
    if is_memory_url(runtime.config.redis.url):
        stoppers = _start_embedded_processes(runtime)
    try:
        if before_ready is None:
            _print_where_to_look(runtime, host, port, notes)
            run_simple(host, port, app, threaded=True, use_reloader=False)
            return
        server = make_server(host, port, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="scrm-http", daemon=True)
        thread.start()
        try:
            before_ready()
            _print_where_to_look(runtime, host, port, notes)
            while thread.is_alive():
                thread.join(0.5)
        finally:
            server.shutdown()
    finally:
        for stop in stoppers:
            stop()


def _start_embedded_processes(runtime: Runtime) -> list:
    worker = runtime.queue.start_in_process_worker()
    scheduler = SchedulerService(runtime)
    threading.Thread(target=scheduler.run, name="scrm-scheduler", daemon=True).start()
    return [worker.stop, scheduler.stop]


def phone_url(runtime: Runtime) -> str:
    """The phone sandbox's page (SPEC §10), where a newcomer starts."""
    return f"{runtime.config.server.public_base_url}/sandbox/phone"


def _print_where_to_look(runtime: Runtime, host: str, port: int, notes: Sequence[tuple[str, str]] = ()) -> None:
    base = runtime.config.server.public_base_url
    served = urlsplit(base)
    if served.port not in (port, None) or (served.port is None and port not in (80, 443)):
        click.secho(
            f"note: server.public_base_url is {base} but this server listens on port {port}; "
            "links, QR codes and sandbox calls use public_base_url.",
            fg="yellow",
        )
    lines = []
    if runtime.config.wechat.sandbox:
        lines.append(("phone sandbox", f"{phone_url(runtime)}   <- open this first: play a customer (sign in with an admin's token)"))
    lines += [
        ("console", f"{base}/"),
        ("health", f"{base}/healthz"),
    ]
    if runtime.config.wechat.sandbox:
        lines.append(("WeChat sandbox API", f"{base}/sandbox/wechat/mp/cgi-bin/ and /work/cgi-bin/"))
    click.echo("")
    click.secho("SCRM is running:", bold=True)
    for label, url in lines:
        click.echo(f"  {label:<20} {url}")
    if not notes:
        click.echo("  a login token:        scrm users create NAME --role admin   (last line printed)")
    for label, text in notes:
        click.echo(f"  {label:<20} {text}")
    click.echo("")
