"""A coupon attached to a campaign: each sent delivery issues its customer one coupon (source
campaign, source_ref the campaign), in the transaction that marks it sent; skipped and failed
deliveries issue none; the message carries the customer's "my coupons" link (a shared WeCom
task the page's plain address); the coupon is not announced a second time; out of stock or at
the limit, the message still goes and the delivery says why no coupon came with it."""

from __future__ import annotations

from sqlalchemy import select

from coupon_world import issue, make_template
from guide_world import create_guide, create_store
from scrm.coupons.links import PATH, coupons_link
from scrm.coupons.models import Coupon, CouponTemplate
from scrm.outreach import results
from scrm.sandbox import state, world
from test_outreach_sending import NOW, bind, deliveries, fire, follower, make_campaign, send_run  # noqa: F401 - NOW: frozen's moment

OUTREACH = {"outreach.weekly_cap": 10, "outreach.quiet_hours": "", "queue.max_retries": 2}  # sent by hand below

CUSTOM = "message/custom/send"
TEMPLATE_API = "externalcontact/add_msg_template"


def coupons(runtime, template_id: int) -> list[Coupon]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return list(db_session.scalars(select(Coupon).where(Coupon.template_id == template_id).order_by(Coupon.id)))


def text_received(runtime, openid: str) -> list[str]:  # noqa: ANN001
    return [m["content"]["content"] for m in world.list_messages(runtime.redis, openid) if m["kind"] == "custom"]


def test_each_sent_delivery_issues_one_coupon_and_carries_the_link(frozen):
    template_id = make_template(frozen, name="双11券")
    amy, amy_openid = follower(frozen)
    bob, bob_openid = follower(frozen)
    follower(frozen, in_window=False)  # no channel reaches her: skipped, no coupon
    _, refuser = follower(frozen, sandbox_window=False)  # WeChat says 45015: failed, no coupon
    campaign_id = make_campaign(frozen, coupon_template_id=template_id)
    run_id = fire(frozen, campaign_id)
    assert send_run(frozen, run_id) == {"sent": 2, "skipped": 1, "failed": 1}

    issued = coupons(frozen, template_id)
    assert sorted(c.customer_id for c in issued) == [amy, bob]
    assert {(c.source, c.source_ref, c.announce_state) for c in issued} == {("campaign", str(campaign_id), "sent")}
    (amy_text,) = text_received(frozen, amy_openid)
    assert amy_text.startswith("双11 全场满300减50\n\n") and amy_text.endswith(coupons_link(frozen, amy))
    assert text_received(frozen, bob_openid)[0].endswith(coupons_link(frozen, bob))
    assert text_received(frozen, refuser) == []
    assert {d.last_error for d in deliveries(frozen, run_id) if d.status == "sent"} == {None}

    frozen.queue.run_pending()  # the coupons' announcement jobs: the campaign's message was it
    assert len(text_received(frozen, amy_openid)) == 1 and len(text_received(frozen, bob_openid)) == 1
    with frozen.transaction() as db_session:
        shown = results.campaign_results(db_session=db_session, campaign_id=campaign_id)
    assert (shown.total.sent, shown.total.coupons_issued, shown.total.coupons_redeemed) == (2, 2, 0)


def test_out_of_stock_before_the_send_sends_the_message_without_the_link(frozen):
    template_id = make_template(frozen, stock=1)
    issue(frozen, template_id, follower(frozen, in_window=False)[0])  # the only one, given earlier
    amy, amy_openid = follower(frozen)
    run_id = fire(frozen, make_campaign(frozen, coupon_template_id=template_id))
    assert send_run(frozen, run_id) == {"sent": 1, "skipped": 1}  # the earlier one is outside the window
    (delivery,) = [d for d in deliveries(frozen, run_id) if d.customer_id == amy]
    assert (delivery.status, delivery.last_error) == ("sent", "coupon not issued: out_of_stock")
    assert text_received(frozen, amy_openid) == ["双11 全场满300减50"]
    assert [c.customer_id for c in coupons(frozen, template_id)] != [amy]


def test_stock_gone_while_sending_still_sends_and_notes_it(frozen):
    template_id = make_template(frozen, stock=1)
    first, _ = follower(frozen)
    second, second_openid = follower(frozen)
    run_id = fire(frozen, make_campaign(frozen, coupon_template_id=template_id))
    assert send_run(frozen, run_id) == {"sent": 2}  # both checked while one coupon was left
    assert [c.customer_id for c in coupons(frozen, template_id)] == [first]
    by_customer = {d.customer_id: d for d in deliveries(frozen, run_id)}
    assert by_customer[first].last_error is None
    assert by_customer[second].last_error == "coupon not issued: out_of_stock"
    assert text_received(frozen, second_openid)[0].endswith(coupons_link(frozen, second))
    with frozen.transaction() as db_session:
        assert db_session.get(CouponTemplate, template_id).issued_count == 1


def test_a_customer_at_the_limit_gets_the_message_without_a_coupon(frozen):
    template_id = make_template(frozen, per_customer_limit=1)
    amy, amy_openid = follower(frozen)
    issue(frozen, template_id, amy)
    run_id = fire(frozen, make_campaign(frozen, coupon_template_id=template_id))
    assert send_run(frozen, run_id) == {"sent": 1}
    (delivery,) = deliveries(frozen, run_id)
    assert delivery.last_error == "coupon not issued: limit_reached"
    assert text_received(frozen, amy_openid) == ["双11 全场满300减50"]
    assert [c.source for c in coupons(frozen, template_id)] == ["manual"]


def test_a_shared_wecom_task_carries_the_page_address_and_each_customer_gets_a_coupon(frozen):
    create_store(frozen)
    create_guide(frozen, "G1")
    template_id = make_template(frozen)
    amy, _ = follower(frozen, in_window=False, external_userid="wmAmyCoupon")
    bob, _ = follower(frozen, in_window=False, external_userid="wmBobCoupon")
    bind(frozen, amy, "G1", "wmAmyCoupon")
    bind(frozen, bob, "G1", "wmBobCoupon")
    campaign_id = make_campaign(frozen, channel="work_single", coupon_template_id=template_id)
    assert send_run(frozen, fire(frozen, campaign_id)) == {"sent": 2}
    (task,) = [c["body"] for c in state.list_calls(frozen.redis, channel="work", api=TEMPLATE_API)]
    assert task["text"]["content"].endswith(frozen.config.server.public_base_url + PATH)
    assert sorted(c.customer_id for c in coupons(frozen, template_id)) == [amy, bob]


def test_a_dead_delivery_issues_no_coupon(frozen):
    template_id = make_template(frozen)
    follower(frozen)
    run_id = fire(frozen, make_campaign(frozen, coupon_template_id=template_id))
    state.add_fault(frozen.redis, channel="mp", api=CUSTOM, errcode=-1, times=1000)
    assert [send_run(frozen, run_id) for _ in range(3)] == [{"planned": 1}, {"planned": 1}, {"dead": 1}]
    (delivery,) = deliveries(frozen, run_id)
    assert delivery.status == "dead" and coupons(frozen, template_id) == []
