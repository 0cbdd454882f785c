"""Concurrent scans of one guide's code by one new customer (not WeChat's retries: distinct
events seconds apart, delivered at once): one binding, no failed request."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import requests
from sqlalchemy import func, select

from guide_world import openid
from guides.models import Binding
from scrm.customers.models import Customer, Interaction

START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Shanghai
SCANS = 8


@pytest.mark.parametrize("backend", ["real"], indirect=True)  # SQLite has one writer at a time
def test_one_new_customer_scanning_a_guides_code_at_once_is_bound_once(runtime, stack, shop):
    from handlers.signed_callbacks import CallbackSender, mp_event_xml

    a, _b = shop
    who = openid()
    sender = CallbackSender.from_config(runtime.config, "mp", encrypt=False)
    now = int(runtime.clock.now().timestamp())
    # They followed by a search (a customer, no guide yet), then scanned the guide's code on a
    # slow network: each scan its own event (its own CreateTime), none a retry to drop.
    follow = sender.sign(mp_event_xml(to=runtime.config.wechat.mp.original_id, openid=who, event="subscribe",
                                      create_time=now - 60), timestamp=now)
    assert requests.post(stack.url + follow.path, data=follow.body, timeout=30).status_code == 200
    bodies = [sender.sign(mp_event_xml(to=runtime.config.wechat.mp.original_id, openid=who, event="SCAN",
                                       create_time=now - i, key=a.mp_scene), timestamp=now) for i in range(SCANS)]
    barrier = threading.Barrier(SCANS)
    statuses: list[int] = []

    def deliver(signed) -> None:  # noqa: ANN001
        barrier.wait()
        statuses.append(requests.post(stack.url + signed.path, data=signed.body, timeout=30).status_code)

    threads = [threading.Thread(target=deliver, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(40)
    assert statuses == [200] * SCANS
    with runtime.transaction() as db_session:
        assert db_session.scalar(select(func.count()).select_from(Customer)) == 1
        rows = db_session.execute(select(Binding.guide_id, Binding.ended_at)).all()
        assert [(row.guide_id, row.ended_at) for row in rows] == [(a.id, None)]
        bound = db_session.scalar(select(func.count()).select_from(Interaction).where(Interaction.kind == "guide_bound"))
        assert bound == 1
