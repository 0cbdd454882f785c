"""The crash test (issue #7): a run of 10,000 deliveries sent by real ``scrm worker`` processes
fed by a real ``scrm scheduler``, against the sandbox; halfway, one worker is SIGKILLed (its
work horse too, mid-job) and the scheduler is restarted. Every delivery ends ``sent`` and the
sandbox recorded exactly one ``message/custom/send`` per customer: none lost, none doubled.

PostgreSQL + Redis only (the embedded ``memory://`` Redis lives in one process). The sandbox
WeChat is the test's own app, served on a loopback port; the processes reach it, the database
and Redis through ``SCRM_…`` variables, as production configures them.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rq import Worker
from rq.job import Job
from sqlalchemy import func, insert, select

from scrm.customers.models import Customer, CustomerIdentity, Interaction
from scrm.outreach import campaigns, sender
from scrm.outreach.models import CampaignRun, Delivery
from scrm.outreach.schemas import CampaignIn, parse
from scrm.sandbox import state, world
from scrm.scheduler import last_beat

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("backend", ["real"], indirect=True)]

CUSTOMERS = 10_000
CUSTOM = "message/custom/send"
SCRM = Path(sys.executable).with_name("scrm")
# A job of 500 sends (planner.SEND_CHUNK) ends well within this on a busy 2-core machine; a job
# stopped by its timeout would leave its current delivery 'unconfirmed', not the crash tested here.
JOB_TIMEOUT = 45
STUCK_AFTER = JOB_TIMEOUT  # the least the configuration allows: the killed job's sends come back then
SWEEP_EVERY = 2
HOLD_SECONDS = 10  # the sandbox holds one send this long while its worker is found and killed
RECENT_CALLS = 5000  # how far back in the sandbox's call log the held call is looked for
SETTINGS = {
    "outreach.weekly_cap": 10,
    "outreach.quiet_hours": "",
    "outreach.stuck_after_seconds": STUCK_AFTER,
    "outreach.sweep_seconds": SWEEP_EVERY,
    "queue.job_timeout_seconds": JOB_TIMEOUT,
}


@pytest.fixture
def config_overrides():
    return dict(SETTINGS)


@pytest.fixture
def whole_call_log(monkeypatch):
    """The sandbox (this process) keeps every call of the run, not only the last 5,000."""
    monkeypatch.setattr(state, "MAX_CALLS", 4 * CUSTOMERS)


class Processes:
    """``scrm`` processes started with the stack's configuration; each is ended by its pid."""

    def __init__(self, stack, logs: Path) -> None:  # noqa: ANN001
        base = stack.url
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SCRM_")}
        self.env.update({
            "SCRM_DATABASE__URL": stack.runtime.config.database.url,
            "SCRM_REDIS__URL": stack.runtime.config.redis.url,
            "SCRM_SERVER__PUBLIC_BASE_URL": base,
            "SCRM_WECHAT__MP__API_BASE_URL": f"{base}/sandbox/wechat/mp/cgi-bin/",
            "SCRM_WECHAT__WORK__API_BASE_URL": f"{base}/sandbox/wechat/work/cgi-bin/",
            # The sandbox's throttle is ours to lift: this measures crashes, not quotas.
            "SCRM_WECHAT__RATE_LIMITS": '{"mp:message/custom/send" = 1000000}',
            "SCRM_SCHEDULER__LOCK_TTL_SECONDS": "10",
            "SCRM_SCHEDULER__HEARTBEAT_SECONDS": "1",
            "SCRM_QUEUE__BACKOFF_SECONDS": "[1]",
            "SCRM_LOGGING__LEVEL": "WARNING",
            "SCRM_LOGGING__FORMAT": "text",
            **{"SCRM_" + k.upper().replace(".", "__"): str(v) for k, v in SETTINGS.items()},
        })
        self.logs = logs
        self.started: list[subprocess.Popen] = []

    def start(self, command: str, name: str) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen([str(SCRM), command], env=self.env, cwd=self.logs, stdout=log,
                                   stderr=subprocess.STDOUT)
        log.close()
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
            for horse in _children(process.pid):
                _kill(horse)


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def seed_followers(runtime, now: datetime) -> list[str]:  # noqa: ANN001
    """CUSTOMERS followers who wrote an hour ago (our timeline and the sandbox both know)."""
    openids = [f"o{i:08d}crash" for i in range(CUSTOMERS)]
    wrote = now - timedelta(hours=1)
    world.add_followers(runtime.redis, openids, last_message_at=wrote, at=now - timedelta(days=30))
    with runtime.transaction() as db_session:
        ids = db_session.scalars(insert(Customer).returning(Customer.id, sort_by_parameter_order=True),
                                 [{"nickname": o} for o in openids]).all()
        db_session.execute(insert(CustomerIdentity), [
            {"customer_id": c, "channel": "mp", "external_id": o, "following": True}
            for c, o in zip(ids, openids, strict=True)])
        db_session.execute(insert(Interaction), [
            {"customer_id": c, "kind": "text", "channel": "mp", "payload": {}, "occurred_at": wrote} for c in ids])
    return openids


def launch_campaign(runtime, now: datetime) -> int:  # noqa: ANN001
    body = {"name": "双11 crash", "audience": {}, "channel": "mp_custom",
            "content": {"kind": "text", "text": "双11 全场满300减50"},
            "schedule": {"kind": "once", "at": now.isoformat()}}
    with runtime.transaction() as db_session:
        campaign_id = campaigns.create_campaign(
            db_session=db_session, campaign_in=parse(CampaignIn, body, what="campaign"), at=now).id
    with runtime.transaction() as db_session:
        campaigns.launch(runtime=runtime, db_session=db_session, campaign_id=campaign_id)
    return campaign_id


def statuses(runtime) -> Counter:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return Counter(dict(db_session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()))


def run_status(runtime, campaign_id: int) -> str:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.scalar(select(CampaignRun.status).where(CampaignRun.campaign_id == campaign_id))


def held_call(runtime, customer_of: dict[str, int]) -> tuple[int, list[int], int] | None:  # noqa: ANN001
    """The ``message/custom/send`` the sandbox is holding (the delay fault taken, the call
    unanswered for a while): (the worker pid that made it, its job's delivery ids, the delivery)."""
    if state.list_faults(runtime.redis):
        return None
    # The other worker goes on sending while this one waits: look far enough back.
    ids = runtime.redis.lrange(state.CALLS, -RECENT_CALLS, -1)
    calls = [json.loads(raw) for raw in runtime.redis.hmget(state.CALLS_DATA, ids) if raw]
    cutoff = datetime.now(UTC) - timedelta(seconds=HOLD_SECONDS / 3)
    held = [c for c in calls if c["api"] == CUSTOM and c["http_status"] is None
            and datetime.fromisoformat(c["at"]) < cutoff]
    if not held:
        return None
    with runtime.transaction() as db_session:
        delivery_id = db_session.scalar(
            select(Delivery.id).where(Delivery.customer_id == customer_of[held[0]["body"]["touser"]]))
    for worker in Worker.all(connection=runtime.redis):
        job_id = worker.get_current_job_id()
        if isinstance(job_id, bytes):
            job_id = job_id.decode()
        job_ids = Job.fetch(job_id, connection=runtime.redis).args[0] if job_id else []
        if delivery_id in job_ids:
            return worker.pid, job_ids, delivery_id
    return None


def still_sending(runtime, delivery_ids: list[int]) -> list[int]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return list(db_session.scalars(select(Delivery.id).where(Delivery.id.in_(delivery_ids),
                                                                 Delivery.status == "sending")))


def wait_for(what: str, check, timeout: float, processes: Processes) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not check():
        for process in processes.started:
            assert process.returncode is None or process.returncode in (0, -signal.SIGKILL, -signal.SIGTERM), \
                f"{process.args} exited {process.returncode}: see {processes.logs}"
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; logs in {processes.logs}")
        time.sleep(0.2)


def test_a_killed_worker_and_a_restarted_scheduler_neither_lose_nor_double_a_send(stack, whole_call_log, tmp_path,
                                                                                  caplog):
    caplog.set_level(logging.WARNING, logger="werkzeug")  # 20,000 request lines cost seconds
    runtime = stack.runtime
    now = datetime.now(UTC)
    openids = seed_followers(runtime, now)
    with runtime.transaction() as db_session:
        customer_of = dict(db_session.execute(
            select(CustomerIdentity.external_id, CustomerIdentity.customer_id)).all())
    campaign_id = launch_campaign(runtime, now)
    processes = Processes(stack, tmp_path)
    started = time.monotonic()
    try:
        scheduler = processes.start("scheduler", "scheduler-1")
        for n in (1, 2):
            processes.start("worker", f"worker-{n}")

        # The scheduler starts the run (outreach-runs), a worker plans it, both send.
        wait_for("half the run sent", lambda: statuses(runtime)["sent"] >= CUSTOMERS // 2, 150, processes)
        # The sandbox holds the next send; the worker that made it dies while its call is out.
        state.add_fault(runtime.redis, channel="mp", api=CUSTOM, delay_ms=HOLD_SECONDS * 1000)
        found: list[tuple[int, list[int], int]] = []
        wait_for("a held call", lambda: found.append(held_call(runtime, customer_of)) or found[-1], 30, processes)
        doomed_pid, job_ids, held_delivery = found[-1]
        horses = _children(doomed_pid)
        _kill(doomed_pid)  # the worker first: it cannot see its horse die and clean up
        for horse in horses:
            _kill(horse)
        (doomed,) = [p for p in processes.started if p.pid == doomed_pid]
        doomed.wait(5)
        at_kill, lost = statuses(runtime), still_sending(runtime, job_ids)
        scheduler.send_signal(signal.SIGTERM)
        scheduler.wait(10)
        restarted = processes.start("scheduler", "scheduler-2")
        processes.start("worker", "worker-3")
        wait_for("the restarted scheduler in charge",
                 lambda: f":{restarted.pid}:" in (last_beat(runtime).get("holder") or ""), 30, processes)

        wait_for("the run done", lambda: run_status(runtime, campaign_id) == "done", 180, processes)
    finally:
        processes.stop_all()
    elapsed = time.monotonic() - started

    final = statuses(runtime)
    assert final == Counter({"sent": CUSTOMERS}), (final, at_kill)
    assert held_delivery in lost, "the killed job did not hold the delivery whose call was out"
    with runtime.transaction() as db_session:
        # Its call was out when its worker died: counted sent, unconfirmed, not sent again.
        assert db_session.get(Delivery, held_delivery).wechat_ref == sender.UNCONFIRMED
    sends = [c for c in state.list_calls(runtime.redis, channel="mp", api=CUSTOM) if c["errcode"] == 0]
    per_customer = Counter(c["body"]["touser"] for c in sends)
    assert len(sends) == CUSTOMERS and set(per_customer) == set(openids)
    assert per_customer.most_common(1)[0][1] == 1, per_customer.most_common(3)
    received = world.count_messages(runtime.redis, openids)
    assert Counter(received.get(o, 0) for o in openids) == Counter({1: CUSTOMERS})  # what the customers received
    print(f"\ncrash run: {CUSTOMERS} sent in {elapsed:.1f}s; at the kill {dict(at_kill)}, "
          f"{len(lost)} left 'sending' by the killed job (one with its call out)")
