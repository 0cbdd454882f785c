"""A per-process snapshot of rarely changing data, kept current by a version counter in Redis.

Readers pay one Redis GET per use and no database query: the snapshot is reloaded only when
the counter differs from the one it was loaded at. Writers bump the counter *after* their
transaction commits (bumping before would let another process reload the old rows and keep
them under the new version). A reader reads the counter *before* loading, so a commit that
lands while it loads is caught on its next use.

Two safety nets: a snapshot older than ``max_age`` is reloaded anyway (a writer that died
between its commit and its bump is healed), and when Redis does not answer the current
snapshot is used rather than failing the webhook.

Used by keyword replies (:mod:`scrm.replies.service`) and the tag rule book
(:mod:`tagging.rules`). A value that is slow to build (the tag rule book's jieba dictionary)
passes ``stale_while_loading=True``: while one thread reloads, the others answer from the
snapshot they have instead of queueing behind the load (a first load is always waited for).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import redis
from sqlalchemy import event
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from scrm.runtime import Runtime

log = logging.getLogger(__name__)

T = TypeVar("T")

_UNREADABLE = object()  # the version when Redis did not answer
_PENDING_BUMPS = "scrm.versioned_cache.pending_bumps"


@dataclass(frozen=True)
class _Snapshot(Generic[T]):
    version: object
    loaded_at: float
    value: T


class _Slot(Generic[T]):
    def __init__(self) -> None:
        self.lock = threading.Lock()  # one loader at a time; readers never take it on a hit
        self.snapshot: _Snapshot[T] | None = None


class VersionedCache(Generic[T]):
    """``get(runtime)`` → the value ``load(runtime)`` made, reloaded when ``key`` changes."""

    def __init__(
        self, key: str, load: Callable[[Runtime], T], *, max_age: float = 300.0, stale_while_loading: bool = False
    ) -> None:
        self.key = key
        self.max_age = max_age
        self.stale_while_loading = stale_while_loading
        self._load = load
        # Per runtime (a process normally has one; tests make several), dropped with it.
        self._slots: weakref.WeakKeyDictionary[Runtime, _Slot[T]] = weakref.WeakKeyDictionary()
        self._slots_lock = threading.Lock()

    def get(self, runtime: Runtime) -> T:
        slot = self._slot(runtime)
        version = self._read_version(runtime)
        snapshot = slot.snapshot
        if snapshot is not None and self._current(snapshot, version):
            return snapshot.value
        waits = snapshot is None or not self.stale_while_loading
        if not slot.lock.acquire(blocking=waits):
            return snapshot.value  # another thread is loading the new one
        try:
            snapshot = slot.snapshot
            if snapshot is not None and self._current(snapshot, version):
                return snapshot.value
            snapshot = _Snapshot(version, time.monotonic(), self._load(runtime))
            slot.snapshot = snapshot
            return snapshot.value
        finally:
            slot.lock.release()

    def loaded(self, runtime: Runtime) -> bool:
        """Whether a value is in memory for ``runtime`` (current or not)."""
        slot = self._slots.get(runtime)
        return slot is not None and slot.snapshot is not None

    def bump_after_commit(self, db_session: Session, client: redis.Redis) -> None:
        """Bump the version once ``db_session``'s transaction commits; nothing if it rolls back."""
        db_session.info.setdefault(_PENDING_BUMPS, {})[self.key] = (self, client)

    def bump(self, client: redis.Redis) -> None:
        try:
            client.incr(self.key)
        except redis.RedisError:
            log.warning("could not bump %s; other processes catch up within %ss", self.key, self.max_age)

    def _slot(self, runtime: Runtime) -> _Slot[T]:
        with self._slots_lock:
            slot = self._slots.get(runtime)
            if slot is None:
                slot = self._slots[runtime] = _Slot()
            return slot

    def _read_version(self, runtime: Runtime) -> object:
        try:
            return runtime.redis.get(self.key)
        except redis.RedisError:
            log.warning("could not read %s; answering from the snapshot in memory", self.key)
            return _UNREADABLE

    def _current(self, snapshot: _Snapshot[Any], version: object) -> bool:
        if time.monotonic() - snapshot.loaded_at > self.max_age:
            return False
        return version is _UNREADABLE or snapshot.version == version


@event.listens_for(Session, "after_commit")
def _bump_committed(session: Session) -> None:
    # A rolled-back session's pending bumps stay until its next commit: a spare bump only
    # costs a reload, a missing one would leave other processes stale.
    pending: dict[str, tuple[VersionedCache[Any], redis.Redis]] = session.info.pop(_PENDING_BUMPS, None) or {}
    for cache, client in pending.values():
        cache.bump(client)
