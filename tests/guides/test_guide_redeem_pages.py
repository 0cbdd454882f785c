"""The guide's redeem page (核销 = redeem) over HTTP: check a typed code, see the coupon and the
masked customer, confirm once; a second confirmation, a typo, another store's coupon and a
non-guide are refused; the WeCom JS-SDK signature and where the page carries it."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from platform_world import reconfigure
from coupon_world import issue, make_customer, make_template
from guide_world import create_guide, create_store
from guides import jssdk
from guides.login_links import make_link
from scrm.coupons.codes import ALPHABET
from scrm.coupons.models import Coupon, CouponAttempt


def _sign_in(runtime, client, code: str) -> None:  # noqa: ANN001
    with runtime.transaction() as db_session:
        parts = urlsplit(make_link(runtime=runtime, db_session=db_session, guide_code=code))
    assert client.get(f"{parts.path}?{parts.query}").status_code == 302


def _attempts(runtime) -> list[tuple[str, str]]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return [(a.action, a.result) for a in db_session.scalars(select(CouponAttempt).order_by(CouponAttempt.id))]


def _status(runtime, coupon_id: int) -> str:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.get(Coupon, coupon_id).status


def _typo(code: str) -> str:
    """One character changed: the check character catches it."""
    i = 5
    wrong = ALPHABET[(ALPHABET.index(code[i]) + 1) % len(ALPHABET)]
    return code[:i] + wrong + code[i + 1:]


@pytest.fixture
def world(runtime, client):  # noqa: ANN001, ANN201
    create_store(runtime)
    create_store(runtime, "S2", "北京三里屯店")
    guide = create_guide(runtime, "G1", name="王小美")
    template = make_template(runtime, name="满100减20")
    customer = make_customer(runtime, nickname="李雷", phone="13812345678")
    _sign_in(runtime, client, "G1")
    return {"guide": guide, "template": template, "customer": customer}


def test_a_guide_checks_a_typed_code_confirms_and_a_second_confirm_is_refused(runtime, client, world):
    coupon = issue(runtime, world["template"], world["customer"])
    page = client.get("/m/redeem")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert 'autocapitalize="characters"' in page.text and 'autocomplete="off"' in page.text
    assert 'id="scan"' in page.text and "jsQR.js" in page.text and "qr_scanner.js" in page.text
    assert jssdk.SCRIPT not in page.text and "wx: null" in page.text  # not signed: the camera only
    assert 'aria-current="page">核销' in page.text

    typed = coupon.code.lower().replace("-", " ")
    check = client.get("/m/redeem/check", query_string={"code": f"  {typed} "})
    assert check.status_code == 200
    assert "满100减20" in check.text and "减¥20" in check.text and coupon.code in check.text
    assert "李雷" in check.text and "138****5678" in check.text and "13812345678" not in check.text
    assert "全部门店" in check.text and 'id="confirm"' in check.text
    assert _attempts(runtime) == [] and _status(runtime, coupon.id) == "issued"  # a look is not an attempt

    done = client.post("/m/redeem", data={"code": coupon.code})
    assert done.status_code == 200
    assert "核销成功" in done.text and "李雷" in done.text and "138****5678" in done.text
    assert "已使用" in done.text
    assert _status(runtime, coupon.id) == "redeemed"

    again = client.post("/m/redeem", data={"code": coupon.code})  # a reload, or a second phone
    assert again.status_code == 409
    assert "已经核销过了" in again.text and "王小美 (G1) · 上海静安店" in again.text
    assert "核销成功" not in again.text
    assert _attempts(runtime) == [("redeem", "ok"), ("redeem", "already_redeemed")]

    look = client.get("/m/redeem/check", query_string={"code": coupon.code})
    assert "已经核销过了" in look.text and "王小美 (G1)" in look.text and 'id="confirm"' not in look.text
    home = client.get("/m/")  # the guide's week counts the coupon they redeemed
    assert re.search(r'id="n-redemptions"><b>1</b>', home.text)


def test_a_typo_is_refused_before_any_lookup_and_the_check_writes_nothing(runtime, client, world):
    coupon = issue(runtime, world["template"], world["customer"])
    typo = _typo(coupon.code)
    check = client.get("/m/redeem/check", query_string={"code": typo})
    assert check.status_code == 422
    assert "券码不对" in check.text and "打错" in check.text
    assert f'value="{typo}"' in check.text  # shown as typed, to correct
    assert _attempts(runtime) == []

    forged = client.get("/m/redeem/check", query_string={"code": "hello"})
    assert forged.status_code == 422 and "这不是券码" in forged.text
    assert _attempts(runtime) == []

    tried = client.post("/m/redeem", data={"code": typo})  # a confirmation is an attempt: audited
    assert tried.status_code == 422 and "券码不对" in tried.text
    assert _attempts(runtime) == [("redeem", "bad_code")]
    assert _status(runtime, coupon.id) == "issued"


def test_a_coupon_for_another_store_is_refused_in_this_one(runtime, client, world):
    elsewhere = make_template(runtime, name="三里屯专享", stores=["S2"])
    coupon = issue(runtime, elsewhere, world["customer"])
    check = client.get("/m/redeem/check", query_string={"code": coupon.code})
    assert check.status_code == 200
    assert "不能在本店使用" in check.text and "北京三里屯店 (S2)" in check.text
    assert 'id="confirm"' not in check.text

    tried = client.post("/m/redeem", data={"code": coupon.code})
    assert tried.status_code == 409 and "不能在本店使用" in tried.text
    assert _attempts(runtime) == [("redeem", "not_valid_in_store")]
    assert _status(runtime, coupon.id) == "issued"


def test_the_redeem_page_is_a_guides_own(runtime, client, auth, world):
    fresh = client.application.test_client()
    assert fresh.get("/m/redeem").status_code == 302  # no session: to the sign-in
    for role in ("admin", "manager"):
        response = fresh.get("/m/redeem", headers=auth(role))
        assert response.status_code == 403 and "打不开" in response.text
        assert fresh.post("/m/redeem", data={"code": "x"}, headers=auth(role)).status_code == 403
    with runtime.transaction() as db_session:
        assert db_session.scalar(select(func.count()).select_from(CouponAttempt)) == 0


def test_the_jssdk_signature_is_wechats():
    """The worked example of WeChat's JS-SDK documentation (附录1)."""
    assert jssdk.signature(
        jsapi_ticket="sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg",
        noncestr="Wm3WZYTPz0wzccnW", timestamp=1414587457, url="http://mp.weixin.qq.com?params=value",
    ) == "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
    assert jssdk.signature(jsapi_ticket="t", noncestr="n", timestamp=1, url="https://a.example/m/redeem#x") == \
        jssdk.signature(jsapi_ticket="t", noncestr="n", timestamp=1, url="https://a.example/m/redeem")


def test_with_jssdk_on_the_page_is_signed_for_wecoms_scanner(runtime, client, stack, world):
    reconfigure(runtime, {"guides.jssdk": True})
    page = client.get("/m/redeem")
    assert page.status_code == 200
    assert jssdk.SCRIPT in page.text and "qr_scanner.js" in page.text and "wx: null" not in page.text
    scanner = client.get("/static/qr_scanner.js")  # the shared scanner: signs in with the page's config
    assert scanner.status_code == 200 and "wx.config(" in scanner.text and "wx.scanQRCode" in scanner.text
    config = {k: re.search(rf"{k}: \"?([^\",]+)\"?", page.text).group(1)
              for k in ("appId", "timestamp", "nonceStr", "signature")}
    ticket = runtime.work.jsapi_ticket()  # the cached one: the page asked WeCom (the sandbox) first
    assert config["appId"] == runtime.config.wechat.work.corp_id
    assert config["signature"] == jssdk.signature(jsapi_ticket=ticket, noncestr=config["nonceStr"],
                                                  timestamp=int(config["timestamp"]), url=stack.url + "/m/redeem")
    assert client.get("/m/redeem").status_code == 200 and runtime.work.jsapi_ticket() == ticket
    assert runtime.redis.keys("scrm:wechat:jsapi_ticket:work:*")

    reconfigure(runtime, {"guides.jssdk": False})
    unsigned = client.get("/m/redeem").text
    assert jssdk.SCRIPT not in unsigned and "wx: null" in unsigned and "signature:" not in unsigned
