"""The phone sandbox's 扫商品码 (SPEC §10, §14): the customer picks a batch and a serial, or pastes
a code or a /p/ link; the phone opens the claim page as that customer through a signed link,
and the sandbox's authorize page signs them in without asking, as WeChat's ``snsapi_base`` does.
A code that is not ours opens too; bad input is refused with a clear message and nothing kept."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from product_world import code_of, make_batch
from scrm.coupons import mp_oauth as customer_oauth
from scrm.coupons.customer_pages import SIGNED_IN
from scrm.customers import service as customers
from scrm.products.codes import ProductCodec
from scrm.products.customer_pages import VISITOR
from scrm.products.models import ProductClaim
from scrm.sandbox import mp_oauth, phone, world
from web_world import log_in, page_text

CUSTOMERS = "/sandbox/phone/api/customers"
SEND = "/sandbox/phone/api/send"
BATCHES = "/sandbox/phone/api/product-batches"
SCAN = "/sandbox/phone/api/scan-product"
CONVERSATION = "/sandbox/phone/api/conversation"


@pytest.fixture(autouse=True)
def admin_session(client, make_token):  # noqa: ANN001, ANN201
    log_in(client, make_token, "admin")


def new_customer(client, *, follow: bool) -> str:  # noqa: ANN001
    openid = client.post(CUSTOMERS, json={"nickname": "小美"}).get_json()["openid"]
    if follow:
        assert client.post(SEND, json={"openid": openid, "action": "follow"}).status_code == 200
    return openid


def scan(client, openid: str, **body):  # noqa: ANN001, ANN003, ANN201
    return client.post(SCAN, json={"openid": openid, **body})


def chat(client, openid: str) -> list[dict]:  # noqa: ANN001
    return client.get(CONVERSATION, query_string={"openid": openid}).get_json()["messages"]


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def test_the_phone_lists_the_batches_newest_first_with_product_prefix_and_quantity(client, runtime):
    rice = make_batch(runtime, quantity=2000)
    noodles = make_batch(runtime, product="英氏婴儿面条", sku="YS-MT-02", quantity=500, reward={"points": 30})

    listed = client.get(BATCHES).get_json()["batches"]

    assert [(b["id"], b["product"], b["sku"], b["prefix"], b["quantity"], b["claims"], b["expired"]) for b in listed] == [
        (noodles.id, "英氏婴儿面条", "YS-MT-02", noodles.prefix, 500, 0, False),
        (rice.id, "英氏多维营养米粉", "YS-MF-01", rice.prefix, 2000, 0, False)]


def test_a_picked_serial_opens_its_claim_page_as_the_customer_signed_in_without_asking(stack, client, runtime):
    batch = make_batch(runtime, quantity=2000)
    openid = new_customer(client, follow=True)

    scanned = scan(client, openid, batch_id=batch.id, serial=42)

    assert scanned.status_code == 200, scanned.get_json()
    result = scanned.get_json()
    assert result["code"] == code_of(runtime, batch, 42)
    [line] = result["messages"]
    assert line["text"] == "扫描商品码：英氏多维营养米粉 第 42 号" and line["kind"] == "link"
    assert line["articles"] == [{"title": f"/p/{result['code']}", "url": result["open"]}]  # a follower: no follow
    assert chat(client, openid)[-1] == line  # kept with the phone's chat: the link opens it again

    opened = client.get(result["open"])  # the tab the phone opens: WeChat's browser, as this customer
    assert opened.status_code == 302 and opened.headers["Location"] == f"/p/{result['code']}"
    with client.session_transaction() as held:
        assert held[mp_oauth.BROWSER_USER] == openid

    # The claim page sends the customer to WeChat's sign-in, which comes straight back with a code.
    with stack.app.test_request_context():
        authorize = customer_oauth.authorize_url(runtime, state="s1")
    back = client.get(local(authorize))
    assert back.status_code == 302
    returned = urlsplit(back.headers["Location"])
    assert f"{returned.scheme}://{returned.netloc}{returned.path}" == stack.url + "/c/oauth/callback"
    query = parse_qs(returned.query)
    assert query["state"] == ["s1"]
    assert runtime.mp.openid_by_oauth_code(query["code"][0]) == openid


def test_a_customer_who_does_not_follow_is_offered_the_follow_with_the_product_scene(client, runtime):
    batch = make_batch(runtime)
    openid = new_customer(client, follow=False)

    result = scan(client, openid, batch_id=str(batch.id), serial="7").get_json()  # a form's fields are text

    assert result["code"] == code_of(runtime, batch, 7)
    assert result["messages"][0]["articles"][0]["scene"] == f"pc_{result['code']}"
    assert not result["customer"]["following"]
    client.get(result["open"])
    with client.session_transaction() as held:
        held_user = held[mp_oauth.BROWSER_USER]
    assert held_user == openid and phone.is_wechat_user(runtime.redis, openid)  # WeChat knows non-followers too


def test_the_chat_s_follow_with_the_product_scene_completes_the_claim(client, runtime):
    batch = make_batch(runtime)
    openid = new_customer(client, follow=False)
    scene = scan(client, openid, batch_id=batch.id, serial=9).get_json()["messages"][0]["articles"][0]["scene"]

    followed = client.post(SEND, json={"openid": openid, "action": "scan", "value": scene})  # the long press

    assert followed.status_code == 200, followed.get_json()
    assert "领取成功" in followed.get_json()["reply"]["text"] and followed.get_json()["customer"]["following"]
    with runtime.transaction() as db_session:
        claim = db_session.scalar(select(ProductClaim).where(ProductClaim.batch_id == batch.id))
        owner = customers.lookup(db_session=db_session, channel="mp", external_id=openid)
        assert (claim.serial, claim.customer_id, claim.via, claim.new_follower) == (9, owner.id, "follow", True)


@pytest.mark.parametrize("paste", ["{code}", "{CODE}", "https://scrm.brand.example/p/{code}", "/p/{code}/",
                                   "scrm.brand.example/p/{code}?from=label", "  {code}\n"])
def test_a_pasted_code_or_link_opens_the_code_s_page(client, runtime, paste):
    batch = make_batch(runtime)
    code = code_of(runtime, batch, 3)
    openid = new_customer(client, follow=True)

    result = scan(client, openid, code=paste.format(code=code, CODE=code.upper())).get_json()

    assert result["code"] == code
    assert result["messages"][0]["text"] == "扫描商品码：英氏多维营养米粉 第 3 号"
    assert client.get(result["open"]).headers["Location"] == f"/p/{code}"


def test_a_code_that_is_not_ours_still_opens_the_page_which_says_so(client, runtime):
    batch = make_batch(runtime)
    genuine = code_of(runtime, batch, 3)
    forged = genuine[:-1] + ("a" if genuine[-1] != "a" else "b")
    beyond = ProductCodec.from_config(runtime.config).encode(batch.prefix, batch.quantity + 1)
    openid = new_customer(client, follow=True)

    for code in (forged, beyond, "KNOCKOFF-123"):
        result = scan(client, openid, code=code).get_json()
        assert result["code"] == code and result["messages"][0]["text"] == f"扫描商品码：{code}"
        assert client.get(result["open"]).headers["Location"] == f"/p/{code}"


def test_bad_input_gets_a_clear_refusal_and_the_chat_keeps_nothing(client, runtime):
    batch = make_batch(runtime, quantity=100)
    openid = new_customer(client, follow=True)
    before = chat(client, openid)
    refusals = [
        ({}, 400, "请选择批次并填写序号，或粘贴商品码或 /p/ 链接"),
        ({"code": "   "}, 400, "请选择批次并填写序号"),
        ({"batch_id": batch.id}, 400, "请填写序号：这一批是 1–100"),
        ({"batch_id": batch.id, "serial": 0}, 400, "序号须是 1–100 的整数"),
        ({"batch_id": batch.id, "serial": 101}, 400, "序号须是 1–100 的整数"),
        ({"batch_id": batch.id, "serial": "abc"}, 400, "序号须是 1–100 的整数"),
        ({"batch_id": batch.id, "serial": True}, 400, "序号须是 1–100 的整数"),
        ({"batch_id": batch.id, "serial": 1.5}, 400, "序号须是 1–100 的整数"),
        ({"batch_id": batch.id + 100, "serial": 1}, 404, f"没有编号为 {batch.id + 100} 的批次"),
        ({"batch_id": 2**31, "serial": 1}, 400, "批次须是 1–2147483647 的整数"),
        ({"batch_id": batch.id, "serial": 1, "code": "abc"}, 400, "只给一个"),
        ({"code": "not a code!"}, 400, "这不是商品码"),
        ({"code": "https://shop.example/item/123"}, 400, "这不是商品码的链接"),
        ({"code": "x" * 62}, 400, "这不是商品码"),
        ({"code": "p" * 3000}, 400, "粘贴的内容太长"),
        ({"code": 12345}, 400, "请选择批次并填写序号"),
    ]
    for body, status, message in refusals:
        refused = scan(client, openid, **body)
        assert refused.status_code == status, (body, refused.get_json())
        assert message in refused.get_json()["message"], (body, refused.get_json())
    assert scan(client, "bad openid!", code="abc").status_code == 400
    assert client.post(SCAN, data="code=abc", content_type="text/plain").status_code == 400
    assert chat(client, openid) == before


def test_opening_as_another_customer_forgets_what_the_customer_pages_knew_of_the_one_before(client, runtime):
    batch = make_batch(runtime)
    first, second = new_customer(client, follow=True), new_customer(client, follow=True)
    with runtime.transaction() as db_session:
        first_id = customers.lookup(db_session=db_session, channel="mp", external_id=first).id
    with client.session_transaction() as held:  # the first customer signed in to /c/coupons earlier
        held[SIGNED_IN] = {"c": first_id, "at": int(runtime.clock.timestamp())}

    client.get(scan(client, first, batch_id=batch.id, serial=1).get_json()["open"])
    with client.session_transaction() as held:
        assert held[SIGNED_IN]["c"] == first_id  # the same customer: still signed in
    client.get(scan(client, second, batch_id=batch.id, serial=2).get_json()["open"])
    with client.session_transaction() as held:
        assert SIGNED_IN not in held and held[mp_oauth.BROWSER_USER] == second
        held[VISITOR] = {"o": second, "at": int(runtime.clock.timestamp())}  # the claim page met them unfollowed
    client.get(scan(client, second, batch_id=batch.id, serial=3).get_json()["open"])
    with client.session_transaction() as held:
        assert held[VISITOR]["o"] == second  # the same customer: still the page's visitor
    client.get(scan(client, first, batch_id=batch.id, serial=4).get_json()["open"])
    with client.session_transaction() as held:
        assert VISITOR not in held and held[mp_oauth.BROWSER_USER] == first


def test_the_open_link_is_the_phone_s_own_and_the_phone_is_for_admins(app, client, make_token, runtime):
    batch = make_batch(runtime)
    openid = new_customer(client, follow=True)
    link = scan(client, openid, batch_id=batch.id, serial=1).get_json()["open"]
    token = parse_qs(urlsplit(link).query)["t"][0]

    forged = client.get(f"/sandbox/phone/open?t={token[:-2]}xx")
    assert forged.status_code == 400 and "scan the code again" in forged.get_json()["message"]
    with client.session_transaction() as held:
        assert mp_oauth.BROWSER_USER not in held
    stranger = app.test_client()
    signed_out = stranger.get(link)  # not an admin's browser: the console's sign-in, not the page
    assert signed_out.status_code == 302 and signed_out.headers["Location"].startswith("/login")
    assert stranger.get(BATCHES, headers={"Accept": "application/json"}).status_code == 401
    manager = app.test_client()
    log_in(manager, make_token, "manager")
    assert manager.get(BATCHES).status_code == 403
    assert manager.post(SCAN, json={"openid": openid, "code": "abc"}).status_code == 403
    assert client.post(SCAN, json={"openid": openid, "code": "abc"}, csrf=False).status_code == 403


def test_the_authorize_page_asks_any_other_browser_and_lists_the_phone_s_customers(stack, app, client, runtime):
    openid = new_customer(client, follow=False)  # never followed: WeChat still signs them in
    stranger = app.test_client()
    with stack.app.test_request_context():
        authorize = local(customer_oauth.authorize_url(runtime, state="s2"))

    asked = stranger.get(authorize)
    assert asked.status_code == 200
    assert f'<option value="{openid}">小美 · 未关注</option>' in page_text(asked)
    back = stranger.post(authorize, data={"openid": openid})
    assert back.status_code == 302 and "code=" in back.headers["Location"]
    assert stranger.post(authorize, data={"openid": "oNobody"}).status_code == 400
    world.add_follower(runtime.redis, "oSeededFollower", nickname="Amy")
    assert stranger.post(authorize, data={"openid": "oSeededFollower"}).status_code == 302
