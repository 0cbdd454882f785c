"""``scrm stores …`` and ``scrm guides …``: bulk work on stores and guides from a terminal.

Only click is imported here; each command's work is in guides/commands.py, imported when the
command runs (scrm/cli.py says why). With
``redis.url = memory://`` the queue lives in this process, so jobs the command queued (asking
WeChat for codes, WeCom hand-overs) are run before it exits.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import click


def _run() -> ModuleType:
    """The commands' work, guides/commands.py, imported when a command runs."""
    from guides import commands  # deferred on purpose: `scrm --help` imports nothing heavy (bench/startup.py)

    return commands


@click.group()
def stores() -> None:
    """Stores (门店)."""


@stores.command("add")
@click.argument("code")
@click.argument("name")
@click.option("--address", default=None)
@click.pass_context
def stores_add(ctx: click.Context, code: str, name: str, address: str | None) -> None:
    """Add a store; its MP store code is asked of WeChat through the queue."""
    _run().stores_add(ctx, code, name, address)


@click.group()
def guides() -> None:
    """Shopping guides (导购): add, list, import, leave, login links."""


@guides.command("add")
@click.argument("code")
@click.option("--name", required=True)
@click.option("--store", required=True, help="The store's code.")
@click.option("--wecom-userid", required=True, help="The guide's WeCom member id.")
@click.pass_context
def guides_add(ctx: click.Context, code: str, name: str, store: str, wecom_userid: str) -> None:
    """Add a guide; their MP code and WeCom contact way are asked of WeChat through the queue."""
    _run().guides_add(ctx, code, name, store, wecom_userid)


@guides.command("list")
@click.option("--store", default=None, help="Only this store's guides.")
@click.option("--all", "include_left", is_flag=True, help="Include guides who left.")
@click.pass_context
def guides_list(ctx: click.Context, store: str | None, include_left: bool) -> None:
    """Guides with their store, WeCom member, status and current customers."""
    _run().guides_list(ctx, store, include_left)


@guides.command("import")
@click.argument("csv_file", type=click.File("r", encoding="utf-8-sig"))
@click.pass_context
def guides_import(ctx: click.Context, csv_file: Any) -> None:
    """Import guides from CSV (code,name,store,wecom_userid[,photo_url,daily_cap,backup]).
    All or nothing: a bad row prints every problem and imports none."""
    _run().guides_import(ctx, csv_file)


@guides.command("leave")
@click.argument("code")
@click.option("--to", "to", required=True, help="The guide of the same store who takes the customers.")
@click.pass_context
def guides_leave(ctx: click.Context, code: str, to: str) -> None:
    """A guide leaves: customers move to --to (WeCom contacts by transfer_customer), codes retire."""
    _run().guides_leave(ctx, code, to)


@guides.command("login-link")
@click.argument("code")
@click.pass_context
def guides_login_link(ctx: click.Context, code: str) -> None:
    """Print a login link for a guide's phone pages (works once, for guides.login_link_hours)."""
    _run().guides_login_link(ctx, code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(guides())
