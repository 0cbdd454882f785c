from __future__ import annotations

import threading
import time

import pytest

from scrm.scheduler import LOCK_KEY, ScheduledJob, SchedulerService, last_beat


@pytest.fixture
def config_overrides():
    return {"scheduler.lock_ttl_seconds": 3, "scheduler.heartbeat_seconds": 1}


def _start(service: SchedulerService) -> threading.Thread:
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    return thread


def _wait_for(predicate, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_two_schedulers_never_both_hold_the_lock(runtime):
    first, second = SchedulerService(runtime, name="a"), SchedulerService(runtime, name="b")
    threads = [_start(first), _start(second)]
    assert _wait_for(lambda: first.active or second.active)
    both = 0
    for _ in range(60):  # ~3 s: longer than the lock's TTL, so renewals happen
        both += first.active and second.active
        time.sleep(0.05)
    holder, waiter = (first, second) if first.active else (second, first)
    assert both == 0
    assert runtime.redis.get(LOCK_KEY) == holder.name.encode()

    holder.stop()
    assert _wait_for(lambda: waiter.active), "the waiting scheduler takes over when the holder stops"
    assert not holder.active
    waiter.stop()
    for thread in threads:
        thread.join(10)
    assert runtime.redis.get(LOCK_KEY) is None


def test_a_scheduler_that_loses_its_lock_stops_firing(runtime):
    service = SchedulerService(runtime, name="a")
    thread = _start(service)
    assert _wait_for(lambda: service.active)
    runtime.redis.set(LOCK_KEY, b"someone-else")  # e.g. its lock expired while it was stalled
    assert _wait_for(lambda: not service.active)
    service.stop()
    thread.join(10)
    assert runtime.redis.get(LOCK_KEY) == b"someone-else", "it must not release another holder's lock"


def test_heartbeat_is_written_and_reported(runtime, client):
    assert client.get("/healthz").get_json()["scheduler"] == {"running": False, "last_beat": None}
    service = SchedulerService(runtime, name="beater")
    thread = _start(service)
    assert _wait_for(lambda: last_beat(runtime)["last_beat"] is not None)
    service.stop()
    thread.join(10)
    report = client.get("/healthz").get_json()["scheduler"]
    assert report["holder"] == "beater" and report["running"] is True


fired = threading.Event()


def fire() -> None:
    fired.set()


def test_scheduled_jobs_run_on_the_holder_and_are_stored_in_the_database(runtime):
    from sqlalchemy import text

    fired.clear()
    schedule = (ScheduledJob("test-fire", f"{__name__}:fire", "interval", {"seconds": 1}),)
    service = SchedulerService(runtime, name="a", schedule=schedule)
    thread = _start(service)
    assert _wait_for(lambda: fired.is_set())
    with runtime.engine.connect() as conn:
        assert conn.execute(text("SELECT id FROM apscheduler_jobs")).scalars().all() == ["test-fire"]
    service.stop()
    thread.join(10)
