"""The process's runtime: config plus the adapters built from it, made on first use.

The web app, the worker and the scheduler each ``install`` one; jobs reach it through
``current()``, so a job's arguments stay plain ids. Nothing here connects until asked.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from functools import cached_property
from typing import TYPE_CHECKING

from scrm.clock import SystemClock
from scrm.config import Config

if TYPE_CHECKING:
    import redis
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from scrm.queue import JobQueue
    from scrm.wechat.mp import MPClient
    from scrm.wechat.work import WorkClient


class Runtime:
    def __init__(self, config: Config, *, clock: SystemClock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()

    @cached_property
    def engine(self) -> Engine:
        from scrm.db import make_engine

        settings = self.config.database
        return make_engine(settings.url, echo=settings.echo, pool_size=settings.pool_size,
                           max_overflow=settings.max_overflow)

    @cached_property
    def session_factory(self) -> sessionmaker[Session]:
        from scrm.db import make_session_factory

        return make_session_factory(self.engine)

    def transaction(self) -> AbstractContextManager[Session]:
        from scrm.db import transaction

        return transaction(self.session_factory)

    @cached_property
    def redis(self) -> redis.Redis:
        from scrm.redis_store import connect

        return connect(self.config.redis.url)

    @cached_property
    def queue(self) -> JobQueue:
        from scrm.queue import JobQueue

        return JobQueue(self)

    @cached_property
    def mp(self) -> MPClient:
        from scrm.wechat.mp import MPClient

        return MPClient.from_runtime(self)

    @cached_property
    def work(self) -> WorkClient:
        from scrm.wechat.work import WorkClient

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
            from scrm.config import load_config

            _current = Runtime(load_config())
        return _current
