"""A guide's phone pages (/m/) read in the guide's language (scrm/web/i18n.py): Chinese first,
English once the guide chooses it with the switch at the foot of their home page. Only the
brand's data stays as it was written (names, the customer's own words, the coupon's name)."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import pytest
from coupon_world import issue, make_template
from guide_world import create_guide, create_store, openid
from sqlalchemy import select

from guides.login_links import make_link
from handlers.signed_callbacks import mp_event_xml, mp_text_xml
from scrm.customers.models import Customer, CustomerIdentity

CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]+")
# 中文: the switch names itself; 导购码 and 公众号: the channel tag (渠道) the binding gave the
# customer, a tag's name like any other (guides/channel_tags.py).
DATA = ("王小美", "上海静安店", "安娜", "请问有奶粉吗", "满100减20", "中文", "导购码", "公众号")


def visible_text(html_text: str) -> str:
    html_text = re.sub(r"<(script|style)\b.*?</\1>", " ", html_text, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", html_text)
    for word in DATA:
        text = text.replace(word, " ")
    return text


@pytest.fixture
def world(runtime, client, wechat):  # noqa: ANN001, ANN201
    create_store(runtime)
    guide = create_guide(runtime, "G1", name="王小美")
    who = openid()
    for xml in (mp_event_xml(to=runtime.config.wechat.mp.original_id, openid=who, event="subscribe",
                             create_time=int(time.time()), key=f"qrscene_{guide.mp_scene}"),
                mp_text_xml(to=runtime.config.wechat.mp.original_id, openid=who, content="请问有奶粉吗",
                            msg_id=str(time.time_ns()), create_time=int(time.time()))):
        assert wechat.mp(xml).status_code == 200
    with runtime.transaction() as db_session:
        customer_id = db_session.scalar(select(CustomerIdentity.customer_id).where(CustomerIdentity.external_id == who))
        db_session.get(Customer, customer_id).nickname = "安娜"
    coupon = issue(runtime, make_template(runtime, name="满100减20"), customer_id)
    with runtime.transaction() as db_session:
        parts = urlsplit(make_link(runtime=runtime, db_session=db_session, guide_code="G1"))
    assert client.get(f"{parts.path}?{parts.query}").status_code == 302
    return {"customer_id": customer_id, "coupon": coupon.code}


def pages(world) -> list[str]:  # noqa: ANN001
    return ["/m/", "/m/code", "/m/group-codes", "/m/customers", f"/m/customers/{world['customer_id']}", "/m/tasks", "/m/redeem",
            f"/m/redeem/check?code={world['coupon']}", "/m/redeem/check?code=NOT-A-CODE", "/m/customers/999999"]


def test_a_guides_pages_are_chinese_by_default(client, world):
    home = client.get("/m/")
    assert '<html lang="zh-CN">' in home.text and "本周数据" in home.text and "My numbers" not in home.text
    assert 'aria-current="page">首页<' in home.text
    assert 'name="lang" value="en"' in home.text  # the switch, at the foot of the home page
    assert "可以核销" not in client.get(f"/m/redeem/check?code={world['coupon']}").text  # the domain's own words
    assert "确认核销" in client.get(f"/m/redeem/check?code={world['coupon']}").text


def test_a_guide_who_chooses_english_reads_every_page_in_english(client, world):
    chosen = client.post("/language", data={"lang": "en", "next": "/m/"})
    assert chosen.status_code == 303 and chosen.headers["Location"] == "/m/"
    chinese = {}
    for url in pages(world):
        response = client.get(url)
        assert response.status_code in (200, 404, 422), url
        if found := CJK.findall(visible_text(response.text)):
            chinese[url] = found
    assert chinese == {}, f"Chinese left on the guide's English pages: {chinese}"
    home = client.get("/m/").text
    assert '<html lang="en">' in home and "This week" in home and 'aria-current="page">Home<' in home
    assert "Confirm" in client.get(f"/m/redeem/check?code={world['coupon']}").text
    assert "Timeline" in client.get(f"/m/customers/{world['customer_id']}").text
    client.post("/language", data={"lang": "zh_CN", "next": "/m/"})
    assert "本周数据" in client.get("/m/").text  # and back


def test_the_customers_card_stays_in_the_brands_language_whatever_the_guide_chose(client, world):
    client.post("/language", data={"lang": "en", "next": "/m/"})
    card = client.get("/card/G1")
    assert card.status_code == 200 and '<html lang="zh-CN">' in card.text
