"""A guide leaves (guides/leaving.py): bindings move to another guide of the store with history
kept, codes retire (a scan goes to the store's routing), WeCom contacts are handed over in
batches of at most 100 with each customer's outcome recorded and retried within WeCom's rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from guide_world import create_guide, create_store, mp_scan, openid, work_add
from guides.leaving import retry_waiting_transfers
from guides.models import Binding, GuideTransfer
from qrcodes.models import ChannelCode
from scrm.clock import FrozenClock
from scrm.customers.models import CustomerIdentity
from scrm.sandbox import state, world

START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
def team(runtime):  # noqa: ANN001, ANN201
    runtime.clock = FrozenClock(START)
    create_store(runtime)
    create_store(runtime, "S2", "北京三里屯店")
    return (create_guide(runtime, "A", name="王小美"), create_guide(runtime, "B", name="李大力"),
            create_guide(runtime, "C", store="S2"))


def guide_of(runtime, external_id: str) -> int | None:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.scalar(
            select(Binding.guide_id).join(CustomerIdentity, CustomerIdentity.customer_id == Binding.customer_id)
            .where(CustomerIdentity.external_id == external_id, Binding.ended_at.is_(None)))


def transfers(runtime) -> dict[str, tuple[str, int | None]]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return {t.external_userid: (t.status, t.errcode) for t in db_session.scalars(select(GuideTransfer))}


def transfer_calls(runtime) -> list[dict]:  # noqa: ANN001
    return state.list_calls(runtime.redis, channel="work", api="externalcontact/transfer_customer")


def leave(client, auth, code: str, to: str):  # noqa: ANN001, ANN201
    return client.post(f"/api/guides/{code}/leave", json={"to": to}, headers=auth("manager"))


def test_customers_move_with_history_and_the_retired_code_routes_to_the_store(runtime, client, auth, team):
    a, b, _c = team
    mp_customer = openid()
    mp_scan(runtime, client, mp_customer, a.mp_scene)
    work_add(runtime, client, "wm-1", a.wecom_userid, a.work_scene, welcome=False)
    response = leave(client, auth, "A", "B")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"guide": "A", "to": "B", "moved": 2, "wecom_transfers": 1}
    assert guide_of(runtime, mp_customer) == guide_of(runtime, "wm-1") == b.id
    with runtime.transaction() as db_session:
        history = db_session.execute(select(Binding.guide_id, Binding.end_reason, Binding.code_id)
                                     .order_by(Binding.id)).all()
        statuses = set(db_session.scalars(select(ChannelCode.status).where(ChannelCode.guide_id == a.id)))
    assert [(g, r) for g, r, _code in history] == [(a.id, "transferred"), (a.id, "transferred"), (b.id, None), (b.id, None)]
    assert statuses == {"retired"}

    runtime.queue.run_pending()
    assert transfers(runtime) == {"wm-1": ("done", 0)}
    assert list(world.followers_of(runtime.redis, "wm-1")) == [b.wecom_userid]

    newcomer = openid()  # a scan of A's printed code, after A left
    mp_scan(runtime, client, newcomer, a.mp_scene)
    assert guide_of(runtime, newcomer) == b.id


def test_leaving_is_refused_for_bad_targets_and_changes_nothing(runtime, client, auth, team):
    a, b, c = team
    who = openid()
    mp_scan(runtime, client, who, a.mp_scene)
    assert leave(client, auth, "A", "C").status_code == 409  # another store
    assert leave(client, auth, "A", "A").status_code == 409
    assert leave(client, auth, "A", "NOPE").status_code == 404
    assert leave(client, auth, "NOPE", "B").status_code == 404
    assert client.post("/api/guides/A/leave", json={"to": "x y"}, headers=auth("manager")).status_code == 422
    assert client.post("/api/guides/A/leave", json={"to": "B"}, headers=auth("guide", "A")).status_code == 403
    assert guide_of(runtime, who) == a.id
    assert leave(client, auth, "A", "B").status_code == 200
    assert leave(client, auth, "A", "B").status_code == 409  # left already
    assert leave(client, auth, "B", "A").status_code == 409  # A has left


def test_wecom_hand_over_in_batches_of_100_with_partial_failures_retried_later(runtime, client, auth, team):
    a, b, _c = team
    externals = [f"wm-{n:03d}" for n in range(150)]
    for external in externals:
        work_add(runtime, client, external, a.wecom_userid, a.work_scene, welcome=False)
    # WeCom's rules: a customer handed over twice in 90 days is refused (40128)…
    for hop in ("x1", "x2"):
        world.add_member(runtime.redis, f"member-{hop}", hop)
    world.add_external_contact(runtime.redis, "wm-007", userid="member-x1")
    world.move_customer(runtime.redis, "wm-007", handover="member-x1", takeover="member-x2", at=START)
    world.move_customer(runtime.redis, "wm-007", handover="member-x2", takeover="member-x1", at=START)
    # …and a busy WeCom answers -1 for one customer of a batch, twice.
    world.busy_transfer(runtime.redis, "wm-042", errcode=-1, times=2)
    assert leave(client, auth, "A", "B").get_json()["wecom_transfers"] == 150
    runtime.queue.run_pending()
    calls = transfer_calls(runtime)
    assert [len(call["body"]["external_userid"]) for call in calls] == [100, 50]
    outcome = transfers(runtime)
    assert outcome["wm-007"] == ("failed", 40128)
    assert outcome["wm-042"] == ("waiting", -1)
    assert sum(status == "done" for status, _ in outcome.values()) == 148
    assert guide_of(runtime, "wm-007") == b.id  # our data moved anyway; WeCom's relation is shown as failed

    assert retry_waiting_transfers() == 0  # not due yet
    runtime.clock.advance(minutes=31)
    assert retry_waiting_transfers() == 1
    runtime.queue.run_pending()
    assert transfers(runtime)["wm-042"] == ("waiting", -1)  # busy once more
    runtime.clock.advance(minutes=31)
    retry_waiting_transfers()
    runtime.queue.run_pending()
    assert transfers(runtime)["wm-042"] == ("done", 0)
    assert [len(call["body"]["external_userid"]) for call in transfer_calls(runtime)] == [100, 50, 1, 1]
    listed = client.get("/api/guides/A/transfers", headers=auth("manager")).get_json()["transfers"]
    assert {t["external_userid"]: t["reason"] for t in listed if t["status"] == "failed"} == {
        "wm-007": "WeCom allows two hand-overs of a customer in 90 days"}


def test_a_failed_whole_call_is_retried_by_the_queue(runtime, client, auth, team):
    a, _b, _c = team
    work_add(runtime, client, "wm-x", a.wecom_userid, a.work_scene, welcome=False)
    state.add_fault(runtime.redis, channel="work", api="externalcontact/transfer_customer", http_status=502, times=3)
    leave(client, auth, "A", "B")
    runtime.queue.run_pending()
    assert transfers(runtime) == {"wm-x": ("done", 0)}


def test_wecoms_transfer_fail_event_marks_the_hand_over_failed(runtime, client, auth, team):
    from guide_world import send
    from handlers.signed_callbacks import _xml

    a, b, _c = team
    work_add(runtime, client, "wm-r", a.wecom_userid, a.work_scene, welcome=False)
    leave(client, auth, "A", "B")
    runtime.queue.run_pending()
    event = _xml({"ToUserName": runtime.config.wechat.work.corp_id, "FromUserName": "sys",
                  "CreateTime": int(runtime.clock.now().timestamp()), "MsgType": "event",
                  "Event": "change_external_contact", "ChangeType": "transfer_fail", "FailReason": "customer_refused",
                  "UserID": b.wecom_userid, "ExternalUserID": "wm-r"})
    send(runtime, client, "work", event)
    with runtime.transaction() as db_session:
        transfer = db_session.scalar(select(GuideTransfer))
    assert (transfer.status, transfer.reason) == ("failed", "the customer refused the hand-over")
