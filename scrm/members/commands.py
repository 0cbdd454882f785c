"""``scrm members …`` (scrm/cli.py declares them): the ledger's audit and the expiry, from a
terminal."""

from __future__ import annotations

import click
from sqlalchemy import func, select

from scrm.cli_context import runtime_of
from scrm.members import expiry, ledger
from scrm.members.models import Member


def audit(ctx: click.Context) -> None:
    """Each member whose balance is not the sum of their ledger (or of their lots' remaining),
    printed as the audit reads them, then exit 1; else one line and exit 0."""
    runtime = runtime_of(ctx)
    found = 0
    with runtime.transaction() as db_session:
        members = db_session.scalar(select(func.count()).select_from(Member))
        for finding in ledger.audit_findings(db_session=db_session):
            found += 1
            click.echo(f"member {finding.customer_id}: balance {finding.balance}, ledger sum {finding.ledger_sum}, "
                       f"lots remaining {finding.lots_remaining}")
    if found:
        click.echo(f"{found:,} of {members:,} members unbalanced")
        ctx.exit(1)
    click.echo(f"{members:,} members, all balanced")


def expire(ctx: click.Context) -> None:
    runtime = runtime_of(ctx)
    expired = expiry.expire_due.__wrapped__(runtime)
    click.echo(f"{expired:,} lots expired")
