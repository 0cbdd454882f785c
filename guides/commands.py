"""The work of ``scrm stores …`` and ``scrm guides …``; guides/cli.py declares the commands
and imports this module only when one runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from guides.importing import import_guides
from guides.leaving import leave
from guides.login_links import LoginLinkRefused, make_link
from guides.schemas import GuideIn, InvalidInput, StoreIn, parse
from guides.service import GuidesError, create_guide, create_store, list_guides
from scrm.cli_context import runtime_of
from scrm.redis_store import is_memory_url


def stores_add(ctx: click.Context, code: str, name: str, address: str | None) -> None:
    store_in = _parse(parse, StoreIn, {"code": code, "name": name, **({"address": address} if address else {})})
    _in_transaction(ctx, lambda runtime, s: create_store(runtime=runtime, db_session=s, store_in=store_in))
    click.echo(f"store {code} added")


def guides_add(ctx: click.Context, code: str, name: str, store: str, wecom_userid: str) -> None:
    guide_in = _parse(parse, GuideIn, {"code": code, "name": name, "store": store, "wecom_userid": wecom_userid})
    _in_transaction(ctx, lambda runtime, s: create_guide(runtime=runtime, db_session=s, guide_in=guide_in))
    click.echo(f"guide {code} added to store {store}")


def guides_list(ctx: click.Context, store: str | None, include_left: bool) -> None:
    rows = _in_transaction(ctx, lambda runtime, s: [
        (g.code, g.name, g.store.code, g.wecom_userid, g.status, n)
        for g, n in list_guides(db_session=s, store_code=store, include_left=include_left)
    ])
    for code, name, store_code, userid, status, customers in rows:
        click.echo(f"{code:<12} {name:<12} {store_code:<10} {userid:<20} {status:<7} {customers:>6} customers")
    click.echo(f"{len(rows)} guide(s)", err=True)


def guides_import(ctx: click.Context, csv_file: Any) -> None:
    report = _in_transaction(ctx, lambda runtime, s: _import_or_roll_back(runtime, s, import_guides, csv_file.read()))
    if report.errors:
        for error in report.errors:
            click.echo(f"line {error.row}: {error.code or '-'}: {error.field}: {error.message}", err=True)
        raise click.ClickException(f"{len(report.errors)} problem(s); nothing was imported")
    click.echo(f"{len(report.created)} guide(s) created, {len(report.unchanged)} unchanged")


def guides_leave(ctx: click.Context, code: str, to: str) -> None:
    result = _in_transaction(ctx, lambda runtime, s: leave(runtime=runtime, db_session=s, code=code, to=to))
    click.echo(f"guide {result.guide} left: {result.moved} customer(s) moved to {result.to}, "
               f"{result.wecom_transfers} queued for WeCom's hand-over")


def guides_login_link(ctx: click.Context, code: str) -> None:
    try:
        link = _in_transaction(ctx, lambda runtime, s: make_link(runtime=runtime, db_session=s, guide_code=code))
    except LoginLinkRefused as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(link)


def _in_transaction(ctx: click.Context, work: Callable[[Any, Any], Any]) -> Any:
    """Run ``work(runtime, db_session)``; domain errors become a clean message, exit 1."""

    runtime = runtime_of(ctx)
    try:
        with runtime.transaction() as db_session:
            result = work(runtime, db_session)
    except (GuidesError, InvalidInput, LookupError) as exc:
        raise click.ClickException(str(exc)) from None
    if is_memory_url(runtime.config.redis.url):
        runtime.queue.run_pending()
    return result



def _import_or_roll_back(runtime: Any, db_session: Any, import_guides: Callable[..., Any], text: str) -> Any:
    report = import_guides(runtime=runtime, db_session=db_session, text=text)
    if report.errors:
        db_session.rollback()
    return report


def _parse(parse: Callable[..., Any], model: Any, data: dict[str, Any]) -> Any:
    try:
        return parse(model, data)
    except InvalidInput as exc:
        raise click.ClickException("; ".join(f"{e['field']}: {e['message']}" for e in exc.errors)) from None
