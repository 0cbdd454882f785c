"""Tagging jobs: plain functions that own their sessions (run by the queue's workers)."""

from __future__ import annotations

import logging

from scrm.runtime import Runtime, job
from tagging.computed_bulk import RecomputeRunning, recompute_all

log = logging.getLogger(__name__)


@job
def recompute_computed_tags(runtime: Runtime) -> None:
    """Recompute every customer's RFM class and lifecycle stage (queued nightly)."""
    try:
        summary = recompute_all(runtime)
    except RecomputeRunning as exc:
        log.info("computed tags not recomputed: %s", exc)  # the running one does the work
        return
    log.info(
        "%s",
        summary.describe(),
        extra={"customers": summary.customers, "changed": summary.changed, "seconds": summary.seconds},
    )


@job
def enqueue_recompute(runtime: Runtime) -> None:
    """Scheduled (scrm/scheduler.py): queue :func:`recompute_computed_tags`. The scheduler only
    enqueues; there is nothing to commit first, the job reads everything it needs itself."""
    runtime.queue.enqueue(recompute_computed_tags)
