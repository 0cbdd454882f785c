"""Welcoming a customer bound by a code (guides/welcome.py): the MP card as the passive reply,
WeCom's send_welcome_msg inside the WelcomeCode's 20 s, queued first in line."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from platform_world import reconfigure
from guide_world import create_guide, create_store, mp_scan, openid, reply_of, work_add
from scrm.clock import FrozenClock
from scrm.customers.models import Interaction
from scrm.sandbox import state, world

START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
def guide(runtime):  # noqa: ANN001, ANN201
    runtime.clock = FrozenClock(START)
    create_store(runtime)
    return create_guide(runtime, "A", name="王小美", photo_url="https://img.example.com/wang.jpg")


def retries_due_now(runtime) -> None:  # noqa: ANN001
    """RQ schedules a deferred job in real time and our clock is frozen: what the frozen clock
    moved past, RQ is told is due now, instead of the test sleeping until it is."""
    from scrm.queue import QUEUE_NAMES, ScrmJob

    for name in QUEUE_NAMES:
        registry = runtime.queue.rq_queue(name).scheduled_job_registry
        for job_id in registry.get_job_ids():
            registry.schedule(ScrmJob.fetch(job_id, connection=runtime.redis), datetime.now(UTC))


def welcome_calls(runtime) -> list[dict]:  # noqa: ANN001
    return state.list_calls(runtime.redis, channel="work", api="externalcontact/send_welcome_msg")


def notes(runtime, kind: str) -> list[dict]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return list(db_session.scalars(select(Interaction.payload).where(Interaction.kind == kind)))


def test_the_mp_card_fills_the_placeholders_and_shows_the_photo(runtime, client, guide):
    reconfigure(runtime, {"binding.welcome_text": "#nickname#你好，我是#store#的#guide#"})
    reply = reply_of(runtime, "mp", mp_scan(runtime, client, openid(), guide.mp_scene))
    assert "你好，我是上海静安店的王小美" in reply  # no nickname known yet: the placeholder goes
    assert "#nickname#" not in reply and "https://img.example.com/wang.jpg" in reply


def test_a_guides_own_welcome_text_wins(runtime, client, auth, guide):
    patched = client.patch(f"/api/guides/{guide.code}", json={"welcome_text": "欢迎来到#store#！"}, headers=auth("manager"))
    assert patched.status_code == 200, patched.get_json()
    assert "欢迎来到上海静安店！" in reply_of(runtime, "mp", mp_scan(runtime, client, openid(), guide.mp_scene))


def test_wecom_welcome_is_sent_once_inside_the_window_from_the_urgent_queue(runtime, client, guide):
    created = int(runtime.clock.now().timestamp())
    for _ in range(2):  # WeChat retried the callback: one welcome only
        response = work_add(runtime, client, "wm-w1", guide.wecom_userid, guide.work_scene, create_time=created)
        assert response.data == b"success"  # WeCom welcomes by API, not by a passive reply
    jobs = runtime.queue.rq_queue("urgent")
    assert jobs.count == 1  # first in line, before the default queue
    runtime.clock.advance(seconds=5)
    runtime.queue.run_pending()
    assert len(welcome_calls(runtime)) == 1
    inbox = world.list_messages(runtime.redis, "wm-w1", channel="work")
    assert len(inbox) == 1 and "王小美" in str(inbox[0])
    assert len(notes(runtime, "welcome_sent")) == 1


def test_a_welcome_whose_code_expired_in_the_queue_is_not_sent(runtime, client, guide):
    work_add(runtime, client, "wm-w2", guide.wecom_userid, guide.work_scene)
    runtime.clock.advance(seconds=21)
    runtime.queue.run_pending()
    assert welcome_calls(runtime) == []
    assert [n["detail"] for n in notes(runtime, "welcome_expired")] == ["the welcome code had expired before its turn"]


def test_41051_already_welcomed_ends_the_job_without_retrying(runtime, client, guide):
    state.add_fault(runtime.redis, channel="work", api="externalcontact/send_welcome_msg", errcode=41051, times=5)
    work_add(runtime, client, "wm-w3", guide.wecom_userid, guide.work_scene)
    runtime.queue.run_pending()
    assert len(welcome_calls(runtime)) == 1
    assert notes(runtime, "welcome_skipped")[0]["errcode"] == 41051
    assert runtime.queue.stats()["failed"] == 0


def test_a_transient_failure_is_tried_again_inside_the_window(runtime, client, guide):
    state.add_fault(runtime.redis, channel="work", api="externalcontact/send_welcome_msg", http_status=503, times=3)
    work_add(runtime, client, "wm-w4", guide.wecom_userid, guide.work_scene)
    runtime.queue.run_pending()  # the transport's own 3 tries all meet 503: the job defers 1 s
    runtime.clock.advance(seconds=2)
    retries_due_now(runtime)
    runtime.queue.run_pending()  # (on a slow machine the deferred try may have run in the first)
    assert len(notes(runtime, "welcome_sent")) == 1
    assert len(world.list_messages(runtime.redis, "wm-w4", channel="work")) == 1
    # Three refused tries, then the deferred job's successful one; no failed job left.
    assert [call["http_status"] for call in welcome_calls(runtime)] == [503, 503, 503, 200]
    assert runtime.queue.stats()["failed"] == 0
