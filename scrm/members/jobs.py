"""Membership jobs: plain functions that own their sessions, scheduled by scrm/scheduler.py."""

from __future__ import annotations

import logging
from typing import Any

from scrm import flows
from scrm.members import birthdays, level_jobs
from scrm.runtime import Runtime, job

log = logging.getLogger(__name__)


@job
def review_levels_nightly(runtime: Runtime) -> dict[str, Any]:
    """Scheduled (nightly): rises, the yearly review's drops and the level tags
    (scrm/members/level_jobs.py); a rise fires the ``level_up`` trigger."""

    def fire(db_session, changes) -> None:  # noqa: ANN001
        for change in changes:
            flows.fire_level_up(runtime=runtime, db_session=db_session, change=change)

    summary = level_jobs.review_levels(runtime, on_raised=fire)
    log.info("member levels reviewed: %s", summary, extra=summary)
    return summary


@job
def issue_birthday_coupons(runtime: Runtime) -> int:
    """Scheduled (daily): the levels' birthday coupons due (scrm/members/birthdays.py)."""
    issued = birthdays.issue_birthday_coupons(runtime)
    log.info("birthday coupons issued: %d", issued)
    return issued
