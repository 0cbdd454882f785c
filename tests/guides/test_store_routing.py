"""Store codes route a new customer to a guide on duty, under daily caps, backups last
(guides/duty_routing.py), through the webhook."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from guide_world import create_guide, create_store, mp_scan, openid, reply_of, store_scene, work_add
from guides.models import Binding
from guides.duty_routing import on_duty, parse_hours
from scrm.clock import FrozenClock
from scrm.customers.models import CustomerIdentity, Interaction

MONDAY_10 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
MONDAY_20 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)  # Monday 20:00


def guide_of(runtime, external_id: str) -> int | None:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.scalar(
            select(Binding.guide_id).join(CustomerIdentity, CustomerIdentity.customer_id == Binding.customer_id)
            .where(CustomerIdentity.external_id == external_id, Binding.ended_at.is_(None))
        )


@pytest.fixture
def store(runtime):  # noqa: ANN001, ANN201
    runtime.clock = FrozenClock(MONDAY_10)
    create_store(runtime)
    day = create_guide(runtime, "DAY", schedule={"mon": ["9-18"]}, daily_cap=2)
    night = create_guide(runtime, "NIGHT", schedule={"mon": ["18-23"]}, daily_cap=2)
    spare = create_guide(runtime, "SPARE", backup=True, daily_cap=1)
    return day, night, spare, store_scene(runtime, "S1")


def test_the_guide_on_duty_gets_the_customer_until_their_cap_then_the_backup_then_nobody(runtime, client, store):
    day, night, spare, scene = store
    customers = [openid() for _ in range(5)]
    for who in customers:
        mp_scan(runtime, client, who, scene)
    assert [guide_of(runtime, who) for who in customers] == [day.id, day.id, spare.id, None, None]
    with runtime.transaction() as db_session:
        unrouted = db_session.scalars(select(Interaction.payload).where(Interaction.kind == "guide_unrouted")).all()
    assert len(unrouted) == 2


def test_in_the_evening_the_evening_guide_and_the_next_day_caps_start_again(runtime, client, store):
    day, night, spare, scene = store
    runtime.clock.set(MONDAY_20)
    evening = openid()
    mp_scan(runtime, client, evening, scene)
    assert guide_of(runtime, evening) == night.id
    runtime.clock.set(MONDAY_10)
    for _ in range(2):
        mp_scan(runtime, client, openid(), scene)
    runtime.clock.set(datetime(2026, 11, 9, 2, 0, tzinfo=UTC))  # next Monday 10:00: a new day
    fresh = openid()
    mp_scan(runtime, client, fresh, scene)
    assert guide_of(runtime, fresh) == day.id


def test_guides_on_duty_share_customers_evenly(runtime, client):
    runtime.clock = FrozenClock(MONDAY_10)
    create_store(runtime)
    first, second = create_guide(runtime, "X1"), create_guide(runtime, "X2")  # no schedule: always on duty
    scene = store_scene(runtime, "S1")
    given = []
    for _ in range(4):
        who = openid()
        mp_scan(runtime, client, who, scene)
        given.append(guide_of(runtime, who))
    assert given == [first.id, second.id, first.id, second.id]


def test_a_store_code_never_takes_a_customer_from_their_guide(runtime, client, store):
    day, night, spare, scene = store
    who = openid()
    mp_scan(runtime, client, who, night.mp_scene)
    reply = reply_of(runtime, "mp", mp_scan(runtime, client, who, scene, event="SCAN"))
    assert guide_of(runtime, who) == night.id
    assert night.name in reply  # welcomed by the guide they have


def test_a_wecom_store_contact_way_binds_the_member_the_customer_added(runtime, client, store):
    day, night, spare, _scene = store
    from guides import service
    from qrcodes.service import codes_of

    with runtime.transaction() as db_session:
        work_scene = codes_of(db_session=db_session, store_id=service.get_store(db_session=db_session, code="S1").id)["work"].scene
    work_add(runtime, client, "wm-store-1", night.wecom_userid, work_scene, welcome=False)
    assert guide_of(runtime, "wm-store-1") == night.id  # WeCom chose the member; we follow it


@pytest.mark.parametrize(("schedule", "local", "expected"), [
    ({}, datetime(2026, 11, 2, 3), True),
    ({"mon": ["9-18"]}, datetime(2026, 11, 2, 9), True),
    ({"mon": ["9-18"]}, datetime(2026, 11, 2, 18), False),
    ({"mon": ["9-18"]}, datetime(2026, 11, 3, 10), False),  # Tuesday: not on the schedule
    ({"fri": ["22-2"]}, datetime(2026, 11, 6, 23), True),  # wraps midnight
    ({"fri": ["22-2"]}, datetime(2026, 11, 7, 1), True),  # Saturday 1:00: Friday's shift
    ({"fri": ["22-2"]}, datetime(2026, 11, 7, 2), False),
    ({"fri": ["22-2"]}, datetime(2026, 11, 6, 1), False),  # Friday 1:00 is Thursday night's
])
def test_on_duty(schedule, local, expected):
    assert on_duty(schedule, local) is expected


@pytest.mark.parametrize("bad", ["9", "9-9", "25-3", "a-b", "-1-3", "9-18-20"])
def test_bad_hour_ranges_are_refused(bad):
    with pytest.raises(ValueError):
        parse_hours(bad)


def _store_way(runtime) -> dict:  # noqa: ANN001
    from guides import service
    from qrcodes.service import codes_of
    from scrm.sandbox import world

    with runtime.transaction() as db_session:
        code = codes_of(db_session=db_session, store_id=service.get_store(db_session=db_session, code="S1").id)["work"]
        way = world.find_contact_way(runtime.redis, code.config_id)
    assert way["state"] == code.scene
    return way


def test_the_wecom_store_contact_way_follows_the_guides_on_duty_and_their_caps(runtime, client, store):
    from guides.store_duty import refresh_store_contact_ways
    from scrm.sandbox import state

    day, night, spare, _scene = store
    runtime.queue.run_pending()
    assert _store_way(runtime)["user"] == [day.wecom_userid]  # Monday 10:00
    updates = len(state.list_calls(runtime.redis, channel="work", api="externalcontact/update_contact_way"))
    assert refresh_store_contact_ways() == 1
    runtime.queue.run_pending()  # nothing changed: WeChat is not called again
    assert len(state.list_calls(runtime.redis, channel="work", api="externalcontact/update_contact_way")) == updates

    runtime.clock.set(MONDAY_20)
    refresh_store_contact_ways()
    runtime.queue.run_pending()
    assert _store_way(runtime)["user"] == [night.wecom_userid]

    runtime.clock.set(MONDAY_10)
    scene = _store_way(runtime)["state"]
    for n in range(2):  # WeCom hands both to the day guide; the second reaches her cap
        work_add(runtime, client, f"wm-day-{n}", day.wecom_userid, scene, welcome=False)
        runtime.queue.run_pending()
    assert guide_of(runtime, "wm-day-1") == day.id
    assert _store_way(runtime)["user"] == [spare.wecom_userid]  # capped: the backup takes over


def test_a_store_contact_way_made_with_one_guide_takes_a_second_later(runtime, client):
    from guides.store_duty import refresh_store_contact_ways

    create_store(runtime)
    first = create_guide(runtime, "ONE")  # the store's way is made now, with one member
    assert _store_way(runtime)["type"] == 2  # multi-person: a single one cannot change members
    second = create_guide(runtime, "TWO")
    refresh_store_contact_ways()
    runtime.queue.run_pending()
    assert sorted(_store_way(runtime)["user"]) == sorted([first.wecom_userid, second.wecom_userid])
    assert runtime.queue.failed() == []
