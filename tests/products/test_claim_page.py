"""The claim page /p/<code> (scrm/products/customer_pages.py) on both backends: a signed-in
customer sees the product and the reward, claims with one button and sees what they got; a
code claimed by someone else shows when, with the warning; a code with one character changed
is "not genuine" without a statement that reads codes or claims; an ended batch, the daily
limit and a reward that cannot be given are refusal pages that change nothing; a write without
the CSRF token is 403; the per-IP limit answers 429; 16 customers claiming one code at once over
real HTTP get one reward; a customer not signed in goes through the account's web sign-in."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import func, select

from coupon_world import issue, make_customer, make_template
from member_world import make_member
from platform_world import run_together
from product_world import claim, code_of, make_batch, statements
from scrm.coupons.links import coupons_link
from scrm.coupons.models import Coupon
from scrm.products.codes import ProductCodec
from scrm.products.models import ProductClaim, ProductScan
from scrm.sandbox import world
from web_world import page_text

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
THREADS = 16


@pytest.fixture
def config_overrides():
    return {"database.pool_size": THREADS + 4, "database.max_overflow": 0}


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def sign_in(runtime, client, customer_id: int) -> None:  # noqa: ANN001
    """The customer opens the signed link the account sends (their coupon page): signed in."""
    assert client.get(local_path(coupons_link(runtime, customer_id))).status_code == 302


def scans(runtime, result: str) -> int:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.scalar(select(func.count()).select_from(ProductScan).where(ProductScan.result == result))


def claims(runtime) -> list[tuple[int, int, str]]:  # noqa: ANN001
    """(serial, customer, via) of every claim."""
    with runtime.transaction() as db_session:
        return [tuple(row) for row in db_session.execute(
            select(ProductClaim.serial, ProductClaim.customer_id, ProductClaim.via).order_by(ProductClaim.id))]


def coupons_of(runtime, customer_id: int) -> list[int]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.scalars(select(Coupon.id).where(Coupon.customer_id == customer_id)).all()


# ---- a signed-in customer ---------------------------------------------------------------------


def test_a_signed_in_customer_claims_a_gift_coupon_with_one_button(frozen, client):
    template = make_template(frozen, name="英氏到店礼", kind="gift", gift="米粉试用装", amount=None, min_spend=None)
    batch = make_batch(frozen, reward={"coupon_template_id": template})
    code = code_of(frozen, batch, 7)
    amy = make_customer(frozen, nickname="Amy")
    sign_in(frozen, client, amy)

    page = client.get(f"/p/{code}")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    text = page_text(page)
    assert "英氏多维营养米粉" in text and "货号 YS-MF-01" in text and "英氏到店礼（赠 米粉试用装）" in text
    assert re.search(r'<form method="post" action="/p/' + code + r'">\s*<input type="hidden" name="csrf_token"', text)
    assert 'id="claim-button"' in text and "每人每天最多领取 5 次" in text
    assert scans(frozen, "already_yours") == 0  # looking at an unclaimed code is no scan

    done = client.post(f"/p/{code}")
    assert done.status_code == 303 and done.headers["Location"] == f"/p/{code}"
    [coupon_id] = coupons_of(frozen, amy)
    result = page_text(client.get(f"/p/{code}"))
    assert "领取成功" in result and "你已于 2026-12-07 11:00 领取" in result
    assert f'href="/c/coupons/{coupon_id}"' in result and "查看优惠券" in result
    assert claims(frozen) == [(7, amy, "page")]
    assert scans(frozen, "already_yours") == 0  # the page the claim redirected to is not a repeat scan

    frozen.clock.advance(hours=3)
    again = page_text(client.get(f"/p/{code.upper()}"))  # a scanner that shouts: the same code
    assert "已领取" in again and "领取成功" not in again and "2026-12-07 11:00" in again
    assert scans(frozen, "already_yours") == 1
    assert client.post(f"/p/{code}").status_code == 303  # claiming again gives nothing more
    assert coupons_of(frozen, amy) == [coupon_id] and len(claims(frozen)) == 1


def test_claims_whose_redirect_is_not_followed_do_not_grow_the_session(frozen, client):
    """What the POST tells the page it redirects to is one slot: a client that posts and never
    follows the redirect (a scanner, a script) keeps a cookie of one size, and the next page
    of the last code still says what happened."""
    batch = make_batch(frozen, reward={"points": 5})
    amy = make_member(frozen)
    sign_in(frozen, client, amy)
    sizes = []
    for serial in range(1, 6):  # the day's limit is 5
        assert client.post(f"/p/{code_of(frozen, batch, serial)}").status_code == 303
        sizes.append(len(client.get_cookie("session").value))
    assert max(sizes) - min(sizes) <= 8, sizes  # compression may move it by a byte or two
    assert "领取成功" in page_text(client.get(f"/p/{code_of(frozen, batch, 5)}"))
    assert "领取成功" not in page_text(client.get(f"/p/{code_of(frozen, batch, 5)}"))  # said once
    assert [serial for serial, _, _ in claims(frozen)] == [1, 2, 3, 4, 5]


def test_points_reach_a_member_and_wait_for_a_customer_who_has_not_joined(frozen, client):
    batch = make_batch(frozen, reward={"points": 50})
    member = make_member(frozen)
    sign_in(frozen, client, member)
    assert "50 积分" in page_text(client.get(f"/p/{code_of(frozen, batch, 1)}"))
    client.post(f"/p/{code_of(frozen, batch, 1)}")
    shown = page_text(client.get(f"/p/{code_of(frozen, batch, 1)}"))
    assert "50 积分已到账" in shown and 'href="/c/member"' in shown and "查看会员中心" in shown

    newcomer = make_customer(frozen)
    fresh = client.application.test_client()
    sign_in(frozen, fresh, newcomer)
    fresh.post(f"/p/{code_of(frozen, batch, 2)}")
    pending = page_text(fresh.get(f"/p/{code_of(frozen, batch, 2)}"))
    assert "50 积分已为你保留，加入会员后到账" in pending and 'href="/c/member"' in pending and "加入会员" in pending


def test_a_code_claimed_by_someone_else_shows_when_with_the_warning(frozen, client):
    batch = make_batch(frozen)
    owner, other = make_member(frozen), make_member(frozen)
    assert claim(frozen, batch, 4, owner).result == "claimed"
    frozen.clock.advance(days=2)
    sign_in(frozen, client, other)
    code = code_of(frozen, batch, 4)

    page = client.get(f"/p/{code}")
    assert page.status_code == 200
    assert "此码已于 2026-12-07 11:00 被领取，商品可能已被使用或为仿冒品" in page_text(page)
    assert 'id="claim-button"' not in page_text(page)
    assert scans(frozen, "claimed_by_other") == 1  # a look that only views is counted too

    posted = client.post(f"/p/{code}")  # a page left open: the claim finds the owner's
    assert posted.status_code == 303
    assert "此码已于 2026-12-07 11:00 被领取" in page_text(client.get(posted.headers["Location"]))
    assert scans(frozen, "claimed_by_other") == 2  # the claim's own, not again for the page it led to
    assert claims(frozen) == [(4, owner, "page")]


# ---- codes that give nothing ------------------------------------------------------------------


def test_a_code_with_one_character_changed_is_not_genuine_before_codes_are_read(frozen, client):
    batch = make_batch(frozen)
    code = code_of(frozen, batch, 3)
    forged = code[:9] + ("a" if code[9] != "a" else "b") + code[10:]
    sign_in(frozen, client, make_customer(frozen))

    with statements(frozen) as seen:
        page = client.get(f"/p/{forged}")
        posted = client.post(f"/p/{forged}")
    assert page.status_code == 404 and posted.status_code == 404
    assert "不是正品码" in page_text(page) and "无法验证这个码" in page_text(page)
    read = [s for s in seen if "code_batches" in s or "product_claims" in s]
    assert read == [], read  # the MAC refused it: neither codes nor claims were looked at
    assert any("INSERT INTO product_scans" in s for s in seen)
    assert scans(frozen, "not_genuine") == 2 and claims(frozen) == []

    unknown = ProductCodec.from_config(frozen.config).encode("zzzzz", 1)  # signed, but no such batch
    assert client.get(f"/p/{unknown}").status_code == 404
    assert client.get("/p/" + "x" * 300).status_code == 404
    assert client.get(f"/p/{code}").status_code == 200  # the real code is fine


def test_an_ended_batch_is_refused_with_410(frozen, client):
    batch = make_batch(frozen, valid_until="2026-12-07")
    code = code_of(frozen, batch, 1)
    sign_in(frozen, client, make_customer(frozen))
    assert client.get(f"/p/{code}").status_code == 200
    frozen.clock.advance(days=1)
    page = client.get(f"/p/{code}")
    assert page.status_code == 410 and "这批商品的扫码领奖已于 2026-12-07 结束" in page_text(page)
    assert client.post(f"/p/{code}").status_code == 410
    assert scans(frozen, "expired") == 2 and claims(frozen) == []


@pytest.mark.parametrize("config_overrides", [{"products.daily_claims": 2}])
def test_the_daily_limit_is_a_clear_refusal_that_changes_nothing(frozen, client):
    batch = make_batch(frozen)
    member = make_member(frozen)
    sign_in(frozen, client, member)
    for serial in (1, 2):
        assert client.post(f"/p/{code_of(frozen, batch, serial)}").status_code == 303
    third = code_of(frozen, batch, 3)
    refused = client.post(f"/p/{third}")
    assert refused.status_code == 409
    assert "今天已领取 2 次，请明天再来" in page_text(refused) and "今天领够了" in page_text(refused)
    assert [serial for serial, _, _ in claims(frozen)] == [1, 2]
    assert 'id="claim-button"' in page_text(client.get(f"/p/{third}"))  # still unclaimed
    frozen.clock.advance(hours=13)  # the next local day
    assert client.post(f"/p/{third}").status_code == 303
    assert [serial for serial, _, _ in claims(frozen)] == [1, 2, 3]


def test_a_reward_that_cannot_be_given_is_a_refusal_and_the_code_stays_unclaimed(frozen, client):
    template = make_template(frozen, stock=1)
    issue(frozen, template, make_customer(frozen))  # the only one
    batch = make_batch(frozen, reward={"coupon_template_id": template})
    sign_in(frozen, client, make_customer(frozen))
    refused = client.post(f"/p/{code_of(frozen, batch, 1)}")
    assert refused.status_code == 409 and "奖品已领完" in page_text(refused)
    assert claims(frozen) == [] and scans(frozen, "reward_unavailable") == 1


def test_a_claim_without_the_csrf_token_is_refused(frozen, client):
    batch = make_batch(frozen)
    sign_in(frozen, client, make_member(frozen))
    refused = client.post(f"/p/{code_of(frozen, batch, 1)}", csrf=False)
    assert refused.status_code == 403
    assert claims(frozen) == []


@pytest.mark.parametrize("config_overrides", [{"security.rate_limits.product_claims_per_ip": "3/minute"}])
def test_one_address_opening_too_many_codes_gets_429(frozen, client):
    batch = make_batch(frozen)
    sign_in(frozen, client, make_member(frozen))
    assert [client.get(f"/p/{code_of(frozen, batch, serial)}").status_code for serial in (1, 2)] == [200, 200]
    assert client.post(f"/p/{code_of(frozen, batch, 3)}").status_code == 303
    limited = client.get(f"/p/{code_of(frozen, batch, 4)}")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert client.post(f"/p/{code_of(frozen, batch, 4)}").status_code == 429  # GET and POST count together
    assert len(claims(frozen)) == 1
    other = client.application.test_client()
    assert other.get(f"/p/{code_of(frozen, batch, 4)}", environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 302


# ---- sixteen phones, one code ------------------------------------------------------------------


def test_sixteen_customers_posting_one_code_at_once_over_http_get_one_reward(stack):
    runtime = stack.runtime
    template = make_template(runtime, name="英氏到店礼")
    batch = make_batch(runtime, reward={"coupon_template_id": template})
    code = code_of(runtime, batch, 11)
    people = [make_customer(runtime) for _ in range(THREADS)]
    phones, tokens = [], []
    for person in people:
        phone = requests.Session()
        assert phone.get(coupons_link(runtime, person), allow_redirects=False).status_code == 302
        page = phone.get(f"{stack.url}/p/{code}")
        assert page.status_code == 200
        phones.append(phone)
        tokens.append(re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1))

    def press(i: int) -> str:
        answer = phones[i].post(f"{stack.url}/p/{code}", data={"csrf_token": tokens[i]}, timeout=30)
        assert answer.status_code == 200 and answer.url == f"{stack.url}/p/{code}"  # after the 303
        return "mine" if "领取成功" in answer.text else "other" if "此码已于" in answer.text else answer.text

    results = run_together(press, THREADS)

    assert sorted(results) == ["mine"] + ["other"] * (THREADS - 1)
    winner = people[results.index("mine")]
    assert claims(runtime) == [(11, winner, "page")]
    with runtime.transaction() as db_session:
        assert db_session.scalars(select(Coupon.customer_id)).all() == [winner]


# ---- someone not signed in -----------------------------------------------------------------------


def test_a_follower_not_signed_in_is_signed_in_by_wechat_and_comes_back_to_the_code(stack, client):
    runtime = stack.runtime
    batch = make_batch(runtime)
    code = code_of(runtime, batch, 2)
    openid = "oProductFollower0000000000001"
    member = make_member(runtime, openid=openid)
    world.add_follower(runtime.redis, openid)

    to_wechat = client.get(f"/p/{code}")
    assert to_wechat.status_code == 302
    authorize = urlsplit(to_wechat.headers["Location"])
    assert f"{authorize.scheme}://{authorize.netloc}{authorize.path}" == (
        stack.url + "/sandbox/wechat/mp/connect/oauth2/authorize")
    query = parse_qs(authorize.query)
    assert query["scope"] == ["snsapi_base"] and query["redirect_uri"] == [stack.url + "/p/oauth/callback"]
    assert code not in authorize.query  # the code waits in this browser's session, not in WeChat's URL

    back = client.post(local_path(to_wechat.headers["Location"]), data={"openid": openid})
    callback = local_path(back.headers["Location"])
    assert callback.startswith("/p/oauth/callback?")
    signed_in = client.get(callback)
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == f"/p/{code}"
    assert 'id="claim-button"' in page_text(client.get(f"/p/{code}"))
    assert client.post(f"/p/{code}").status_code == 303
    assert claims(runtime) == [(2, member, "page")]
    assert client.get(callback).status_code == 403  # the state is spent: a replayed callback is refused

    other = stack.app.test_client()  # a browser that did not start this sign-in
    forged = other.get(f"/p/oauth/callback?code=abc&state={query['state'][0]}")
    assert forged.status_code == 403 and "这次登录不是在这台手机上开始的" in page_text(forged)


def test_a_post_without_a_sign_in_goes_to_the_page_and_claims_nothing(frozen, client):
    batch = make_batch(frozen)
    code = code_of(frozen, batch, 1)
    answer = client.post(f"/p/{code}")
    assert answer.status_code == 303 and answer.headers["Location"] == f"/p/{code}"
    assert claims(frozen) == []


@pytest.mark.parametrize("config_overrides", [{"brand.locale": "en"}])
def test_the_page_speaks_the_brands_language(frozen, client):
    batch = make_batch(frozen, product="Rice cereal", sku="YS-MF-01", reward={"points": 50})
    sign_in(frozen, client, make_member(frozen))
    page = page_text(client.get(f"/p/{code_of(frozen, batch, 1)}"))
    assert "50 points" in page and ">Claim<" in page and "Item YS-MF-01" in page
    assert not re.search(r"[\u4e00-\u9fff]", page.split("<body>", 1)[1].replace("演示品牌", ""))  # the brand's name aside
    client.post(f"/p/{code_of(frozen, batch, 1)}")
    assert "50 points are in your account." in page_text(client.get(f"/p/{code_of(frozen, batch, 1)}"))
    code = code_of(frozen, batch, 2)
    forged = page_text(client.get(f"/p/{code[:-1]}{'2' if code[-1] != '2' else '3'}"))
    assert "Not a genuine code" in forged
