"""The customer's member page (/c/member) on both backends: the card with level, number,
discount and benefits, progress to the next level, points available / frozen / expiring, the
dynamic member QR (its token reads back), check-in and exchange through the page's forms, each
once under a double submit."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import func, select

from coupon_world import make_customer, make_template
from member_world import grant, make_member
from scrm.coupons.models import Coupon
from scrm.members import ledger
from scrm.members.growth import add_growth
from scrm.members.links import member_link
from scrm.members.member_qr import MemberQrRefused, read_member_qr
from scrm.members.models import Checkin, MallExchange, MallItem
from web_world import page_text

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def sign_in(runtime, client, customer_id: int) -> None:  # noqa: ANN001
    parts = urlsplit(member_link(runtime, customer_id))
    assert client.get(f"{parts.path}?{parts.query}").status_code == 302


def make_item(runtime, *, name: str = "满100减20券", points: int = 40, stock: int | None = 5) -> int:  # noqa: ANN001
    template = make_template(runtime, name=name, valid_days=30)
    with runtime.transaction() as db_session:
        item = MallItem(name=name, description="全场通用", template_id=template, points=points, stock=stock,
                        status="active", sort=0, created_at=NOW, updated_at=NOW)
        db_session.add(item)
        db_session.flush()
        return item.id


def test_the_card_shows_level_progress_and_points(frozen, client):  # noqa: ANN001
    amy = make_member(frozen)
    with frozen.transaction() as db_session:
        add_growth(db_session=db_session, config=frozen.config, customer_id=amy, amount=1200, kind="order",
                   source_id="A123", key="test-growth", at=NOW)
    grant(frozen, amy, 100)
    grant(frozen, amy, 30, frozen_days=7)  # an order's points, frozen for the return window
    grant(frozen, amy, 20, expires_at=NOW + timedelta(days=10))
    sign_in(frozen, client, amy)

    page = client.get("/c/member")
    html = page_text(page)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert re.search(r'id="level">银卡<', html) and "会员价 9折" in html and "生日礼券" in html
    assert "成长值 1200" in html and "再获得 3800 成长值升级为 金卡" in html
    assert re.search(r'id="points-available">120<', html)
    assert "冻结中 30，12月14日可用" in html
    assert "20 积分将于 2026-12-17 10:00 过期" in html
    assert "赠送" in html and "+100" in html
    assert "/c/member/qr.png" in html


def test_the_member_qr_names_the_member_for_a_few_minutes(frozen, client):  # noqa: ANN001
    amy = make_member(frozen)
    assert client.get("/c/member/qr.png").status_code == 404  # nobody signed in
    stranger = make_customer(frozen)
    sign_in(frozen, client, stranger)
    assert client.get("/c/member/qr.png").status_code == 404  # not a member: no card
    sign_in(frozen, client, amy)
    image = client.get("/c/member/qr.png")
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
    [token] = [found.text for found in zxingcpp.read_barcodes(Image.open(io.BytesIO(image.data)))]
    assert read_member_qr(frozen, token) == amy
    frozen.clock.advance(minutes=frozen.config.members.qr_minutes, seconds=1)
    with pytest.raises(MemberQrRefused):
        read_member_qr(frozen, token)


def test_check_in_through_the_page_counts_once_a_day(frozen, client):  # noqa: ANN001
    amy = make_member(frozen)
    sign_in(frozen, client, amy)
    assert 'id="checkin-button"' in client.get("/c/member").get_data(as_text=True)
    first = client.post("/c/member/checkin")
    again = client.post("/c/member/checkin")
    assert first.status_code == again.status_code == 303
    html = page_text(client.get("/c/member"))
    assert "签到成功，获得 5 积分，已连续签到 1 天" in html and "今天已经签到过了" in html
    assert "今日已签到" in html and 'id="checkin-button"' not in html
    with frozen.transaction() as db_session:
        assert db_session.scalar(select(func.count()).select_from(Checkin)) == 1
        assert ledger.balance(db_session=db_session, customer_id=amy, at=NOW).total == 5
    assert client.post("/c/member/checkin", csrf=False).status_code in (400, 403)  # no CSRF token: refused



@pytest.mark.parametrize("config_overrides", [{"members.checkin_streak": [{"days": 2, "points": 7}]}])
def test_a_streak_day_says_the_points_it_gave_with_the_bonus_once(frozen, client):  # noqa: ANN001
    amy = make_member(frozen)
    sign_in(frozen, client, amy)
    client.post("/c/member/checkin")
    frozen.clock.advance(days=1)
    client.post("/c/member/checkin")
    assert "签到成功，获得 12 积分，已连续签到 2 天" in page_text(client.get("/c/member"))
    with frozen.transaction() as db_session:
        assert ledger.balance(db_session=db_session, customer_id=amy, at=frozen.clock.now()).total == 17

def test_an_exchange_through_the_page_happens_once_under_a_double_submit(frozen, client):  # noqa: ANN001
    amy = make_member(frozen)
    grant(frozen, amy, 100)
    item = make_item(frozen, points=40)
    sign_in(frozen, client, amy)
    html = client.get("/c/member").get_data(as_text=True)
    assert "满100减20券" in html and "40 积分" in html and "剩 5 件" in html
    key = re.search(rf'name="item_id" value="{item}">\s*<input type="hidden" name="key" value="([^"]+)"', html)[1]

    first = client.post("/c/member/exchange", data={"item_id": str(item), "key": key})
    double = client.post("/c/member/exchange", data={"item_id": str(item), "key": key})
    assert first.status_code == double.status_code == 303
    with frozen.transaction() as db_session:
        assert db_session.scalar(select(func.count()).select_from(MallExchange)) == 1
        coupon_id = db_session.scalar(select(Coupon.id).where(Coupon.customer_id == amy))
        assert ledger.balance(db_session=db_session, customer_id=amy, at=NOW).available == 60
    shown = page_text(client.get("/c/member"))
    assert "兑换成功：满100减20券" in shown and f"/c/coupons/{coupon_id}" in shown and 'href="/c/coupons"' in shown
    assert "兑换 满100减20券 使用" in shown and "-40" in shown and "剩 4 件" in shown

    poor = client.post("/c/member/exchange", data={"item_id": str(make_item(frozen, name="大礼包", points=500)),
                                                   "key": "k" * 24})
    assert poor.status_code == 409 and "积分不足" in page_text(poor)
    missing = client.post("/c/member/exchange", data={"item_id": "2147483647", "key": "m" * 24})
    assert missing.status_code == 404
    for bad in ({"item_id": "99999999999999999999", "key": "x" * 24}, {"item_id": "1", "key": "short"},
                {"item_id": "NaN", "key": "y" * 24}):
        assert client.post("/c/member/exchange", data=bad).status_code == 422
    with frozen.transaction() as db_session:
        assert db_session.scalar(select(func.count()).select_from(MallExchange)) == 1


def test_a_customer_who_has_not_joined_sees_the_join_form(frozen, client):  # noqa: ANN001
    sign_in(frozen, client, make_customer(frozen))
    html = page_text(client.get("/c/member"))
    assert "加入会员" in html and "获取验证码" in html and "我已阅读并同意《会员协议》" in html
    for path in ("/c/member/checkin", "/c/member/exchange"):
        assert client.post(path, data={"item_id": "1", "key": "z" * 24}).headers["Location"] == "/c/member"


@pytest.mark.parametrize("config_overrides", [{"coupons.mp_oauth": True}])
def test_the_web_sign_in_comes_back_to_the_member_page(stack, runtime, client):  # noqa: ANN001
    from scrm.sandbox import world

    openid = "oMemberOAuth0000000000000001"
    amy = make_member(runtime, openid=openid)
    world.add_follower(runtime.redis, openid, nickname="Amy")
    to_oauth = client.get("/c/member")
    assert to_oauth.status_code == 302 and to_oauth.headers["Location"] == "/c/oauth?next=/c/member"
    authorize = urlsplit(client.get(to_oauth.headers["Location"]).headers["Location"])
    back = client.post(f"{authorize.path}?{authorize.query}", data={"openid": openid})
    callback = urlsplit(back.headers["Location"])
    signed_in = client.get(f"{callback.path}?{callback.query}")
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/c/member"
    with runtime.transaction() as db_session:
        from scrm.members.models import Member

        number = db_session.get(Member, amy).member_no
    assert number in client.get("/c/member").get_data(as_text=True)
    assert client.get("/c/coupons").status_code == 200  # the same sign-in opens the coupon page


@pytest.mark.parametrize("config_overrides", [{"brand.locale": "en"}])
def test_the_page_speaks_the_brands_language(frozen, client):  # noqa: ANN001
    amy = make_member(frozen)
    sign_in(frozen, client, amy)
    html = page_text(client.get("/c/member"))
    assert '<html lang="en">' in html and "Member centre" in html and "My points" in html and "Check in" in html
    assert "会员中心" not in html
