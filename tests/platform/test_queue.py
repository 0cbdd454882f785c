from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

import sample_jobs
from scrm.customers.models import Customer, Interaction
from scrm.queue import enqueue_after_commit


@pytest.fixture
def config_overrides():
    return {"queue.max_retries": 2, "queue.backoff_seconds": [0]}


def _customer(runtime) -> int:
    with runtime.transaction() as db_session:
        customer = Customer(nickname="小王")
        db_session.add(customer)
        db_session.flush()
        return customer.id


def _timeline(runtime, customer_id: int) -> list[str]:
    with runtime.transaction() as db_session:
        return list(db_session.scalars(select(Interaction.kind).where(Interaction.customer_id == customer_id)))


def test_job_enqueued_in_transaction_runs_after_commit(runtime):
    with runtime.transaction() as db_session:
        customer = Customer(nickname="new")
        db_session.add(customer)
        db_session.flush()
        enqueue_after_commit(db_session, sample_jobs.note_on_timeline, customer.id)
        assert runtime.queue.stats()["depth"] == 0, "enqueued before the commit"
    assert runtime.queue.stats()["depth"] == 1
    assert runtime.queue.run_pending() == 1
    assert _timeline(runtime, customer.id) == ["job_ran"]


def test_job_enqueued_in_rolled_back_transaction_never_runs(runtime):
    with pytest.raises(RuntimeError):
        with runtime.transaction() as db_session:
            customer = Customer(nickname="ghost")
            db_session.add(customer)
            db_session.flush()
            enqueue_after_commit(db_session, sample_jobs.note_on_timeline, customer.id)
            raise RuntimeError("the request failed")
    assert runtime.queue.stats()["depth"] == 0
    assert runtime.queue.run_pending() == 0


def test_rolled_back_savepoint_drops_only_its_own_jobs(runtime):
    customer_id = _customer(runtime)
    with runtime.transaction() as db_session:
        enqueue_after_commit(db_session, sample_jobs.note_on_timeline, customer_id, "outer")
        savepoint = db_session.begin_nested()
        enqueue_after_commit(db_session, sample_jobs.note_on_timeline, customer_id, "inner")
        savepoint.rollback()
    runtime.queue.run_pending()
    assert _timeline(runtime, customer_id) == ["outer"]


def test_failing_job_is_retried_then_visible_as_failed(runtime):
    customer_id = _customer(runtime)
    runtime.queue.enqueue(sample_jobs.always_fails, customer_id)
    runtime.queue.run_pending()
    assert int(runtime.redis.get(f"test:attempts:{customer_id}")) == 3  # first try + 2 retries
    failed = runtime.queue.failed()
    assert [(f.func, f.args) for f in failed] == [("sample_jobs.always_fails", (customer_id,))]
    assert "cannot process customer" in failed[0].error
    assert runtime.queue.stats()["failed"] == 1


def test_failed_job_can_be_requeued(runtime):
    customer_id = _customer(runtime)
    runtime.queue.enqueue(sample_jobs.always_fails, customer_id)
    runtime.queue.run_pending()
    runtime.queue.requeue_failed(runtime.queue.failed()[0].id)
    runtime.queue.run_pending()
    assert int(runtime.redis.get(f"test:attempts:{customer_id}")) == 6


class TestBackoff:
    @pytest.fixture
    def config_overrides(self):
        return {"queue.max_retries": 3, "queue.backoff_seconds": [60, 300]}

    def test_retry_waits_for_its_backoff(self, runtime):
        customer_id = _customer(runtime)
        job_id = runtime.queue.enqueue(sample_jobs.always_fails, customer_id)
        runtime.queue.run_pending()
        assert int(runtime.redis.get(f"test:attempts:{customer_id}")) == 1
        queue = runtime.queue.rq_queue("default")
        due = queue.scheduled_job_registry.get_scheduled_time(job_id)
        wait = (due - datetime.now(UTC)).total_seconds()
        assert 50 < wait <= 60

    def test_retry_later_defers_without_spending_a_retry(self, runtime):
        customer_id = _customer(runtime)
        job_id = runtime.queue.enqueue(sample_jobs.rate_limited_once, customer_id)
        runtime.queue.run_pending()
        queue = runtime.queue.rq_queue("default")
        job = queue.fetch_job(job_id)
        wait = (queue.scheduled_job_registry.get_scheduled_time(job_id) - datetime.now(UTC)).total_seconds()
        assert 20 < wait <= 31, "deferred by the error's retry_after, not the backoff list"
        assert job.retries_left == 3
        assert job.meta["deferrals"] == 1


def test_in_process_worker_thread_runs_jobs(runtime):
    customer_id = _customer(runtime)
    thread = runtime.queue.start_in_process_worker()
    try:
        with runtime.transaction() as db_session:
            enqueue_after_commit(db_session, sample_jobs.note_on_timeline, customer_id)
        import time

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not _timeline(runtime, customer_id):
            time.sleep(0.05)
    finally:
        thread.stop()
        thread.join(5)
    assert not thread.is_alive()
    assert _timeline(runtime, customer_id) == ["job_ran"]


def test_unknown_queue_is_refused(runtime):
    with runtime.transaction() as db_session:
        with pytest.raises(ValueError, match="unknown queue"):
            enqueue_after_commit(db_session, sample_jobs.note_on_timeline, 1, queue="nope")
        assert db_session.scalar(select(func.count(Customer.id))) == 0


@pytest.mark.parametrize("backend", ["real"], indirect=True)
def test_scrm_worker_process_runs_jobs_with_real_redis(runtime):
    """The production worker (forking, RQ's own scheduler for retries) runs our jobs."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    customer_id = _customer(runtime)
    runtime.queue.enqueue(sample_jobs.note_on_timeline, customer_id)
    tests_dir = Path(__file__).parents[1]  # sample_jobs.py
    env = {
        **os.environ,
        "PYTHONPATH": str(tests_dir),
        "SCRM_DATABASE__URL": runtime.config.database.url,
        "SCRM_REDIS__URL": runtime.config.redis.url,
    }
    scrm = Path(sys.executable).with_name("scrm")
    result = subprocess.run([str(scrm), "worker", "--burst"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert _timeline(runtime, customer_id) == ["job_ran"]


def _idle_scrm_worker(runtime):  # noqa: ANN001, ANN202
    """Start ``scrm worker`` on real Redis; return it and its RQ name once it waits for jobs."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    from rq import Worker

    env = {
        **os.environ,
        "SCRM_DATABASE__URL": runtime.config.database.url,
        "SCRM_REDIS__URL": runtime.config.redis.url,
    }
    scrm = Path(sys.executable).with_name("scrm")
    process = subprocess.Popen([str(scrm), "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        idle = [w for w in Worker.all(connection=runtime.redis) if w.pid == process.pid and w.get_state() == "idle"]
        if idle:
            return process, idle[0].name
        assert process.poll() is None, process.stdout.read()
        time.sleep(0.05)
    process.kill()
    raise AssertionError("scrm worker never became idle")


@pytest.mark.parametrize("backend", ["real"], indirect=True)
@pytest.mark.parametrize("how", ["SIGTERM", "rq shutdown command"])
def test_an_idle_scrm_worker_stops_within_5_seconds(runtime, how):
    """SIGTERM (systemd, docker stop) or RQ's shutdown command over its pubsub listener: an
    idle worker is gone within 5 s, not after its listener's wait."""
    import signal
    import subprocess

    from rq.command import send_shutdown_command

    process, name = _idle_scrm_worker(runtime)
    try:
        if how == "SIGTERM":
            process.send_signal(signal.SIGTERM)
        else:
            send_shutdown_command(runtime.redis, name)
        assert process.wait(timeout=5) == 0, process.stdout.read()
    except subprocess.TimeoutExpired:
        raise AssertionError(f"scrm worker still running 5 s after {how}") from None
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize("backend", ["real"], indirect=True)
def test_the_in_process_worker_opens_no_command_listener(runtime):
    """run_pending works jobs without a pubsub listener thread of RQ's per call."""
    import threading

    customer_id = _customer(runtime)
    runtime.queue.enqueue(sample_jobs.note_on_timeline, customer_id)
    worker = runtime.queue.make_worker(in_process=True)
    before = {t.ident for t in threading.enumerate()}
    assert runtime.queue.run_pending(worker) == 1
    assert _timeline(runtime, customer_id) == ["job_ran"]
    assert worker.pubsub is None and worker.pubsub_thread is None
    assert [t.name for t in threading.enumerate() if t.ident not in before] == []


def test_scrm_worker_refuses_memory_redis(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    scrm = Path(sys.executable).with_name("scrm")
    env = {**os.environ, "SCRM_REDIS__URL": "memory://", "SCRM_DATABASE__URL": f"sqlite:///{tmp_path}/x.db"}
    result = subprocess.run([str(scrm), "worker", "--burst"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "memory://" in result.stderr
