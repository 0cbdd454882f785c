"""``scrm members audit`` and ``scrm members expire`` (SPEC §13) on both backends: a clean
ledger says so and exits 0; a tampered balance is printed and exits 1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from member_world import grant, make_member
from scrm.cli import main
from scrm.members import ledger
from scrm.members.models import Member, PointEntry

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


@pytest.fixture
def cli(frozen):  # noqa: ANN001, ANN201
    """Run ``scrm`` with the test runtime (as ``runtime_of(ctx)`` would have built it)."""
    runner = CliRunner()

    def run(*args: str):  # noqa: ANN202
        return runner.invoke(main, list(args), obj={"config": frozen.config, "runtime": frozen},
                             catch_exceptions=False)

    return run


def test_a_clean_ledger_is_one_line_and_exit_0(cli, frozen):
    amy, bob = make_member(frozen), make_member(frozen)
    grant(frozen, amy, 40)
    grant(frozen, bob, 25, expires_at=NOW + timedelta(hours=1))
    with frozen.transaction() as db_session:
        ledger.spend(db_session=db_session, customer_id=amy, amount=15, kind="exchange", source="test",
                     source_id=None, key="spend", at=NOW)
    result = cli("members", "audit")
    assert (result.exit_code, result.output) == (0, "2 members, all balanced\n")


def test_a_tampered_balance_is_printed_and_exits_1(cli, frozen):
    amy, bob = make_member(frozen), make_member(frozen)
    make_member(frozen)  # a third, balanced: not printed
    grant(frozen, amy, 40)
    lot = grant(frozen, bob, 30)
    with frozen.transaction() as db_session:
        db_session.execute(update(Member).where(Member.customer_id == amy).values(points_balance=1000))
        db_session.execute(update(PointEntry).where(PointEntry.id == lot).values(remaining=29))  # a lot, not the sum
    result = cli("members", "audit")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"member {amy}: balance 1000, ledger sum 40, lots remaining 40",
        f"member {bob}: balance 30, ledger sum 30, lots remaining 29",
        "2 of 3 members unbalanced",
    ]


def test_expire_runs_the_expiry_now_and_the_audit_stays_clean(cli, frozen):
    amy = make_member(frozen)
    grant(frozen, amy, 25, expires_at=NOW + timedelta(hours=1))
    grant(frozen, amy, 5)
    assert cli("members", "expire").output == "0 lots expired\n"
    frozen.clock.advance(hours=1)
    result = cli("members", "expire")
    assert (result.exit_code, result.output) == (0, "1 lots expired\n")
    with frozen.transaction() as db_session:
        assert db_session.get(Member, amy).points_balance == 5
    assert cli("members", "audit").output == "1 members, all balanced\n"
    assert cli("members", "expire").output == "0 lots expired\n"
