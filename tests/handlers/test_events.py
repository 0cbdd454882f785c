"""Typed events from every sample, without HTTP or a database."""

from __future__ import annotations

import pytest

from platform_world import SAMPLES_DIR
from handlers.events import parse_callback
from scrm import callbacks as ev
from handlers.wire import parse_xml


def parse(name: str, channel: str = "mp") -> ev.Callback:
    return parse_callback(channel, parse_xml((SAMPLES_DIR / name).read_bytes()))


def test_text_message():
    message = parse("oa_text.xml")
    assert isinstance(message, ev.TextMessage)
    assert (message.content, message.msg_id, message.from_user) == ("this is a test", "1234567890123456", "fromUser")
    assert message.dedupe_key == "mp:msg:1234567890123456"


def test_subscribe_with_scene_strips_the_prefix():
    event = parse("oa_subscribe_qrscene.xml")
    assert isinstance(event, ev.Subscribe) and event.scene == "123123" and event.ticket == "TICKET"


def test_plain_subscribe_has_no_scene():
    event = parse("oa_subscribe.xml")
    assert isinstance(event, ev.Subscribe) and event.scene is None


@pytest.mark.parametrize(
    "name, kind, attribute, value",
    [
        ("oa_scan.xml", ev.Scan, "scene", "123123"),
        ("oa_click.xml", ev.MenuClick, "key", "EVENTKEY"),
        ("oa_view.xml", ev.MenuView, "url", "www.qq.com"),
        ("oa_unsubscribe.xml", ev.Unsubscribe, "event", "unsubscribe"),
        ("oa_templatesendjobfinish.xml", ev.SendJobFinished, "status", "success"),
    ],
)
def test_mp_events(name, kind, attribute, value):
    event = parse(name)
    assert isinstance(event, kind) and getattr(event, attribute) == value


def test_event_dedupe_keys_carry_sender_time_and_event():
    event = parse("oa_click.xml")
    assert event.dedupe_key == f"mp:event:{event.from_user}:{event.create_time}:CLICK:EVENTKEY"


def test_external_contact_events_are_typed_not_unknown():
    event = parse("work_add_external_contact.xml", "work")
    assert isinstance(event, ev.ExternalContactChange)
    assert (event.change_type, event.userid, event.external_userid) == (
        "add_external_contact",
        "zhangsan",
        "woAJ2GCAAAXtWyujaWJHDDGi0mAAAA",
    )
    assert (event.state, event.welcome_code) == ("teststate", "WELCOMECODE")
    assert event.customer_external_id == "woAJ2GCAAAXtWyujaWJHDDGi0mAAAA"


def test_wecom_events_from_sys_at_the_same_second_have_different_keys():
    """Every WeCom customer event comes from 'sys': FromUserName + CreateTime is not enough."""
    add = parse("work_add_external_contact.xml", "work")
    delete = parse("work_del_follow_user.xml", "work")
    assert add.from_user == delete.from_user == "sys" and add.create_time == delete.create_time
    assert add.dedupe_key != delete.dedupe_key


def test_member_change_list_with_two_items_and_with_one():
    two = parse("work_change_external_chat_update_add_member.xml", "work")
    assert isinstance(two, ev.ExternalChatChange) and two.members == ("Jack", "Rose")
    assert (two.update_detail, two.join_scene) == ("add_member", 1)
    xml = (SAMPLES_DIR / "work_change_external_chat_update_add_member.xml").read_text()
    one = parse_callback("work", parse_xml(xml.replace("<Item>Rose</Item>", "")))
    assert one.members == ("Jack",)
    assert one.dedupe_key != two.dedupe_key


def test_string_msg_ids_are_kept_as_strings():
    xml = "<xml><ToUserName>ww1</ToUserName><FromUserName>u</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>hi</Content><MsgId>CAIQg/PKxgYY2sC9tpuAgAMg9/zKaw==</MsgId></xml>"
    message = parse_callback("work", parse_xml(xml))
    assert message.msg_id == "CAIQg/PKxgYY2sC9tpuAgAMg9/zKaw=="


def test_unknown_types_are_kept():
    xml = "<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime><MsgType>miniprogrampage</MsgType><MsgId>9</MsgId></xml>"
    assert isinstance(parse_callback("mp", parse_xml(xml)), ev.UnknownMessage)
    xml = xml.replace("<MsgType>miniprogrampage</MsgType><MsgId>9</MsgId>", "<MsgType>event</MsgType><Event>user_pay_from_pay_cell</Event>")
    assert isinstance(parse_callback("mp", parse_xml(xml)), ev.UnknownEvent)


def test_very_long_keys_are_hashed_to_fit_the_column():
    xml = f"<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><MsgId>{'9' * 300}</MsgId></xml>"
    key = parse_callback("mp", parse_xml(xml)).dedupe_key
    assert len(key) <= 200 and key.startswith("mp:sha1:")
