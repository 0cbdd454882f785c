"""The shopping guide's phone pages (导购手机端): sign in by link, my numbers, my codes, my
customers and their timelines, and the public guide card; a guide sees only their own."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from guide_world import create_guide, create_store, openid
from sqlalchemy import func, select

from guides.login_links import make_link
from guides.models import UsedLoginLink
from handlers.signed_callbacks import mp_event_xml, mp_text_xml
from scrm.clock import FrozenClock
from scrm.customers.models import Customer, CustomerIdentity


def _subscribe(runtime, wechat, who: str, scene: str):  # noqa: ANN001, ANN202
    xml = mp_event_xml(to=runtime.config.wechat.mp.original_id, openid=who, event="subscribe",
                       create_time=int(time.time()), key=f"qrscene_{scene}")
    response = wechat.mp(xml)
    assert response.status_code == 200
    return response


def _say(runtime, wechat, who: str, text: str) -> None:  # noqa: ANN001
    xml = mp_text_xml(to=runtime.config.wechat.mp.original_id, openid=who, content=text,
                      msg_id=str(time.time_ns()), create_time=int(time.time()))
    assert wechat.mp(xml).status_code == 200


def _link_path(runtime, code: str) -> str:  # noqa: ANN001
    with runtime.transaction() as db_session:
        link = make_link(runtime=runtime, db_session=db_session, guide_code=code)
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def _sign_in(runtime, client, code: str) -> None:  # noqa: ANN001
    response = client.get(_link_path(runtime, code))
    assert response.status_code == 302 and response.headers["Location"].endswith("/m/")


def _customer_id(runtime, who: str) -> int:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.scalar(select(CustomerIdentity.customer_id).where(CustomerIdentity.external_id == who))


def _set_customer(runtime, who: str, **fields) -> None:  # noqa: ANN001, ANN003
    with runtime.transaction() as db_session:
        customer = db_session.get(Customer, _customer_id(runtime, who))
        for name, value in fields.items():
            setattr(customer, name, value)


@pytest.fixture
def guide(runtime):  # noqa: ANN001, ANN201
    create_store(runtime)
    return create_guide(runtime, "G1", name="王小美")


def test_a_guides_sign_in_lasts_72_hours(runtime, client, guide):
    runtime.clock = FrozenClock(datetime(2026, 11, 2, 1, 0, tzinfo=UTC))
    _sign_in(runtime, client, "G1")
    runtime.clock.advance(hours=71)
    assert client.get("/m/").status_code == 200
    runtime.clock.advance(hours=2)  # past security.session_hours.guide (72)
    assert client.get("/m/").status_code != 200


def test_a_login_link_signs_the_guide_in_once(runtime, client, guide):
    path = _link_path(runtime, "G1")
    response = client.get(path)
    assert response.status_code == 302 and response.headers["Location"].endswith("/m/")
    home = client.get("/m/")
    assert home.status_code == 200 and "王小美" in home.text and "上海静安店" in home.text
    assert home.headers["Cache-Control"] == "no-store"

    again = client.application.test_client().get(path)  # the link forwarded to someone else
    assert again.status_code == 403
    assert "登录链接已经用过了" in again.text and "登录链接无效" in again.text
    reopened = client.get(path)  # the guide who signed in with it taps it again: their page, no error
    assert reopened.status_code == 302 and reopened.headers["Location"].endswith("/m/")


def test_a_used_link_stays_used_after_redis_forgets_everything(runtime, client, guide):
    path = _link_path(runtime, "G1")
    assert client.get(path).status_code == 302
    runtime.redis.flushdb()  # a restart on memory://, or a Redis flush
    again = client.application.test_client().get(path)
    assert again.status_code == 403 and "登录链接已经用过了" in again.text
    with runtime.transaction() as db_session:
        assert db_session.scalar(select(func.count()).select_from(UsedLoginLink)) == 1


def test_a_forged_link_is_refused_and_no_session_sends_to_the_login(runtime, client, guide):
    assert client.get("/m/login?t=not-a-token").status_code == 403
    assert client.get("/m/login").status_code == 403
    response = client.get("/m/customers")
    assert response.status_code == 302 and "/login?next=/m/customers" in response.headers["Location"]


def test_an_expired_link_is_refused(runtime, client, guide):
    runtime.clock = FrozenClock(datetime.now(UTC))
    path = _link_path(runtime, "G1")
    hours = runtime.config.guides.login_link_hours + 1
    runtime.clock.advance(hours=hours)
    response = client.get(path)
    assert response.status_code == 403 and "登录链接已过期" in response.text
    assert client.get("/m/").status_code == 302  # not signed in


def test_home_shows_this_weeks_numbers(runtime, client, wechat, guide):
    for _ in range(2):
        _subscribe(runtime, wechat, openid(), guide.mp_scene)
    _sign_in(runtime, client, "G1")
    home = client.get("/m/").text
    assert 'id="n-customers"><b>2</b>' in home
    assert 'id="n-new"><b>2</b>' in home
    for link in ("/m/code", "/m/customers", "/card/G1"):
        assert f'href="{link}"' in home


def test_the_code_page_shows_both_codes_to_save_and_share(runtime, client, guide):
    _sign_in(runtime, client, "G1")
    page = client.get("/m/code").text
    for channel in ("mp", "work"):
        png = f"/m/guides/G1/qrcode.png?channel={channel}"
        assert f'<img src="{png}"' in page
        assert f'href="{png}" download=' in page
        image = client.get(png)  # the guide's session opens it (/api/ would want a Bearer token)
        assert image.status_code == 200 and image.mimetype == "image/png"
    assert "navigator.share" in page and "canShare" in page


def test_a_code_not_ready_yet_says_so(runtime, client, guide):
    from qrcodes.models import ChannelCode

    with runtime.transaction() as db_session:
        code = db_session.scalar(select(ChannelCode).where(ChannelCode.guide_id == guide.id, ChannelCode.channel == "work"))
        code.status = "pending"
    _sign_in(runtime, client, "G1")
    page = client.get("/m/code").text
    assert "生成中" in page
    assert '<img src="/m/guides/G1/qrcode.png?channel=work"' not in page
    assert '<img src="/m/guides/G1/qrcode.png?channel=mp"' in page


def test_my_customers_lists_mine_with_masked_phones_and_search(runtime, client, wechat, guide):
    g2 = create_guide(runtime, "G2", name="李大壮")
    anna, bob, other = openid(), openid(), openid()
    _subscribe(runtime, wechat, anna, guide.mp_scene)
    _subscribe(runtime, wechat, bob, guide.mp_scene)
    _subscribe(runtime, wechat, other, g2.mp_scene)
    _set_customer(runtime, anna, nickname="安娜", phone="13812345678")
    _set_customer(runtime, bob, nickname="鲍勃")
    _set_customer(runtime, other, nickname="别人的客户")
    _sign_in(runtime, client, "G1")

    page = client.get("/m/customers").text
    assert "安娜" in page and "鲍勃" in page and "别人的客户" not in page
    assert "138****5678" in page and "13812345678" not in page
    assert "我的客户 <small>2</small>" in page
    assert "刚刚" in page and "加标签" in page and "Tag added" not in page  # the last interaction, in words
    assert 'class="chip"' in page  # the channel tag the binding gave them

    found = client.get("/m/customers", query_string={"q": "安娜"}).text
    assert "安娜" in found and "鲍勃" not in found
    assert "鲍勃" in client.get("/m/customers", query_string={"q": bob}).text  # an exact openid
    assert "别人的客户" not in client.get("/m/customers", query_string={"q": other}).text
    assert "没有找到" in client.get("/m/customers", query_string={"q": "nobody"}).text
    for page in ("x", "0", "-1", "9" * 30, "²"):
        assert client.get("/m/customers", query_string={"page": page}).status_code == 200


def test_a_customer_page_shows_profile_and_timeline(runtime, client, wechat, guide):
    who = openid()
    _subscribe(runtime, wechat, who, guide.mp_scene)
    _say(runtime, wechat, who, "请问有奶粉吗")
    _set_customer(runtime, who, nickname="安娜", phone="13812345678")
    _sign_in(runtime, client, "G1")

    page = client.get(f"/m/customers/{_customer_id(runtime, who)}")
    assert page.status_code == 200
    text = page.text
    assert "安娜" in text and "138****5678" in text and "13812345678" not in text
    assert "绑定导购" in text and "王小美 (G1)" in text
    assert "关注" in text and "关注 Follow" not in text
    assert "请问有奶粉吗" in text
    assert client.get("/m/customers/999999").status_code == 404


def test_a_guide_cannot_open_another_guides_customer(runtime, client, wechat, guide):
    g2 = create_guide(runtime, "G2", name="李大壮")
    theirs = openid()
    _subscribe(runtime, wechat, theirs, g2.mp_scene)
    _sign_in(runtime, client, "G1")
    response = client.get(f"/m/customers/{_customer_id(runtime, theirs)}")
    assert response.status_code == 403
    assert "这不是你的客户" in response.text and theirs not in response.text


@pytest.mark.parametrize("role", ["admin", "manager"])
def test_an_admin_or_manager_session_gets_403_on_the_guide_pages(runtime, client, make_token, guide, role):
    assert client.post("/login", data={"token": make_token(role)}).status_code == 302
    for path in ("/m/", "/m/code", "/m/customers"):
        response = client.get(path)
        assert response.status_code == 403
        assert "导购自己的" in response.text


def test_the_public_card_shows_the_guide_and_their_code(runtime, client, guide):
    page = client.get("/card/G1")  # no sign-in: a customer opens it from the welcome message
    assert page.status_code == 200
    assert "王小美" in page.text and "上海静安店" in page.text
    assert '<img src="/card/G1/code.png"' in page.text
    image = client.get("/card/G1/code.png")
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert image.data.startswith(b"\x89PNG")
    missing = client.get("/card/NOPE")
    assert missing.status_code == 404 and "找不到" in missing.text
    assert client.get("/card/NOPE/code.png").status_code == 404


def test_customers_and_timelines_page(runtime, client, wechat, guide, monkeypatch):
    import guides.phone_pages

    monkeypatch.setattr(guides.phone_pages, "PAGE", 1)
    monkeypatch.setattr(guides.phone_pages, "TIMELINE_PAGE", 1)
    first, second = openid(), openid()
    _subscribe(runtime, wechat, first, guide.mp_scene)
    _subscribe(runtime, wechat, second, guide.mp_scene)
    _sign_in(runtime, client, "G1")

    page_one = client.get("/m/customers").text
    assert "1 / 2" in page_one and 'href="/m/customers?page=2"' in page_one
    page_two = client.get("/m/customers?page=2").text
    assert 'href="/m/customers?page=1"' in page_two and "下一页" not in page_two
    assert page_one.count('href="/m/customers/') == page_two.count('href="/m/customers/') == 1

    customer_id = _customer_id(runtime, first)
    newest = client.get(f"/m/customers/{customer_id}").text
    assert newest.count("<li>") == 1 and "更早" in newest
    before = newest.split("before=")[1].split('"')[0]
    older = client.get(f"/m/customers/{customer_id}?before={before}").text
    assert older.count("<li>") == 1 and older != newest


def _path(url: str) -> str:
    """The test client keeps cookies per host: stay on its host, whatever the URL says."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def _start_oauth(runtime, client) -> str:  # noqa: ANN001
    """/m/ → /m/oauth → WeCom's authorize page (the sandbox's); its path."""
    response = client.get("/m/customers")
    assert response.status_code == 302 and response.headers["Location"].endswith("/m/oauth")
    response = client.get("/m/oauth")
    assert response.status_code == 302
    authorize = response.headers["Location"]
    assert authorize.startswith(runtime.config.server.public_base_url + "/sandbox/wechat/work/connect/oauth2/authorize?")
    assert "scope=snsapi_base" in authorize and authorize.endswith("#wechat_redirect")
    return _path(authorize.split("#")[0])


def test_wecom_oauth_signs_a_guide_in(runtime, client, guide):
    from platform_world import reconfigure

    reconfigure(runtime, {"guides.wecom_oauth": True})
    authorize = _start_oauth(runtime, client)
    assert "企业微信授权" in client.get(authorize).text
    back = client.post(authorize, data={"userid": guide.wecom_userid})
    assert back.status_code == 302 and "/m/oauth/callback?code=" in back.headers["Location"]
    callback = _path(back.headers["Location"])
    done = client.get(callback)
    assert done.status_code == 302 and done.headers["Location"].endswith("/m/")
    assert "王小美" in client.get("/m/").text

    other = client.application.test_client()  # the same code again, from another phone
    _start_oauth(runtime, other)
    state = other.get("/m/oauth").headers["Location"].split("state=")[1].split("&")[0]
    reused = other.get(callback.split("&state=")[0] + f"&state={state}")
    assert reused.status_code == 403 and "企业微信没有接受这次登录" in reused.text


def test_wecom_oauth_refuses_a_forged_callback_and_a_member_who_is_not_a_guide(runtime, client, guide):
    from platform_world import reconfigure

    assert client.get("/m/oauth").status_code == 404  # off by default
    reconfigure(runtime, {"guides.wecom_oauth": True})
    authorize = _start_oauth(runtime, client)
    back = _path(client.post(authorize, data={"userid": "zhangsan"}).headers["Location"])  # a member, no guide
    refused = client.get(back)
    assert refused.status_code == 403 and "不是这里的导购" in refused.text
    assert client.get("/m/").status_code == 302

    authorize = _start_oauth(runtime, client)
    code = client.post(authorize, data={"userid": guide.wecom_userid}).headers["Location"].split("code=")[1].split("&")[0]
    forged = client.get(f"/m/oauth/callback?code={code}&state=someone-elses")
    assert forged.status_code == 403 and "不是在这部手机上开始的" in forged.text
    assert client.post(authorize, data={"userid": "nobody"}).status_code == 400
    assert client.get(authorize.replace("redirect_uri=http", "redirect_uri=https%3A%2F%2Fevil.example%2F")).status_code == 400


def test_this_week_starts_at_local_midnight_on_monday_on_both_backends(runtime, guide):
    """00:10 on Monday in Shanghai is still Sunday in UTC: a binding made then is this week's
    (SQLite compares stored UTC times as text, so the week's start must be in UTC too)."""
    from guides import phone_views
    from guides.models import Binding

    runtime.clock = FrozenClock(datetime(2026, 11, 22, 16, 10, tzinfo=UTC))  # Monday 00:10 in Shanghai
    with runtime.transaction() as db_session:
        for minutes_ago in (5, 20):  # 00:05 this week, 23:50 on Sunday last week
            customer = Customer(nickname=f"week-{minutes_ago}")
            db_session.add(customer)
            db_session.flush()
            db_session.add(Binding(customer_id=customer.id, guide_id=guide.id, channel="mp",
                                   bound_at=datetime(2026, 11, 22, 16, 10 - minutes_ago, tzinfo=UTC)
                                   if minutes_ago < 10 else datetime(2026, 11, 22, 15, 50, tzinfo=UTC)))
    with runtime.transaction() as db_session:
        numbers = phone_views.week_numbers(runtime=runtime, db_session=db_session, guide_id=guide.id)
    assert (numbers.customers, numbers.new_customers) == (2, 1)
