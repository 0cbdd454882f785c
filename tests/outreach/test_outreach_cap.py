"""The weekly cap and quiet hours across campaigns: reserved atomically in Redis (two campaigns
racing for a customer's last slot: one wins), deferred to the first allowed moment or skipped."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from platform_world import reconfigure
from scrm.outreach.cap import FrequencyCap, QuietHours

# 10:00 in Shanghai
NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
def cap(runtime):
    reconfigure(runtime, {"outreach.weekly_cap": 2, "outreach.quiet_hours": "22-8"})
    return FrequencyCap(runtime.redis, runtime.config)


def test_two_a_week_then_deferred_to_when_the_oldest_leaves_the_week(cap):
    first = cap.reserve_many([(1, "c1:1")], NOW, NOW, defer=True)[0]
    second = cap.reserve_many([(1, "c2:1")], NOW + timedelta(days=1), NOW, defer=True)[0]
    third = cap.reserve_many([(1, "c3:1")], NOW + timedelta(days=2), NOW, defer=True)[0]
    assert (first.due_at, second.due_at) == (NOW, NOW + timedelta(days=1))
    assert third.due_at == NOW + timedelta(days=7)  # the first send's week is over (10:00, not quiet)
    skipped = cap.reserve_many([(1, "c4:1")], NOW + timedelta(days=2), NOW, defer=False)[0]
    assert skipped.due_at is None and skipped.reason == "capped"
    other_customer = cap.reserve_many([(2, "c4:2")], NOW, NOW, defer=False)[0]
    assert other_customer.due_at == NOW


def test_the_same_delivery_reserved_twice_holds_one_slot(cap):
    assert cap.reserve_many([(1, "c1:1")], NOW, NOW, defer=False)[0].due_at == NOW
    assert cap.reserve_many([(1, "c1:1")], NOW, NOW, defer=False)[0].due_at == NOW
    assert cap.reserve_many([(1, "c2:1")], NOW, NOW, defer=False)[0].due_at == NOW  # the second slot
    assert cap.reserve_many([(1, "c3:1")], NOW, NOW, defer=False)[0].reason == "capped"


def test_a_released_slot_can_be_taken_again(cap):
    cap.reserve_many([(1, "c1:1"), (1, "c2:1")], NOW, NOW, defer=False)
    assert cap.reserve_many([(1, "c3:1")], NOW, NOW, defer=False)[0].reason == "capped"
    cap.release(1, "c2:1")
    assert cap.reserve_many([(1, "c3:1")], NOW, NOW, defer=False)[0].due_at == NOW


def test_quiet_hours_move_a_send_to_the_morning_or_skip_it(cap):
    night = datetime(2026, 11, 2, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    moved = cap.reserve_many([(1, "c1:1")], night, NOW, defer=True)[0]
    assert moved.due_at == datetime(2026, 11, 3, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
    assert cap.reserve_many([(2, "c1:2")], night, NOW, defer=False)[0].reason == "quiet_hours"


def test_a_deferral_out_of_the_cap_lands_outside_quiet_hours(cap):
    evening = datetime(2026, 11, 2, 13, 0, tzinfo=UTC)  # 21:00 in Shanghai
    cap.reserve_many([(1, "a:1")], evening, NOW, defer=True)
    cap.reserve_many([(1, "b:1")], evening, NOW, defer=True)
    third = cap.reserve_many([(1, "c:1")], evening, NOW, defer=True)[0]
    assert third.due_at == evening + timedelta(days=7)  # 21:00, not quiet
    assert not QuietHours.parse("22-8", "Asia/Shanghai").is_quiet(third.due_at)


@pytest.mark.parametrize("text, hour, quiet", [("22-8", 23, True), ("22-8", 7, True), ("22-8", 8, False),
                                               ("22-8", 21, False), ("12-14", 13, True), ("12-14", 14, False),
                                               ("", 3, False)])
def test_quiet_hours_wrap_midnight(text, hour, quiet):
    hours = QuietHours.parse(text, "Asia/Shanghai")
    local = datetime(2026, 11, 2, hour, 0, tzinfo=hours.zone)
    assert hours.is_quiet(local) is quiet


@pytest.mark.parametrize("backend", ["real"], indirect=True)
def test_campaigns_racing_for_the_last_slot_one_wins(cap):
    cap.reserve_many([(7, "earlier:7")], NOW, NOW, defer=False)  # one of two slots used
    barrier = threading.Barrier(32)
    won: list[str] = []

    def race(i: int) -> None:
        barrier.wait()
        slot = cap.reserve_many([(7, f"campaign{i}:7")], NOW, NOW, defer=False)[0]
        if slot.due_at is not None:
            won.append(f"campaign{i}")

    threads = [threading.Thread(target=race, args=(i,)) for i in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
