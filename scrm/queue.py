"""The job queue: RQ on Redis.

Jobs are plain module-level functions that take ids and own their DB session
(``with current().transaction() as db_session``). Code that creates rows inside a
transaction calls :func:`enqueue_after_commit`: the job is enqueued only when that
transaction commits, and forgotten if it (or the savepoint it was added in) rolls back, so a
worker never looks for a row that is not there. :func:`gather_after_commit` makes ONE job of
the ids that many changes of one transaction name (a tag sync per transaction, not per tag).

A job that raises is retried with the configured backoff (``queue.backoff_seconds``) and,
after the last try, stays in RQ's failed registry with its error (``scrm jobs failed``,
``/healthz``). A job that raises :class:`scrm.errors.RetryLater` (WeChat's 45009, say) is put
back after ``retry_after`` seconds without spending a retry, at most ``MAX_DEFERRALS`` times.

``scrm worker`` is RQ's forking worker (a fresh work horse per job, so a job that leaks or
hangs takes nothing else down) that first imports each job's module itself
(:class:`PreloadingWorker`): the horses inherit the modules and the configured ORM mappers
instead of importing them again, which cost half a second of CPU per job (bench/outreach.py).
With ``redis.url = memory://`` an :class:`InProcessWorker` thread runs the same jobs inside
the web process (``scrm serve``/``scrm demo``); tests call :meth:`JobQueue.run_pending`.
"""

from __future__ import annotations

import importlib
import logging
import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rq import Queue, Retry, SimpleWorker, Worker
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from rq.timeouts import TimerDeathPenalty
from rq.utils import current_timestamp, now
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction, configure_mappers

from scrm.errors import RetryLater

if TYPE_CHECKING:
    from scrm.runtime import Runtime

log = logging.getLogger(__name__)

# Worked in this order. "urgent": WeCom welcome messages (their code lives 20 s).
QUEUE_NAMES = ("urgent", "default", "outreach")
MAX_DEFERRALS = 50
# What jobs import on first use besides their own module: every model (the mappers are
# configured with all of them) and the WeChat clients. See PreloadingWorker.
PRELOADED_MODULES = ("scrm.models", "scrm.wechat.mp", "scrm.wechat.work")
FAILED_TTL_SECONDS = 30 * 24 * 3600
LISTENER_WAKE_SECONDS = 1
_PENDING = "scrm.pending_jobs"
JOB_QUEUE = "scrm.job_queue"  # in Session.info: the queue of the runtime that made the session


class ScrmJob(Job):
    """An RQ job that honours :class:`RetryLater` (set in ``meta`` by the exception handler)."""

    @property
    def should_retry(self) -> bool:
        if "retry_later" in self.meta:
            return self.meta.get("deferrals", 0) < MAX_DEFERRALS
        return super().should_retry

    def retry(self, queue: Queue, pipeline: Any) -> None:
        wait = self.meta.pop("retry_later", None)
        if wait is None:
            return super().retry(queue, pipeline)
        self.meta["deferrals"] = self.meta.get("deferrals", 0) + 1
        self.set_status(JobStatus.SCHEDULED)
        queue.schedule_job(self, now() + timedelta(seconds=max(1, math.ceil(wait))), pipeline=pipeline)
        log.info("job %s deferred %ss (%s)", self.id, wait, self.func_name)


def _note_retry_later(job: Job, exc_type: type, exc_value: BaseException, tb: Any) -> bool:
    if isinstance(exc_value, RetryLater):
        job.meta["retry_later"] = exc_value.retry_after
    else:
        job.meta.pop("retry_later", None)
    return True  # go on to RQ's default handling


@dataclass(frozen=True)
class FailedJob:
    id: str
    queue: str
    func: str
    args: tuple[Any, ...]
    error: str
    ended_at: datetime | None


class JobQueue:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._wake = threading.Event()

    def rq_queue(self, name: str = "default") -> Queue:
        if name not in QUEUE_NAMES:
            raise ValueError(f"unknown queue {name!r}; queues: {', '.join(QUEUE_NAMES)}")
        return Queue(
            name,
            connection=self.runtime.redis,
            job_class=ScrmJob,
            default_timeout=self.runtime.config.queue.job_timeout_seconds,
        )

    def enqueue(
        self, func: Callable[..., Any], *args: Any, queue: str = "default", job_id: str | None = None, **kwargs: Any
    ) -> str:
        """Enqueue now. Inside a DB transaction use :func:`enqueue_after_commit` instead."""
        settings = self.runtime.config.queue
        retry = Retry(max=settings.max_retries, interval=settings.backoff_seconds) if settings.max_retries else None
        job = self.rq_queue(queue).enqueue(
            func, args=args, kwargs=kwargs, retry=retry, job_id=job_id, failure_ttl=FAILED_TTL_SECONDS
        )
        self._wake.set()
        return job.id

    def stats(self) -> dict[str, Any]:
        queues = [self.rq_queue(name) for name in QUEUE_NAMES]
        return {
            "depth": sum(q.count for q in queues),
            "scheduled": sum(q.scheduled_job_registry.count for q in queues),
            "failed": sum(q.failed_job_registry.count for q in queues),
        }

    def failed(self) -> list[FailedJob]:
        jobs = []
        for name in QUEUE_NAMES:
            registry = FailedJobRegistry(name, connection=self.runtime.redis, job_class=ScrmJob)
            for job in ScrmJob.fetch_many(registry.get_job_ids(), connection=self.runtime.redis):
                if job is None:
                    continue
                result = job.latest_result()
                error = (result.exc_string if result else None) or ""
                jobs.append(FailedJob(job.id, name, job.func_name, tuple(job.args), error.strip(), job.ended_at))
        return jobs

    def requeue_failed(self, job_id: str) -> None:
        """Put a failed job back with a fresh set of retries (someone fixed the cause)."""
        for name in QUEUE_NAMES:
            registry = FailedJobRegistry(name, connection=self.runtime.redis, job_class=ScrmJob)
            if job_id in registry.get_job_ids():
                job = ScrmJob.fetch(job_id, connection=self.runtime.redis)
                job.retries_left = self.runtime.config.queue.max_retries or None
                job.meta.pop("deferrals", None)
                job.save()
                registry.requeue(job_id)
                self._wake.set()
                return
        raise KeyError(job_id)

    def make_worker(self, *, in_process: bool = False) -> Worker:
        worker_class = InProcessWorker if in_process else PreloadingWorker
        return worker_class(
            [self.rq_queue(name) for name in QUEUE_NAMES],
            connection=self.runtime.redis,
            job_class=ScrmJob,
            queue_class=Queue,
            exception_handlers=[_note_retry_later],
        )

    def promote_due(self) -> int:
        """Move scheduled jobs (retries, deferrals) whose time has come onto their queues."""
        moved = 0
        for name in QUEUE_NAMES:
            queue = self.rq_queue(name)
            registry = queue.scheduled_job_registry
            for job_id in registry.get_jobs_to_schedule(current_timestamp()):
                job = queue.fetch_job(job_id)
                registry.remove(job_id)
                if job is not None:
                    queue.enqueue_job(job)
                    moved += 1
        return moved

    def run_pending(self, worker: InProcessWorker | None = None) -> int:
        """Work every job that is due, in this thread, until none is left; returns how many."""
        worker = worker or self.make_worker(in_process=True)
        done = 0
        while True:
            self.promote_due()
            if not any(self.rq_queue(name).count for name in QUEUE_NAMES):
                return done
            before = worker.jobs_worked
            worker.work(burst=True, logging_level="WARNING")
            done += worker.jobs_worked - before

    def start_in_process_worker(self) -> InProcessWorkerThread:
        thread = InProcessWorkerThread(self)
        thread.start()
        return thread


class _PromptCommandListener:
    """RQ's listener for commands (``rq.command``: shutdown, kill-horse, stop-job) waits on
    its pubsub 60 s at a time, and redis-py 8.2's ``PubSubWorkerThread.stop()`` joins that
    thread: a worker that stopped just after unsubscribing sat out the wait. This listener
    looks for its stop flag every :data:`LISTENER_WAKE_SECONDS` instead."""

    def subscribe(self) -> None:
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=LISTENER_WAKE_SECONDS, daemon=True, exception_handler=self._pubsub_exception_handler
        )


class PreloadingWorker(_PromptCommandListener, Worker):
    """RQ's forking worker, importing a job's module, :data:`PRELOADED_MODULES` and the ORM's
    mapper configuration before it forks the job's work horse, so that this and every later
    horse inherits them. Importing connects to nothing, so the horses share no connection."""

    def execute_job(self, job: Job, queue: Queue) -> None:
        try:
            for module in PRELOADED_MODULES:
                importlib.import_module(module)
            job.func  # noqa: B018 - imports the job's module here, in the parent
            configure_mappers()
        except Exception:  # noqa: BLE001 - the horse imports it again and fails the job with the error
            log.warning("could not preload %s", job.func_name, exc_info=True)
        super().execute_job(job, queue)


class InProcessWorker(SimpleWorker):
    """Runs jobs in a thread of this process: no signals (they need the main thread)."""

    death_penalty_class = TimerDeathPenalty
    jobs_worked = 0

    def execute_job(self, job: Job, queue: Queue) -> None:
        self.jobs_worked += 1
        super().execute_job(job, queue)

    def _install_signal_handlers(self) -> None:
        pass

    def subscribe(self) -> None:
        """No command listener: nothing outside this process commands its worker thread, and
        a listener per :meth:`JobQueue.run_pending` cost a pubsub connection and a thread."""


class InProcessWorkerThread(threading.Thread):
    """The ``memory://`` mode's worker: wakes on enqueue, and every second for retries."""

    def __init__(self, job_queue: JobQueue) -> None:
        super().__init__(name="scrm-in-process-worker", daemon=True)
        self.job_queue = job_queue
        self._stop_event = threading.Event()

    def run(self) -> None:
        worker = self.job_queue.make_worker(in_process=True)
        while not self._stop_event.is_set():
            try:
                self.job_queue.run_pending(worker)
            except Exception:  # noqa: BLE001 - keep serving; the failure is logged
                log.exception("in-process worker loop failed")
            self.job_queue._wake.wait(1.0)
            self.job_queue._wake.clear()

    def stop(self) -> None:
        self._stop_event.set()
        self.job_queue._wake.set()


# -- enqueue after commit ---------------------------------------------------------------


def enqueue_after_commit(
    db_session: Session, func: Callable[..., Any], *args: Any, queue: str = "default", **kwargs: Any
) -> None:
    """Enqueue ``func(*args)`` once ``db_session``'s transaction commits; never if it rolls back."""
    if queue not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {queue!r}")
    if JOB_QUEUE not in db_session.info:
        raise RuntimeError("work can be enqueued after commit only in a session made by a Runtime")
    if not db_session.in_transaction():
        db_session.begin()
    transaction = db_session.get_nested_transaction() or db_session.get_transaction()
    db_session.info.setdefault(_PENDING, []).append((transaction, func, args, kwargs, queue))


@dataclass
class _Gathered:
    """What :func:`gather_after_commit` collected for one function in one transaction."""

    items: dict[Any, None]  # an ordered set
    chunk: int


def gather_after_commit(
    db_session: Session, func: Callable[..., Any] | str, items: Iterable[Any], *, chunk: int = 500,
    queue: str = "default",
) -> None:
    """Like :func:`enqueue_after_commit`, but every call in one transaction adds ``items`` to
    ONE job, ``func(list_of_items)`` (split in jobs of ``chunk`` items): many small changes in a
    transaction make one job, not one each. ``func`` may be a function or, as RQ allows, its
    dotted path (for a lower module that must not import the job's). Forgotten if the
    transaction rolls back; items added in a savepoint that rolls back, to a job begun outside
    it, stay: for idempotent work (bringing something in line with the database), which a
    spare item does not harm."""
    for _transaction, pending_func, args, _kwargs, pending_queue in db_session.info.get(_PENDING, ()):
        if pending_func == func and pending_queue == queue and args and isinstance(args[0], _Gathered):
            args[0].items.update(dict.fromkeys(items))
            return
    enqueue_after_commit(db_session, func, _Gathered(dict.fromkeys(items), chunk), queue=queue)


def _job_args(args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    if not (args and isinstance(args[0], _Gathered)):
        return [args]
    items, chunk = list(args[0].items), args[0].chunk
    return [(items[start : start + chunk], *args[1:]) for start in range(0, len(items), chunk)]


def _within(transaction: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    pending = session.info.get(_PENDING)
    if pending:
        session.info[_PENDING] = [p for p in pending if not _within(p[0], previous_transaction)]


@event.listens_for(Session, "after_commit")
def _enqueue_committed(session: Session) -> None:
    pending = session.info.pop(_PENDING, [])
    if not pending:
        return
    job_queue = session.info[JOB_QUEUE]
    for _transaction, func, gathered, kwargs, queue in pending:
        for args in _job_args(gathered):
            try:
                job_queue.enqueue(func, *args, queue=queue, **kwargs)
            except Exception:
                # The rows are committed; say loudly which job is missing so it can be re-run.
                log.exception("committed, but could not enqueue %s%r", getattr(func, "__name__", func), args)
                raise
