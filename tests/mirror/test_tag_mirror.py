"""Our tags mirrored to WeChat through the queue, and WeCom's tag edits taken back
(scrm/mirror/jobs.py), against the sandbox's WeChat and its limits: 20 tags a follower, 50
openids a call, 100 tags an account."""

from __future__ import annotations

import inspect
import logging
from datetime import UTC, datetime

from guide_world import create_guide, create_store, send, work_add
from sqlalchemy import select
from tag_world import create_tag, text

from handlers.signed_callbacks import mp_text_xml, work_contact_xml
from scrm.clock import FrozenClock
from scrm.customers import service as customers
from scrm.customers.models import Customer, Interaction
from scrm.mirror import jobs as mirror
from scrm.mirror.plan import Target
from scrm.mirror.work import choose_member
from scrm.sandbox import mp_api, state, world
from scrm.wechat.values import FollowUser
from tagging.computed_bulk import recompute_all
from tagging.lapses import record_lapsed_tags
from tagging.models import Tag, TagGroup
from tagging.scores import Cause, add_score, carried_tags

START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


# -- helpers ---------------------------------------------------------------------------------


def mp_customer(runtime, openid: str) -> int:  # noqa: ANN001
    """A follower in the sandbox, known to us by their openid."""
    world.add_follower(runtime.redis, openid)
    with runtime.transaction() as db_session:
        identity, _ = customers.contact(db_session=db_session, channel="mp", external_id=openid)
        return identity.customer_id


def customer_of(runtime, channel: str, external_id: str) -> int:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return customers.lookup(db_session=db_session, channel=channel, external_id=external_id).id


def score(runtime, customer_id: int, *weights: tuple[int, float]) -> None:  # noqa: ANN001
    """Rule scores (tag id, weight), all in one transaction."""
    with runtime.transaction() as db_session:
        for tag_id, weight in weights:
            tag = db_session.get(Tag, tag_id)
            group = db_session.get(TagGroup, tag.group_id)
            add_score(db_session=db_session, customer_id=customer_id, tag=tag, group=group, weight=weight,
                      now=runtime.clock.now(), cause=Cause("rule", "1"))


def tag_row(runtime, tag_id: int) -> Tag:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.get(Tag, tag_id)


def tag_named(runtime, name: str) -> Tag:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.scalars(select(Tag).where(Tag.name == name)).one()


def mp_tags(runtime, openid: str) -> list[int]:  # noqa: ANN001
    return world.follower_tags(runtime.redis, openid)


def calls(runtime, api: str, channel: str = "mp") -> list[dict]:  # noqa: ANN001
    return state.list_calls(runtime.redis, channel=channel, api=api)


def pair_tags(runtime, external_userid: str, userid: str) -> set[str]:  # noqa: ANN001
    return set(world.pair_tags(runtime.redis, external_userid, userid))


def carried(runtime, customer_id: int) -> dict[str, str]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return {t["tag"]: t["source"] for t in carried_tags(db_session=db_session, customer_id=customer_id,
                                                             now=runtime.clock.now())}


def tag_causes(runtime, customer_id: int) -> list[tuple[str, str, dict]]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        rows = db_session.scalars(select(Interaction).where(
            Interaction.customer_id == customer_id, Interaction.kind.in_(("tag_added", "tag_removed"))
        ).order_by(Interaction.id)).all()
        return [(r.kind, r.payload["tag"], r.payload["cause"]) for r in rows]


def wecom_edit(runtime, client, external_userid: str, userid: str, *, at: int) -> None:  # noqa: ANN001
    """WeCom tells that member ``userid`` edited the customer (their tags, say)."""
    xml = work_contact_xml(corp_id=runtime.config.wechat.work.corp_id, change_type="edit_external_contact",
                           userid=userid, external_userid=external_userid, create_time=at)
    send(runtime, client, "work", xml)


def wecom_tag_change(runtime, client, change_type: str, corp_id: str, *, at: int) -> None:  # noqa: ANN001
    xml = (f"<xml><ToUserName><![CDATA[{runtime.config.wechat.work.corp_id}]]></ToUserName>"
           f"<FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{at}</CreateTime>"
           "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_tag]]></Event>"
           f"<Id><![CDATA[{corp_id}]]></Id><TagType><![CDATA[tag]]></TagType>"
           f"<ChangeType><![CDATA[{change_type}]]></ChangeType></xml>")
    send(runtime, client, "work", xml)


def edit_corp_tags(runtime, change) -> None:  # noqa: ANN001
    """What a manager does in WeCom's admin (the sandbox plays no edit or delete api)."""
    groups = world.corp_tags(runtime.redis)
    change(groups)
    world.save_corp_tags(runtime.redis, groups)


def made_by_hand_in_mp_admin(runtime, count: int) -> None:  # noqa: ANN001
    """``count`` MP tags that are not ours, made in the MP admin."""
    world.add_mp_tags(runtime.redis, {mp_api.FIRST_TAG_ID + i: f"手工{i}" for i in range(count)})


# -- MP ----------------------------------------------------------------------------------------


def test_a_rule_tag_reaches_the_follower_and_leaves_on_decay_and_on_a_managers_removal(runtime, client, auth):
    runtime.clock = FrozenClock(START)
    world.add_follower(runtime.redis, "oBuyer")
    milk = create_tag(runtime, "奶粉", half_life_days=7)
    rule = {"kind": "keyword", "pattern": "奶粉", "tag_id": milk, "weight": 2}
    assert client.post("/api/tag-rules", json=rule, headers=auth("manager")).status_code == 201
    text(runtime, client, "我想买奶粉")
    runtime.queue.run_pending()
    mp_id = tag_row(runtime, milk).mp_tag_id
    assert mp_id is not None and [(t.id, t.name) for t in runtime.mp.list_tags()] == [(mp_id, "奶粉")]
    assert mp_tags(runtime, "oBuyer") == [mp_id]
    assert record_lapsed_tags() == 0  # the hourly sweep, as it runs

    runtime.clock.advance(days=8)  # 2 · 0.5^(8/7) < 1: lapsed, and the hourly sweep notices
    assert record_lapsed_tags() == 1
    runtime.queue.run_pending()
    assert mp_tags(runtime, "oBuyer") == []

    customer, manager = customer_of(runtime, "mp", "oBuyer"), auth("manager")
    assert client.post(f"/api/customers/{customer}/tags", json={"tag_id": milk}, headers=manager).status_code == 200
    runtime.queue.run_pending()
    assert mp_tags(runtime, "oBuyer") == [mp_id]
    assert client.delete(f"/api/customers/{customer}/tags/{milk}", headers=manager).status_code == 200
    runtime.queue.run_pending()
    assert mp_tags(runtime, "oBuyer") == []
    assert len(calls(runtime, "tags/create")) == 1  # made on first use, once


def test_sixty_customers_given_a_tag_at_once_are_tagged_fifty_a_call(runtime):
    openids = [f"oMany{i:02d}" for i in range(60)]
    for openid in openids:
        mp_customer(runtime, openid)
    recompute_all(runtime)  # everyone becomes 潜在 (no order yet): one batch of changes
    assert runtime.queue.run_pending() == 1
    sizes = sorted(len(call["body"]["openid_list"]) for call in calls(runtime, "tags/members/batchtagging"))
    assert sizes == [10, 50]
    potential = tag_named(runtime, "潜在").mp_tag_id
    assert all(mp_tags(runtime, openid) == [potential] for openid in openids)


def test_a_follower_with_25_tags_gets_the_20_strongest_counting_a_tag_given_in_the_mp_admin(runtime):
    customer = mp_customer(runtime, "oFan")
    by_hand = runtime.mp.create_tag("店长推荐")  # not ours: left alone, but it takes a place
    runtime.mp.tag_users(by_hand.id, ["oFan"])
    tags = [create_tag(runtime, f"兴趣{i:02d}") for i in range(25)]
    score(runtime, customer, *((tag_id, weight) for weight, tag_id in enumerate(tags, 1)))
    assert runtime.queue.run_pending() == 1
    strongest = {tag_row(runtime, tag_id).mp_tag_id for tag_id in tags[6:]}  # weights 7…25
    assert None not in strongest and set(mp_tags(runtime, "oFan")) == strongest | {by_hand.id}
    assert len(runtime.mp.list_tags()) == 20  # no MP tag made for a tag nobody shows

    newest = create_tag(runtime, "兴趣99")
    score(runtime, customer, (newest, 100))  # a 26th tag, the strongest: the weakest shown makes room
    runtime.queue.run_pending()
    shown = set(mp_tags(runtime, "oFan"))
    assert len(shown) == 20 and tag_row(runtime, newest).mp_tag_id in shown
    assert tag_row(runtime, tags[6]).mp_tag_id not in shown and by_hand.id in shown
    assert {c["errcode"] for c in calls(runtime, "tags/members/batchtagging")} == {0}  # never 45059


def test_the_101st_mp_tag_is_refused_clearly_and_the_other_tags_still_sync(runtime, client, auth, caplog):
    runtime.clock = FrozenClock(START)
    made_by_hand_in_mp_admin(runtime, 99)
    customer = mp_customer(runtime, "oFull")
    milk, toys = create_tag(runtime, "奶粉"), create_tag(runtime, "玩具")
    score(runtime, customer, (milk, 2), (toys, 1))
    with caplog.at_level(logging.INFO, logger="scrm.mirror.mp"):
        runtime.queue.run_pending()
    assert mp_tags(runtime, "oFull") == [tag_row(runtime, milk).mp_tag_id]  # the 100th
    refused = tag_row(runtime, toys)
    assert refused.mp_tag_id is None and "100 tags (45056)" in refused.mp_error
    assert [c["errcode"] for c in calls(runtime, "tags/create")] == [0, 45056]
    assert runtime.queue.stats()["failed"] == 0
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and "玩具" in r.getMessage()]
    assert len(warned) == 1
    listed = client.get("/api/tags", headers=auth("manager")).get_json()["groups"][0]["tags"]
    assert [t["wechat"]["mp_error"] is not None for t in listed] == [False, True]

    caplog.clear()
    mirror.sync_customer_tags([customer])  # the same day: WeChat is not asked again, nor is it logged
    assert len(calls(runtime, "tags/create")) == 2
    assert not [r for r in caplog.records if r.name == "scrm.mirror.mp"]

    runtime.mp.transport.call("POST", "tags/delete", body={"tag": {"id": mp_api.FIRST_TAG_ID}})  # room made
    runtime.clock.advance(days=1, minutes=1)
    mirror.sync_customer_tags([customer])
    assert tag_row(runtime, toys).mp_error is None
    assert set(mp_tags(runtime, "oFull")) == {tag_row(runtime, milk).mp_tag_id, tag_row(runtime, toys).mp_tag_id}


def test_a_transient_failure_beyond_the_transports_tries_is_retried_by_the_queue(runtime):
    customer = mp_customer(runtime, "oRetry")
    milk = create_tag(runtime, "奶粉")
    state.add_fault(runtime.redis, channel="mp", api="tags/members/batchtagging", http_status=500, times=3)
    score(runtime, customer, (milk, 1))
    assert runtime.queue.run_pending() == 2  # failed once (three 500s), then retried
    assert mp_tags(runtime, "oRetry") == [tag_row(runtime, milk).mp_tag_id]
    assert [c["http_status"] for c in calls(runtime, "tags/members/batchtagging")] == [500, 500, 500, 200]
    assert runtime.queue.stats()["failed"] == 0


def test_a_group_made_stricter_takes_its_tags_off_mp_too(runtime, client, auth):
    runtime.clock = FrozenClock(START)
    customer = mp_customer(runtime, "oStrict")
    milk = create_tag(runtime, "奶粉")
    score(runtime, customer, (milk, 2))
    runtime.queue.run_pending()
    assert mp_tags(runtime, "oStrict") == [tag_row(runtime, milk).mp_tag_id]
    group = tag_row(runtime, milk).group_id
    assert client.patch(f"/api/tag-groups/{group}", json={"threshold": 3}, headers=auth("manager")).status_code == 200
    assert runtime.queue.run_pending() == 2  # the rescoring, then the sync it asked for
    assert mp_tags(runtime, "oStrict") == []


def test_a_retried_callback_queues_one_sync(runtime, client, auth):
    milk = create_tag(runtime, "奶粉")
    rule = {"kind": "keyword", "pattern": "奶粉", "tag_id": milk, "weight": 1}
    assert client.post("/api/tag-rules", json=rule, headers=auth("manager")).status_code == 201
    xml = mp_text_xml(to=runtime.config.wechat.mp.original_id, openid="oTwice", content="奶粉", msg_id="777",
                      create_time=int(runtime.clock.timestamp()))
    for _ in range(2):
        send(runtime, client, "mp", xml)
    syncs = [j for j in runtime.queue.rq_queue("default").get_jobs() if j.func is mirror.sync_customer_tags]
    assert len(syncs) == 1
    inspect.signature(mirror.sync_customer_tags).bind(*syncs[0].args, **syncs[0].kwargs)
    assert syncs[0].args == ([customer_of(runtime, "mp", "oTwice")],)


# -- WeCom -------------------------------------------------------------------------------------


def test_wecom_tags_go_on_the_bound_guides_pair_with_corp_tags_made_on_first_use(runtime, client, auth):
    create_store(runtime)
    guide = create_guide(runtime, "G1")
    work_add(runtime, client, "wmBuyer", guide.wecom_userid, guide.work_scene)  # bound, channel tag
    work_add(runtime, client, "wmBuyer", "zhangsan", None, welcome=False)  # a second member, added later
    runtime.queue.run_pending()
    channel = tag_named(runtime, "导购码-企业微信")
    assert channel.work_tag_id and pair_tags(runtime, "wmBuyer", guide.wecom_userid) == {channel.work_tag_id}
    assert pair_tags(runtime, "wmBuyer", "zhangsan") == set()
    assert [(g.group_name, [t.name for t in g.tags]) for g in runtime.work.corp_tags()] == [("渠道", ["导购码-企业微信"])]

    customer, manager = customer_of(runtime, "work", "wmBuyer"), auth("manager")
    milk = create_tag(runtime, "奶粉")
    assert client.post(f"/api/customers/{customer}/tags", json={"tag_id": milk}, headers=manager).status_code == 200
    runtime.queue.run_pending()
    milk_id = tag_row(runtime, milk).work_tag_id
    assert pair_tags(runtime, "wmBuyer", guide.wecom_userid) == {channel.work_tag_id, milk_id}
    assert client.delete(f"/api/customers/{customer}/tags/{milk}", headers=manager).status_code == 200
    runtime.queue.run_pending()
    assert pair_tags(runtime, "wmBuyer", guide.wecom_userid) == {channel.work_tag_id}
    marks = calls(runtime, "externalcontact/mark_tag", "work")
    assert {c["body"]["userid"] for c in marks} == {guide.wecom_userid} and len(marks) == 3
    assert len(calls(runtime, "externalcontact/add_corp_tag", "work")) == 2  # 渠道, then 兴趣


def test_a_tag_a_member_adds_in_wecom_becomes_ours_and_goes_when_they_remove_it(runtime, client):
    runtime.clock = FrozenClock(START)
    work_add(runtime, client, "wmFan", "zhangsan", None, welcome=False)
    runtime.queue.run_pending()
    customer = customer_of(runtime, "work", "wmFan")
    made = runtime.work.add_corp_tag("兴趣", ["奶粉"]).tags[0].id  # in WeCom's admin…
    runtime.work.mark_tag("zhangsan", "wmFan", add=[made])  # …and by the member on the customer
    wecom_edit(runtime, client, "wmFan", "zhangsan", at=int(runtime.clock.timestamp()))
    runtime.queue.run_pending()
    assert carried(runtime, customer) == {"奶粉": "manual"}
    milk = tag_named(runtime, "奶粉")
    with runtime.transaction() as db_session:
        assert (db_session.get(TagGroup, milk.group_id).name, milk.work_tag_id) == ("兴趣", made)
    assert tag_causes(runtime, customer) == [("tag_added", "奶粉", {"kind": "manager", "ref": "wecom:zhangsan"})]
    assert len(calls(runtime, "externalcontact/mark_tag", "work")) == 1  # the member's: nothing echoed

    runtime.clock.advance(minutes=5)
    runtime.work.mark_tag("zhangsan", "wmFan", remove=[made])
    wecom_edit(runtime, client, "wmFan", "zhangsan", at=int(runtime.clock.timestamp()))
    runtime.queue.run_pending()
    assert carried(runtime, customer) == {}
    assert tag_causes(runtime, customer)[-1] == ("tag_removed", "奶粉", {"kind": "manager", "ref": "wecom:zhangsan"})
    assert len(calls(runtime, "externalcontact/mark_tag", "work")) == 2


def test_customers_merged_by_unionid_carry_their_tags_on_both_channels(runtime, client):
    customer = mp_customer(runtime, "oSame")
    world.add_follower(runtime.redis, "oSame", unionid="uSame")
    world.add_external_contact(runtime.redis, "wmSame", userid="zhangsan", unionid="uSame")
    with runtime.transaction() as db_session:
        db_session.get(Customer, customer).unionid = "uSame"
    milk = create_tag(runtime, "奶粉")
    score(runtime, customer, (milk, 1))
    runtime.queue.run_pending()
    work_add(runtime, client, "wmSame", "zhangsan", None, welcome=False)  # a new customer, until WeChat says who
    runtime.queue.run_pending()  # the profile merges them; the survivor's tags go on the WeCom pair
    assert customer_of(runtime, "work", "wmSame") == customer
    assert pair_tags(runtime, "wmSame", "zhangsan") == {tag_row(runtime, milk).work_tag_id}
    assert mp_tags(runtime, "oSame") == [tag_row(runtime, milk).mp_tag_id]


def test_a_retried_edit_callback_queues_one_sync(runtime, client):
    work_add(runtime, client, "wmTwice", "zhangsan", None, welcome=False)
    runtime.queue.run_pending()
    at = int(runtime.clock.timestamp())
    for _ in range(2):
        wecom_edit(runtime, client, "wmTwice", "zhangsan", at=at)
    jobs = runtime.queue.rq_queue("default").get_jobs()
    assert [j.func for j in jobs] == [mirror.sync_customer_tags]
    assert jobs[0].args == ([customer_of(runtime, "work", "wmTwice")],)


def test_corp_tags_renamed_deleted_or_made_in_wecom_change_ours(runtime, client, auth):
    work_add(runtime, client, "wmLib", "zhangsan", None, welcome=False)
    runtime.queue.run_pending()
    milk, toys = create_tag(runtime, "奶粉"), create_tag(runtime, "玩具")
    customer = customer_of(runtime, "work", "wmLib")
    client.post(f"/api/customers/{customer}/tags", json={"tag_id": milk}, headers=auth("manager"))
    runtime.queue.run_pending()
    corp_id = tag_row(runtime, milk).work_tag_id

    def rename(groups: list[dict]) -> None:
        groups[0]["tag"][0]["name"] = "婴儿奶粉"

    edit_corp_tags(runtime, rename)
    wecom_tag_change(runtime, client, "update", corp_id, at=int(runtime.clock.timestamp()))
    runtime.queue.run_pending()
    assert (tag_row(runtime, milk).name, tag_row(runtime, milk).work_tag_id) == ("婴儿奶粉", corp_id)

    def add_and_delete(groups: list[dict]) -> None:
        groups[0]["tag"] = [{"id": f"et{name}", "name": name, "create_time": 0, "order": 0, "deleted": False}
                            for name in ("玩具", "童装")]

    edit_corp_tags(runtime, add_and_delete)
    wecom_tag_change(runtime, client, "delete", corp_id, at=int(runtime.clock.timestamp()) + 1)
    runtime.queue.run_pending()
    assert tag_row(runtime, milk).work_tag_id is None  # made again when a customer needs it
    assert tag_row(runtime, toys).work_tag_id == "et玩具"  # ours by group and name
    with runtime.transaction() as db_session:  # not ours: it becomes ours once a member uses it
        assert db_session.scalar(select(Tag).where(Tag.name == "童装")) is None


def test_the_member_is_the_bound_guides_else_the_latest_added_else_wecoms_latest():
    follow = (FollowUser("zhangsan", createtime=100), FollowUser("lisi", createtime=200))

    def target(bound: str | None, added: str | None) -> Target:
        return Target(1, (), ("wm1",), bound, added)

    assert choose_member(target("zhangsan", "lisi"), follow) == "zhangsan"
    assert choose_member(target("wangwu", "zhangsan"), follow) == "zhangsan"  # wangwu is not a contact
    assert choose_member(target(None, None), follow) == "lisi"
    assert choose_member(target(None, None), ()) is None
