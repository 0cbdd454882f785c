"""Binding customers to guides by their codes (SPEC §6), through the webhook as WeChat sends
callbacks: both policies, protection and its renewal, duplicates, statistics, channel tags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from platform_world import reconfigure
from guide_world import mp_scan, openid, reply_of, work_add
from guides.models import Binding
from qrcodes.models import CodeDayStats
from scrm.customers.models import CustomerIdentity, Interaction
from tagging.scores import carried_tags

START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Shanghai


def customer_of(runtime, external_id: str) -> int:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.scalar(select(CustomerIdentity.customer_id).where(CustomerIdentity.external_id == external_id))


def bindings(runtime, external_id: str) -> list[tuple[int, str | None]]:  # noqa: ANN001
    """(guide id, end reason) of every binding the customer had, oldest first; reason None = current."""
    with runtime.transaction() as db_session:
        rows = db_session.execute(
            select(Binding.guide_id, Binding.end_reason, Binding.ended_at)
            .where(Binding.customer_id == customer_of(runtime, external_id)).order_by(Binding.id)
        ).all()
        return [(g, reason if ended else None) for g, reason, ended in rows]


def timeline_kinds(runtime, external_id: str) -> list[str]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return list(db_session.scalars(
            select(Interaction.kind).where(Interaction.customer_id == customer_of(runtime, external_id)).order_by(Interaction.id)
        ))


def code_stats(runtime, guide) -> dict[str, int]:  # noqa: ANN001
    from qrcodes.models import ChannelCode

    with runtime.transaction() as db_session:
        row = db_session.execute(
            select(func.sum(CodeDayStats.scans), func.sum(CodeDayStats.follows), func.sum(CodeDayStats.bindings))
            .join(ChannelCode, ChannelCode.id == CodeDayStats.code_id).where(ChannelCode.guide_id == guide.id)
        ).one()
        return dict(zip(("scans", "follows", "bindings"), (int(v or 0) for v in row), strict=True))


def later(runtime, **delta) -> None:  # noqa: ANN001, ANN003
    runtime.clock.advance(**delta)


def test_a_follow_by_a_guide_code_binds_welcomes_counts_and_tags(runtime, client, shop):
    a, _b = shop
    who = openid()
    reply = reply_of(runtime, "mp", mp_scan(runtime, client, who, a.mp_scene))
    assert "<MsgType><![CDATA[news]]></MsgType>" in reply
    assert "王小美" in reply and "上海静安店" in reply and f"/card/{a.code}" in reply
    assert bindings(runtime, who) == [(a.id, None)]
    assert code_stats(runtime, a) == {"scans": 1, "follows": 1, "bindings": 1}
    assert "guide_bound" in timeline_kinds(runtime, who)
    with runtime.transaction() as db_session:
        tags = carried_tags(db_session=db_session, customer_id=customer_of(runtime, who), now=runtime.clock.now())
    assert {(t["group"], t["tag"]) for t in tags} == {("渠道", "导购码-公众号")}


def test_wechats_retries_bind_once_count_once_and_reply_the_same(runtime, client, shop):
    a, _b = shop
    who = openid()
    created = int(runtime.clock.now().timestamp())
    replies = {reply_of(runtime, "mp", mp_scan(runtime, client, who, a.mp_scene, create_time=created)) for _ in range(3)}
    assert len(replies) == 1
    assert bindings(runtime, who) == [(a.id, None)]
    assert code_stats(runtime, a) == {"scans": 1, "follows": 1, "bindings": 1}
    assert timeline_kinds(runtime, who).count("guide_bound") == 1


def test_a_follower_scanning_a_guide_code_is_bound_without_counting_a_follow(runtime, client, shop):
    a, _b = shop
    who = openid()
    mp_scan(runtime, client, who, "not-one-of-ours")  # follows by some other code: no binding
    assert bindings(runtime, who) == []
    later(runtime, minutes=1)
    mp_scan(runtime, client, who, a.mp_scene, event="SCAN")
    assert bindings(runtime, who) == [(a.id, None)]
    assert code_stats(runtime, a) == {"scans": 1, "follows": 0, "bindings": 1}


def test_tampered_and_unknown_scenes_bind_nobody(runtime, client, shop):
    a, _b = shop
    body, mac = a.mp_scene.split("_")
    for scene in (f"{body}_{mac[::-1]}", f"{body}0_{mac}", "g999_aaaaaaaaa"):
        who = openid()
        reply = reply_of(runtime, "mp", mp_scan(runtime, client, who, scene))
        assert "news" not in reply
        assert bindings(runtime, who) == []
    assert code_stats(runtime, a)["scans"] == 0


@pytest.mark.parametrize("policy", ["first_touch", "last_touch"])
def test_two_guides_codes_minutes_apart_the_first_keeps_a_protected_customer(runtime, client, shop, policy):
    reconfigure(runtime, {"binding.policy": policy, "binding.protect_days": 30})
    a, b = shop
    who = openid()
    mp_scan(runtime, client, who, a.mp_scene)
    later(runtime, minutes=3)
    reply = reply_of(runtime, "mp", mp_scan(runtime, client, who, b.mp_scene, event="SCAN"))
    assert bindings(runtime, who) == [(a.id, None)]
    assert "王小美" in reply  # the card of the guide they have, not of the one they scanned
    assert timeline_kinds(runtime, who)[-1] == "guide_binding_refused"
    assert code_stats(runtime, b) == {"scans": 1, "follows": 0, "bindings": 0}


@pytest.mark.parametrize("policy", ["first_touch", "last_touch"])
def test_once_protection_lapses_another_guides_code_takes_the_customer(runtime, client, shop, policy):
    reconfigure(runtime, {"binding.policy": policy, "binding.protect_days": 30})
    a, b = shop
    who = openid()
    mp_scan(runtime, client, who, a.mp_scene)
    later(runtime, days=30, minutes=1)
    mp_scan(runtime, client, who, b.mp_scene, event="SCAN")
    assert bindings(runtime, who) == [(a.id, "taken"), (b.id, None)]  # history kept
    assert code_stats(runtime, b)["bindings"] == 1


def test_a_purchase_with_the_bound_guide_renews_protection(runtime, client, auth, shop):
    a, b = shop
    who = openid()
    mp_scan(runtime, client, who, a.mp_scene)
    later(runtime, days=20)
    order = {"order_no": "SO-1", "customer": {"openid": who}, "amount": "99.00",
             "ordered_at": runtime.clock.now().isoformat(), "guide_code": a.code}
    assert client.post("/api/orders", json=order, headers=auth("manager")).status_code == 201
    later(runtime, days=15)  # 35 days after binding, 15 after the purchase: still protected
    mp_scan(runtime, client, who, b.mp_scene, event="SCAN")
    assert bindings(runtime, who) == [(a.id, None)]
    later(runtime, days=16)  # 31 days after the purchase
    mp_scan(runtime, client, who, b.mp_scene, event="SCAN")
    assert bindings(runtime, who) == [(a.id, "taken"), (b.id, None)]


def test_a_purchase_credited_to_another_guide_does_not_renew(runtime, client, auth, shop):
    a, b = shop
    who = openid()
    mp_scan(runtime, client, who, a.mp_scene)
    later(runtime, days=20)
    order = {"order_no": "SO-2", "customer": {"openid": who}, "amount": "10.00",
             "ordered_at": runtime.clock.now().isoformat(), "guide_code": b.code}
    body = client.post("/api/orders", json=order, headers=auth("manager")).get_json()
    assert body["credited_guide_id"] == b.id
    later(runtime, days=11)
    mp_scan(runtime, client, who, b.mp_scene, event="SCAN")
    assert bindings(runtime, who)[-1] == (b.id, None)


def test_without_protection_first_touch_keeps_for_ever_and_last_touch_always_moves(runtime, client, shop):
    a, b = shop
    reconfigure(runtime, {"binding.policy": "first_touch", "binding.protect_days": 0})
    kept = openid()
    mp_scan(runtime, client, kept, a.mp_scene)
    later(runtime, days=400)
    mp_scan(runtime, client, kept, b.mp_scene, event="SCAN")
    assert bindings(runtime, kept) == [(a.id, None)]

    reconfigure(runtime, {"binding.policy": "last_touch"})
    moved = openid()
    mp_scan(runtime, client, moved, a.mp_scene)
    later(runtime, minutes=2)
    mp_scan(runtime, client, moved, b.mp_scene, event="SCAN")
    later(runtime, minutes=2)
    mp_scan(runtime, client, moved, a.mp_scene, event="SCAN")
    assert bindings(runtime, moved) == [(a.id, "taken"), (b.id, "taken"), (a.id, None)]


def test_under_last_touch_scanning_ones_own_guide_again_renews_protection(runtime, client, shop):
    reconfigure(runtime, {"binding.policy": "last_touch", "binding.protect_days": 30})
    a, b = shop
    who = openid()
    mp_scan(runtime, client, who, a.mp_scene)
    later(runtime, days=25)
    mp_scan(runtime, client, who, a.mp_scene, event="SCAN")
    later(runtime, days=25)  # 50 days after binding, 25 after the rescan
    mp_scan(runtime, client, who, b.mp_scene, event="SCAN")
    assert bindings(runtime, who) == [(a.id, None)]
    with runtime.transaction() as db_session:
        until = db_session.scalar(select(Binding.protected_until).where(Binding.ended_at.is_(None),
                                                                       Binding.customer_id == customer_of(runtime, who)))
    assert until.replace(tzinfo=UTC) == START + timedelta(days=55)


def test_a_wecom_add_through_a_guides_contact_way_binds_with_the_wecom_channel_tag(runtime, client, shop):
    a, _b = shop
    work_add(runtime, client, "wm-cust-1", a.wecom_userid, a.work_scene, welcome=False)
    assert bindings(runtime, "wm-cust-1") == [(a.id, None)]
    with runtime.transaction() as db_session:
        tags = carried_tags(db_session=db_session, customer_id=customer_of(runtime, "wm-cust-1"), now=runtime.clock.now())
    assert [t["tag"] for t in tags] == ["导购码-企业微信"]


def test_a_customer_merged_into_another_keeps_one_guide(runtime, client, shop):
    """Same unionid on MP and WeCom: one person, one current guide, both histories."""
    from scrm import flows
    from scrm.customers import service as customers

    a, b = shop
    who = openid()
    mp_scan(runtime, client, who, a.mp_scene)
    work_add(runtime, client, "wm-same", b.wecom_userid, b.work_scene, welcome=False)
    keep, drop = customer_of(runtime, who), customer_of(runtime, "wm-same")
    with runtime.transaction() as db_session:
        for identity_external, unionid in ((who, "u-1"), ("wm-same", "u-1")):
            identity = customers.find_identity(db_session=db_session, channel="mp" if identity_external == who else "work",
                                               external_id=identity_external)
            flows.attach_profile(runtime=runtime, db_session=db_session, identity_id=identity.id, unionid=unionid)
    with runtime.transaction() as db_session:
        rows = db_session.execute(select(Binding.guide_id, Binding.end_reason).where(Binding.customer_id == keep)
                                  .order_by(Binding.id)).all()
        assert db_session.scalar(select(func.count()).where(Binding.customer_id == drop)) == 0
    assert [tuple(r) for r in rows] == [(a.id, None), (b.id, "merged")]
