"""The simulator's redemptions (scrm/simulator_redeem.py): a share of the coupons given to bound
customers is redeemed by their guide, in the guide's store, dated after each was given, so the
funnel's last step and the guides' leaderboard are not empty in the demo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from coupon_world import issue, make_template
from guide_world import create_guide, create_store, mp_scan, openid
from scrm.clock import FrozenClock
from scrm.coupons.models import Coupon
from scrm.customers.service import lookup
from scrm.dashboard.board import leaderboard
from scrm.simulator_redeem import EARLIEST_DELAY, LATEST_DELAY, redeem_some

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
ISSUED = NOW - timedelta(days=10)


@pytest.fixture
def given(runtime, client):  # noqa: ANN001, ANN201
    """Six customers bound to G1 by its code ten days ago, each given a coupon then; one more
    customer with a coupon but no guide."""
    runtime.clock = FrozenClock(ISSUED)
    create_store(runtime, "S1")
    g1 = create_guide(runtime, "G1", store="S1")
    template = make_template(runtime)
    coupons = []
    for _ in range(6):
        mp_scan(runtime, client, who := openid(), g1.mp_scene)
        with runtime.transaction() as db_session:
            coupons.append(issue(runtime, template, lookup(db_session=db_session, channel="mp", external_id=who).id))
    mp_scan(runtime, client, stray := openid(), "")
    with runtime.transaction() as db_session:
        unbound = issue(runtime, template, lookup(db_session=db_session, channel="mp", external_id=stray).id)
    runtime.clock.set(NOW)
    return g1, coupons, unbound


def _coupons(runtime) -> dict[int, Coupon]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        rows = db_session.scalars(select(Coupon)).all()
        db_session.expunge_all()
        return {row.id: row for row in rows}


def test_every_bound_customers_coupon_redeemed_by_their_guide_days_after_it_was_given(runtime, given, client, auth):
    g1, coupons, unbound = given
    done = redeem_some(runtime, fraction=1.0, seed=3)
    assert (done.redeemed, sum(done.refused.values())) == (6, 0)
    rows = _coupons(runtime)
    for coupon in coupons:
        row = rows[coupon.id]
        assert (row.status, row.redeemed_guide_id) == ("redeemed", g1.id)
        assert row.redeemed_store_id is not None
        waited = row.redeemed_at.replace(tzinfo=UTC) - row.issued_at.replace(tzinfo=UTC)
        assert EARLIEST_DELAY <= waited <= LATEST_DELAY, waited
    assert rows[unbound.id].status == "issued"  # no guide to bring it to

    stages = client.get("/api/stats/funnel?from=2026-11-01&to=2026-11-20", headers=auth()).get_json()["stages"]
    counts = [stage["count"] for stage in stages]
    assert counts[-1] == 6 and all(later <= earlier for earlier, later in zip(counts, counts[1:])), stages
    with runtime.transaction() as db_session:
        board = leaderboard(db_session=db_session, config=runtime.config, first_day=ISSUED.date(), last_day=NOW.date())
    assert [row.redemptions for row in board if row.code == g1.code] == [6]


def test_a_share_is_redeemed_the_same_for_the_same_seed_and_once(runtime, given):
    first = redeem_some(runtime, fraction=0.5, seed=7)
    assert 0 < first.redeemed < 6
    redeemed = {c.id for c in _coupons(runtime).values() if c.status == "redeemed"}
    again = redeem_some(runtime, fraction=0.0, seed=7)  # nothing more; the redeemed stay redeemed
    assert again.redeemed == 0
    assert {c.id for c in _coupons(runtime).values() if c.status == "redeemed"} == redeemed


def test_live_redemptions_happen_now(runtime, given):
    redeem_some(runtime, fraction=1.0, seed=1, backdated=False)
    assert {c.redeemed_at.replace(tzinfo=UTC) for c in _coupons(runtime).values() if c.status == "redeemed"} == {NOW}


def test_a_fraction_outside_zero_to_one_is_refused(runtime):
    with pytest.raises(ValueError):
        redeem_some(runtime, fraction=1.5)


@pytest.fixture
def gifting_shop(runtime):  # noqa: ANN001, ANN201
    """A guide whose code binds, and a gift for every customer bound (the demo's 新客礼)."""
    from scrm.coupons import coupon_templates
    from scrm.coupons.schemas import RuleIn

    create_store(runtime, "S1")
    guide = create_guide(runtime, "G1", store="S1")
    template = make_template(runtime, name="新客礼", kind="gift", gift="围兜", amount=None, min_spend=None)
    with runtime.transaction() as db_session:
        coupon_templates.create_rule(db_session=db_session, rule_in=RuleIn(template_id=template, trigger="binding"),
                                     at=runtime.clock.now())
    return guide


def _redeemed_by(runtime, guide_id: int) -> tuple[int, int]:  # noqa: ANN001
    """(coupons redeemed by the guide, coupons of customers bound to the guide)."""
    from guides.models import Binding

    with runtime.transaction() as db_session:
        coupons = db_session.scalars(select(Coupon).join(Binding, Binding.customer_id == Coupon.customer_id)
                                     .where(Binding.guide_id == guide_id)).all()
        return sum(c.status == "redeemed" and c.redeemed_guide_id == guide_id for c in coupons), len(coupons)


def test_scrm_simulate_redeems_in_the_servers_database(served_cli, runtime, gifting_shop):
    result = served_cli("simulate", "--customers", "12", "--days", "1", "--rate", "0", "--seed", "5",
                        "--work-fraction", "0", "--order-fraction", "0", "--retry-fraction", "0",
                        "--redeem-fraction", "1")
    assert result.exit_code == 0, result.output
    redeemed, given = _redeemed_by(runtime, gifting_shop.id)
    assert given > 0 and redeemed == given, result.output
    assert f"redemptions: {redeemed} coupons redeemed by their guides" in result.output


def test_scrm_simulate_with_a_token_redeems_nothing_and_says_why(served_cli, runtime, gifting_shop, make_token):
    result = served_cli("simulate", "--customers", "4", "--days", "1", "--rate", "0", "--seed", "5",
                        "--work-fraction", "0", "--order-fraction", "0", "--retry-fraction", "0",
                        "--token", make_token("manager"))
    assert result.exit_code == 0, result.output
    assert _redeemed_by(runtime, gifting_shop.id)[0] == 0
    assert "redemptions: none (with --token" in result.output
