"""Tagging jobs: plain functions that own their sessions (run by the queue's workers)."""

from __future__ import annotations

import logging

from scrm.runtime import current
from tagging.computed_bulk import recompute_all
from tagging.computed_bulk import RecomputeRunning

log = logging.getLogger(__name__)


def recompute_computed_tags() -> None:
    """Recompute every customer's RFM class and lifecycle stage (queued nightly)."""

    try:
        summary = recompute_all(current())
    except RecomputeRunning as exc:
        log.info("computed tags not recomputed: %s", exc)  # the running one does the work
        return
    log.info(
        "%s",
        summary.describe(),
        extra={"customers": summary.customers, "changed": summary.changed, "seconds": summary.seconds},
    )


def enqueue_recompute() -> None:
    """Scheduled (scrm/scheduler.py): queue :func:`recompute_computed_tags`. The scheduler only
    enqueues; there is nothing to commit first, the job reads everything it needs itself."""
    current().queue.enqueue(recompute_computed_tags)
