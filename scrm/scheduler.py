"""``scrm scheduler``: APScheduler (SQLAlchemy job store) behind a Redis lock.

Only the lock holder runs APScheduler; another scheduler, on this machine or any other, waits
and takes over when the holder stops renewing (it died, or lost Redis). The holder writes a
heartbeat every ``scheduler.heartbeat_seconds``; ``/healthz`` reports its age.

Scheduled work is data: :data:`SCHEDULE` lists each job's id, function and trigger. The
functions run in the scheduler process and should only find due work and enqueue ids.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from redis.exceptions import LockError

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler

    from scrm.runtime import Runtime

log = logging.getLogger(__name__)

LOCK_KEY = "scrm:scheduler:lock"
BEAT_KEY = "scrm:scheduler:heartbeat"


@dataclass(frozen=True)
class ScheduledJob:
    id: str
    func: str  # "module:function", importable by APScheduler
    trigger: str  # "interval" or "cron"
    trigger_args: dict[str, Any] = field(default_factory=dict)
    every: str | None = None  # an interval whose seconds are this config key ("outreach.sweep_seconds")

    def trigger_args_for(self, config: Any) -> dict[str, Any]:  # noqa: ANN401
        if self.every is None:
            return self.trigger_args
        section, key = self.every.split(".")
        return {"seconds": getattr(getattr(config, section), key)}


# Later issues add campaign firing here. Cron times are in brand.timezone (the
# scheduler's zone).
SCHEDULE: tuple[ScheduledJob, ...] = (
    # RFM classes and lifecycle stages move with time, not only with orders: every night.
    ScheduledJob("computed-tags-nightly", "tagging.jobs:enqueue_recompute", "cron", {"hour": 3, "minute": 30}),
    # Tags that decayed below their threshold, written to the timeline (tagging/lapses.py).
    ScheduledJob("tag-lapses-hourly", "tagging.lapses:record_lapsed_tags", "cron", {"minute": 5}),
    # WeCom hand-overs it answered "not now" for (guides/leaving.py).
    ScheduledJob("guide-transfers-retry", "guides.leaving:retry_waiting_transfers", "interval", {"minutes": 10}),
    # Store contact ways follow the guides on duty (guides/store_duty.py).
    ScheduledJob("store-contact-ways", "guides.store_duty:refresh_store_contact_ways", "interval", {"minutes": 5}),
    # Coupons past their validity become expired (scrm/coupons/expiry.py).
    ScheduledJob("coupons-expire", "scrm.coupons.expiry:expire_due", "interval", {"minutes": 10}),
    # Reminders before expiry, recorded for outreach, each morning.
    ScheduledJob("coupon-reminders", "scrm.coupons.expiry:record_reminders", "cron", {"hour": 9, "minute": 0}),
    # Points lots past their expires_at taken out of the members' balances (scrm/members/expiry.py),
    # just after local midnight, when year_end lots expire.
    ScheduledJob("members-points-expire", "scrm.members.expiry:expire_due", "cron", {"hour": 0, "minute": 10}),
    # Coupon announcements that waited for the customer's next message (scrm/coupons/announce.py).
    ScheduledJob("coupon-announcements", "scrm.coupons.announce:announce_waiting", "interval", {"minutes": 5}),
    # Customer groups (客户群) read back from WeCom; callbacks refresh single groups between.
    ScheduledJob("groups-sync", "scrm.groups.sync:sync_groups", "cron", {"minute": 20}),
    # Live codes (群活码) checked against their WeCom ways and groups, in case callbacks were lost.
    ScheduledJob("group-codes-reconcile", "scrm.groups.code_reconcile:reconcile_codes", "interval", {"minutes": 10}),
    # Group SOP (群SOP): due steps become owners' WeCom tasks, tracked and reminded (sop_jobs.py).
    ScheduledJob("groups-sop", "scrm.groups.sop_jobs:sweep", "interval", {"minutes": 1}),
    # Time-based campaign triggers (scrm/outreach/daily_triggers.py), after the coupon reminders.
    ScheduledJob("triggers-birthday", "scrm.outreach.daily_triggers:fire_birthdays", "cron", {"hour": 9, "minute": 30}),
    ScheduledJob("triggers-inactive", "scrm.outreach.daily_triggers:fire_inactive", "cron", {"hour": 9, "minute": 35}),
    ScheduledJob("triggers-coupon-expiring", "scrm.outreach.daily_triggers:fire_expiring_coupons", "cron",
                 {"hour": 9, "minute": 40}),
    ScheduledJob("triggers-points-expiring", "scrm.outreach.daily_triggers:fire_expiring_points", "cron",
                 {"hour": 9, "minute": 45}),
    # Member levels: rises, the yearly review's drops, the level tags (scrm/members/level_jobs.py);
    # then the levels' birthday coupons, before the birthday triggers (scrm/members/birthdays.py).
    ScheduledJob("member-levels-nightly", "scrm.members.jobs:review_levels_nightly", "cron", {"hour": 2, "minute": 15}),
    ScheduledJob("member-birthday-coupons", "scrm.members.jobs:issue_birthday_coupons", "cron",
                 {"hour": 9, "minute": 20}),
    # Campaigns whose time has come: a run each, planned by a job (scrm/outreach/sweeps.py).
    ScheduledJob("outreach-runs", "scrm.outreach.sweeps:start_campaign_runs", "interval",
                 every="outreach.sweep_seconds"),
    # Deliveries due now queued to the senders; ones a lost worker left 'sending' recovered.
    ScheduledJob("outreach-deliveries", "scrm.outreach.sweeps:sweep_due_deliveries", "interval",
                 every="outreach.sweep_seconds"),
    # WeCom tasks handed to guides: asked about until WeCom says they sent them (wecom_tasks.py).
    ScheduledJob("outreach-wecom-tasks", "scrm.outreach.wecom_tasks:enqueue_checks", "interval", {"minutes": 5}),
)


class SchedulerService:
    """Waits for the lock, runs APScheduler while it holds it, beats, lets go on stop."""

    def __init__(self, runtime: Runtime, *, name: str | None = None, schedule: tuple[ScheduledJob, ...] = SCHEDULE):
        self.runtime = runtime
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.schedule = schedule
        settings = runtime.config.scheduler
        self._lock = runtime.redis.lock(LOCK_KEY, timeout=settings.lock_ttl_seconds, thread_local=False)
        self._stop = threading.Event()
        self._scheduler: BackgroundScheduler | None = None

    @property
    def active(self) -> bool:
        return self._scheduler is not None

    def run(self) -> None:
        """Block until :meth:`stop`: hold the lock when it is free, wait when it is not."""
        beat = self.runtime.config.scheduler.heartbeat_seconds
        while not self._stop.is_set():
            if self.active:
                if not self._renew():
                    log.warning("scheduler %s lost the lock; pausing", self.name)
                    self._shutdown()
                    continue
            elif self._lock.acquire(blocking=False, token=self.name.encode()):
                log.info("scheduler %s holds the lock; starting", self.name)
                self._start()
            if self.active:
                self._write_beat()
            self._stop.wait(beat)
        self._shutdown()
        self._release()

    def stop(self) -> None:
        self._stop.set()

    def _renew(self) -> bool:
        try:
            self._lock.reacquire()
            return True
        except LockError:
            return False

    def _release(self) -> None:
        try:
            self._lock.release()
        except LockError:
            pass  # not ours any more

    def _start(self) -> None:
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from apscheduler.schedulers.background import BackgroundScheduler

        scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self.runtime.engine)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
            timezone=self.runtime.config.brand.timezone,
        )
        for job in self.schedule:
            scheduler.add_job(job.func, job.trigger, id=job.id, replace_existing=True,
                              **job.trigger_args_for(self.runtime.config))
        scheduler.start()
        self._scheduler = scheduler

    def _shutdown(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    def _write_beat(self) -> None:
        settings = self.runtime.config.scheduler
        beat = {"holder": self.name, "at": self.runtime.clock.now().isoformat()}
        self.runtime.redis.set(BEAT_KEY, json.dumps(beat), ex=settings.heartbeat_seconds * 10)


def last_beat(runtime: Runtime) -> dict[str, Any]:
    raw = runtime.redis.get(BEAT_KEY)
    if raw is None:
        return {"running": False, "last_beat": None}
    beat = json.loads(raw)
    age = (runtime.clock.now() - datetime.fromisoformat(beat["at"])).total_seconds()
    return {
        "running": age <= 3 * runtime.config.scheduler.heartbeat_seconds,
        "last_beat": beat["at"],
        "age_seconds": round(age, 1),
        "holder": beat["holder"],
    }
