"""The process's runtime: config plus the adapters built from it, made on first use.

The web app, the worker and the scheduler each ``install`` one; jobs reach it through
``current()``, so a job's arguments stay plain ids. Nothing here connects until asked.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import cached_property, wraps
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from scrm.clock import SystemClock
from scrm.config import Config, load_config
from scrm.db import make_engine, make_session_factory, transaction
from scrm.queue import JOB_QUEUE, JobQueue
from scrm.redis_store import connect
from scrm.wechat.mp import MPClient
from scrm.wechat.work import WorkClient

if TYPE_CHECKING:
    import redis
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker


class Runtime:
    def __init__(self, config: Config, *, clock: SystemClock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()

    @cached_property
    def engine(self) -> Engine:
        settings = self.config.database
        return make_engine(settings.url, echo=settings.echo, pool_size=settings.pool_size,
                           max_overflow=settings.max_overflow)

    @cached_property
    def session_factory(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine, info={JOB_QUEUE: self.queue})

    def transaction(self) -> AbstractContextManager[Session]:
        return transaction(self.session_factory)

    @cached_property
    def redis(self) -> redis.Redis:
        return connect(self.config.redis.url)

    @cached_property
    def queue(self) -> JobQueue:
        return JobQueue(self)

    @cached_property
    def mp(self) -> MPClient:
        return MPClient.from_runtime(self)

    @cached_property
    def work(self) -> WorkClient:
        return WorkClient.from_runtime(self)

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()


_current: Runtime | None = None
_lock = threading.Lock()


def install(runtime: Runtime) -> Runtime:
    global _current
    with _lock:
        _current = runtime
    return runtime


def current() -> Runtime:
    """The installed runtime; a worker process that has none builds one from its config."""
    global _current
    with _lock:
        if _current is None:
            _current = Runtime(load_config())
        return _current


P = ParamSpec("P")
R = TypeVar("R")


def job(work: Callable[Concatenate[Runtime, P], R]) -> Callable[P, R]:
    """A job, queued (RQ) or scheduled (APScheduler): called with plain ids, it is given the
    process's runtime as its first argument. RQ and APScheduler find it by its dotted path,
    which ``wraps`` keeps."""

    @wraps(work)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return work(current(), *args, **kwargs)

    called_with = inspect.signature(work)
    run.__signature__ = called_with.replace(parameters=list(called_with.parameters.values())[1:])  # what the queue passes
    return run
