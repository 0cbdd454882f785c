"""Joining with an SMS-verified phone (SPEC §13) on both backends: the code goes through the SMS
adapter to the sandbox's Tencent Cloud SMS (signature checked), 5 wrong tries or an old code
refuse, the send is rate-limited (429), a verified phone merges the customers that share it,
and the menu key or the keyword answers with the member page's link."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from coupon_world import issue, make_customer, make_template
from guide_world import reply_of, send
from handlers import wire
from handlers.signed_callbacks import mp_event_xml, mp_text_xml
from member_world import grant, make_member
from scrm import flows
from scrm.coupons.models import Coupon
from scrm.customers.models import Customer, CustomerIdentity
from scrm.members import ledger, sms
from scrm.members.links import member_link
from scrm.members.models import Member, PointEntry, SmsCode
from scrm.sandbox.sms_api import messages_to
from tagging.models import Order

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
PHONE = "13800138000"


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def sign_in(runtime, client, customer_id: int) -> None:  # noqa: ANN001
    assert client.get(local_path(member_link(runtime, customer_id))).headers["Location"] == "/c/member"


def last_code(runtime, phone: str = PHONE) -> str:  # noqa: ANN001
    text = messages_to(runtime, phone)[0].text
    return re.search(r"验证码是(\d{6})", text).group(1)


def join(client, code: str, *, phone: str = PHONE, birthday: str = "", agree: str = "1"):  # noqa: ANN001, ANN201
    return client.post("/c/member/join", data={"phone": phone, "code": code, "birthday": birthday, "agree": agree})


def test_a_customer_joins_with_the_code_the_sandbox_delivered(frozen, client):  # noqa: ANN001
    amy = make_customer(frozen, nickname="Amy")
    sign_in(frozen, client, amy)
    form = client.get("/c/member").get_data(as_text=True)
    assert "获取验证码" in form and "同意《会员协议》" in form and 'name="birthday"' in form

    sent = client.post("/c/member/code", data={"phone": "+86 138-0013-8000"}, headers={"Accept": "application/json"})
    assert sent.status_code == 200, sent.data
    assert sent.get_json()["sent"] is True and sent.get_json()["seconds"] == 60
    assert "138****8000" in sent.get_json()["message"]
    [message] = messages_to(frozen, PHONE)
    assert message.text.startswith(f"【{frozen.config.members.sms.sign_name}】您的验证码是")
    assert message.params[1] == "5"
    with frozen.transaction() as db_session:
        stored = db_session.scalar(select(SmsCode))
        assert stored.code_hash != message.params[0] and message.params[0] not in stored.code_hash  # only a hash

    joined = join(client, last_code(frozen), birthday="1990-05-17")
    assert joined.status_code == 303 and joined.headers["Location"] == "/c/member"
    with frozen.transaction() as db_session:
        member = db_session.get(Member, amy)
        customer = db_session.get(Customer, amy)
        assert member.phone == PHONE and re.fullmatch(r"[1-9]\d{11}", member.member_no)
        assert member.birthday == date(1990, 5, 17) and member.joined_via == "page"
        assert customer.phone == PHONE and customer.birthday == date(1990, 5, 17)
        assert db_session.scalar(select(SmsCode.used_at)) is not None
    page = client.get("/c/member").get_data(as_text=True)
    assert member.member_no in page and "欢迎加入会员" in page and "普通" in page
    assert join(client, last_code(frozen)).status_code == 303  # a member again: the card, nothing new
    with frozen.transaction() as db_session:
        assert db_session.scalar(select(func.count()).select_from(Member)) == 1


def test_five_wrong_codes_spend_the_code(frozen, client):  # noqa: ANN001
    amy = make_customer(frozen)
    sign_in(frozen, client, amy)
    assert client.post("/c/member/code", data={"phone": PHONE}).status_code == 200
    right = last_code(frozen)
    wrong = "000000" if right != "000000" else "111111"
    for left in (4, 3, 2, 1):
        refused = join(client, wrong)
        assert refused.status_code == 422 and f"还可以再试 {left} 次" in refused.get_data(as_text=True)
    assert "错误次数太多" in join(client, wrong).get_data(as_text=True)
    last = join(client, right)  # the right code, too late
    assert last.status_code == 422 and "错误次数太多" in last.get_data(as_text=True)
    not_digits = join(client, "12ab56")
    assert not_digits.status_code == 422 and "6位验证码" in not_digits.get_data(as_text=True)
    with frozen.transaction() as db_session:
        assert db_session.get(Member, amy) is None
        assert db_session.scalar(select(SmsCode.attempts)) == 5


@pytest.mark.parametrize("config_overrides", [{"security.rate_limits.sms_per_phone": "5/minute"}])
def test_an_old_or_replaced_code_is_refused(frozen, client):  # noqa: ANN001
    amy = make_customer(frozen)
    sign_in(frozen, client, amy)
    assert client.post("/c/member/code", data={"phone": PHONE}).status_code == 200
    first = last_code(frozen)
    frozen.clock.advance(minutes=frozen.config.members.sms.code_minutes, seconds=1)
    expired = join(client, first)
    assert expired.status_code == 422 and "验证码已过期" in expired.get_data(as_text=True)

    frozen.clock.advance(minutes=1)
    assert client.post("/c/member/code", data={"phone": PHONE}).status_code == 200
    assert len(messages_to(frozen, PHONE)) == 2
    second = last_code(frozen)
    if second != first:
        assert join(client, first).status_code == 422  # the earlier code stopped working
    assert join(client, second).status_code == 303


@pytest.mark.parametrize("config_overrides", [{"security.rate_limits.sms_per_ip": "2/hour"}])
def test_codes_are_rate_limited_per_phone_and_per_ip(frozen, client):  # noqa: ANN001
    sign_in(frozen, client, make_customer(frozen))
    assert client.post("/c/member/code", data={"phone": PHONE}).status_code == 200
    again = client.post("/c/member/code", data={"phone": "138 0013 8000"})
    assert again.status_code == 429 and int(again.headers["Retry-After"]) > 0
    assert len(messages_to(frozen, PHONE)) == 1
    bad = client.post("/c/member/code", data={"phone": "12345"})  # refused, counts against no phone
    assert bad.status_code == 422 and "正确的手机号" in bad.get_data(as_text=True)
    assert client.post("/c/member/code", data={"phone": "13900139000"}).status_code == 429  # this IP's 2 an hour


def test_a_phone_another_member_holds_is_refused_before_any_sms(frozen, client):  # noqa: ANN001
    make_member(frozen, phone=PHONE)
    amy = make_customer(frozen)
    sign_in(frozen, client, amy)
    refused = client.post("/c/member/code", data={"phone": PHONE})
    assert refused.status_code == 409 and "已被其他会员使用" in refused.get_data(as_text=True)
    by_script = client.post("/c/member/code", data={"phone": "13900139000x"}, headers={"Accept": "application/json"})
    assert by_script.status_code == 422 and by_script.get_json()["error"] == "invalid_phone"
    assert messages_to(frozen, PHONE) == []


def test_a_verified_phone_merges_the_customers_who_share_it(frozen, client, auth):  # noqa: ANN001
    amy = make_customer(frozen, openid="oJoinAmy00000000000000000001")
    shop = make_customer(frozen, openid="oJoinShop0000000000000000001", phone=PHONE)  # the shop knew the phone
    coupon = issue(frozen, make_template(frozen), shop)
    order = client.post("/api/orders", json={"order_no": "A123", "amount": "88.00", "customer": {"phone": PHONE},
                                             "ordered_at": NOW.isoformat()}, headers=auth("manager"))
    assert order.status_code in (200, 201), order.data

    sign_in(frozen, client, amy)
    client.post("/c/member/code", data={"phone": PHONE})
    assert join(client, last_code(frozen)).status_code == 303
    with frozen.transaction() as db_session:
        assert db_session.get(Customer, shop).merged_into_id == amy
        assert {i.external_id for i in db_session.scalars(select(CustomerIdentity)
                                                        .where(CustomerIdentity.customer_id == amy))} == {
            "oJoinAmy00000000000000000001", "oJoinShop0000000000000000001"}
        assert db_session.get(Coupon, coupon.id).customer_id == amy
        assert db_session.scalar(select(Order.customer_id).where(Order.order_no == "A123")) == amy
        assert db_session.get(Member, amy).phone == PHONE


def test_a_membership_follows_a_merge(frozen):  # noqa: ANN001
    keep, drop = make_customer(frozen), make_member(frozen, phone="13700137000")
    grant(frozen, drop, 30)
    both_a, both_b = make_member(frozen, phone="13600136000"), make_member(frozen, phone="13500135000")
    grant(frozen, both_a, 10)
    grant(frozen, both_b, 25, frozen_days=3)
    with frozen.transaction() as db_session:
        number = db_session.get(Member, drop).member_no
        flows.merge_customers(runtime=frozen, db_session=db_session, keep=db_session.get(Customer, keep),
                              drop=db_session.get(Customer, drop))
        flows.merge_customers(runtime=frozen, db_session=db_session, keep=db_session.get(Customer, both_a),
                              drop=db_session.get(Customer, both_b))
    with frozen.transaction() as db_session:
        moved = db_session.get(Member, keep)
        assert db_session.get(Member, drop) is None and moved.member_no == number and moved.phone == "13700137000"
        assert ledger.balance(db_session=db_session, customer_id=keep, at=NOW).available == 30
        combined = ledger.balance(db_session=db_session, customer_id=both_a, at=NOW)
        assert (combined.total, combined.available, combined.frozen) == (35, 10, 25)
        assert db_session.get(Member, both_b) is None and db_session.get(Member, both_a).phone == "13600136000"
        assert db_session.scalar(select(func.count()).select_from(PointEntry)
                                 .where(PointEntry.customer_id.in_([drop, both_b]))) == 0
        assert ledger.audit(db_session=db_session) == []


def test_the_menu_key_and_the_keyword_answer_with_the_member_page(frozen, client):  # noqa: ANN001
    openid = "oJoinMenu0000000000000000001"
    amy = make_customer(frozen, openid=openid)
    original = frozen.config.wechat.mp.original_id
    click = mp_event_xml(to=original, openid=openid, event="CLICK", key=frozen.config.members.menu_key,
                         create_time=int(frozen.clock.timestamp()))
    text = mp_text_xml(to=original, openid=openid, content="会员", msg_id="9001",
                       create_time=int(frozen.clock.timestamp()) + 1)
    for xml in (click, text):
        reply = wire.parse_xml(reply_of(frozen, "mp", send(frozen, client, "mp", xml)))
        article = reply["Articles"]["item"]
        assert reply["MsgType"] == "news" and article["Title"] == "会员中心"
        assert article["Url"].startswith(frozen.config.server.public_base_url + "/c/member?t=")
        phone = client.application.test_client()  # the customer's WeChat browser
        assert phone.get(local_path(article["Url"])).headers["Location"] == "/c/member"
        assert "加入会员" in phone.get("/c/member").get_data(as_text=True)
    assert amy


def test_a_tampered_link_and_no_session_are_refused(frozen, client):  # noqa: ANN001
    amy = make_customer(frozen)
    link = local_path(member_link(frozen, amy))
    refused = client.get(link[:-3] + "AAA")
    assert refused.status_code == 403 and "这个链接无效" in refused.get_data(as_text=True)
    assert "请在公众号里发送“会员”" in client.get("/c/member").get_data(as_text=True)
    assert client.post("/c/member/code", data={"phone": PHONE}).status_code == 200  # the "open from the account" page
    assert client.post("/c/member/code", data={"phone": "13900139000"},
                       headers={"Accept": "application/json"}).get_json()["error"] == "not_signed_in"
    assert messages_to(frozen, PHONE) == []
    frozen.clock.advance(days=frozen.config.members.link_days, seconds=1)
    assert "已过期" in client.get(link).get_data(as_text=True)


def test_the_sandbox_checks_the_signature_and_the_template(frozen):  # noqa: ANN001
    config = frozen.config
    good = sms.SmsSender.from_config(config, clock=frozen.clock)
    assert good.send_code(PHONE, "123456", 5).serial_no
    forged = sms.SmsSender(url=sms.base_url(config), secret_id=sms.SANDBOX_SECRET_ID, secret_key="not-the-key",
                           sdk_app_id=config.members.sms.sdk_app_id, sign_name=config.members.sms.sign_name,
                           template_id=config.members.sms.template_id, region="ap-guangzhou", clock=frozen.clock)
    with pytest.raises(sms.SmsRefused) as refused:
        forged.send_code(PHONE, "123456", 5)
    assert refused.value.code == "AuthFailure.SignatureFailure"
    other = sms.SmsSender(url=sms.base_url(config), secret_id=sms.SANDBOX_SECRET_ID,
                          secret_key=sms.SANDBOX_SECRET_KEY, sdk_app_id=config.members.sms.sdk_app_id,
                          sign_name=config.members.sms.sign_name, template_id="999999", region="ap-guangzhou",
                          clock=frozen.clock)
    with pytest.raises(sms.SmsRefused) as refused:
        other.send_code(PHONE, "123456", 5)
    assert refused.value.code == "FailedOperation.TemplateIncorrectOrUnapproved"
    assert "not-the-key" not in repr(forged) and len(messages_to(frozen, PHONE)) == 1
    nowhere = sms.SmsSender(url="http://127.0.0.1:9/", secret_id="a", secret_key="b", sdk_app_id="1", sign_name="s",
                            template_id="1", region="r", clock=frozen.clock)
    with pytest.raises(sms.SmsRefused) as refused:
        nowhere.send_code(PHONE, "123456", 5)
    assert refused.value.code == "unavailable"
