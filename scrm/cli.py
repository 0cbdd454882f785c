"""``scrm`` command line (SPEC §2, §10, §11).

Only click, the standard library and scrm/cli_context.py are imported here; each command
imports what it needs when it runs, so ``scrm --help`` answers at once (bench/startup.py).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from guides.cli import guides, stores
from scrm.cli_context import config_of, runtime_of
from scrm.demo import seed_demo_brand
from scrm.logs import Redactor
from scrm.migrate import upgrade
from scrm.redis_store import is_memory_url
from scrm.scheduler import SchedulerService
from scrm.serving import phone_url, serve_forever
from scrm.simulator import make_plan
from scrm.simulator_load import LoadOptions, ServerUnreachable, Simulator, check_server
from scrm.users.service import UserError, create_user, list_users, revoke_tokens
from tagging.computed_bulk import recompute_all
from tagging.computed_bulk import RecomputeRunning

if TYPE_CHECKING:
    from scrm.runtime import Runtime


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="TOML file (default: $SCRM_CONFIG or ./config.toml).")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """SCRM: a social CRM for a WeChat Official Account and WeCom."""
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path


@main.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Bring the database schema up to date."""

    config = config_of(ctx)
    upgrade(config.database.url)
    click.echo(f"database at {_safe_url(config.database.url)} is up to date")


@main.command()
@click.option("--host", default=None, help="Default: server.host.")
@click.option("--port", type=int, default=None, help="Default: server.port.")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the web app (development server; use gunicorn 'scrm.wsgi:app' in production).

    With redis.url = memory:// the worker and the scheduler run inside this process."""

    runtime = runtime_of(ctx)
    serve_forever(runtime, host or runtime.config.server.host, port or runtime.config.server.port)


@main.command()
@click.option("--burst", is_flag=True, help="Work what is queued, then exit.")
@click.pass_context
def worker(ctx: click.Context, burst: bool) -> None:
    """Run an RQ worker for every queue (urgent first)."""
    runtime = runtime_of(ctx)
    _needs_real_redis(runtime, "worker")
    runtime.queue.make_worker().work(burst=burst, with_scheduler=True)


@main.command()
@click.pass_context
def scheduler(ctx: click.Context) -> None:
    """Run the scheduler; a second one waits for the first's lock."""
    import signal


    runtime = runtime_of(ctx)
    _needs_real_redis(runtime, "scheduler")
    service = SchedulerService(runtime)
    signal.signal(signal.SIGTERM, lambda *_: service.stop())
    click.echo(f"scheduler {service.name}: waiting for the lock")
    try:
        service.run()
    except KeyboardInterrupt:
        service.stop()


@main.command()
@click.option("--host", default=None, help="Default: server.host.")
@click.option("--port", type=int, default=None, help="Default: server.port.")
@click.option("--open", "open_browser", is_flag=True, help="Open the phone page in a browser too.")
@click.pass_context
def sandbox(ctx: click.Context, host: str | None, port: int | None, open_browser: bool) -> None:
    """Serve the app with the phone sandbox: a page that plays a customer's WeChat.

    Needs wechat.sandbox = true and a migrated database (scrm migrate; scrm demo does both)."""

    runtime = runtime_of(ctx)
    if not runtime.config.wechat.sandbox:
        raise click.ClickException("wechat.sandbox is false: the phone sandbox plays a customer of the fake WeChat only")
    url = phone_url(runtime)
    click.secho(f"Phone sandbox: {url}", bold=True)
    if open_browser:
        import threading

        threading.Timer(1.0, click.launch, args=(url,)).start()  # once the server listens
    serve_forever(runtime, host or runtime.config.server.host, port or runtime.config.server.port)


@main.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Migrate, seed a demo brand (stores, guides) and serve, printing where to look."""
    ctx.invoke(migrate)
    runtime = runtime_of(ctx)
    if runtime.config.wechat.sandbox:
        brand = seed_demo_brand(runtime)
        click.echo("demo brand ready: stores S001, S002; guides G001-G003 (console: log in as demo-admin)")
        click.echo(f"  guide G001's phone pages (works once): {brand.guide_link}")
        click.echo(f"  demo-admin's token: {brand.admin_token}")
    ctx.invoke(serve)


@main.group()
def users() -> None:
    """Console and API users."""


@users.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(["admin", "manager", "guide"]), required=True)
@click.option("--guide", "guide_code", default=None, help="The guide's code (role guide).")
@click.pass_context
def users_create(ctx: click.Context, name: str, role: str, guide_code: str | None) -> None:
    """Create a user; the token is the last line printed (shown once, stored hashed)."""

    runtime = runtime_of(ctx)
    try:
        with runtime.transaction() as db_session:
            user, token = create_user(db_session=db_session, name=name, role=role, guide_code=guide_code)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {user.role} {user.name} (id {user.id}); their token, shown once:")
    click.echo(token)


@users.command("list")
@click.pass_context
def users_list(ctx: click.Context) -> None:
    """List users."""

    with runtime_of(ctx).transaction() as db_session:
        for user in list_users(db_session=db_session):
            state = "" if user.active else "  (inactive)"
            click.echo(f"{user.id:>5}  {user.name:<24} {user.role:<8} {user.guide_code or '':<12}{state}")


@users.command("revoke")
@click.argument("name")
@click.pass_context
def users_revoke(ctx: click.Context, name: str) -> None:
    """Revoke every token of a user."""

    runtime = runtime_of(ctx)
    try:
        with runtime.transaction() as db_session:
            count = revoke_tokens(db_session=db_session, name=name, now=runtime.clock.now())
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"revoked {count} token(s) of {name}")


@main.group()
def jobs() -> None:
    """Queued jobs."""


@jobs.command("failed")
@click.pass_context
def jobs_failed(ctx: click.Context) -> None:
    """List jobs that failed after their last retry."""
    failed = runtime_of(ctx).queue.failed()
    for job in failed:
        last_line = job.error.splitlines()[-1] if job.error else ""
        click.echo(f"{job.id}  {job.queue:<8} {job.func}{job.args}  {last_line}")
    click.echo(f"{len(failed)} failed job(s)")


@jobs.command("retry")
@click.argument("job_id")
@click.pass_context
def jobs_retry(ctx: click.Context, job_id: str) -> None:
    """Put a failed job back on its queue with fresh retries."""
    try:
        runtime_of(ctx).queue.requeue_failed(job_id)
    except KeyError:
        raise click.ClickException(f"no failed job {job_id}") from None
    click.echo(f"requeued {job_id}")


@main.command("config")
@click.pass_context
def show_config(ctx: click.Context) -> None:
    """Check the configuration and print it, secrets masked."""
    import json


    config = config_of(ctx)
    text = json.dumps(config.model_dump(), indent=2, ensure_ascii=False)
    click.echo(Redactor.from_config(config)(text))


@main.command()
@click.option("--url", default=None, help="The server to load. Default: server.public_base_url.")
@click.option("--customers", type=click.IntRange(1, 1_000_000), default=50, show_default=True)
@click.option("--days", type=click.IntRange(1, 3650), default=7, show_default=True,
              help="Days of behaviour the customers' activity is spread over (sent now, in that order).")
@click.option("--rate", type=click.FloatRange(min=0), default=20.0, show_default=True,
              help="Deliveries a second, retries included; 0: as fast as the server answers.")
@click.option("--concurrency", type=click.IntRange(1, 256), default=4, show_default=True)
@click.option("--encrypt/--plain", default=True, show_default=True, help="MP safe mode (WeCom is always encrypted).")
@click.option("--retry-fraction", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Share of callbacks delivered again, as WeChat's retries are.")
@click.option("--work-fraction", type=click.FloatRange(0, 0.9), default=0.2, show_default=True,
              help="Share of callbacks that are WeCom change_external_contact events.")
@click.option("--seed", type=int, default=None, help="Same seed, same plan. Default: random, printed.")
@click.pass_context
def simulate(ctx: click.Context, url: str | None, customers: int, days: int, rate: float, concurrency: int,
             encrypt: bool, retry_fraction: float, work_fraction: float, seed: int | None) -> None:
    """Load a running server with customers' WeChat callbacks, signed as WeChat signs them.

    Prints the plan, a progress bar (stderr), then what the server answered; exits 1 when no
    server answers at --url or when any delivery was not accepted."""
    import random


    config = config_of(ctx)
    url = (url or config.server.public_base_url).rstrip("/")
    try:
        check_server(url)
    except ServerUnreachable as exc:
        raise click.ClickException(str(exc)) from None
    seed = random.SystemRandom().randrange(1_000_000) if seed is None else seed
    plan = make_plan(customers=customers, days=days, seed=seed, retry_fraction=retry_fraction, work_fraction=work_fraction)
    click.echo(plan.describe())
    click.echo(f"sending to {url} ({'safe mode' if encrypt else 'plaintext'} MP), concurrency {concurrency}")
    simulator = Simulator(config, url, LoadOptions(encrypt=encrypt, concurrency=concurrency, rate=rate))
    with click.progressbar(length=plan.deliveries, label="callbacks", file=sys.stderr) as bar:
        summary = simulator.run(plan, on_progress=bar.update)
    for line in summary.lines():
        click.echo(line)
    if not summary.all_accepted:
        raise click.ClickException(f"{summary.sent - summary.accepted} of {summary.sent} deliveries were not accepted")


@main.group()
def tags() -> None:
    """Tags (RFM and lifecycle are computed; rules and manual tags are in the console/API)."""


@tags.command("recompute")
@click.option("--batch-size", type=click.IntRange(1_000, 10_000_000), default=100_000, show_default=True,
              help="Customer ids per transaction.")
@click.pass_context
def tags_recompute(ctx: click.Context, batch_size: int) -> None:
    """Recompute every customer's computed tags (RFM class, lifecycle stage) now.

    The scheduler does this every night; only customers whose class changed are written."""
    from contextlib import ExitStack


    runtime = runtime_of(ctx)
    with ExitStack() as stack:
        bars: list = []

        def progress(done: int, total: int) -> None:
            if not bars:
                bars.append(stack.enter_context(click.progressbar(length=total, label="batches", file=sys.stderr)))
            bars[0].update(done - bars[0].pos)

        try:
            summary = recompute_all(runtime, progress, batch_size=batch_size)
        except RecomputeRunning as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(summary.describe())


def _needs_real_redis(runtime: Runtime, what: str) -> None:
    if is_memory_url(runtime.config.redis.url):
        raise click.ClickException(
            f"redis.url is memory://, which lives inside one process: 'scrm serve' runs the {what} "
            "itself. Set redis.url to a redis:// URL to run it as a separate process."
        )


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _add_domain_commands() -> None:
    main.add_command(stores)
    main.add_command(guides)


_add_domain_commands()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
