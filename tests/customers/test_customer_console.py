"""The console's customer pages: search by name, phone, WeChat id or number (merged-away
customers left out), a customer's profile with guide, channels, tags and timeline, and the
birthday form (saved, cleared, a bad one refused with nothing changed); managers only."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from campaign_world import customer as tagged_customer
from campaign_world import wecom_customer
from coupon_world import make_customer
from guide_world import create_guide, create_store
from scrm.clock import FrozenClock
from scrm.customers.models import Customer, Interaction
from web_world import log_in, page_text

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


def listed(response) -> list[str]:  # noqa: ANN001
    return re.findall(r'class="name" href="/console/customers/\d+">([^<]+)<', page_text(response))


@pytest.fixture
def people(runtime):  # noqa: ANN001, ANN201
    from scrm.runtime import install

    runtime.clock = FrozenClock(NOW)
    install(runtime)
    create_store(runtime)
    create_guide(runtime, "G1", name="王小美")
    lilei = make_customer(runtime, openid="oLiLei", nickname="李雷", phone="13812345678")
    hanmeimei = tagged_customer(runtime, "韩梅梅", tags=("奶粉",))
    jim, external = wecom_customer(runtime, "吉姆", "G1")
    gone = make_customer(runtime, nickname="李雷小号")
    with runtime.transaction() as db_session:
        db_session.get(Customer, gone).merged_into_id = lilei
        db_session.add(Interaction(customer_id=lilei, kind="text", channel="mp", payload={"content": "有奶粉吗"},
                                   occurred_at=NOW))
    return {"lilei": lilei, "hanmeimei": hanmeimei, "jim": jim, "external": external, "gone": gone}


def test_a_manager_finds_customers_by_name_phone_wechat_id_or_number(runtime, client, make_token, people):
    log_in(client, make_token)
    everyone = client.get("/console/customers")
    assert everyone.status_code == 200
    assert listed(everyone) == ["吉姆", "韩梅梅", "李雷"]  # newest first; the merged-away one is not there
    text = page_text(everyone)
    assert 'id="total">3<' in text and "王小美 (G1)" in text and ">奶粉<" in text and "13812345678" in text
    assert listed(client.get("/console/customers", query_string={"q": "李"})) == ["李雷"]
    assert listed(client.get("/console/customers", query_string={"q": "5678"})) == ["李雷"]
    assert listed(client.get("/console/customers", query_string={"q": "oLiLei"})) == ["李雷"]
    assert listed(client.get("/console/customers", query_string={"q": people["external"]})) == ["吉姆"]
    assert "韩梅梅" in listed(client.get("/console/customers", query_string={"q": str(people["hanmeimei"])}))
    assert listed(client.get("/console/customers", query_string={"q": f"#{people['hanmeimei']}"})) == ["韩梅梅"]
    none = page_text(client.get("/console/customers", query_string={"q": "100%_"}))
    assert 'id="none"' in none and "没有找到「100%_」" in none
    assert listed(client.get("/console/customers", query_string={"page": "99999999999"})) == ["吉姆", "韩梅梅", "李雷"]


def test_a_customers_page_shows_their_guide_channels_tags_and_timeline(runtime, client, make_token, people):
    log_in(client, make_token)
    jim = page_text(client.get(f"/console/customers/{people['jim']}"))
    assert "王小美 (G1)" in jim and people["external"] in jim and 'href="/console/guides/G1"' in jim
    lilei = page_text(client.get(f"/console/customers/{people['lilei']}"))
    assert "13812345678" in lilei and "oLiLei" in lilei and "有奶粉吗" in lilei and "10:00" in lilei  # Shanghai
    tags = page_text(client.get(f"/console/customers/{people['hanmeimei']}"))
    assert "兴趣:奶粉" in tags
    merged = client.get(f"/console/customers/{people['gone']}")
    assert merged.status_code == 302 and merged.headers["Location"].endswith(f"/console/customers/{people['lilei']}")
    assert client.get("/console/customers/999999").status_code == 404


def test_the_birthday_form_saves_clears_and_refuses_a_bad_date(runtime, client, make_token, people):
    log_in(client, make_token)
    page = f"/console/customers/{people['lilei']}"

    def birthday():  # noqa: ANN202
        with runtime.transaction() as db_session:
            return db_session.get(Customer, people["lilei"]).birthday

    saved = client.post(page, data={"birthday": "1990-05-12"})
    assert saved.status_code == 303 and str(birthday()) == "1990-05-12"
    shown = page_text(client.get(page))
    assert "生日已保存：1990-05-12" in shown and 'value="1990-05-12"' in shown
    for typed in ("2026-11-03", "12/05/1990", "1899-01-01"):  # tomorrow in Shanghai, a typo, too old
        refused = client.post(page, data={"birthday": typed})
        assert refused.status_code == 422 and "未保存，没有任何改动" in page_text(refused), typed
        assert f'value="{typed}"' in page_text(refused) and str(birthday()) == "1990-05-12"
    assert "须为日期（YYYY-MM-DD），留空即清除" in page_text(client.post(page, data={"birthday": "12/05/1990"}))  # pydantic's, worded
    assert "须在 1900-01-01 到今天（2026-11-02）之间" in page_text(client.post(page, data={"birthday": "2026-11-03"}))
    cleared = client.post(page, data={"birthday": ""})
    assert cleared.status_code == 303 and birthday() is None
    client.post("/language", data={"lang": "en", "next": "/"})
    refused = page_text(client.post(page, data={"birthday": "12/05/1990"}))
    assert "Nothing was changed" in refused and "未保存" not in refused
    client.post(page, data={"birthday": "1990-05-12"})
    assert "Birthday saved: 1990-05-12" in page_text(client.get(page))
    assert client.post("/console/customers/999999", data={"birthday": "1990-05-12"}).status_code == 404


def test_the_customer_pages_are_for_managers(runtime, client, make_token, people):
    assert client.get("/console/customers").status_code == 302  # no session: to the login
    log_in(client, make_token, "guide", "G1")
    assert client.get("/console/customers").status_code == 403
    assert client.get(f"/console/customers/{people['jim']}").status_code == 403
    assert client.post(f"/console/customers/{people['jim']}", data={"birthday": "1990-05-12"}).status_code == 403
    with runtime.transaction() as db_session:
        assert db_session.scalar(select(Customer.birthday).where(Customer.id == people["jim"])) is None
