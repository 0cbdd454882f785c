"""The customer's coupon page (/c/coupons) over HTTP: signed in by the Official Account's link
or by its web sign-in (MP OAuth, played by the sandbox), the customer sees their own coupons
only, with each code, value, validity, stores and state, and a QR code that holds the code."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import zxingcpp
from PIL import Image

from coupon_world import issue, make_customer, make_template
from guide_world import create_store, reply_of, send
from handlers import wire
from handlers.signed_callbacks import mp_text_xml
from scrm.coupons import redemption
from scrm.coupons.links import coupons_link
from scrm.sandbox import state, world
from web_world import log_in

NOW = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
MANAGER = redemption.Counter(user_id=None, store_id=None)


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def sign_in(runtime, client, customer_id: int):  # noqa: ANN001, ANN201
    return client.get(local_path(coupons_link(runtime, customer_id)))


def decode_png(data: bytes) -> list[str]:
    return [found.text for found in zxingcpp.read_barcodes(Image.open(io.BytesIO(data)))]


def redeem(runtime, code: str) -> None:  # noqa: ANN001
    with runtime.transaction() as db_session:
        assert redemption.redeem(runtime=runtime, db_session=db_session, code=code, counter=MANAGER).result == "ok"


def test_a_signed_link_signs_in_and_lands_on_the_clean_url(frozen, client):  # noqa: ANN001
    template = make_template(frozen, name="满100减20", amount="20", min_spend="100", valid_days=30)
    amy = make_customer(frozen, nickname="Amy")
    coupon = issue(frozen, template, amy)

    assert client.get("/c/coupons").status_code == 200  # no session yet: how to open it
    assert "请从公众号打开" in client.get("/c/coupons").get_data(as_text=True)

    response = sign_in(frozen, client, amy)
    assert response.status_code == 302
    assert response.headers["Location"] == "/c/coupons"  # the token is gone from the address bar
    assert response.headers["Referrer-Policy"] == "same-origin"

    page = client.get("/c/coupons")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert coupon.code in html and len(coupon.code) == 14  # groups of four: XXXX-XXXX-XXXX
    assert "满100减20" in html and "可使用" in html
    assert "有效期至 2026-12-01 10:00" in html  # 30 days on, in Shanghai time
    assert "全部门店" in html
    assert f'/c/coupons/{coupon.id}/qr.png' in html


@pytest.mark.parametrize("config_overrides", [{"brand.name": "英氏 YEEHOO", "brand.timezone": "Europe/Paris"}])
def test_the_page_says_whose_coupons_they_are_in_the_brands_local_time(frozen, client):  # noqa: ANN001
    amy = make_customer(frozen, nickname="Amy")
    issue(frozen, make_template(frozen, name="满100减20", valid_days=30), amy)
    sign_in(frozen, client, amy)
    html = client.get("/c/coupons").get_data(as_text=True)
    assert "<title>我的优惠券 · 英氏 YEEHOO</title>" in html
    assert '<div class="brand">英氏 YEEHOO</div>' in html
    assert "有效期至 2026-12-01 03:00" in html  # the same moment as 10:00 in Shanghai, in Paris


def test_the_qr_image_holds_the_canonical_code(frozen, client):  # noqa: ANN001
    coupon = issue(frozen, make_template(frozen), make_customer(frozen))
    sign_in(frozen, client, coupon.customer_id)

    image = client.get(f"/c/coupons/{coupon.id}/qr.png")
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
    assert decode_png(image.data) == [coupon.code.replace("-", "")]
    detail = client.get(f"/c/coupons/{coupon.id}").get_data(as_text=True)
    assert coupon.code in detail and f"/c/coupons/{coupon.id}/qr.png" in detail


def test_usable_coupons_come_first_and_ended_ones_show_no_qr(frozen, client):  # noqa: ANN001
    create_store(frozen, "S1", "上海静安店")
    create_store(frozen, "S2", "杭州西湖店")
    amy = make_customer(frozen)
    short = issue(frozen, make_template(frozen, name="快过期", valid_days=1), amy)
    later = issue(frozen, make_template(
        frozen, name="双十二", kind="discount", amount=None, discount="8.5", min_spend=None, valid_days=None,
        valid_from=(NOW + timedelta(days=40)).isoformat(), valid_until=(NOW + timedelta(days=50)).isoformat(),
        stores=["S2", "S1"]), amy)
    used = issue(frozen, make_template(frozen, name="赠品券", kind="gift", gift="试用装", amount=None,
                                       min_spend=None), amy)
    voided = issue(frozen, make_template(frozen, name="作废券"), amy)
    usable = issue(frozen, make_template(frozen, name="满200减50", amount="50", min_spend="200"), amy)
    redeem(frozen, used.code)
    with frozen.transaction() as db_session:
        redemption.void(runtime=frozen, db_session=db_session, code=voided.code, reason="test", counter=MANAGER)
    frozen.clock.advance(days=2)  # 快过期 is past its end; the expiry job has not run yet

    sign_in(frozen, client, amy)
    html = client.get("/c/coupons").get_data(as_text=True)

    order = [html.index(f'id="coupon-{c.id}"') for c in (usable, later, used, voided, short)]
    assert order[:2] == sorted(order[:2]) and max(order[:2]) < min(order[2:])
    assert "满200减50" in html and "8.5折" in html and "赠 试用装" in html
    assert "未生效" in html and "2026-12-11 10:00 起可用" in html
    assert "杭州西湖店、上海静安店" not in html and "上海静安店、杭州西湖店" in html  # by store code
    assert "已使用" in html and "已作废" in html and "已过期" in html
    for shown in (usable, later):
        assert f"/c/coupons/{shown.id}/qr.png" in html
    for ended in (used, voided, short):
        assert f"/c/coupons/{ended.id}/qr.png" not in html
        assert ended.code in html  # still listed, greyed, without a QR


def test_another_customers_coupons_are_neither_listed_nor_served(frozen, client):  # noqa: ANN001
    template = make_template(frozen)
    mine = issue(frozen, template, make_customer(frozen))
    theirs = issue(frozen, template, make_customer(frozen))
    assert client.get(f"/c/coupons/{mine.id}/qr.png").status_code == 404  # no session: nothing

    sign_in(frozen, client, mine.customer_id)
    html = client.get("/c/coupons").get_data(as_text=True)
    assert mine.code in html and theirs.code not in html
    assert client.get(f"/c/coupons/{mine.id}/qr.png").status_code == 200
    assert client.get(f"/c/coupons/{theirs.id}/qr.png").status_code == 404
    assert client.get(f"/c/coupons/{theirs.id}").status_code == 404
    assert client.get("/c/coupons/999999/qr.png").status_code == 404


def test_a_tampered_or_old_link_is_refused(frozen, client):  # noqa: ANN001
    amy = make_customer(frozen)
    coupon = issue(frozen, make_template(frozen), amy)
    link = local_path(coupons_link(frozen, amy))
    token = parse_qs(urlsplit(link).query)["t"][0]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")

    refused = client.get(f"/c/coupons?t={tampered}")
    assert refused.status_code == 403 and "这个链接无效" in refused.get_data(as_text=True)
    assert coupon.code not in client.get("/c/coupons").get_data(as_text=True)  # not signed in

    frozen.clock.advance(days=frozen.config.coupons.link_days, seconds=1)
    old = client.get(link)
    assert old.status_code == 403 and "这个链接已过期" in old.get_data(as_text=True)
    assert coupon.code not in client.get("/c/coupons").get_data(as_text=True)


def test_a_sign_in_lasts_as_long_as_a_link(frozen, client):  # noqa: ANN001
    coupon = issue(frozen, make_template(frozen, valid_days=90), make_customer(frozen))
    sign_in(frozen, client, coupon.customer_id)
    frozen.clock.advance(days=frozen.config.coupons.link_days - 1)
    assert coupon.code in client.get("/c/coupons").get_data(as_text=True)
    frozen.clock.advance(days=2)
    assert coupon.code not in client.get("/c/coupons").get_data(as_text=True)
    assert client.get(f"/c/coupons/{coupon.id}/qr.png").status_code == 404


def test_a_link_for_a_merged_customer_shows_the_survivors_coupons(frozen, client):  # noqa: ANN001
    from scrm.customers.models import Customer

    kept, dropped = make_customer(frozen), make_customer(frozen)
    coupon = issue(frozen, make_template(frozen), kept)
    with frozen.transaction() as db_session:
        db_session.get(Customer, dropped).merged_into_id = kept
    sign_in(frozen, client, dropped)
    assert coupon.code in client.get("/c/coupons").get_data(as_text=True)


def test_without_mp_oauth_there_is_no_wechat_sign_in(client):  # noqa: ANN001
    assert client.get("/c/oauth").status_code == 404
    assert client.get("/c/oauth/callback?code=x&state=y").status_code == 404


@pytest.mark.parametrize("config_overrides", [{"coupons.mp_oauth": True}])
def test_mp_oauth_signs_in_the_follower_through_the_sandbox(stack, runtime, client):  # noqa: ANN001
    openid = "oCouponOAuth0000000000000001"
    coupon = issue(runtime, make_template(runtime), make_customer(runtime, openid=openid))
    world.add_follower(runtime.redis, openid, nickname="Amy")

    to_oauth = client.get("/c/coupons")  # no session: WeChat's sign-in, not the "open the link" page
    assert to_oauth.status_code == 302 and to_oauth.headers["Location"] == "/c/oauth"
    to_wechat = client.get("/c/oauth")
    authorize = urlsplit(to_wechat.headers["Location"])
    assert f"{authorize.scheme}://{authorize.netloc}{authorize.path}" == (
        stack.url + "/sandbox/wechat/mp/connect/oauth2/authorize")
    query = parse_qs(authorize.query)
    assert query["scope"] == ["snsapi_base"] and query["appid"] == [runtime.config.wechat.mp.app_id]
    assert query["redirect_uri"] == [stack.url + "/c/oauth/callback"]
    assert authorize.fragment == "wechat_redirect"

    assert client.get(local_path(to_wechat.headers["Location"])).status_code == 200  # "which follower are you"
    back = client.post(local_path(to_wechat.headers["Location"]), data={"openid": openid})
    assert back.status_code == 302
    callback = local_path(back.headers["Location"])
    assert callback.startswith("/c/oauth/callback?")
    signed_in = client.get(callback)  # exchanges the code at the sandbox's sns/oauth2/access_token
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/c/coupons"
    assert coupon.code in client.get("/c/coupons").get_data(as_text=True)

    calls = state.list_calls(runtime.redis, channel="mp", api="sns/oauth2/access_token")
    assert len(calls) == 1 and calls[0]["errcode"] == 0
    assert calls[0]["query"]["secret"] != runtime.config.wechat.mp.app_secret  # masked in the record
    assert client.get(callback).status_code == 403  # the state is spent: a replayed callback is refused


@pytest.mark.parametrize("config_overrides", [{"coupons.mp_oauth": True}])
def test_mp_oauth_refuses_strangers_forged_states_and_spent_codes(stack, runtime, client):  # noqa: ANN001
    stranger = "oCouponStranger00000000000001"
    world.add_follower(runtime.redis, stranger)  # a WeChat user the CRM has never met

    client.get("/c/oauth")
    authorize = local_path(client.get("/c/oauth").headers["Location"])
    state_given = parse_qs(urlsplit(authorize).query)["state"][0]
    callback = local_path(client.post(authorize, data={"openid": stranger}).headers["Location"])
    refused = client.get(callback)
    assert refused.status_code == 403 and "请先关注公众号" in refused.get_data(as_text=True)

    other = stack.app.test_client()  # a browser that did not start this sign-in
    forged = other.get(f"/c/oauth/callback?code=abc&state={state_given}")
    assert forged.status_code == 403 and "不是在这台手机上开始的" in forged.get_data(as_text=True)

    code = parse_qs(urlsplit(callback).query)["code"][0]
    client.get("/c/oauth")
    again = local_path(client.get("/c/oauth").headers["Location"])
    fresh_state = parse_qs(urlsplit(again).query)["state"][0]
    spent = client.get(f"/c/oauth/callback?code={code}&state={fresh_state}")
    assert spent.status_code == 403 and "微信没有确认你的身份" in spent.get_data(as_text=True)
    unknown = client.post(authorize, data={"openid": "oNobody"})
    assert unknown.status_code == 400


def test_sending_youhuiquan_answers_with_a_card_that_opens_the_page(frozen, client):  # noqa: ANN001
    openid = "oCouponText00000000000000001"
    coupon = issue(frozen, make_template(frozen), make_customer(frozen, openid=openid))
    xml = mp_text_xml(to=frozen.config.wechat.mp.original_id, openid=openid, content="优惠券", msg_id="7001",
                      create_time=int(frozen.clock.timestamp()))
    reply = wire.parse_xml(reply_of(frozen, "mp", send(frozen, client, "mp", xml)))
    assert reply["MsgType"] == "news"
    article = reply["Articles"]["item"]
    assert article["Title"] == "我的优惠券"
    assert article["Url"].startswith(frozen.config.server.public_base_url + "/c/coupons?t=")

    fresh = client.application.test_client()  # the customer's WeChat browser
    assert fresh.get(local_path(article["Url"])).headers["Location"] == "/c/coupons"
    assert coupon.code in fresh.get("/c/coupons").get_data(as_text=True)


def test_the_phone_sandbox_menu_opens_my_coupons(runtime, client, make_token):  # noqa: ANN001
    from scrm.customers import service as customers

    log_in(client, make_token, "admin")  # the phone sandbox is the console admin's
    html = client.get("/sandbox/phone").get_data(as_text=True)
    assert "我的优惠券 My coupons" in html and runtime.config.coupons.menu_key in html
    openid = client.post("/sandbox/phone/api/customers", json={"nickname": "小美"}).get_json()["openid"]
    assert client.post("/sandbox/phone/api/send", json={"openid": openid, "action": "follow"}).status_code == 200
    with runtime.transaction() as db_session:
        customer_id = customers.lookup(db_session=db_session, channel="mp", external_id=openid).id
    coupon = issue(runtime, make_template(runtime), customer_id)

    tapped = client.post("/sandbox/phone/api/send",
                         json={"openid": openid, "action": "click", "value": runtime.config.coupons.menu_key})
    result = tapped.get_json()
    assert result["messages"][0]["text"] == "点击菜单「我的优惠券 My coupons」"  # the label is the menu's, as saved
    [article] = result["reply"]["articles"]
    assert client.get(local_path(article["url"])).status_code == 302
    assert coupon.code in client.get("/c/coupons").get_data(as_text=True)
