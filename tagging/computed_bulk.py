"""Recompute every customer's computed tags, set-based (SPEC §5; target: 1,000,000 customers
in under 60 s on PostgreSQL; bench/computed.py measures it).

1. **Snapshot** (one transaction): the run's targets table ← the ONE aggregate of
   :func:`tagging.computed.targets_query` (orders grouped by customer, joined to customers):
   each customer's RFM tag and lifecycle tag. The highest order id is noted.
2. **Batches** of customer ids (one transaction each, so no lock is held for long and a
   progress bar moves), applied by ``tagging.recompute_workers`` connections at once on
   PostgreSQL (one per core the server can spare: one connection keeps one core busy), by
   one on SQLite (one writer). Batches are disjoint ranges of customers, so they never wait
   for one another. Per batch: ``computed_changes`` (a temporary table of the worker's
   connection) ← the computed rows that are not the target any more (removed) and the
   targets without their computed row (added); then, from it, in bulk:
   the ``tag_added``/``tag_removed`` timeline entries (cause: computation rfm/lifecycle), an
   UPDATE of the removed rows, an UPDATE of added rows that exist (not computed), and an
   INSERT of the new ones (ON CONFLICT DO UPDATE when a row appeared meanwhile). Rows whose
   class did not change are not touched. Once the batch commits, its changed customers that
   WeChat knows are queued for the tag mirror (scrm/mirror/jobs.py), in jobs of 200 — by the
   run's own thread, which also moves the progress bar and renews the lock.
3. **Catch-up**: a customer who ordered after the snapshot is left alone by the batches (the
   snapshot is stale for them) and recomputed one by one afterwards.

The run's tables (targets, and the timeline payloads of its 13 tags) are read by every
worker, so on PostgreSQL they are UNLOGGED tables named after the run (not temporary ones,
which only their own connection sees; unlogged: nothing of them goes to the WAL), dropped at
the end. A run that died leaves its tables behind: the next one drops them first, holding the
lock. On SQLite they are temporary tables of the one connection.

The statements are the same on PostgreSQL and SQLite (the embedded backend). Two recomputes
never run at once: a Redis lock, renewed each batch.

Cost: a night's run reads and compares (the aggregate, then one join per batch) and writes
little. The first run writes a tag row and a timeline entry per customer and group; their
foreign-key checks (customer_tags → customers and tags, interactions → customers) are then
about half of the time. Two connections on two cores take the bench's first run from ~47 s
to 29-35 s; ``synchronous_commit = off`` (10 commits a run) and more ``work_mem`` for the
batches' sorts made no difference that could be measured, so neither is set.
"""

from __future__ import annotations

import logging
import queue
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import ExitStack, closing
from datetime import datetime
from typing import TYPE_CHECKING

from redis.exceptions import LockError
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    Table,
    bindparam,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError

from scrm.customers.models import Customer
from tagging.computed import (
    COMPUTATIONS,
    LIFECYCLE_GROUP,
    RFM_GROUP,
    ComputedTags,
    Progress,
    Summary,
    Thresholds,
    ensure_computed_tags,
    recompute_customer,
    targets_query,
)
from tagging.mirror_queue import enqueue_sync
from tagging.models import Order
from tagging.scores import HELD

if TYPE_CHECKING:
    from scrm.runtime import Runtime

log = logging.getLogger(__name__)

LOCK_KEY = "scrm:tagging:recompute"
LOCK_SECONDS = 600  # renewed every batch; a crashed run frees the lock after this
SNAPSHOT_WORK_MEM = "256MB"  # PostgreSQL, the snapshot's transaction only


class RecomputeRunning(Exception):
    """Another recompute of every customer holds the lock."""


RUN_TABLES = "computed_run_"  # + the run's id: its targets and payloads (PostgreSQL: UNLOGGED)

_temp = MetaData()
_changes = Table(
    "computed_changes",
    _temp,
    Column("customer_id", BigInteger, primary_key=True, autoincrement=False),
    Column("tag_id", Integer, primary_key=True, autoincrement=False),
    Column("group_id", Integer, nullable=False),
    Column("added", Boolean, nullable=False),
    Column("noted", Boolean, nullable=False),  # carried before xor after: a timeline entry
    Column("existing", Boolean, nullable=False),  # the customer_tags row exists already
    prefixes=["TEMPORARY"],
)


def _run_tables(run_id: str, dialect: str) -> tuple[Table, Table]:
    """The run's targets and payloads, which every worker reads."""
    kind = ["UNLOGGED"] if dialect == "postgresql" else ["TEMPORARY"]
    tables = MetaData()
    targets = Table(
        f"{RUN_TABLES}{run_id}_targets",
        tables,
        Column("customer_id", BigInteger, primary_key=True, autoincrement=False),
        Column("rfm_tag_id", Integer),
        Column("lifecycle_tag_id", Integer),
        prefixes=kind,
    )
    payloads = Table(
        f"{RUN_TABLES}{run_id}_payloads",
        tables,
        Column("tag_id", Integer, primary_key=True, autoincrement=False),
        Column("payload", JSON, nullable=False),
        prefixes=kind,
    )
    return targets, payloads


# "fresh": orders after the snapshot; their customers wait for the catch-up.
_NOT_FRESH = "NOT EXISTS (SELECT 1 FROM orders fresh WHERE fresh.id > :max_order_id AND fresh.customer_id = {})"
_ADDED = """
SELECT t.customer_id, t.{col}, :{group}, true, (ct.customer_id IS NULL OR ct.active_until <= :now),
  ct.customer_id IS NOT NULL
FROM {{targets}} t
LEFT JOIN customer_tags ct
  ON ct.customer_id = t.customer_id AND ct.tag_id = t.{col} AND ct.customer_id BETWEEN :lo AND :hi
WHERE t.customer_id BETWEEN :lo AND :hi AND t.{col} IS NOT NULL AND (ct.customer_id IS NULL OR NOT ct.computed)
  AND """ + _NOT_FRESH.format("t.customer_id")
_FIND_CHANGES = (
    """
INSERT INTO computed_changes (customer_id, tag_id, group_id, added, noted, existing)
SELECT ct.customer_id, ct.tag_id, CASE WHEN ct.tag_id IN :rfm_tags THEN :rfm_group ELSE :lifecycle_group END,
  false, ct.active_until > :now, true
FROM customer_tags ct
LEFT JOIN {targets} t ON t.customer_id = ct.customer_id AND t.customer_id BETWEEN :lo AND :hi
WHERE ct.customer_id BETWEEN :lo AND :hi AND ct.computed AND (ct.tag_id IN :rfm_tags OR ct.tag_id IN :lifecycle_tags)
  AND (t.customer_id IS NULL OR ct.tag_id NOT IN (COALESCE(t.rfm_tag_id, 0), COALESCE(t.lifecycle_tag_id, 0)))
  AND """
    + _NOT_FRESH.format("ct.customer_id")
    + "\nUNION ALL"
    + _ADDED.format(col="rfm_tag_id", group="rfm_group")
    + "\nUNION ALL"
    + _ADDED.format(col="lifecycle_tag_id", group="lifecycle_group")
)
# Removals before additions, so a customer's timeline reads "removed A, added B".
_NOTE_CHANGES = """
INSERT INTO interactions (customer_id, kind, occurred_at, payload)
SELECT ch.customer_id, CASE WHEN ch.added THEN 'tag_added' ELSE 'tag_removed' END, :now, p.payload
FROM computed_changes ch JOIN {payloads} p ON p.tag_id = ch.tag_id
WHERE ch.noted
ORDER BY ch.customer_id, ch.added
"""
# As scores.set_computed does it: a removed computed row stops being carried now.
_REMOVE = text(
    """
UPDATE customer_tags SET computed = false, active_until = :now
WHERE customer_id BETWEEN :lo AND :hi AND EXISTS (
  SELECT 1 FROM computed_changes ch
  WHERE ch.customer_id = customer_tags.customer_id AND ch.tag_id = customer_tags.tag_id AND NOT ch.added)
"""
)
_RESTORE = text(
    """
UPDATE customer_tags SET computed = true, active_until = :held
WHERE customer_id BETWEEN :lo AND :hi AND EXISTS (
  SELECT 1 FROM computed_changes ch
  WHERE ch.customer_id = customer_tags.customer_id AND ch.tag_id = customer_tags.tag_id AND ch.added AND ch.existing)
"""
)
_INSERT_NEW = """
INSERT INTO customer_tags (customer_id, tag_id, score, scored_at, active_until, manual, computed)
SELECT customer_id, tag_id, 0, :now, :held, false, true FROM computed_changes WHERE added AND NOT existing
ORDER BY customer_id, tag_id
"""
# ON CONFLICT costs a third more per row (speculative insertion), so PostgreSQL tries without
# first; SQLite, and a batch that meets a row inserted meanwhile, use this.
_UPSERT_NEW = text(
    _INSERT_NEW
    + "ON CONFLICT (customer_id, tag_id) DO UPDATE SET computed = true, active_until = excluded.active_until"
)
_INSERT_NEW = text(_INSERT_NEW)
_COUNT = text("SELECT group_id, count(DISTINCT customer_id) FROM computed_changes GROUP BY group_id")
# The changed customers WeChat knows, for the tag mirror (scrm/mirror/jobs.py).
_MIRRORED = text(
    """
SELECT DISTINCT ch.customer_id FROM computed_changes ch
WHERE EXISTS (SELECT 1 FROM customer_identities i WHERE i.customer_id = ch.customer_id)
ORDER BY ch.customer_id
"""
)
_LEFTOVERS = text(
    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND starts_with(tablename, :run)"
)
_CLEAR = {"postgresql": text("TRUNCATE computed_changes"), "sqlite": text("DELETE FROM computed_changes")}

_TAG_LISTS = (bindparam("rfm_tags", expanding=True), bindparam("lifecycle_tags", expanding=True))
_MOMENTS = (bindparam("now", type_=DateTime(timezone=True)), bindparam("held", type_=DateTime(timezone=True)))


def recompute_all(runtime: Runtime, progress: Progress | None = None, *, batch_size: int = 100_000) -> Summary:
    """Recompute every customer's computed tags, set-based."""
    started = time.perf_counter()
    lock = runtime.redis.lock(LOCK_KEY, timeout=LOCK_SECONDS, thread_local=False)
    if not lock.acquire(blocking=False):
        raise RecomputeRunning("another recompute of computed tags is running; try again when it is done")
    try:
        with runtime.transaction() as db_session:
            tags = ensure_computed_tags(db_session=db_session)
        now = runtime.clock.now()
        engine = runtime.engine
        workers = runtime.config.tagging.recompute_workers if engine.dialect.name == "postgresql" else 1
        run = _Run(tags, Thresholds.of(runtime.config.tagging, now), now, engine.dialect.name)
        with engine.connect() as conn:
            try:
                customers, batches = run.snapshot(conn, batch_size)
                changed: Counter[str] = Counter()
                if progress:
                    progress(0, len(batches))
                with closing(run.applied(engine, conn, batches, workers)) as applied:
                    for done, (counts, to_mirror) in enumerate(applied, 1):
                        changed.update(counts)
                        enqueue_sync(runtime, to_mirror)  # committed: WeChat follows
                        lock.reacquire()
                        if progress:
                            progress(done, len(batches))
                late = run.fresh_customers(conn)
            finally:
                run.drop(conn)
        for customer_id in late:
            with runtime.transaction() as db_session:
                recompute_customer(runtime, db_session, customer_id)
    finally:
        try:
            lock.release()
        except LockError:
            log.warning("the recompute lock had expired before the end of the run")
    return Summary(
        customers=customers,
        changed={group: changed[group] for group in COMPUTATIONS},
        seconds=round(time.perf_counter() - started, 2),
        caught_up=len(late),
    )


Applied = tuple[Counter[str], list[int]]  # a batch's customers changed by group, and those to mirror


class _Run:
    def __init__(self, tags: ComputedTags, limits: Thresholds, now: datetime, dialect: str) -> None:
        self.tags = tags
        self.limits = limits
        self.now = now
        self.dialect = dialect
        self.max_order_id = 0
        self.created = False  # the run's tables exist (committed)
        self.targets, self.payloads = _run_tables(uuid.uuid4().hex[:12], dialect)
        find = _FIND_CHANGES.format(targets=self.targets.name)
        self.find_changes = text(find).bindparams(_MOMENTS[0], *_TAG_LISTS)
        self.note_changes = text(_NOTE_CHANGES.format(payloads=self.payloads.name)).bindparams(_MOMENTS[0])

    def snapshot(self, conn: Connection, batch_size: int) -> tuple[int, list[tuple[int, int]]]:
        """Fill the run's targets; the number of customers and the id ranges to work."""
        with conn.begin():
            if self.dialect == "postgresql":
                self._drop_leftovers(conn)
                # Enough memory to group the orders in a hash, not by a sort spilled to disk or
                # by walking the customer_id index across the whole table.
                conn.execute(text(f"SET LOCAL work_mem = '{SNAPSHOT_WORK_MEM}'"))
            self.targets.metadata.create_all(conn, checkfirst=False)
            _temp.create_all(conn, checkfirst=False)
            self.max_order_id = conn.scalar(select(func.coalesce(func.max(Order.__table__.c.id), 0)))
            query = targets_query(self.tags, self.limits)
            conn.execute(insert(self.targets).from_select(["customer_id", "rfm_tag_id", "lifecycle_tag_id"], query))
            conn.execute(insert(self.payloads), self._payloads())
            customers = conn.scalar(select(func.count()).select_from(self.targets))
            low, high = conn.execute(select(func.min(Customer.id), func.max(Customer.id))).one()
            self._analyze(conn, self.targets.name)
        self.created = True
        if low is None:
            return customers, []
        return customers, [(lo, min(lo + batch_size - 1, high)) for lo in range(low, high + 1, batch_size)]

    def applied(
        self, engine: Engine, conn: Connection, batches: list[tuple[int, int]], workers: int
    ) -> Iterator[Applied]:
        """Apply the batches on ``workers`` connections at once (``conn`` is one); each batch's
        result once it has committed, in the order they commit."""
        workers = min(workers, len(batches))
        if workers <= 1:
            for lo, hi in batches:
                yield self.apply(conn, lo, hi)
            return
        with ExitStack() as stack:
            idle: queue.SimpleQueue[Connection] = queue.SimpleQueue()
            idle.put(conn)
            for _ in range(workers - 1):
                other = stack.enter_context(engine.connect())
                with other.begin():
                    _temp.create_all(other, checkfirst=False)
                stack.callback(_drop_changes, other)
                idle.put(other)

            def apply(lo: int, hi: int) -> Applied:
                worker = idle.get()  # never waits: as many connections as threads
                try:
                    return self.apply(worker, lo, hi)
                finally:
                    idle.put(worker)

            pool = stack.enter_context(ThreadPoolExecutor(workers, thread_name_prefix="recompute"))
            futures = [pool.submit(apply, lo, hi) for lo, hi in batches]
            try:
                for future in as_completed(futures):
                    yield future.result()
            finally:  # a batch failed, or the caller stopped: no new batch starts
                for future in futures:
                    future.cancel()

    def apply(self, conn: Connection, lo: int, hi: int) -> Applied:
        """Write one batch's changes; customers changed by group name, and those WeChat knows."""
        params = {
            "lo": lo,
            "hi": hi,
            "now": self.now,
            "held": HELD,
            "max_order_id": self.max_order_id,
            "rfm_group": self.tags.rfm_group_id,
            "lifecycle_group": self.tags.lifecycle_group_id,
            "rfm_tags": list(self.tags.rfm.values()),
            "lifecycle_tags": list(self.tags.lifecycle.values()),
        }
        to_mirror: list[int] = []
        with conn.begin():
            conn.execute(self.find_changes, params)
            self._analyze(conn, "computed_changes")
            counts = Counter({self.tags.group_of(g): n for g, n in conn.execute(_COUNT)})
            if counts:
                to_mirror = list(conn.scalars(_MIRRORED))
                conn.execute(self.note_changes, params)
                conn.execute(_REMOVE.bindparams(_MOMENTS[0]), params)
                conn.execute(_RESTORE.bindparams(_MOMENTS[1]), params)
                self._insert_new(conn, params)
                conn.execute(_CLEAR[self.dialect])
        return counts, to_mirror

    @staticmethod
    def _insert_new(conn: Connection, params: dict) -> None:
        if conn.dialect.name != "postgresql":
            conn.execute(_UPSERT_NEW.bindparams(*_MOMENTS), params)
            return
        try:
            with conn.begin_nested():
                conn.execute(_INSERT_NEW.bindparams(*_MOMENTS), params)
        except IntegrityError:
            # A customer's own recompute (after an order) inserted one of these rows meanwhile.
            conn.execute(_UPSERT_NEW.bindparams(*_MOMENTS), params)

    def fresh_customers(self, conn: Connection) -> list[int]:
        orders = Order.__table__
        with conn.begin():
            query = select(orders.c.customer_id).where(orders.c.id > self.max_order_id).distinct()
            return sorted(conn.scalars(query))

    def drop(self, conn: Connection) -> None:
        try:
            if conn.in_transaction():
                conn.rollback()
            if not self.created:
                return
            with conn.begin():
                _temp.drop_all(conn, checkfirst=False)
                self.targets.metadata.drop_all(conn, checkfirst=False)
        except Exception:  # noqa: BLE001 - a broken connection: the temporary tables go with it
            log.exception("could not drop the recompute's tables (the next run drops them); discarding the connection")
            conn.invalidate()

    @staticmethod
    def _drop_leftovers(conn: Connection) -> None:
        """The tables of runs that died (this run holds the lock: no other is alive)."""
        names = conn.scalars(_LEFTOVERS, {"run": RUN_TABLES}).all()
        for name in names:
            conn.execute(text(f"DROP TABLE IF EXISTS {conn.dialect.identifier_preparer.quote(name)}"))
        if names:
            log.warning("dropped the tables a recompute that died left: %s", ", ".join(names))

    def _payloads(self) -> list[dict]:
        rows = []
        for group, names in ((RFM_GROUP, self.tags.rfm), (LIFECYCLE_GROUP, self.tags.lifecycle)):
            for name, tag_id in names.items():
                cause = {"kind": "computation", "ref": COMPUTATIONS[group]}
                payload = {"tag": name, "group": group, "tag_id": tag_id, "cause": cause}  # as scores._note
                rows.append({"tag_id": tag_id, "payload": payload})
        return rows

    @staticmethod
    def _analyze(conn: Connection, table: str) -> None:
        # PostgreSQL never auto-analyzes temporary tables (nor ours, made and read in minutes);
        # without statistics it guesses the joins' sizes badly.
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"ANALYZE {table}"))


def _drop_changes(conn: Connection) -> None:
    """Drop a worker connection's ``computed_changes`` before the pool takes it back."""
    try:
        if conn.in_transaction():
            conn.rollback()
        with conn.begin():
            _temp.drop_all(conn, checkfirst=False)
    except Exception:  # noqa: BLE001 - a broken connection: the temporary table goes with it
        log.exception("could not drop a recompute worker's temporary table; discarding the connection")
        conn.invalidate()
