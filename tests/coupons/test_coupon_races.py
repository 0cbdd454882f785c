"""The races, on the real PostgreSQL: 64 threads redeeming the same 1,000 coupons at once end
with exactly 1,000 successes, every other attempt ``already_redeemed``; 64 issuers against a
stock of 100 issue exactly 100; 64 issuers for one customer with a limit of 1 issue one."""

from __future__ import annotations

import random
from collections import Counter as Tally

import pytest
from sqlalchemy import func, select

from coupon_world import make_customer, make_template
from guide_world import create_guide, create_store, guide_id
from platform_world import run_together
from scrm.coupons import issuing, redemption
from scrm.coupons.codes import display
from scrm.coupons.models import Coupon, CouponAttempt, CouponTemplate

THREADS = 64
real_only = pytest.mark.parametrize("backend", ["real"], indirect=True)


@pytest.fixture
def config_overrides():
    return {"database.pool_size": THREADS, "database.max_overflow": 0}  # a connection per thread: all at once


def issue_many(runtime, template_id: int, count: int) -> list[str]:  # noqa: ANN001
    customers = [make_customer(runtime) for _ in range(count)]
    with runtime.transaction() as db_session:
        return [display(issuing.issue(runtime=runtime, db_session=db_session, template_id=template_id,
                                      customer_id=customer, source="manual", source_ref="race",
                                      at=runtime.clock.now()).code) for customer in customers]


@real_only
def test_64_threads_redeeming_the_same_1000_coupons_succeed_exactly_1000_times(runtime):
    create_store(runtime, "S1")
    create_guide(runtime, "G1", store="S1")
    counter = redemption.Counter(user_id=1, store_id=1, guide_id=guide_id(runtime, "G1"), guide_code="G1")
    codes = issue_many(runtime, make_template(runtime), 1000)

    def redeem_all(i: int) -> Tally:
        order = codes[:]
        random.Random(i).shuffle(order)
        results: Tally = Tally()
        for code in order:
            with runtime.transaction() as db_session:
                outcome = redemption.redeem(runtime=runtime, db_session=db_session, code=code, counter=counter)
            results[outcome.result] += 1
        return results

    total = sum(run_together(redeem_all, THREADS), Tally())
    assert total == {"ok": 1000, "already_redeemed": THREADS * 1000 - 1000}
    with runtime.transaction() as db_session:
        assert db_session.scalar(select(func.count()).where(Coupon.status == "redeemed")) == 1000
        oks = db_session.execute(select(CouponAttempt.coupon_id, func.count()).where(CouponAttempt.result == "ok")
                                 .group_by(CouponAttempt.coupon_id)).all()
        assert len(oks) == 1000 and {count for _, count in oks} == {1}
        assert db_session.scalar(select(func.count()).select_from(CouponAttempt)) == THREADS * 1000


@real_only
def test_64_issuers_against_a_stock_of_100_issue_exactly_100(runtime):
    template_id = make_template(runtime, stock=100, per_customer_limit=None)
    customers = [make_customer(runtime) for _ in range(THREADS)]

    def issue_five(i: int) -> Tally:
        results: Tally = Tally()
        for _ in range(5):
            try:
                with runtime.transaction() as db_session:
                    issuing.issue(runtime=runtime, db_session=db_session, template_id=template_id,
                                  customer_id=customers[i], source="manual", source_ref=None, at=runtime.clock.now())
                results["issued"] += 1
            except issuing.NotIssued as exc:
                results[exc.reason] += 1
        return results

    total = sum(run_together(issue_five, THREADS), Tally())
    assert total == {"issued": 100, "out_of_stock": THREADS * 5 - 100}
    with runtime.transaction() as db_session:
        assert db_session.scalar(select(func.count()).select_from(Coupon)) == 100
        assert db_session.get(CouponTemplate, template_id).issued_count == 100


@real_only
def test_64_issuers_for_one_customer_with_a_limit_of_1_issue_one(runtime):
    template_id = make_template(runtime, per_customer_limit=1)
    amy = make_customer(runtime)

    def issue_one(_: int) -> str:
        try:
            with runtime.transaction() as db_session:
                issuing.issue(runtime=runtime, db_session=db_session, template_id=template_id, customer_id=amy,
                              source="manual", source_ref=None, at=runtime.clock.now())
            return "issued"
        except issuing.NotIssued as exc:
            return exc.reason

    assert Tally(run_together(issue_one, THREADS)) == {"issued": 1, "limit_reached": THREADS - 1}
    with runtime.transaction() as db_session:
        assert db_session.scalar(select(func.count()).select_from(Coupon)) == 1
        assert db_session.get(CouponTemplate, template_id).issued_count == 1
