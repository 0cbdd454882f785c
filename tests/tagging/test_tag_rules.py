"""Tag rules applied as callbacks arrive, through the real webhook: every kind, whole words,
synonyms, weights and thresholds, decay, retries, and rule changes across processes."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
import requests
from sqlalchemy import event as sa_event

from handlers.signed_callbacks import CallbackSender, mp_message_xml, mp_text_xml, work_contact_xml
from tag_world import carried, create_tag, event, post, score, tag_entries, text

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def add_rule(client, manager):
    def add(kind: str, pattern: str, tag_id: int, **fields) -> int:  # noqa: ANN003
        response = client.post(
            "/api/tag-rules", json={"kind": kind, "pattern": pattern, "tag_id": tag_id, **fields}, headers=manager
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    return add


def test_a_keyword_tags_the_customer_who_says_it(runtime, client, clock, add_rule):
    milk = create_tag(runtime, "奶粉")
    rule = add_rule("keyword", "奶粉", milk)
    text(runtime, client, "你好，请问飞鹤奶粉有货吗？")
    assert carried(runtime) == {"奶粉"}
    assert tag_entries(runtime) == [("tag_added", "奶粉", str(rule))]


def test_keywords_match_whole_words_unless_substring(runtime, client, clock, add_rule):
    milk, storage, related = (create_tag(runtime, name) for name in ("奶粉", "收纳", "奶粉周边"))
    add_rule("keyword", "奶粉", milk)
    add_rule("keyword", "奶粉盒子", storage)  # in the dictionary: 奶粉盒子 segments as one word
    add_rule("keyword", "奶粉", related, substring=True)

    text(runtime, client, "想买个奶粉盒子", openid="oBox")
    assert carried(runtime, "oBox") == {"收纳", "奶粉周边"}
    text(runtime, client, "奶粉罐还有吗", openid="oCan")  # 奶粉罐: one word in jieba's dictionary
    assert carried(runtime, "oCan") == {"奶粉周边"}
    text(runtime, client, "我想买奶粉", openid="oMilk")
    assert carried(runtime, "oMilk") == {"奶粉", "奶粉周边"}


def test_synonyms_count_as_the_keyword_once_per_message(runtime, client, clock, add_rule):
    milk = create_tag(runtime, "奶粉", group="渠道")  # no decay: scores are exact
    add_rule("keyword", "奶粉", milk, synonyms=["配方奶", "牛奶粉"], weight=0.4)
    text(runtime, client, "有配方奶吗")
    assert score(runtime, milk) == pytest.approx(0.4)
    text(runtime, client, "奶粉、配方奶和牛奶粉都要，奶粉要两罐")
    assert score(runtime, milk) == pytest.approx(0.8)  # once per rule per message
    assert carried(runtime) == set()


def test_latin_keywords_fold_case_and_width_and_stay_whole(runtime, client, clock, add_rule):
    vip = create_tag(runtime, "VIP")
    add_rule("keyword", "VIP", vip)
    text(runtime, client, "vipshop上买的", openid="oShop")
    text(runtime, client, "我是ＶＩＰ会员", openid="oVip")
    assert carried(runtime, "oShop") == set() and carried(runtime, "oVip") == {"VIP"}


def test_voice_recognised_as_text_is_matched_too(runtime, client, clock, add_rule):
    add_rule("keyword", "尿不湿", create_tag(runtime, "尿不湿"))
    fields = {"MediaId": "m1", "Format": "amr", "Recognition": "尿不湿有活动吗", "MsgId": "555"}
    post(runtime, client, mp_message_xml(to=runtime.config.wechat.mp.original_id, openid="oBuyer", create_time=int(clock.timestamp()), msg_type="voice", fields=fields))
    assert carried(runtime) == {"尿不湿"}


def test_menu_click_and_view(runtime, client, clock, add_rule):
    add_rule("click", "MENU_COUPONS", create_tag(runtime, "价格敏感"))
    add_rule("view", "https://m.demo-brand.example/activity/618", create_tag(runtime, "大促"))
    event(runtime, client, "CLICK", key="MENU_COUPONS", openid="oClick")
    event(runtime, client, "CLICK", key="MENU_MEMBER_CARD", openid="oOther")
    event(runtime, client, "VIEW", key="https://m.demo-brand.example/activity/618", openid="oView")
    event(runtime, client, "VIEW", key="https://m.demo-brand.example/activity/618?x=1", openid="oOther")
    assert carried(runtime, "oClick") == {"价格敏感"}
    assert carried(runtime, "oView") == {"大促"}
    assert carried(runtime, "oOther") == set()


def test_scenes_exact_and_by_prefix_on_follow_and_scan(runtime, client, clock, add_rule):
    add_rule("scene", "g:G001", create_tag(runtime, "导购G001", group="渠道"))
    add_rule("scene", "s:*", create_tag(runtime, "门店码", group="渠道"))
    event(runtime, client, "subscribe", key="qrscene_g:G001", openid="oGuide", Ticket="t1")
    event(runtime, client, "SCAN", key="s:SH01", openid="oStore", Ticket="t2")
    event(runtime, client, "SCAN", key="g:G0011", openid="oNear", Ticket="t3")  # not the exact scene
    event(runtime, client, "subscribe", key="", openid="oPlain")
    assert carried(runtime, "oGuide") == {"导购G001"}
    assert carried(runtime, "oStore") == {"门店码"}
    assert carried(runtime, "oNear") == set() and carried(runtime, "oPlain") == set()


def test_follow_and_unfollow_events(runtime, client, clock, add_rule):
    add_rule("event", "follow", create_tag(runtime, "关注过", group="生命周期"))
    add_rule("event", "unfollow", create_tag(runtime, "取关过", group="生命周期"))
    event(runtime, client, "subscribe", key="qrscene_c:new-mom")
    assert carried(runtime) == {"关注过"}
    clock.advance(seconds=5)
    event(runtime, client, "unsubscribe")
    assert carried(runtime) == {"关注过", "取关过"}


def test_wecom_contact_added_is_a_follow_with_its_state_as_scene(runtime, wechat, add_rule):
    add_rule("event", "follow", create_tag(runtime, "加过企微", group="渠道"))
    add_rule("scene", "g:*", create_tag(runtime, "导购码", group="渠道"))
    wechat.work(
        work_contact_xml(
            corp_id=runtime.config.wechat.work.corp_id, change_type="add_external_contact", userid="zhangsan",
            external_userid="wmCustomer01", create_time=int(time.time()), state="g:G001",
        )
    )
    from scrm.customers import service as customers
    from tagging.scores import carried_tags

    with runtime.transaction() as db_session:
        customer = customers.lookup(db_session=db_session, channel="work", external_id="wmCustomer01")
        names = {t["tag"] for t in carried_tags(db_session=db_session, customer_id=customer.id, now=runtime.clock.now())}
    assert names == {"加过企微", "导购码"}


def test_weights_add_up_to_the_threshold(runtime, client, clock, add_rule):
    milk = create_tag(runtime, "奶粉", group="渠道", half_life_days=None, threshold=1.0)
    add_rule("keyword", "奶粉", milk, weight=0.5)
    text(runtime, client, "奶粉")
    assert carried(runtime) == set() and score(runtime, milk) == pytest.approx(0.5)
    text(runtime, client, "还是奶粉")
    assert carried(runtime) == {"奶粉"}
    assert [entry[0] for entry in tag_entries(runtime)] == ["tag_added"]


def test_scores_decay_with_the_groups_half_life(runtime, client, clock, add_rule):
    milk = create_tag(runtime, "奶粉", group="兴趣", half_life_days=10, threshold=1.0)
    add_rule("keyword", "奶粉", milk, weight=2)
    text(runtime, client, "奶粉")
    clock.advance(days=9)  # 2 · 0.5^0.9 ≈ 1.07
    assert carried(runtime) == {"奶粉"}
    clock.advance(days=2)  # ≈ 0.93: lapsed by decay alone
    assert carried(runtime) == set()
    text(runtime, client, "奶粉")  # 0.93 + 2, from now
    assert score(runtime, milk) == pytest.approx(2 + 2 * 0.5 ** 1.1)
    assert carried(runtime) == {"奶粉"}
    assert [entry[0] for entry in tag_entries(runtime)] == ["tag_added", "tag_added"]


def test_a_disabled_rule_does_nothing(runtime, client, clock, add_rule):
    add_rule("keyword", "奶粉", create_tag(runtime, "奶粉"), enabled=False)
    text(runtime, client, "奶粉")
    assert carried(runtime) == set()


def test_retries_apply_a_tag_once(runtime, client, clock, add_rule):
    milk = create_tag(runtime, "奶粉", group="渠道")
    add_rule("keyword", "奶粉", milk, weight=0.3)
    sender = CallbackSender.from_config(runtime.config, "mp", encrypt=True)
    xml = mp_text_xml(to=runtime.config.wechat.mp.original_id, openid="oBuyer", content="奶粉", msg_id="777", create_time=int(clock.timestamp()))
    for _ in range(4):
        signed = sender.sign(xml, timestamp=int(clock.timestamp()))
        assert client.post(signed.path, data=signed.body).status_code == 200
    runtime.redis.flushdb()  # Redis forgot: the ledger still knows, and the retry's scoring is rolled back
    signed = sender.sign(xml, timestamp=int(clock.timestamp()))
    assert client.post(signed.path, data=signed.body).status_code == 200
    assert score(runtime, milk) == pytest.approx(0.3)


def test_concurrent_deliveries_apply_a_tag_once(runtime, stack, add_rule):
    milk = create_tag(runtime, "奶粉", group="渠道")
    add_rule("keyword", "奶粉", milk, weight=1)
    sender = CallbackSender.from_config(runtime.config, "mp", encrypt=True)
    xml = mp_text_xml(to=runtime.config.wechat.mp.original_id, openid="oBuyer", content="奶粉", msg_id="778", create_time=int(time.time()))
    barrier = threading.Barrier(4)
    statuses = []

    def deliver() -> None:
        signed = sender.sign(xml)
        barrier.wait()
        statuses.append(requests.post(stack.url + signed.path, data=signed.body, timeout=10).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert statuses == [200] * 4
    assert score(runtime, milk) == pytest.approx(1.0)
    assert len(tag_entries(runtime)) == 1


def test_rule_changes_reach_another_process_without_a_restart(runtime, client, manager, add_rule):
    """Two runtimes on one database and Redis, as two processes: the second keeps its rule
    book in memory and picks up each change at its next callback."""
    from scrm.app import create_app
    from scrm.runtime import Runtime, install

    other = Runtime(runtime.config)
    other_client = create_app(runtime=other).test_client()
    install(runtime)
    try:
        milk = create_tag(runtime, "奶粉", group="渠道")
        text(other, other_client, "奶粉", openid="oA")  # loads an empty rule book
        rule = add_rule("keyword", "奶粉", milk, weight=0.5)
        text(other, other_client, "奶粉", openid="oA")
        assert score(runtime, milk, "oA") == pytest.approx(0.5)

        client.patch(f"/api/tag-rules/{rule}", json={"pattern": "尿不湿"}, headers=manager)
        text(other, other_client, "奶粉", openid="oA")
        text(other, other_client, "尿不湿", openid="oA")
        assert score(runtime, milk, "oA") == pytest.approx(1.0)

        client.patch(f"/api/tag-rules/{rule}", json={"enabled": False}, headers=manager)
        text(other, other_client, "尿不湿", openid="oA")
        client.delete(f"/api/tag-rules/{rule}", headers=manager)
        text(other, other_client, "尿不湿", openid="oA")
        assert score(runtime, milk, "oA") == pytest.approx(1.0)
    finally:
        other.close()


def test_no_sql_for_tags_when_no_rule_matches(runtime, client, clock, add_rule):
    add_rule("keyword", "奶粉", create_tag(runtime, "奶粉"))
    text(runtime, client, "你好")  # the customer exists and the rule book is loaded
    statements: list[str] = []

    def note(conn, cursor, statement, *args) -> None:  # noqa: ANN001, ANN002
        statements.append(statement)

    sa_event.listen(runtime.engine, "before_cursor_execute", note)
    try:
        text(runtime, client, "在吗")
        unmatched = list(statements)
        statements.clear()
        text(runtime, client, "奶粉")
    finally:
        sa_event.remove(runtime.engine, "before_cursor_execute", note)
    assert unmatched and not any("tag" in s for s in unmatched), unmatched
    assert any("customer_tags" in s for s in statements)


def test_purchase_rules_apply_when_the_orders_domain_says_so(runtime, client, clock, add_rule):
    from scrm.customers import service as customers
    from tagging.apply import apply_event_rules

    buyer = create_tag(runtime, "已购", group="生命周期")
    add_rule("event", "purchase", buyer)
    text(runtime, client, "你好")
    with runtime.transaction() as db_session:
        customer = customers.lookup(db_session=db_session, channel="mp", external_id="oBuyer")
        changes = apply_event_rules(runtime, db_session, customer_id=customer.id, event="purchase")
    assert [(c.tag_id, c.added) for c in changes] == [(buyer, True)]
    assert carried(runtime) == {"已购"}


def test_warm_up_loads_the_rule_books_before_the_first_callback(runtime):
    """jieba's dictionary takes 1-2 s to load: serving processes load it at start, not when
    the first customer's message is waiting for its reply."""
    from scrm.replies import service as replies
    from scrm.warmup import warm_up
    from tagging import rules

    assert not rules._rulebook.loaded(runtime) and not replies._rulebook.loaded(runtime)
    warm_up(runtime)
    assert rules._rulebook.loaded(runtime) and replies._rulebook.loaded(runtime)
