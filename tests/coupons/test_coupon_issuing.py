"""Issuing: by hand, by rules (a new binding, a first order, an order over an amount), the
per-customer limit and stock, the timeline, and the announcement inside WeChat's 48 h window
(or after the customer's next message)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from coupon_world import issue, make_customer, make_template
from guide_world import create_guide, create_store, mp_scan, openid, send
from scrm.coupons import issuing
from scrm.coupons.announce import announce_waiting
from scrm.coupons.models import Coupon, CouponHolding, CouponTemplate
from scrm.customers.models import Interaction
from scrm.sandbox import state, world

NOW = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)
_msg_ids = itertools.count(1)


def coupons_of(runtime, customer_id: int) -> list[Coupon]:
    with runtime.transaction() as db_session:
        return list(db_session.scalars(select(Coupon).where(Coupon.customer_id == customer_id).order_by(Coupon.id)))


def kinds_on_timeline(runtime, customer_id: int) -> list[str]:
    with runtime.transaction() as db_session:
        return list(db_session.scalars(select(Interaction.kind).where(Interaction.customer_id == customer_id)
                                       .order_by(Interaction.id)))


def customer_of(runtime, who: str) -> int:
    from scrm.customers.service import lookup

    with runtime.transaction() as db_session:
        return lookup(db_session=db_session, channel="mp", external_id=who).id


def text(runtime, client, who: str, content: str):  # noqa: ANN201
    from handlers.signed_callbacks import mp_text_xml

    xml = mp_text_xml(to=runtime.config.wechat.mp.original_id, openid=who, content=content,
                      msg_id=str(next(_msg_ids)), create_time=int(runtime.clock.now().timestamp()))
    return send(runtime, client, "mp", xml)


def test_issue_by_hand_validity_modes_and_the_timeline(frozen, client, auth):
    days = make_template(frozen, valid_days=7)
    fixed = make_template(frozen, valid_days=None, valid_from=NOW + timedelta(days=1),
                          valid_until=NOW + timedelta(days=3))
    amy = make_customer(frozen, phone="13800138000")
    by_days = client.post("/api/coupons", json={"template_id": days, "customer": {"phone": "138-0013-8000"}},
                          headers=auth("manager"))
    assert by_days.status_code == 201, by_days.get_json()
    assert by_days.get_json()["valid_until"] == (NOW + timedelta(days=7)).isoformat()
    by_dates = client.post("/api/coupons", json={"template_id": fixed, "customer_id": amy}, headers=auth())
    assert by_dates.get_json()["valid_from"] == (NOW + timedelta(days=1)).isoformat()
    assert kinds_on_timeline(frozen, amy) == ["coupon_issued", "coupon_issued"]
    nobody = client.post("/api/coupons", json={"template_id": days, "customer": {"openid": "o-nobody"}},
                         headers=auth())
    assert (nobody.status_code, nobody.get_json()) == (422, {
        "error": "unknown_customer", "message": "customer.openid: no customer has this openid",
        "field": "customer.openid"})
    assert client.post("/api/coupons", json={"template_id": days, "customer": {"phone": "139"}},
                       headers=auth()).status_code == 422
    assert client.post("/api/coupons", json={"template_id": 999, "customer_id": amy}, headers=auth()).status_code == 404
    assert client.post("/api/coupons", json={"template_id": days, "customer_id": amy},
                       headers=auth("guide", "G1")).status_code == 403


def test_per_customer_limit_and_stock_hold(frozen, client, auth):
    template_id = make_template(frozen, stock=3, per_customer_limit=2)
    amy, bob = make_customer(frozen), make_customer(frozen)
    post = lambda who: client.post("/api/coupons", json={"template_id": template_id, "customer_id": who},  # noqa: E731
                                   headers=auth())
    assert [post(amy).status_code, post(amy).status_code] == [201, 201]
    refused = post(amy)
    assert refused.status_code == 409 and refused.get_json()["error"] == "limit_reached"
    assert post(bob).status_code == 201
    gone = post(bob)
    assert gone.status_code == 409 and gone.get_json()["error"] == "out_of_stock"
    with frozen.transaction() as db_session:
        assert db_session.get(CouponTemplate, template_id).issued_count == 3  # the refused limit gave its stock back
        assert db_session.scalar(select(func.count()).select_from(Coupon)) == 3


def test_a_paused_template_issues_nothing(frozen, client, auth):
    template_id = make_template(frozen)
    client.patch(f"/api/coupon-templates/{template_id}", json={"status": "paused"}, headers=auth())
    response = client.post("/api/coupons", json={"template_id": template_id, "customer_id": make_customer(frozen)},
                           headers=auth())
    assert response.status_code == 409 and response.get_json()["error"] == "paused"


def test_a_new_binding_issues_the_binding_rule_once(frozen, client, auth):
    create_store(frozen, "S1")
    g1, g2 = create_guide(frozen, "G1"), create_guide(frozen, "G2")
    gift = make_template(frozen, name="新客礼", kind="gift", gift="围兜", amount=None, min_spend=None, per_customer_limit=1)
    client.post("/api/coupon-rules", json={"template_id": gift, "trigger": "binding"}, headers=auth())
    who = openid()
    mp_scan(frozen, client, who, g1.mp_scene)
    customer_id = customer_of(frozen, who)
    issued = coupons_of(frozen, customer_id)
    assert [(c.template_id, c.source, c.issued_guide_id) for c in issued] == [(gift, "rule", g1.id)]
    reconfigure_last_touch(frozen)
    frozen.clock.advance(days=40)  # protection over: G2 takes the customer, the limit holds
    mp_scan(frozen, client, who, g2.mp_scene, event="SCAN")
    assert len(coupons_of(frozen, customer_id)) == 1
    assert kinds_on_timeline(frozen, customer_id).count("coupon_not_issued") == 1


def reconfigure_last_touch(runtime) -> None:
    from platform_world import reconfigure

    reconfigure(runtime, {"binding.policy": "last_touch"})


def test_first_order_and_order_over_rules(frozen, client, auth):
    first = make_template(frozen, name="首单礼", per_customer_limit=1)
    over = make_template(frozen, name="买赠", kind="gift", gift="米粉", amount=None, min_spend=None,
                         per_customer_limit=None)
    client.post("/api/coupon-rules", json={"template_id": first, "trigger": "first_order"}, headers=auth())
    client.post("/api/coupon-rules", json={"template_id": over, "trigger": "order_over", "min_amount": "299"},
                headers=auth())
    amy = make_customer(frozen, openid="o-amy")

    def order(no: str, amount: str):  # noqa: ANN202
        body = {"order_no": no, "amount": amount, "ordered_at": NOW.isoformat(), "customer": {"openid": "o-amy"}}
        return client.post("/api/orders", json=body, headers=auth())

    assert order("SO-1", "99").status_code == 201
    assert [c.template_id for c in coupons_of(frozen, amy)] == [first]
    assert order("SO-2", "299").status_code == 201
    assert order("SO-2", "299").status_code == 200  # the same order again issues nothing more
    assert order("SO-3", "300.50").status_code == 201
    assert [c.template_id for c in coupons_of(frozen, amy)] == [first, over, over]
    assert all(c.source == "rule" for c in coupons_of(frozen, amy))


def test_announced_inside_the_48_hour_window(frozen, client, auth):
    template_id = make_template(frozen, name="满100减20")
    who = openid()
    world.add_follower(frozen.redis, who, last_message_at=NOW, at=NOW)
    text(frozen, client, who, "你好")
    customer_id = customer_of(frozen, who)
    issue(frozen, template_id, customer_id)
    frozen.queue.run_pending()
    inbox = [m for m in world.list_messages(frozen.redis, who) if m["kind"] == "custom"]
    assert len(inbox) == 1 and "满100减20" in inbox[0]["content"]["content"]
    assert "/c/coupons?t=" in inbox[0]["content"]["content"]
    assert coupons_of(frozen, customer_id)[0].announce_state == "sent"


def test_an_announcement_whose_answer_is_lost_is_not_sent_again(frozen, client, auth, monkeypatch, stack):
    template_id = make_template(frozen, name="满100减20")
    who = openid()
    world.add_follower(frozen.redis, who, last_message_at=NOW, at=NOW)
    text(frozen, client, who, "你好")
    customer_id = customer_of(frozen, who)
    monkeypatch.setattr(frozen.mp.transport, "_timeout", (1.0, 0.3))  # a read timeout inside the delay
    state.add_fault(frozen.redis, channel="mp", api="message/custom/send", delay_ms=1000, times=5)
    issue(frozen, template_id, customer_id)
    frozen.queue.run_pending()
    assert coupons_of(frozen, customer_id)[0].announce_state == "sent"  # it may have gone: not tried again
    stack.wait_until_answered()  # the sandbox finishes the call whose answer was lost
    assert len([m for m in world.list_messages(frozen.redis, who) if m["kind"] == "custom"]) == 1
    assert len(state.list_calls(frozen.redis, channel="mp", api="message/custom/send")) == 1


def test_outside_the_window_it_waits_for_the_next_message(frozen, client, auth):
    template_id = make_template(frozen)
    who = openid()
    world.add_follower(frozen.redis, who, last_message_at=NOW, at=NOW)
    text(frozen, client, who, "你好")
    customer_id = customer_of(frozen, who)
    frozen.clock.advance(hours=49)
    issue(frozen, template_id, customer_id)
    frozen.queue.run_pending()
    assert coupons_of(frozen, customer_id)[0].announce_state == "waiting"
    assert announce_waiting() == 0  # nothing new from the customer yet
    frozen.clock.advance(hours=3)
    world.touch_follower(frozen.redis, who, at=frozen.clock.now())
    text(frozen, client, who, "在吗")
    assert announce_waiting() == 1
    frozen.queue.run_pending()
    assert coupons_of(frozen, customer_id)[0].announce_state == "sent"
    assert len([m for m in world.list_messages(frozen.redis, who) if m["kind"] == "custom"]) == 1


def test_a_customer_without_the_official_account_is_not_announced(frozen, client, auth):
    from scrm.customers.models import Customer

    template_id = make_template(frozen)
    with frozen.transaction() as db_session:
        customer = Customer(nickname="WeCom only")
        db_session.add(customer)
        db_session.flush()
        customer_id = customer.id
    issue(frozen, template_id, customer_id)
    frozen.queue.run_pending()
    assert coupons_of(frozen, customer_id)[0].announce_state == "none"


def test_asking_for_coupons_answers_with_the_signed_link(frozen, client):
    from guide_world import reply_of

    who = openid()
    response = text(frozen, client, who, " 优惠券 ")
    reply = reply_of(frozen, "mp", response)
    assert "<MsgType><![CDATA[news]]></MsgType>" in reply and "/c/coupons?t=" in reply


def test_merged_customers_keep_their_coupons_and_the_limit_counts_both(frozen):
    from scrm.customers.models import Customer
    from scrm.flows import merge_customers

    template_id = make_template(frozen, per_customer_limit=2)
    keep, drop = make_customer(frozen), make_customer(frozen)
    issue(frozen, template_id, keep)
    issue(frozen, template_id, drop)
    with frozen.transaction() as db_session:
        merge_customers(runtime=frozen, db_session=db_session, keep=db_session.get(Customer, keep),
                        drop=db_session.get(Customer, drop))
    assert len(coupons_of(frozen, keep)) == 2
    with frozen.transaction() as db_session:
        assert db_session.get(CouponHolding, (template_id, keep)).issued == 2
        with pytest.raises(issuing.NotIssued) as refused:
            issuing.issue(runtime=frozen, db_session=db_session, template_id=template_id, customer_id=keep,
                          source="manual", source_ref=None, at=NOW)
        assert refused.value.reason == "limit_reached"
