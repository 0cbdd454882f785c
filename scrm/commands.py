"""The ``scrm`` commands' work; scrm/cli.py declares them (options, help) and imports this
module only when a command runs."""

from __future__ import annotations

import json
import logging
import random
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from time import monotonic

import click
from sqlalchemy import select
from sqlalchemy.engine import make_url

from scrm.cli_context import config_of, runtime_of
from scrm.config import is_loopback
from scrm import demo_history
from scrm.demo import ADMIN, seed_demo_brand
from scrm.demo_groups import CODE_NAME, SOP_NAME, WELCOME_NAME, seed_community
from scrm.demo_members import describe as describe_members
from scrm.demo_members import seed_members
from scrm.demo_products import describe as describe_products
from scrm.demo_products import seed_products
from scrm.demo_seed import seed_first_hour
from scrm.logs import Redactor, configure_demo_logging
from scrm.migrate import upgrade
from scrm.redis_store import is_memory_url
from scrm.runtime import Runtime
from scrm.scheduler import SchedulerService
from scrm.serving import phone_url, serve_forever
from scrm.simulator import make_plan
from scrm.simulator_load import LoadOptions, ServerUnreachable, Simulator, backfill_start, check_server
from scrm.simulator_redeem import redeem_some
from scrm.simulator_sandbox import registrar
from scrm.simulator_world import DiscoveryFailed, discover
from scrm.users.models import ApiToken, User
from scrm.users.service import (
    UserError,
    create_user,
    forget_callers,
    hash_token,
    issue_token,
    list_users,
    revoke_tokens,
)
from tagging.computed_bulk import RecomputeRunning, recompute_all

log = logging.getLogger(__name__)


def migrate(ctx: click.Context) -> None:
    config = config_of(ctx)
    upgrade(config.database.url)
    click.echo(f"database at {_safe_url(config.database.url)} is up to date")


def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    runtime = runtime_of(ctx)
    _serve(runtime, host, port)


def worker(ctx: click.Context, burst: bool) -> None:
    runtime = runtime_of(ctx)
    _needs_real_redis(runtime, "worker")
    runtime.queue.make_worker().work(burst=burst, with_scheduler=True)


def scheduler(ctx: click.Context) -> None:
    runtime = runtime_of(ctx)
    _needs_real_redis(runtime, "scheduler")
    service = SchedulerService(runtime)
    signal.signal(signal.SIGTERM, lambda *_: service.stop())
    click.echo(f"scheduler {service.name}: waiting for the lock")
    try:
        service.run()
    except KeyboardInterrupt:
        service.stop()


def sandbox(ctx: click.Context, host: str | None, port: int | None, open_browser: bool) -> None:
    runtime = runtime_of(ctx)
    if not runtime.config.wechat.sandbox:
        raise click.ClickException("wechat.sandbox is false: the phone sandbox plays a customer of the fake WeChat only")
    url = phone_url(runtime)
    click.secho(f"Phone sandbox: {url}", bold=True)
    click.echo("  it asks for an admin's token: scrm users create NAME --role admin prints one (last line)")
    if open_browser:
        threading.Timer(1.0, click.launch, args=(url,)).start()  # once the server listens
    _serve(runtime, host, port)


COMMUNITY_NAMES = f"live code {CODE_NAME}, welcome {WELCOME_NAME}, SOP {SOP_NAME}"
# Where ``scrm demo`` keeps its logs (beside the SQLite file the demo makes, under var/).
DEMO_LOG = Path("var") / "demo.log"


def demo(ctx: click.Context) -> None:
    started = monotonic()
    log_file = configure_demo_logging(config_of(ctx), DEMO_LOG)
    migrate(ctx)
    runtime = runtime_of(ctx)
    if not runtime.config.wechat.sandbox:
        _serve(runtime, None, None, notes=[("logs", f"{log_file}   (warnings and errors show here too)"),
                                           ("stop", "Ctrl+C")])
        return
    brand = seed_demo_brand(runtime)
    click.echo("demo brand: stores S001, S002; guides G001-G003")
    made = seed_first_hour(runtime)
    log.info("first hour seeded: %s", "; ".join(made) or "nothing: it was there")
    click.echo(f"first hour: {len(made)} things set up (greeting, reply rules, menu, tags, a campaign, a journey)"
               if made else "first hour: kept (reply rules, menu, tags, campaign and journey were there)")
    url = runtime.config.server.public_base_url.rstrip("/")
    notes = [
        ("admin token", f"{brand.admin_token}   (user {ADMIN}: the console's and the phone sandbox's sign-in)"),
        ("guide G001's phone", f"{brand.guide_link}   (works once: open it in another browser)"),
        ("community", f"{url}/console/group-codes   (社群运营: 群活码 {CODE_NAME}, 群SOP, 社群数据)"),
        ("membership", f"{url}/console/members   (会员: 会员, 会员等级, 积分商城, 会员数据)"),
        ("product codes", f"{url}/console/product-codes   (一物一码: 码批次, 领取数据; the phone sandbox's 扫商品码)"),
        ("logs", f"{log_file}   (warnings and errors show here too)"),
        ("stop", "Ctrl+C (run scrm demo again: it keeps what is there)"),
    ]

    def before_ready() -> None:
        if demo_history.has_history(runtime):
            click.echo("history: kept (the database has customers)")
        else:
            click.echo(f"history: {demo_history.DAYS} days of {demo_history.CUSTOMERS} simulated customers, "
                       "backfilled (a minute or so)")
            summary = demo_history.backfill(runtime, url, brand.admin_token, echo=click.echo)
            click.echo(f"  history: {summary.accepted} of {summary.sent} accepted in {summary.elapsed:.1f} s")
        community = seed_community(runtime, [chat_id for chat_id, _, _ in demo_history.GROUPS])
        log.info("community operations seeded: %s", "; ".join(community) or "nothing: it was there")
        click.echo("community: " + ("; ".join(community) if community else f"kept ({COMMUNITY_NAMES})"))
        members = seed_members(runtime)
        log.info("membership seeded: %s", "; ".join(members) or "nothing: it was there")
        click.echo(describe_members(runtime) + ("" if members else " (kept)"))
        products = seed_products(runtime)
        log.info("product codes seeded: %s", "; ".join(products) or "nothing: it was there")
        click.echo(describe_products(runtime) + ("" if products else " (kept)"))
        click.echo(f"demo ready in {monotonic() - started:.1f} s")

    _serve(runtime, None, None, before_ready=before_ready, notes=notes)


def users_create(ctx: click.Context, name: str, role: str, guide_code: str | None) -> None:
    runtime = runtime_of(ctx)
    try:
        with runtime.transaction() as db_session:
            user, token = create_user(db_session=db_session, name=name, role=role, guide_code=guide_code)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {user.role} {user.name} (id {user.id}); their token, shown once:")
    click.echo(token)


def users_list(ctx: click.Context) -> None:
    with runtime_of(ctx).transaction() as db_session:
        for user in list_users(db_session=db_session):
            state = "" if user.active else "  (inactive)"
            click.echo(f"{user.id:>5}  {user.name:<24} {user.role:<8} {user.guide_code or '':<12}{state}")


def users_revoke(ctx: click.Context, name: str) -> None:
    runtime = runtime_of(ctx)
    try:
        with runtime.transaction() as db_session:
            count = revoke_tokens(db_session=db_session, name=name, now=runtime.clock.now())
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"revoked {count} token(s) of {name}")


def jobs_failed(ctx: click.Context) -> None:
    failed = runtime_of(ctx).queue.failed()
    for job in failed:
        last_line = job.error.splitlines()[-1] if job.error else ""
        click.echo(f"{job.id}  {job.queue:<8} {job.func}{job.args}  {last_line}")
    click.echo(f"{len(failed)} failed job(s)")


def jobs_retry(ctx: click.Context, job_id: str) -> None:
    try:
        runtime_of(ctx).queue.requeue_failed(job_id)
    except KeyError:
        raise click.ClickException(f"no failed job {job_id}") from None
    click.echo(f"requeued {job_id}")


def show_config(ctx: click.Context) -> None:
    config = config_of(ctx)
    text = json.dumps(config.model_dump(), indent=2, ensure_ascii=False)
    click.echo(Redactor.from_config(config)(text))


SIMULATOR_USER = "simulator"


def simulate(ctx: click.Context, url: str | None, customers: int, days: int, rate: float | None, concurrency: int,
             encrypt: bool, retry_fraction: float, work_fraction: float, seed: int | None, backfill: bool = False,
             token: str | None = None, order_fraction: float = 0.15, redeem_fraction: float = 0.35) -> None:
    config = config_of(ctx)
    url = (url or config.server.public_base_url).rstrip("/")
    try:
        check_server(url)
    except ServerUnreachable as exc:
        raise click.ClickException(str(exc)) from None
    started = datetime.now(UTC)
    in_our_database = token is None
    with ExitStack() as stack:
        # Without --token the simulator works in the server's database (its token is made
        # there): on a sandbox server it also puts its customers in the sandbox's WeChat world.
        before_send = registrar(runtime_of(ctx).redis) if token is None and config.wechat.sandbox else None
        if token is None:
            token = stack.enter_context(_simulator_token(ctx))
        try:
            world = discover(url, token, coupons_menu_key=config.coupons.menu_key)
        except DiscoveryFailed as exc:
            raise click.ClickException(f"could not learn the server's guides, codes and menu: {exc}") from None
        click.echo(world.describe())
        seed = random.SystemRandom().randrange(1_000_000) if seed is None else seed
        plan = make_plan(customers=customers, days=days, seed=seed, retry_fraction=retry_fraction,
                         work_fraction=work_fraction, order_fraction=order_fraction, world=world)
        click.echo(plan.describe())
        rate = (0.0 if backfill else 20.0) if rate is None else rate
        start = backfill_start(config.brand.zone, days) if backfill else None
        when = "live" if start is None else f"dated from {datetime.fromtimestamp(start, config.brand.zone):%Y-%m-%d}"
        mode = "safe mode" if encrypt else "plaintext"
        click.echo(f"sending to {url} ({mode} MP), concurrency {concurrency}, {when}")
        options = LoadOptions(encrypt=encrypt, concurrency=concurrency, rate=rate, backfill_start=start)
        simulator = Simulator(config, url, options, token=token, before_send=before_send)
        if before_send is not None:
            click.echo("the server's sandbox WeChat learns each simulated customer (its database is this one)")
        with click.progressbar(length=plan.deliveries, label="callbacks", file=sys.stderr) as bar:
            summary = simulator.run(plan, on_progress=bar.update)
    for line in summary.lines():
        click.echo(line)
    if in_our_database and redeem_fraction:
        since = started if start is None else datetime.fromtimestamp(start, UTC)
        click.echo(redeem_some(runtime_of(ctx), fraction=redeem_fraction, seed=seed, backdated=start is not None,
                               since=since).describe())
    elif redeem_fraction:
        click.echo("redemptions: none (with --token the coupons' codes are in a database this run cannot read)")
    if not summary.all_accepted:
        raise click.ClickException(f"{summary.sent - summary.accepted} of {summary.sent} deliveries were not accepted")


@contextmanager
def _simulator_token(ctx: click.Context) -> Iterator[str]:
    """A manager's token for this run, made in the configured database and revoked after it.

    The simulator signs callbacks with the server's WeChat tokens and keys, so it runs with the
    server's configuration, database included: it can make its own token rather than ask for
    one (``--token`` is for a server whose database it cannot reach)."""
    runtime = runtime_of(ctx)
    with runtime.transaction() as db_session:
        user = db_session.scalar(select(User).where(User.name == SIMULATOR_USER))
        if user is None:
            user, token = create_user(db_session=db_session, name=SIMULATOR_USER, role="manager")
        elif not user.active or user.role == "guide":
            raise click.ClickException(f"the user {SIMULATOR_USER!r} is inactive or a guide: pass --token, or "
                                       "'scrm users create' another manager")
        else:
            token = issue_token(db_session=db_session, user=user)
    try:
        yield token
    finally:
        with runtime.transaction() as db_session:
            row = db_session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
            if row is not None:
                row.revoked_at = runtime.clock.now()
        forget_callers(runtime.redis)


def tags_recompute(ctx: click.Context, batch_size: int) -> None:
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
    return make_url(url).render_as_string(hide_password=True)


def _serve(runtime: Runtime, host: str | None, port: int | None, *,
           before_ready: Callable[[], None] | None = None, notes: list[tuple[str, str]] | None = None) -> None:
    host = host or runtime.config.server.host
    if runtime.config.wechat.sandbox and not runtime.config.security.secret_key and not is_loopback(host):
        raise click.ClickException(
            f"--host {host} is reachable from outside, while wechat.sandbox is true and security.secret_key "
            "is not set: the sandbox's built-in key would sign sessions anyone could forge. Use 127.0.0.1, "
            "or set security.secret_key."
        )
    serve_forever(runtime, host, port or runtime.config.server.port, before_ready=before_ready, notes=notes or ())
