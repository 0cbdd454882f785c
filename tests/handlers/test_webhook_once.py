"""Exactly-once effects under WeChat's retries, fast replies, customers and their timeline."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from sqlalchemy import func, select

from handlers.models import CallbackRecord
from handlers.signed_callbacks import CallbackSender, mp_event_xml, mp_text_xml, work_contact_xml
from scrm.customers.models import Customer, CustomerIdentity, Interaction
from scrm.sandbox import state as sandbox


def _count(runtime, model, *where) -> int:
    with runtime.transaction() as db_session:
        return db_session.scalar(select(func.count()).select_from(model).where(*where))


def _text(runtime, content: str, msg_id: str, openid: str = "oBuyer001") -> str:
    return mp_text_xml(
        to=runtime.config.wechat.mp.original_id, openid=openid, content=content, msg_id=msg_id, create_time=int(time.time())
    )


@pytest.fixture
def keyword_rule(client, auth):
    response = client.post(
        "/api/reply-rules",
        json={"match": "contains", "keyword": "奶粉", "reply_kind": "text", "text": "奶粉在这里: 1 段 2 段 3 段"},
        headers=auth("manager"),
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.mark.parametrize("encrypt", [False, True], ids=["plaintext", "safe-mode"])
def test_four_sequential_deliveries_make_one_interaction_and_the_same_reply(runtime, client, keyword_rule, encrypt):
    sender = CallbackSender.from_config(runtime.config, "mp", encrypt=encrypt)
    xml = _text(runtime, "我想买奶粉", "7001")
    replies = []
    for _ in range(4):
        signed = sender.sign(xml)  # each retry is signed afresh, as WeChat does
        response = client.post(signed.path, data=signed.body)
        assert response.status_code == 200
        replies.append(sender.open_reply(response.data))
    assert _count(runtime, Interaction) == 1 and _count(runtime, CallbackRecord) == 1
    assert all("奶粉在这里" in reply for reply in replies)
    assert len({reply.split("<MsgType>")[1] for reply in replies}) == 1


def test_four_concurrent_deliveries_make_one_interaction_and_one_reply(runtime, stack, keyword_rule):
    """Four deliveries at the same moment, on four connections to a threaded server."""
    sender = CallbackSender.from_config(runtime.config, "mp", encrypt=True)
    xml = _text(runtime, "奶粉 有货吗", "7002")
    barrier = threading.Barrier(4)
    results: list[str] = []

    def deliver() -> None:
        signed = sender.sign(xml)
        barrier.wait()
        response = requests.post(stack.url + signed.path, data=signed.body, timeout=10)
        results.append(f"{response.status_code}:{sender.open_reply(response.content)}")

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert len(results) == 4 and all(r.startswith("200:") for r in results), results
    assert len({r.split("<MsgType>")[1] for r in results}) == 1 and "奶粉在这里" in results[0]
    assert _count(runtime, Interaction) == 1 and _count(runtime, CallbackRecord) == 1
    assert _count(runtime, Customer) == 1


def test_a_retry_after_redis_forgot_still_has_one_effect_and_the_same_reply(runtime, client, wechat, keyword_rule):
    xml = _text(runtime, "奶粉", "7003")
    first = wechat.reply_text("mp", wechat.mp(xml), encrypt=False)
    runtime.redis.flushdb()  # Redis restarted: only the database remembers
    again = wechat.reply_text("mp", wechat.mp(xml), encrypt=False)
    assert first.split("<MsgType>")[1] == again.split("<MsgType>")[1]
    assert _count(runtime, Interaction) == 1


def test_wecom_contact_event_retries_are_deduplicated(runtime, wechat):
    xml = work_contact_xml(
        corp_id=runtime.config.wechat.work.corp_id,
        change_type="add_external_contact",
        userid="zhangsan",
        external_userid="wmCustomer01",
        create_time=int(time.time()),
        state="g:G001",
    )
    for _ in range(4):
        assert wechat.work(xml).data == b"success"
    assert _count(runtime, Interaction) == 1
    with runtime.transaction() as db_session:
        identity = db_session.scalars(select(CustomerIdentity)).one()
        assert (identity.channel, identity.external_id, identity.following) == ("work", "wmCustomer01", True)


def test_two_messages_of_a_new_customer_at_once_make_one_customer(runtime, stack):
    sender = CallbackSender.from_config(runtime.config, "mp", encrypt=False)
    barrier = threading.Barrier(6)

    def deliver(msg_id: str) -> None:
        signed = sender.sign(_text(runtime, "hello", msg_id, openid="oNewcomer"))
        barrier.wait()
        requests.post(stack.url + signed.path, data=signed.body, timeout=10)

    threads = [threading.Thread(target=deliver, args=(f"80{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert _count(runtime, Customer) == 1
    assert _count(runtime, Interaction) == 6


def test_follow_unfollow_and_greeting(runtime, client, wechat, auth):
    client.post(
        "/api/reply-rules", json={"match": "follow", "reply_kind": "text", "text": "欢迎关注!"}, headers=auth("manager")
    )
    to = runtime.config.wechat.mp.original_id
    now = int(time.time())
    follow = wechat.mp(mp_event_xml(to=to, openid="oFan", event="subscribe", create_time=now, key=""))
    assert "欢迎关注!" in wechat.reply_text("mp", follow, encrypt=False)
    unfollow = wechat.mp(mp_event_xml(to=to, openid="oFan", event="unsubscribe", create_time=now + 1))
    assert unfollow.data == b"success"
    with runtime.transaction() as db_session:
        identity = db_session.scalars(select(CustomerIdentity)).one()
        assert identity.following is False and identity.followed_at and identity.unfollowed_at
        kinds = db_session.scalars(select(Interaction.kind).order_by(Interaction.id)).all()
    assert kinds == ["follow", "unfollow"]


def test_reply_is_not_delayed_by_a_slow_wechat_api(runtime, wechat):
    """A first contact needs the follower's profile from WeChat: that call is queued, never
    made while WeChat waits for the reply."""
    sandbox.add_fault(runtime.redis, channel="mp", api="*", delay_ms=4000)
    to = runtime.config.wechat.mp.original_id
    response = wechat.mp(mp_event_xml(to=to, openid="oSlowApi", event="subscribe", create_time=int(time.time())))
    assert response.status_code == 200
    assert sandbox.list_calls(runtime.redis) == []  # nothing reached WeChat during the request
    assert runtime.queue.stats()["depth"] == 1  # the profile fetch, after the commit


def test_profile_job_merges_customers_sharing_a_unionid(runtime, wechat):
    sandbox.add_follower(runtime.redis, "oFirst", nickname="小李", unionid="uSamePerson")
    with runtime.transaction() as db_session:  # the same person, known already through WeCom
        other = Customer(unionid="uSamePerson", phone="13800001111")
        db_session.add(other)
        db_session.flush()
        db_session.add(CustomerIdentity(customer_id=other.id, channel="work", external_id="wmLi"))
    wechat.mp(_text(runtime, "hello", "9001", openid="oFirst"))
    assert runtime.queue.run_pending() == 1
    with runtime.transaction() as db_session:
        identities = db_session.scalars(select(CustomerIdentity).order_by(CustomerIdentity.channel)).all()
        assert {i.customer_id for i in identities} == {other.id}
        survivor = db_session.get(Customer, other.id)
        assert survivor.nickname == "小李"
        assert db_session.scalar(select(func.count()).select_from(Interaction).where(Interaction.customer_id == other.id)) == 1


def test_a_delivery_waiting_on_a_failed_one_does_the_work_itself(runtime, wechat):
    """The first delivery dies mid-way (its claim is released, nothing recorded): a retry
    that was waiting on it processes the callback instead of answering 503."""
    from handlers.events import parse_callback
    from handlers.wire import parse_xml

    xml = _text(runtime, "hello", "9501")
    callback = parse_callback("mp", parse_xml(xml))
    runtime.redis.set(f"wh:{callback.dedupe_key}", b"pending", ex=10)  # a delivery in flight…
    threading.Timer(0.2, runtime.redis.delete, args=(f"wh:{callback.dedupe_key}",)).start()  # …that fails
    assert wechat.mp(xml).status_code == 200
    assert _count(runtime, Interaction) == 1 and _count(runtime, CallbackRecord) == 1


def test_a_delivery_still_claimed_elsewhere_answers_503_so_wechat_retries(runtime, wechat, monkeypatch):
    from handlers import dispatch
    from handlers.events import parse_callback
    from handlers.wire import parse_xml

    monkeypatch.setattr(dispatch, "WAIT_SECONDS", 0.2)
    xml = _text(runtime, "hello", "9502")
    runtime.redis.set(f"wh:{parse_callback('mp', parse_xml(xml)).dedupe_key}", b"pending", ex=10)
    assert wechat.mp(xml).status_code == 503
    assert _count(runtime, CallbackRecord) == 0


def test_wecom_and_mp_identities_with_one_unionid_become_one_customer(runtime, wechat):
    sandbox.add_follower(runtime.redis, "oAcross", nickname="王芳", unionid="uWangFang")
    sandbox.add_external_contact(runtime.redis, "wmAcross", userid="zhangsan", name="王芳", unionid="uWangFang")
    wechat.mp(_text(runtime, "hi", "9601", openid="oAcross"))
    wechat.work(
        work_contact_xml(
            corp_id=runtime.config.wechat.work.corp_id,
            change_type="add_external_contact",
            userid="zhangsan",
            external_userid="wmAcross",
            create_time=int(time.time()),
        )
    )
    assert _count(runtime, Customer, Customer.merged_into_id.is_(None)) == 2
    assert runtime.queue.run_pending() == 2
    with runtime.transaction() as db_session:
        survivors = db_session.scalars(select(Customer).where(Customer.merged_into_id.is_(None))).all()
        assert [(c.unionid, c.nickname) for c in survivors] == [("uWangFang", "王芳")]
        identities = db_session.scalars(select(CustomerIdentity)).all()
        assert {(i.channel, i.customer_id) for i in identities} == {("mp", survivors[0].id), ("work", survivors[0].id)}
    assert _count(runtime, Interaction, Interaction.customer_id == survivors[0].id) == 2


def test_a_customer_wechat_does_not_know_is_not_retried_forever(runtime, wechat):
    wechat.work(
        work_contact_xml(
            corp_id=runtime.config.wechat.work.corp_id,
            change_type="add_external_contact",
            userid="zhangsan",
            external_userid="wmUnknownToWeChat",
            create_time=int(time.time()),
        )
    )
    assert runtime.queue.run_pending() == 1  # one try: 40096 is an answer, not a failure
    assert runtime.queue.stats()["failed"] == 0
    assert [c["errcode"] for c in sandbox.list_calls(runtime.redis, api="externalcontact/get")] == [40096]
