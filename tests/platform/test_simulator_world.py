"""``scrm simulate`` against what the server really has (SPEC §10): its guides' codes and WeCom
members, its rules' keywords and its menu keys, orders through the API, and ``--backfill``
dating the activity over the past days (the sandbox handles such a callback as of then)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from guides.models import Binding, Guide
from handlers.models import CallbackRecord
from handlers.signed_callbacks import CallbackSender, mp_text_xml
from scrm.clock import as_utc
from scrm.customers.models import CustomerIdentity, Interaction
from scrm.sandbox import world as sandbox_world
from scrm.simulator import make_plan
from scrm.simulator_load import LoadOptions, Simulator
from scrm.simulator_world import builtin, discover
from scrm.users.models import ApiToken, User
from tagging.models import Order

GUIDES = (("GA01", "安娜", "anna_wm"), ("GB02", "包博", "baobo_wm"))


@pytest.fixture
def brand(stack, client, auth):
    """A store with two guides (WeCom members of the sandbox), a keyword reply rule, a click
    tag rule on a menu key, and a manager's token to read it all with."""
    headers = auth("manager")
    assert client.post("/api/stores", json={"code": "S9", "name": "测试店"}, headers=headers).status_code == 201
    for code, name, member in GUIDES:
        sandbox_world.add_member(stack.runtime.redis, member, name)
        body = {"code": code, "name": name, "store": "S9", "wecom_userid": member}
        assert client.post("/api/guides", json=body, headers=headers).status_code == 201
    rule = {"match": "contains", "keyword": "奶粉", "reply_kind": "text", "text": "奶粉专区"}
    assert client.post("/api/reply-rules", json=rule, headers=headers).status_code == 201
    group = client.post("/api/tag-groups", json={"name": "兴趣"}, headers=headers).get_json()
    tag = client.post("/api/tags", json={"group": group["id"], "name": "新品"}, headers=headers).get_json()
    tag_rule = {"kind": "click", "pattern": "MENU_NEW_IN", "tag_id": tag["id"]}
    assert client.post("/api/tag-rules", json=tag_rule, headers=headers).status_code == 201
    return headers["Authorization"].removeprefix("Bearer ")


def _guide_of_binding(runtime) -> dict[tuple[str, str], str]:
    """(channel, external id) → the code of the guide the customer was ever bound to."""
    with runtime.transaction() as db_session:
        rows = db_session.execute(
            select(CustomerIdentity.channel, CustomerIdentity.external_id, Guide.code)
            .join(Binding, Binding.customer_id == CustomerIdentity.customer_id)
            .join(Guide, Guide.id == Binding.guide_id)
        )
        return {(channel, external_id): code for channel, external_id, code in rows}


def _occurred_at_of_callbacks():
    """When the customers' callbacks and orders happened (not the tags computed on an order)."""
    return select(Interaction.occurred_at).where(Interaction.kind.not_in(("tag_added", "tag_removed")))


def test_the_world_is_what_the_server_has(stack, brand, client, auth):
    world = discover(stack.url, brand, coupons_menu_key=stack.runtime.config.coupons.menu_key)

    assert [g.code for g in world.guides] == ["GA01", "GB02"]
    for guide in world.guides:
        codes = client.get(f"/api/guides/{guide.code}", headers=auth("manager")).get_json()["codes"]
        assert (guide.mp_scene, guide.work_scene) == (codes["mp"]["scene"], codes["work"]["scene"])
    assert {g.wecom_userid for g in world.guides} == {"anna_wm", "baobo_wm"}
    assert "奶粉" in world.texts
    # No menu route on this server: the keys it reacts to, its coupons button first.
    assert world.click_keys == (stack.runtime.config.coupons.menu_key, "MENU_NEW_IN")
    assert world.view_urls == ()
    assert "GA01, GB02" in world.describe()


def test_a_simulation_binds_the_customers_who_scanned_to_the_servers_guides(stack, brand):
    world = discover(stack.url, brand, coupons_menu_key=stack.runtime.config.coupons.menu_key)
    plan = make_plan(customers=40, days=3, seed=21, retry_fraction=0.2, work_fraction=0.25, order_fraction=0.4,
                     world=world)

    summary = Simulator(stack.runtime.config, stack.url, LoadOptions(concurrency=3), token=brand).run(plan)

    assert summary.all_accepted, summary.lines()
    orders = [c for c in plan.callbacks if c.channel == "api"]
    assert orders and summary.orders_new == len(orders)
    assert summary.orders_again == sum(c.retries for c in orders)
    scanned = {("work" if c.channel == "work" else "mp", c.user): c.get("guide") for c in plan.callbacks
               if c.get("guide") and c.kind != "order"}
    bound = _guide_of_binding(stack.runtime)
    assert scanned and all(who in bound for who in scanned), "a customer who scanned a guide's code is unbound"
    by_guide = Counter(bound.values())
    assert by_guide["GA01"] > 0 and by_guide["GB02"] > 0
    work_adds = [c for c in plan.callbacks if c.kind == "add_external_contact"]
    assert work_adds and {c.get("userid") for c in work_adds} <= {"anna_wm", "baobo_wm"}
    clicks = [c.get("key") for c in plan.callbacks if c.kind == "click"]
    assert clicks and set(clicks) <= {stack.runtime.config.coupons.menu_key, "MENU_NEW_IN"}
    assert not any(c.kind == "view" for c in plan.callbacks)  # the server's menu has no links
    assert any(c.get("content") == "奶粉" for c in plan.callbacks)
    with stack.runtime.transaction() as db_session:
        assert len(db_session.scalars(select(Order.id)).all()) == len(orders)
        assert db_session.scalar(select(CallbackRecord.id).limit(1)) is not None


def test_backfill_dates_the_activity_over_the_past_days(stack, brand):
    days = 5
    world = discover(stack.url, brand, coupons_menu_key=stack.runtime.config.coupons.menu_key)
    plan = make_plan(customers=25, days=days, seed=8, retry_fraction=0.1, work_fraction=0.2, order_fraction=0.3,
                     world=world)
    zone = stack.runtime.config.brand.zone
    today = datetime.now(zone).date()
    start = int(datetime.combine(today - timedelta(days=days), datetime.min.time(), zone).timestamp())

    summary = Simulator(stack.runtime.config, stack.url, LoadOptions(backfill_start=start), token=brand).run(plan)

    assert summary.all_accepted, summary.lines()
    with stack.runtime.transaction() as db_session:
        stamps = [as_utc(at) for at in db_session.scalars(_occurred_at_of_callbacks())]
        bound_at = [as_utc(at) for at in db_session.scalars(select(Binding.bound_at))]
        ordered_at = [as_utc(at) for at in db_session.scalars(select(Order.ordered_at))]
    dates = {at.astimezone(zone).date() for at in stamps}
    assert (max(dates) - min(dates)).days >= days - 1
    assert min(dates) == today - timedelta(days=days)
    recent = datetime.now(UTC) - timedelta(minutes=5)
    with stack.runtime.transaction() as db_session:
        late = db_session.execute(
            select(Interaction.kind, Interaction.payload).where(Interaction.occurred_at >= recent))
        # An order's RFM class and lifecycle stage are computed when the order is posted: now.
        late = [(kind, payload) for kind, payload in late
                if (payload.get("cause") or {}).get("kind") != "computation"]
    assert not late, f"backfilled interactions stamped now: {late}"
    assert bound_at and all(at < recent for at in bound_at)
    assert ordered_at and all(at < recent for at in ordered_at)
    assert len({at.astimezone(zone).date() for at in bound_at}) > 1


def test_the_sandbox_dates_an_old_callback_then_and_a_recent_one_now(stack, client):
    sender = CallbackSender.from_config(stack.runtime.config, "mp", encrypt=True)
    to = stack.runtime.config.wechat.mp.original_id
    two_days_ago, a_minute_ago = int(time.time()) - 2 * 86_400, int(time.time()) - 60

    for n, (openid, at) in enumerate((("o-old-customer", two_days_ago), ("o-new-customer", a_minute_ago))):
        signed = sender.sign(mp_text_xml(to=to, openid=openid, content="在吗", msg_id=str(900 + n), create_time=at))
        assert client.post(signed.path, data=signed.body, content_type="text/xml").status_code == 200

    with stack.runtime.transaction() as db_session:
        rows = dict(db_session.execute(
            select(CustomerIdentity.external_id, Interaction.occurred_at)
            .join(Interaction, Interaction.identity_id == CustomerIdentity.id)).all())
        received = db_session.scalars(select(CallbackRecord.received_at)).all()
    assert as_utc(rows["o-old-customer"]).timestamp() == two_days_ago
    assert abs(as_utc(rows["o-new-customer"]).timestamp() - time.time()) < 30  # within the window: now
    assert all(abs(as_utc(at).timestamp() - time.time()) < 30 for at in received)  # the ledger: when received


def test_the_builtin_world_keeps_plans_without_a_server():
    plan = make_plan(customers=10, days=2, seed=3, order_fraction=0.5)
    assert {c.channel for c in plan.callbacks} >= {"mp", "api"}
    assert all(c.get("scene").startswith(("g:", "s:", "c:")) for c in plan.callbacks if c.get("scene"))
    assert plan == make_plan(customers=10, days=2, seed=3, order_fraction=0.5, world=builtin())


def test_scrm_simulate_backfill_learns_the_server_and_revokes_its_token(served_cli, stack, brand):
    result = served_cli("simulate", "--customers", "8", "--days", "3", "--backfill", "--seed", "4",
                        "--order-fraction", "0.5")

    assert result.exit_code == 0, result.output
    assert "guides GA01, GB02" in result.output and "click key(s)" in result.output
    assert "dated from" in result.output and "rejected    0" in result.output
    assert "orders      " in result.output
    with stack.runtime.transaction() as db_session:
        user = db_session.scalar(select(User).where(User.name == "simulator"))
        assert user is not None and user.role == "manager"
        tokens = db_session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).all()
        assert tokens and all(t.revoked_at is not None for t in tokens)
        stamps = [as_utc(at) for at in db_session.scalars(_occurred_at_of_callbacks())]
    assert stamps and max(stamps) < datetime.now(UTC) - timedelta(minutes=5)
    assert _guide_of_binding(stack.runtime)


def test_scrm_simulate_with_a_refused_token_says_so_and_sends_nothing(served_cli, stack):
    result = served_cli("simulate", "--customers", "2", "--token", "scrm_not-a-token")
    assert result.exit_code == 1
    assert "could not learn the server's guides" in result.output and "401" in result.output
    with stack.runtime.transaction() as db_session:
        assert db_session.scalar(select(CallbackRecord.id).limit(1)) is None


@pytest.mark.parametrize(("sandbox", "age", "dated"), [
    (True, 2 * 86_400, True), (True, 299, False), (True, 11 * 365 * 86_400, False), (True, -3600, False),
    (False, 2 * 86_400, False),
])
def test_only_the_sandbox_dates_a_callback_and_only_an_old_one(sandbox, age, dated):
    from types import SimpleNamespace

    from handlers.dispatch import _as_of_event
    from scrm.callbacks import TextMessage
    from scrm.clock import SystemClock

    clock = SystemClock()
    runtime = SimpleNamespace(clock=clock, config=SimpleNamespace(wechat=SimpleNamespace(sandbox=sandbox)))
    said = int(time.time()) - age
    callback = TextMessage(channel="mp", to_user="gh", from_user="o1", create_time=said, raw={}, msg_id="1",
                           content="在吗")
    with _as_of_event(runtime, callback):
        inside = clock.now()
    assert (inside.timestamp() == said) is dated
    assert abs(clock.now().timestamp() - time.time()) < 5  # and the clock is back to now after
