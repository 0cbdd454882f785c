"""Following the account completes a claim (scrm/products/follow.py, handlers/reactions.py) on
both backends: a WeChat user who does not follow opens /p/<code>, is signed in silently by the
account's web sign-in, and is shown the account's QR code whose scene carries the product code;
the follow by it claims the code, once, though WeChat sends the same sealed callback twice,
retries it under a new signature, and the customer follows again later. The reply says what
happened with a link to what they got, or why not. Webhooks are driven signed and sealed, as
WeChat sends them."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import func, select

from coupon_world import issue, make_customer, make_template
from guide_world import mp_scan, reply_of
from handlers import wire
from handlers.signed_callbacks import CallbackSender, mp_event_xml
from product_world import claim, code_of, make_batch
from scrm.coupons.models import Coupon
from scrm.products import follow
from scrm.products.models import ProductClaim, ProductScan
from scrm.sandbox import state, world
from web_world import page_text

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
STRANGER = "oProductStranger000000000001"


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def follow_calls(runtime) -> list[dict]:  # noqa: ANN001
    return state.list_calls(runtime.redis, channel="mp", api="qrcode/create")


def claims(runtime) -> list[tuple[int, int, str, bool]]:  # noqa: ANN001
    """(serial, customer, via, new_follower) of every claim."""
    with runtime.transaction() as db_session:
        return [tuple(row) for row in db_session.execute(
            select(ProductClaim.serial, ProductClaim.customer_id, ProductClaim.via, ProductClaim.new_follower)
            .order_by(ProductClaim.id))]


def scans(runtime, result: str) -> int:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.scalar(select(func.count()).select_from(ProductScan).where(ProductScan.result == result))


def customer_of(runtime, openid: str) -> int:  # noqa: ANN001
    from scrm.customers import service as customers

    with runtime.transaction() as db_session:
        return customers.lookup(db_session=db_session, channel="mp", external_id=openid).id


def sealed(runtime, openid: str, event: str, *, key: str | None, create_time: int):  # noqa: ANN001
    """An MP event as WeChat sends it in safe mode: signed, encrypted."""
    xml = mp_event_xml(to=runtime.config.wechat.mp.original_id, openid=openid, event=event, create_time=create_time,
                       key=key)
    return CallbackSender.from_config(runtime.config, "mp", encrypt=True).sign(xml, timestamp=int(runtime.clock.timestamp()))


def deliver(runtime, client, signed) -> str:  # noqa: ANN001
    """POST the callback; the plain text of its passive reply ("" for none)."""
    response = client.post(signed.path, data=signed.body, content_type="text/xml")
    assert response.status_code == 200, response.data
    opened = CallbackSender.from_config(runtime.config, "mp", encrypt=True).open_reply(response.data)
    return "" if opened == "success" else wire.parse_xml(opened)["Content"]


def visit_as_stranger(client, code: str, openid: str):  # noqa: ANN001, ANN201
    """Open /p/<code> with no sign-in: WeChat's silent sign-in (the sandbox's authorize page
    plays it) comes back to the page, which shows what a stranger sees."""
    to_wechat = client.get(f"/p/{code}")
    assert to_wechat.status_code == 302
    back = client.post(local_path(to_wechat.headers["Location"]), data={"openid": openid})
    assert client.get(local_path(back.headers["Location"])).headers["Location"] == f"/p/{code}"
    return client.get(f"/p/{code}")


def qr_text(page) -> str:  # noqa: ANN001
    """What a phone reads in the follow page's QR image."""
    html = page.get_data(as_text=True)
    data = html.split('id="follow-qr" src="data:image/png;base64,', 1)[1].split('"', 1)[0]
    [found] = zxingcpp.read_barcodes(Image.open(io.BytesIO(base64.b64decode(data))))
    return found.text


def test_a_non_followers_claim_completes_after_the_follow_once_however_often_wechat_sends_it(stack, client):
    runtime = stack.runtime
    template = make_template(runtime, name="英氏到店礼", kind="gift", gift="米粉试用装", amount=None, min_spend=None)
    batch = make_batch(runtime, reward={"coupon_template_id": template})
    code = code_of(runtime, batch, 21)
    world.add_follower(runtime.redis, STRANGER)
    world.unfollow(runtime.redis, STRANGER)  # a WeChat user who does not follow the account

    page = visit_as_stranger(client, code, STRANGER)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "长按识别二维码关注公众号，关注后自动领取" in page_text(page) and "英氏到店礼" in page_text(page)
    [made] = follow_calls(runtime)
    assert made["body"]["action_name"] == "QR_STR_SCENE" and made["body"]["expire_seconds"] == 7 * 86400
    assert made["body"]["action_info"]["scene"]["scene_str"] == f"pc_{code}"
    url = qr_text(page)
    assert url.startswith(stack.url + "/sandbox/wechat/mp/q/")  # the code WeChat made, drawn by us
    assert scans(runtime, "not_following") == 1 and claims(runtime) == []
    assert qr_text(client.get(f"/p/{code}")) == url and len(follow_calls(runtime)) == 1  # made once, kept

    created = int(runtime.clock.timestamp())
    follow_by_code = sealed(runtime, STRANGER, "subscribe", key=f"qrscene_pc_{code}", create_time=created)
    first = deliver(runtime, client, follow_by_code)
    again = deliver(runtime, client, follow_by_code)  # the same sealed callback, delivered twice
    retried = deliver(runtime, client, sealed(runtime, STRANGER, "subscribe", key=f"qrscene_pc_{code}",
                                              create_time=created))  # WeChat's retry, signed anew
    assert first == again == retried
    assert first.startswith("🎁 领取成功！英氏多维营养米粉 的奖励「英氏到店礼」已放入“我的优惠券”")
    link = first.split('<a href="', 1)[1].split('"', 1)[0]
    assert link.startswith(stack.url + "/c/coupons?t=")
    customer = customer_of(runtime, STRANGER)
    assert claims(runtime) == [(21, customer, "follow", True)]

    assert deliver(runtime, client, sealed(runtime, STRANGER, "unsubscribe", key=None, create_time=created + 60)) == ""
    later = deliver(runtime, client, sealed(runtime, STRANGER, "subscribe", key=f"qrscene_pc_{code}",
                                            create_time=created + 120))
    assert later.startswith("你已于 ") and "「英氏到店礼」在“我的优惠券”里" in later
    assert claims(runtime) == [(21, customer, "follow", True)]
    with runtime.transaction() as db_session:
        assert db_session.scalars(select(Coupon.customer_id)).all() == [customer]  # one reward

    back = page_text(client.get(f"/p/{code}"))  # the same phone, after following: signed in now
    assert "已领取" in back and "查看优惠券" in back
    assert client.get(local_path(link)).status_code == 302  # the reply's link opens their coupons
    assert "英氏到店礼" in page_text(client.get("/c/coupons"))


def test_a_follower_scanning_the_follow_code_claims_and_points_wait_for_joining(frozen, client):
    batch = make_batch(frozen, reward={"points": 30})
    code = code_of(frozen, batch, 5)
    openid = "oProductScanner0000000000001"
    customer = make_customer(frozen, openid=openid)
    reply = wire.parse_xml(reply_of(frozen, "mp", mp_scan(frozen, client, openid, f"pc_{code}", event="SCAN")))
    assert reply["Content"].startswith("🎁 领取成功！英氏多维营养米粉 的 30 积分已为你保留，加入会员后到账。")
    assert f'<a href="{frozen.config.server.public_base_url}/c/member?t=' in reply["Content"]
    assert claims(frozen) == [(5, customer, "follow", False)]


def test_a_follow_by_a_code_that_gives_nothing_says_why(frozen, client):
    batch = make_batch(frozen, valid_until="2026-12-07")
    code = code_of(frozen, batch, 3)
    forged = code[:-1] + ("a" if code[-1] != "a" else "b")

    def follow_with(openid: str, scene: str) -> str:
        return wire.parse_xml(reply_of(frozen, "mp", mp_scan(frozen, client, openid, scene)))["Content"]

    assert follow_with("oProductForged00000000000001", f"pc_{forged}") == "这个码不是正品码，无法验证。"
    owner = make_customer(frozen)
    claim(frozen, batch, 3, owner)
    other = follow_with("oProductLate000000000000001", f"pc_{code}")
    assert other.startswith("这个码已于 2026-12-07 11:00 被领取，英氏多维营养米粉 可能已被使用或为仿冒品")
    frozen.clock.advance(days=1)
    assert follow_with("oProductExpired0000000000001", f"pc_{code_of(frozen, batch, 4)}") == "这批商品的扫码领奖已结束。"
    assert [serial for serial, *_ in claims(frozen)] == [3]
    assert (scans(frozen, "not_genuine"), scans(frozen, "claimed_by_other"), scans(frozen, "expired")) == (1, 1, 1)
    response = mp_scan(frozen, client, "oProductOther000000000000001", "pc_short")  # not a product code's scene
    assert "领取" not in reply_of(frozen, "mp", response)


@pytest.mark.parametrize("config_overrides", [{"products.daily_claims": 1}])
def test_a_follow_over_the_daily_limit_or_with_no_reward_left_claims_nothing(frozen, client):
    template = make_template(frozen, stock=1)
    coupon_batch = make_batch(frozen, reward={"coupon_template_id": template})
    points_batch = make_batch(frozen)
    openid = "oProductLimit000000000000001"
    customer = make_customer(frozen, openid=openid)
    claim(frozen, points_batch, 1, customer)

    def scan(code: str) -> str:
        return wire.parse_xml(reply_of(frozen, "mp", mp_scan(frozen, client, openid, f"pc_{code}", event="SCAN")))[
            "Content"]

    assert scan(code_of(frozen, points_batch, 2)) == "今天已领取 1 次，请明天再扫码领取。"
    issue(frozen, template, make_customer(frozen))  # the template's only coupon goes elsewhere
    frozen.clock.advance(days=1)
    assert scan(code_of(frozen, coupon_batch, 1)).startswith("英氏多维营养米粉 的奖品已领完")
    assert [serial for serial, *_ in claims(frozen)] == [1]


def test_a_stranger_opening_a_code_someone_claimed_sees_the_warning_not_the_follow_code(stack, client):
    runtime = stack.runtime
    batch = make_batch(runtime)
    claim(runtime, batch, 8, make_customer(runtime))
    world.add_follower(runtime.redis, STRANGER)
    world.unfollow(runtime.redis, STRANGER)
    page = visit_as_stranger(client, code_of(runtime, batch, 8), STRANGER)
    assert page.status_code == 200 and "商品可能已被使用或为仿冒品" in page_text(page)
    assert 'id="follow-qr"' not in page_text(page) and follow_calls(runtime) == []
    assert scans(runtime, "claimed_by_other") == 1 and scans(runtime, "not_following") == 0


def test_when_wechat_cannot_make_the_follow_code_the_page_says_so(stack, client):
    runtime = stack.runtime
    batch = make_batch(runtime)
    world.add_follower(runtime.redis, STRANGER)
    world.unfollow(runtime.redis, STRANGER)
    state.add_fault(runtime.redis, channel="mp", api="qrcode/create", errcode=40053, times=5)
    page = visit_as_stranger(client, code_of(runtime, batch, 9), STRANGER)
    assert page.status_code == 503 and "二维码暂时没有生成，请稍后刷新" in page_text(page)
    state.clear_faults(runtime.redis)
    assert client.get(f"/p/{code_of(runtime, batch, 9)}").status_code == 200  # made on the next look


def test_the_scene_carries_the_code_within_wechats_64_characters(frozen):
    code = code_of(frozen, make_batch(frozen), 1)
    scene = follow.follow_scene(code)
    assert len(scene) <= 64 and follow.code_in_scene(scene) == code
    assert follow.code_in_scene("pc_") is None and follow.code_in_scene("guide:abc") is None
    assert follow.code_in_scene(None) is None
