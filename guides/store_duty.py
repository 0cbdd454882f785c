"""Keeping a store's WeCom contact way on the guides on duty.

On WeCom, the store's contact way (联系我, several members) is where WeCom itself picks the
member a customer adds, so routing by schedule and cap happens before the scan: the way's
member list is set to the store's on-duty pool (guides/duty_routing.py) by ``update_contact_way``
every few minutes (the scheduler), when a guide joins or leaves, and after each customer it
brought (a cap may have been reached). The list last sent is remembered in Redis, so an
unchanged pool costs no WeChat call. An empty pool (everyone capped, nobody on duty) leaves
the way as it is: WeCom needs a member, and a customer turned away is worse than a cap
exceeded.
"""

from __future__ import annotations

import json
import logging

from sqlalchemy import select

from guides.duty_routing import on_duty_pool
from guides.models import Guide
from qrcodes.models import ChannelCode
from scrm.runtime import Runtime, job

log = logging.getLogger(__name__)

PUSHED_KEY = "guides:store-way:{code_id}"
PUSHED_TTL_SECONDS = 24 * 3600


@job
def refresh_store_contact_ways(runtime: Runtime) -> int:
    """The scheduler's sweep: a job per store with a ready WeCom store code; how many."""
    with runtime.transaction() as db_session:
        store_ids = list(db_session.scalars(
            select(ChannelCode.store_id).where(ChannelCode.kind == "store", ChannelCode.channel == "work",
                                               ChannelCode.status == "ready")
        ))
    for store_id in store_ids:
        runtime.queue.enqueue(refresh_store_contact_way, store_id)
    return len(store_ids)


@job
def refresh_store_contact_way(runtime: Runtime, store_id: int) -> bool:
    """Point the store's contact way at its on-duty pool now; True when WeChat was told."""
    with runtime.transaction() as db_session:
        code = db_session.scalar(select(ChannelCode).where(
            ChannelCode.store_id == store_id, ChannelCode.kind == "store", ChannelCode.channel == "work",
            ChannelCode.status == "ready"))
        if code is None or code.config_id is None:
            return False
        pool = on_duty_pool(db_session=db_session, config=runtime.config, store_id=store_id, at=runtime.clock.now())
        userids = [db_session.get(Guide, guide_id).wecom_userid for guide_id in pool]
        code_id, config_id = code.id, code.config_id
    key = PUSHED_KEY.format(code_id=code_id)
    if not userids or runtime.redis.get(key) == json.dumps(userids).encode():
        return False
    runtime.work.update_contact_way(config_id, userids)  # a failure raises: the queue retries
    runtime.redis.set(key, json.dumps(userids), ex=PUSHED_TTL_SECONDS)
    log.info("store %s contact way now hands customers to %s", store_id, ", ".join(userids))
    return True
