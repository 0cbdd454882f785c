"""``scrm`` command line (SPEC §2, §10, §11).

Only click and the declarations of guides/cli.py are imported here: each command's options and
help are declared here and its work is in scrm/commands.py, imported when a command runs, so
``scrm --help`` answers at once (bench/startup.py).
"""

from __future__ import annotations

import sys
from types import ModuleType

import click

from guides.cli import guides, stores


def _run() -> ModuleType:
    """The commands' work, scrm/commands.py, imported when a command runs."""
    from scrm import commands  # deferred on purpose: `scrm --help` imports nothing heavy (bench/startup.py)

    return commands


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
    _run().migrate(ctx)


@main.command()
@click.option("--host", default=None, help="Default: server.host.")
@click.option("--port", type=int, default=None, help="Default: server.port.")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the web app (development server; use gunicorn 'scrm.wsgi:app' in production).

    With redis.url = memory:// the worker and the scheduler run inside this process."""
    _run().serve(ctx, host, port)


@main.command()
@click.option("--burst", is_flag=True, help="Work what is queued, then exit.")
@click.pass_context
def worker(ctx: click.Context, burst: bool) -> None:
    """Run an RQ worker for every queue (urgent first)."""
    _run().worker(ctx, burst)


@main.command()
@click.pass_context
def scheduler(ctx: click.Context) -> None:
    """Run the scheduler; a second one waits for the first's lock."""
    _run().scheduler(ctx)


@main.command()
@click.option("--host", default=None, help="Default: server.host.")
@click.option("--port", type=int, default=None, help="Default: server.port.")
@click.option("--open", "open_browser", is_flag=True, help="Open the phone page in a browser too.")
@click.pass_context
def sandbox(ctx: click.Context, host: str | None, port: int | None, open_browser: bool) -> None:
    """Serve the app with the phone sandbox: a page that plays a customer's WeChat.

    Needs wechat.sandbox = true and a migrated database (scrm migrate; scrm demo does both)."""
    _run().sandbox(ctx, host, port, open_browser)


@main.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Migrate, seed a demo brand (stores, guides) and serve, printing where to look."""
    _run().demo(ctx)


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
    _run().users_create(ctx, name, role, guide_code)


@users.command("list")
@click.pass_context
def users_list(ctx: click.Context) -> None:
    """List users."""
    _run().users_list(ctx)


@users.command("revoke")
@click.argument("name")
@click.pass_context
def users_revoke(ctx: click.Context, name: str) -> None:
    """Revoke every token of a user."""
    _run().users_revoke(ctx, name)


@main.group()
def jobs() -> None:
    """Queued jobs."""


@jobs.command("failed")
@click.pass_context
def jobs_failed(ctx: click.Context) -> None:
    """List jobs that failed after their last retry."""
    _run().jobs_failed(ctx)


@jobs.command("retry")
@click.argument("job_id")
@click.pass_context
def jobs_retry(ctx: click.Context, job_id: str) -> None:
    """Put a failed job back on its queue with fresh retries."""
    _run().jobs_retry(ctx, job_id)


@main.command("config")
@click.pass_context
def show_config(ctx: click.Context) -> None:
    """Check the configuration and print it, secrets masked."""
    _run().show_config(ctx)


@main.command()
@click.option("--url", default=None, help="The server to load. Default: server.public_base_url.")
@click.option("--customers", type=click.IntRange(1, 1_000_000), default=50, show_default=True)
@click.option("--days", type=click.IntRange(1, 3650), default=7, show_default=True,
              help="Days of behaviour the customers' activity is spread over.")
@click.option("--backfill", is_flag=True,
              help="Date the activity over the past --days days (the sandbox records it then), sent unpaced "
                   "unless --rate is given. Without it, everything happens now, paced at --rate.")
@click.option("--rate", type=click.FloatRange(min=0), default=None,
              help="Deliveries a second, retries included; 0: as fast as the server answers. "
                   "Default: 20, or 0 with --backfill.")
@click.option("--concurrency", type=click.IntRange(1, 256), default=4, show_default=True)
@click.option("--encrypt/--plain", default=True, show_default=True, help="MP safe mode (WeCom is always encrypted).")
@click.option("--retry-fraction", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Share of callbacks delivered again, as WeChat's retries are.")
@click.option("--work-fraction", type=click.FloatRange(0, 0.9), default=0.2, show_default=True,
              help="Share of callbacks that are WeCom change_external_contact events.")
@click.option("--order-fraction", type=click.FloatRange(0, 1), default=0.15, show_default=True,
              help="Share of customers who also buy (POST /api/orders).")
@click.option("--redeem-fraction", type=click.FloatRange(0, 1), default=0.35, show_default=True,
              help="Share of the coupons given to bound customers that their guide redeems after the run "
                   "(in the server's database: not with --token).")
@click.option("--token", default=None,
              help="A manager's API token for the server. Default: one made in the configured database for "
                   "this run (user 'simulator') and revoked after it.")
@click.option("--seed", type=int, default=None, help="Same seed, same plan. Default: random, printed.")
@click.pass_context
def simulate(ctx: click.Context, url: str | None, customers: int, days: int, backfill: bool, rate: float | None,
             concurrency: int, encrypt: bool, retry_fraction: float, work_fraction: float, order_fraction: float,
             redeem_fraction: float, token: str | None, seed: int | None) -> None:
    """Load a running server with customers' WeChat callbacks, signed as WeChat signs them, and
    their orders, using the guides, codes, rules and menu the server has.

    Prints what it learnt of the server, the plan, a progress bar (stderr), then what the server
    answered; exits 1 when no server answers at --url or when any delivery was not accepted."""
    _run().simulate(ctx, url, customers, days, rate, concurrency, encrypt, retry_fraction, work_fraction, seed,
                    backfill=backfill, token=token, order_fraction=order_fraction,
                    redeem_fraction=redeem_fraction)


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
    _run().tags_recompute(ctx, batch_size)


@main.group()
def members() -> None:
    """Membership (会员): the points ledger's audit, the nightly expiry."""


def _members_run() -> ModuleType:
    """The members commands' work, scrm/members/commands.py, imported when a command runs."""
    from scrm.members import commands  # deferred on purpose, as _run()

    return commands


@members.command("audit")
@click.pass_context
def members_audit(ctx: click.Context) -> None:
    """Check every member's points balance against the sum of their ledger and of their lots.

    Prints each member whose balance differs and exits 1; else one line and exits 0."""
    _members_run().audit(ctx)


@members.command("expire")
@click.pass_context
def members_expire(ctx: click.Context) -> None:
    """Expire the points lots that are due now (the scheduler does it every night)."""
    _members_run().expire(ctx)


def _add_domain_commands() -> None:
    main.add_command(stores)
    main.add_command(guides)


_add_domain_commands()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
