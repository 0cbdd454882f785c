"""Computed tags: RFM classes and lifecycle stages at their boundaries, set-based recompute
that writes only what changed, the CLI, the nightly schedule, the configuration."""

from __future__ import annotations

import inspect
import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from platform_world import reconfigure
from scrm.cli import main
from scrm.clock import FrozenClock
from scrm.config import ConfigError, load_config
from scrm.customers.models import Customer, Interaction
from tagging import computed, computed_bulk, jobs
from tagging.computed_bulk import LOCK_KEY, RecomputeRunning
from tagging.models import CustomerTag, Order, Tag, TagGroup

NOW = datetime(2026, 11, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)
_order_nos = itertools.count(1)


def days(n: float) -> timedelta:
    return timedelta(days=n)


def create_customer(runtime, *orders: tuple[timedelta, str], merged_into_id: int | None = None) -> int:
    """A customer with orders given as (age, amount): ordered ``age`` before NOW."""
    with runtime.transaction() as db_session:
        customer = Customer(merged_into_id=merged_into_id)
        db_session.add(customer)
        db_session.flush()
        for age, amount in orders:
            db_session.add(create_order(customer.id, NOW - age, amount))
        return customer.id


def create_order(customer_id: int, ordered_at: datetime, amount: str) -> Order:
    order_no = f"T-{next(_order_nos)}"
    return Order(order_no=order_no, customer_id=customer_id, amount=Decimal(amount), ordered_at=ordered_at)


def computed_tags(runtime, customer_id: int) -> dict[str, str]:
    with runtime.transaction() as db_session:
        rows = db_session.execute(
            select(TagGroup.name, Tag.name)
            .join(Tag, Tag.group_id == TagGroup.id)
            .join(CustomerTag, CustomerTag.tag_id == Tag.id)
            .where(CustomerTag.customer_id == customer_id, CustomerTag.computed.is_(True))
            .where(CustomerTag.active_until > runtime.clock.now())
        ).all()
    return dict(rows)


def timeline_count(runtime, *kinds: str) -> int:
    with runtime.transaction() as db_session:
        return db_session.scalar(select(func.count()).select_from(Interaction).where(Interaction.kind.in_(kinds)))


# -- RFM -------------------------------------------------------------------------------
# Defaults: recent ≤ 30 days, frequent ≥ 2 orders and big ≥ 500 in the last 365 days.

RFM_CASES = {
    # name: orders as (age, amount), expected class
    "all high, every boundary met exactly": ([(days(30), "250"), (days(365), "250")], "重要价值客户"),
    "recent, big, once": ([(days(1), "500")], "重要发展客户"),
    "frequent and big, 30 days and a second ago": ([(days(30) + SECOND, "250"), (days(40), "250")], "重要保持客户"),
    "big once, long ago": ([(days(200), "800")], "重要挽留客户"),
    "recent, frequent, a cent short": ([(days(2), "250"), (days(3), "249.99")], "一般价值客户"),
    "recent, once, small": ([(days(0), "9.90")], "一般发展客户"),
    "frequent, small, not recent": ([(days(31), "10"), (days(60), "10"), (days(90), "10")], "一般保持客户"),
    "once, small, long ago": ([(days(100), "20")], "一般挽留客户"),
    "cents add up to the threshold": ([(days(5), "499.99"), (days(6), "0.01")], "重要价值客户"),
    "an order a second out of the window counts for neither F nor M": (
        [(days(1), "250"), (days(365) + SECOND, "250")],
        "一般发展客户",
    ),
    "every order older than the window": ([(days(400), "900"), (days(500), "900")], "一般挽留客户"),
}


@pytest.fixture
def rfm_customers(frozen):
    return {name: (create_customer(frozen, *orders), expected) for name, (orders, expected) in RFM_CASES.items()}


def test_rfm_classes_at_the_boundaries(frozen, rfm_customers):
    no_orders = create_customer(frozen)
    summary = computed_bulk.recompute_all(frozen)
    got = {name: computed_tags(frozen, cid).get("RFM") for name, (cid, _) in rfm_customers.items()}
    assert got == {name: expected for name, (_, expected) in rfm_customers.items()}
    assert "RFM" not in computed_tags(frozen, no_orders), "no order, no RFM class"
    assert summary.customers == len(RFM_CASES) + 1
    assert summary.changed == {"RFM": len(RFM_CASES), "生命周期": len(RFM_CASES) + 1}


def test_the_mapping_is_the_classic_one():
    assert computed.classify_rfm(recent=True, frequent=True, big_spender=True) == "重要价值客户"
    assert computed.classify_rfm(recent=False, frequent=True, big_spender=True) == "重要保持客户"
    assert computed.classify_rfm(recent=True, frequent=False, big_spender=True) == "重要发展客户"
    assert computed.classify_rfm(recent=False, frequent=False, big_spender=True) == "重要挽留客户"
    assert computed.classify_rfm(recent=False, frequent=False, big_spender=False) == "一般挽留客户"
    assert len(set(computed.RFM_CLASSES.values())) == 8


def test_one_customer_recomputed_agrees_with_the_bulk(frozen, rfm_customers):
    computed_bulk.recompute_all(frozen)
    with frozen.transaction() as db_session:
        for customer_id, _ in rfm_customers.values():
            assert computed.recompute_customer(frozen, db_session, customer_id) == []


def test_thresholds_come_from_the_configuration(frozen):
    customer = create_customer(frozen, (days(50), "100"))
    computed_bulk.recompute_all(frozen)
    assert computed_tags(frozen, customer) == {"RFM": "一般挽留客户", "生命周期": "活跃"}
    reconfigure(frozen, {"tagging.rfm_recency_days": 60, "tagging.rfm_frequency": 1, "tagging.rfm_monetary": 100,
                         "tagging.lifecycle_new_days": 50})
    computed_bulk.recompute_all(frozen)
    assert computed_tags(frozen, customer) == {"RFM": "重要价值客户", "生命周期": "新客"}


# -- lifecycle -------------------------------------------------------------------------
# Defaults: new ≤ 30 days after the first order; active ≤ 90, dormant ≤ 180 after the last.

LIFECYCLE_CASES = {
    "no order yet": ([], "潜在"),
    "first order 30 days ago": ([days(30)], "新客"),
    "first order 30 days and a second ago": ([days(30) + SECOND], "活跃"),
    "old customer, ordered today": ([days(400), days(0)], "活跃"),
    "last order 90 days ago": ([days(90)], "活跃"),
    "last order 90 days and a second ago": ([days(90) + SECOND], "沉睡"),
    "last order 180 days ago": ([days(180), days(300)], "沉睡"),
    "last order 180 days and a second ago": ([days(180) + SECOND], "流失"),
}


def test_lifecycle_stages_at_the_boundaries(frozen):
    customers = {
        name: create_customer(frozen, *[(age, "10") for age in ages]) for name, (ages, _) in LIFECYCLE_CASES.items()
    }
    computed_bulk.recompute_all(frozen)
    got = {name: computed_tags(frozen, cid).get("生命周期") for name, cid in customers.items()}
    assert got == {name: expected for name, (_, expected) in LIFECYCLE_CASES.items()}


# -- recompute writes what changed, and only that ----------------------------------------


def test_recompute_changes_only_what_changed(frozen):
    fading = create_customer(frozen, (days(30), "600"))  # 新客, 重要发展客户 … for one more second
    steady = create_customer(frozen, (days(100), "10"))  # 沉睡, 一般挽留客户 for 80 days more
    prospect = create_customer(frozen)  # 潜在
    first = computed_bulk.recompute_all(frozen, batch_size=1)
    assert first.changed == {"RFM": 2, "生命周期": 3}
    assert timeline_count(frozen, "tag_added") == 5 and timeline_count(frozen, "tag_removed") == 0

    again = computed_bulk.recompute_all(frozen)
    assert again.changed == {"RFM": 0, "生命周期": 0}
    assert timeline_count(frozen, "tag_added", "tag_removed") == 5

    frozen.clock.advance(days=1)
    later = computed_bulk.recompute_all(frozen)
    assert later.changed == {"RFM": 1, "生命周期": 1}
    assert computed_tags(frozen, fading) == {"RFM": "重要挽留客户", "生命周期": "活跃"}
    assert computed_tags(frozen, steady) == {"RFM": "一般挽留客户", "生命周期": "沉睡"}
    assert computed_tags(frozen, prospect) == {"生命周期": "潜在"}
    assert timeline_count(frozen, "tag_added") == 7 and timeline_count(frozen, "tag_removed") == 2
    with frozen.transaction() as db_session:
        entries = db_session.scalars(
            select(Interaction).where(Interaction.customer_id == fading).order_by(Interaction.id)
        ).all()
    changes = [(e.kind, e.payload["tag"], e.payload["cause"]["ref"]) for e in entries[2:]]
    assert sorted(changes[:2]) == [("tag_removed", "新客", "lifecycle"), ("tag_removed", "重要发展客户", "rfm")]
    assert sorted(changes[2:]) == [("tag_added", "活跃", "lifecycle"), ("tag_added", "重要挽留客户", "rfm")]
    assert entries[-1].payload["cause"]["kind"] == "computation"
    assert entries[-1].payload["group"] in ("RFM", "生命周期") and entries[-1].payload["tag_id"]


def test_progress_is_reported_per_batch(frozen):
    for _ in range(5):
        create_customer(frozen)
    calls = []
    computed_bulk.recompute_all(frozen, lambda done, total: calls.append((done, total)), batch_size=2)
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]


def test_a_customer_who_orders_during_the_run_is_recomputed_after_it(frozen):
    early = create_customer(frozen)
    late = create_customer(frozen)

    def order_meanwhile(done: int, total: int) -> None:
        if done == 0:  # the snapshot is taken, no batch has started (they may run at once); this order is not in it
            with frozen.transaction() as db_session:
                db_session.add(create_order(late, NOW - days(1), "50"))

    summary = computed_bulk.recompute_all(frozen, order_meanwhile, batch_size=1)
    assert summary.caught_up == 1
    assert computed_tags(frozen, early) == {"生命周期": "潜在"}
    assert computed_tags(frozen, late) == {"RFM": "一般发展客户", "生命周期": "新客"}
    with frozen.transaction() as db_session:
        kinds = db_session.scalars(select(Interaction.kind).where(Interaction.customer_id == late)).all()
    assert sorted(kinds) == ["tag_added", "tag_added"], "no stale tag written and taken back"


def test_a_merged_away_customer_loses_its_computed_tags(frozen):
    keep = create_customer(frozen, (days(1), "10"))
    drop = create_customer(frozen)
    computed_bulk.recompute_all(frozen)
    assert computed_tags(frozen, drop) == {"生命周期": "潜在"}
    with frozen.transaction() as db_session:
        db_session.get(Customer, drop).merged_into_id = keep
    assert computed_bulk.recompute_all(frozen).customers == 1
    assert computed_tags(frozen, drop) == {}


def test_the_groups_are_created_once_as_computed(frozen):
    create_customer(frozen)
    computed_bulk.recompute_all(frozen)
    computed_bulk.recompute_all(frozen)
    with frozen.transaction() as db_session:
        groups = db_session.execute(select(TagGroup.name, TagGroup.computed)).all()
        assert sorted(groups) == [("RFM", True), ("生命周期", True)]
        assert db_session.scalar(select(func.count()).select_from(Tag)) == 13


def test_two_recomputes_never_run_at_once(frozen):
    frozen.redis.set(LOCK_KEY, b"another-run")
    with pytest.raises(RecomputeRunning):
        computed_bulk.recompute_all(frozen)
    frozen.redis.delete(LOCK_KEY)
    computed_bulk.recompute_all(frozen)
    assert frozen.redis.get(LOCK_KEY) is None


# -- CLI, schedule, configuration ---------------------------------------------------------


@pytest.fixture
def cli(runtime, monkeypatch):
    monkeypatch.setenv("SCRM_DATABASE__URL", runtime.config.database.url)
    monkeypatch.setenv("SCRM_REDIS__URL", runtime.config.redis.url)
    runner = CliRunner()
    return lambda *args: runner.invoke(main, list(args), catch_exceptions=False)


def test_cli_recompute_prints_the_summary(cli, runtime):
    now = datetime.now(UTC)
    with runtime.transaction() as db_session:
        customer = Customer()
        db_session.add(customer)
        db_session.flush()
        db_session.add(create_order(customer.id, now - days(3), "800"))
        db_session.add(Customer())
    result = cli("tags", "recompute", "--batch-size", "1000")
    assert result.exit_code == 0, result.output
    assert "recomputed 2 customers" in result.output and "changed: RFM 1, 生命周期 2" in result.output
    assert "changed: RFM 0, 生命周期 0" in cli("tags", "recompute").output


def test_cli_says_when_another_recompute_runs(cli, runtime):
    runtime.redis.set(LOCK_KEY, b"another-run")
    result = CliRunner().invoke(main, ["tags", "recompute"])
    assert result.exit_code == 1 and "another recompute" in result.output


def test_the_nightly_job_enqueues_the_recompute_which_runs(frozen):
    from scrm.runtime import install
    from scrm.scheduler import SCHEDULE

    (job,) = [j for j in SCHEDULE if j.id == "computed-tags-nightly"]
    assert job.func == "tagging.jobs:enqueue_recompute" and job.trigger == "cron"
    customer = create_customer(frozen, (days(1), "10"))
    install(frozen)
    jobs.enqueue_recompute()
    (queued,) = frozen.queue.rq_queue("default").get_jobs()
    assert queued.func is jobs.recompute_computed_tags
    inspect.signature(jobs.recompute_computed_tags).bind(*queued.args, **queued.kwargs)
    assert frozen.queue.run_pending() == 1
    assert computed_tags(frozen, customer) == {"RFM": "一般发展客户", "生命周期": "新客"}


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"SCRM_TAGGING__LIFECYCLE_NEW_DAYS": "100"}, "tagging.lifecycle_new_days <= tagging.lifecycle_active_days"),
        ({"SCRM_TAGGING__LIFECYCLE_DORMANT_DAYS": "60"}, "they are 30, 90, 60"),
        ({"SCRM_TAGGING__RFM_MONETARY": "0"}, "tagging.rfm_monetary: Input should be greater than 0"),
        ({"SCRM_TAGGING__RFM_FREQUENCY": "-1"}, "tagging.rfm_frequency: Input should be greater than 0"),
        ({"SCRM_TAGGING__RFM_WINDOW_DAYS": "a year"}, "tagging.rfm_window_days"),
    ],
)
def test_bad_tagging_configuration_is_refused_naming_the_keys(environ, message):
    with pytest.raises(ConfigError) as caught:
        load_config(environ=environ)
    assert message in str(caught.value)
    assert next(iter(environ)) in str(caught.value), "names where the bad value came from"


def test_tagging_defaults():
    settings = load_config(environ={}).tagging
    assert (settings.rfm_recency_days, settings.rfm_frequency, settings.rfm_monetary, settings.rfm_window_days) == (
        30, 2, 500, 365
    )
    stages = (settings.lifecycle_new_days, settings.lifecycle_active_days, settings.lifecycle_dormant_days)
    assert stages == (30, 90, 180)


@pytest.mark.parametrize("backend", ["real"], indirect=True)  # SQLite's path always upserts
def test_a_row_inserted_meanwhile_falls_back_to_the_upsert(frozen, monkeypatch):
    """PostgreSQL inserts new rows without ON CONFLICT; if one appeared meanwhile (a
    customer's own recompute after an order), the batch upserts instead of failing."""
    from sqlalchemy import text

    from tagging import computed_bulk

    customer = create_customer(frozen, (days(1), "10"))
    duplicating = computed_bulk._INSERT_NEW.text.replace(
        "WHERE added AND NOT existing", "WHERE added AND NOT existing UNION ALL SELECT customer_id, tag_id, 0, "
        ":now, :held, false, true FROM computed_changes WHERE added AND NOT existing", 1,
    )
    monkeypatch.setattr(computed_bulk, "_INSERT_NEW", text(duplicating))
    assert computed_bulk.recompute_all(frozen).changed == {"RFM": 1, "生命周期": 1}
    assert computed_tags(frozen, customer) == {"RFM": "一般发展客户", "生命周期": "新客"}


# -- parallel batches ------------------------------------------------------------------------


def recompute_results(runtime) -> tuple[list[tuple], list[tuple]]:
    """Every customer-tag row and every timeline entry, without ids, in a stable order."""
    tag_rows = CustomerTag.__table__
    with runtime.transaction() as db_session:
        rows = db_session.execute(select(tag_rows).order_by(tag_rows.c.customer_id, tag_rows.c.tag_id)).all()
        entries = db_session.execute(
            select(Interaction.customer_id, Interaction.kind, Interaction.occurred_at, Interaction.payload).order_by(
                Interaction.customer_id, Interaction.id
            )
        ).all()
    return [tuple(row) for row in rows], [(c, kind, at, sorted(payload.items())) for c, kind, at, payload in entries]


def test_parallel_batches_give_what_one_connection_gives(frozen, monkeypatch):
    """Three nights (everyone new, a day later, 100 days later), once on one connection and
    once on recompute_workers connections: the same rows, timeline, summaries and syncs. On
    PostgreSQL the batches really are spread; SQLite (one writer) always uses one."""
    from scrm.customers.models import CustomerIdentity
    from tagging import computed_bulk

    cases = [orders for orders, _ in RFM_CASES.values()]
    cases += [[(age, "10") for age in ages] for ages, _ in LIFECYCLE_CASES.values()]
    customers = [create_customer(frozen, *orders) for orders in cases]
    with frozen.transaction() as db_session:
        for n, customer_id in enumerate(customers[::3]):
            db_session.add(CustomerIdentity(customer_id=customer_id, channel="mp", external_id=f"o-{n}"))
    synced: list[int] = []
    monkeypatch.setattr(computed_bulk, "enqueue_sync", lambda runtime, ids: synced.extend(ids))
    connections: set[int] = set()
    apply = computed_bulk._Run.apply

    def noting_the_connection(run, conn, lo, hi):  # noqa: ANN001, ANN202
        connections.add(id(conn.connection.dbapi_connection))
        return apply(run, conn, lo, hi)

    monkeypatch.setattr(computed_bulk._Run, "apply", noting_the_connection)

    def three_nights(workers: int) -> tuple:
        reconfigure(frozen, {"tagging.recompute_workers": workers})
        frozen.clock = FrozenClock(NOW)
        synced.clear()
        connections.clear()
        summaries = []
        for advance in (0, 1, 100):
            frozen.clock.advance(days=advance)
            summary = computed_bulk.recompute_all(frozen, batch_size=2)
            summaries.append((summary.customers, summary.changed, summary.caught_up))
        results = recompute_results(frozen)
        with frozen.transaction() as db_session:  # as if computed tags had never been
            db_session.execute(CustomerTag.__table__.delete())
            db_session.execute(Interaction.__table__.delete())
        return summaries, results, sorted(synced), len(connections)

    *alone, one = three_nights(1)
    *together, spread = three_nights(3)
    assert together == alone
    assert alone[0][0][1] == {"RFM": len(RFM_CASES) + len(LIFECYCLE_CASES) - 1, "生命周期": len(customers)}
    assert one == 1
    assert spread == (3 if frozen.engine.dialect.name == "postgresql" else 1)


def run_tables(runtime) -> list[str]:
    from sqlalchemy import text

    with runtime.engine.connect() as conn:
        query = "SELECT tablename FROM pg_tables WHERE tablename LIKE 'computed%' ORDER BY 1"
        return list(conn.scalars(text(query)))


@pytest.mark.parametrize("backend", ["real"], indirect=True)  # SQLite's run tables are temporary
def test_a_failed_batch_stops_the_run_and_leaves_nothing_behind(frozen, monkeypatch):
    from tagging import computed_bulk

    for _ in range(6):
        create_customer(frozen, (days(1), "10"))
    apply = computed_bulk._Run.apply

    def failing_on_the_third(run, conn, lo, hi):  # noqa: ANN001, ANN202
        if lo == 5:
            raise RuntimeError("the database went away")
        return apply(run, conn, lo, hi)

    monkeypatch.setattr(computed_bulk._Run, "apply", failing_on_the_third)
    with pytest.raises(RuntimeError, match="went away"):
        computed_bulk.recompute_all(frozen, batch_size=2)
    assert frozen.redis.get(LOCK_KEY) is None
    assert run_tables(frozen) == []
    monkeypatch.setattr(computed_bulk._Run, "apply", apply)
    assert computed_bulk.recompute_all(frozen, batch_size=2).changed == {"RFM": 2, "生命周期": 2}, "the 2 failed"


@pytest.mark.parametrize("backend", ["real"], indirect=True)
def test_the_tables_of_a_run_that_died_are_dropped_by_the_next(frozen):
    from sqlalchemy import text

    with frozen.engine.begin() as conn:
        conn.execute(text("CREATE UNLOGGED TABLE computed_run_0123456789ab_targets (customer_id bigint)"))
    create_customer(frozen)
    computed_bulk.recompute_all(frozen)
    assert run_tables(frozen) == []
