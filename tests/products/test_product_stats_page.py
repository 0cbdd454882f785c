"""The console's 扫码数据 page (scrm/products/stats_pages.py) on both backends: the figures of the
fortnight in tests/product_stats_world.py beside the period before, the trend line, the rankings,
the refused scans in words, the suspicious lists; the filters (and the refused ones); the empty
page that says what to do; Chinese and English; managers only."""

from __future__ import annotations

import re

import pytest

from product_stats_world import CONFIG, NOW, PERIOD, build
from web_world import log_in, page_text

pytestmark = pytest.mark.parametrize("config_overrides", [CONFIG])
URL = "/console/product-codes/stats"
assert NOW  # the clock of the `frozen` fixture


@pytest.fixture
def world(frozen):  # noqa: ANN001, ANN201
    return build(frozen)


def section(page: str, id_: str) -> str:
    found = re.search(rf'<section class="card[^"]*" id="{id_}".*?</section>', page, re.S)
    assert found, id_
    return found.group(0)


def test_the_page_shows_the_period_beside_the_one_before(world, client, make_token):
    log_in(client, make_token, "manager")
    response = client.get(URL, query_string=PERIOD)
    assert response.status_code == 200
    page = page_text(response)
    assert re.search(r'id="t-claims"><b>15</b><span>领取</span><small class="delta good">上期 2 · \+13', page)
    assert re.search(r'id="t-customers"><b>4</b>', page) and re.search(r'id="t-followers"><b>1</b>', page)
    assert re.search(r'id="t-repeat"><b>4</b>', page)
    assert re.search(r'id="t-refused"><b>11</b><span>被拒扫码</span><small class="delta bad">上期 1 · \+10', page)  # more refusals: red
    assert "对比上期 2026-10-22 – 2026-10-28" in page
    # the trend: a line for the period and one for the period before, a dot per day
    assert page.count('<circle class="dot now"') == 7 and page.count('<circle class="dot before"') == 7
    assert "<title>10-30 本期: 4</title>" in page and "<title>11-03 上期同日: 2</title>" in page
    days = re.findall(r'<tr data-day="([\d-]+)">', page)
    assert days == ["2026-11-04", "2026-11-03", "2026-11-02", "2026-11-01", "2026-10-31", "2026-10-30", "2026-10-29"]
    assert re.search(r'<tr data-day="2026-11-03">.*?class="num claims">0<br><small class="muted">2</small>', page, re.S)
    reasons = section(page, "reasons-card")
    for words, now, before in (("非正品", 3, 1), ("批次已过期", 1, 0), ("超出每日限额", 2, 0), ("他人已领取", 3, 0),
                               ("重复扫码", 1, 0), ("未关注", 1, 0), ("奖品已领完", 1, 0)):
        assert re.search(rf'<td class="nowrap">{words}</td><td class="num now">{now}</td><td class="num before">{before}</td>',
                         reasons), words
    assert "not_genuine<" not in reasons and ">daily_limit" not in reasons  # words, never the keys


def test_the_rankings_batches_and_suspicious_lists(world, client, make_token):
    log_in(client, make_token, "manager")
    page = page_text(client.get(URL, query_string=PERIOD))
    stores = section(page, "stores-card")
    assert stores.index("上海静安店") < stores.index("杭州西湖店") < stores.index("无门店")
    assert re.search(r'上海静安店.*?<b class="claims">14</b>.*?上期 2 · 3 人', stores, re.S)
    guides = section(page, "guides-card")
    assert re.search(r'王小美 <small class="muted">G1 · 上海静安店</small>.*?<b class="claims">14</b>', guides, re.S)
    assert re.search(r'李小红.*?<b class="claims">1</b>', guides, re.S) and "无导购" in guides
    batches = section(page, "batches-card")
    assert re.search(rf'data-batch="{world["a"].id}"><td>英氏多维营养米粉 · YS-MF-01 <small class="muted">{world["a"].prefix}'
                     r'</small></td>\s*<td class="num claims">14<br><small class="muted">2</small>', batches)
    assert "非正品（无批次）" in batches and "英氏米饼" in batches
    shown = section(page, "suspicious")
    assert re.search(rf'id="many-claims".*?data-customer="{world["collector"]}".*?收码人</a> <small class="muted">138\*\*\*\*5678'
                     r'</small></td><td class="num">12</td><td class="num">3</td>', shown, re.S)
    assert re.search(r'id="shared-codes".*?英氏多维营养米粉 · #1.*?艾米.*?2026-10-29 12:00.*?<td class="num">3</td>', shown, re.S)
    assert re.search(rf'id="limit-days".*?data-customer="{world["collector"]}".*?<td class="num">2</td>', shown, re.S)
    assert re.search(r'id="not-genuine".*?造假者.*?<td class="num">3</td>', shown, re.S)
    assert "本期领取 10 次或更多" in shown and "13812345678" not in page  # phones masked


def test_the_filters_narrow_the_page_and_a_bad_one_is_said(world, client, make_token):
    log_in(client, make_token, "manager")
    s2 = page_text(client.get(URL, query_string={**PERIOD, "store": "S2"}))
    assert re.search(r'id="t-claims"><b>1</b>', s2) and re.search(r'<option value="S2" selected>', s2)
    assert "收码人" not in s2 and 'id="nothing-suspicious"' in s2
    assert re.search(r'href="/console/product-codes/stats\?store=S2&amp;from=[\d-]+&amp;to=2026-11-04"',
                     client.get(URL, query_string={**PERIOD, "store": "S2"}).get_data(as_text=True))
    g1 = page_text(client.get(URL, query_string={**PERIOD, "guide": "G1", "batch": str(world["a"].id)}))
    assert re.search(r'id="t-claims"><b>14</b>', g1) and re.search(rf'<option value="{world["a"].id}" selected>', g1)
    rice = page_text(client.get(URL, query_string={**PERIOD, "product": "英氏婴儿面条"}))
    assert re.search(r'id="t-claims"><b>1</b>', rice)
    for query, said in (({"store": "S9"}, "没有门店 S9"), ({"guide": "G9"}, "没有导购 G9"),
                        ({"batch": "999999"}, "没有这个批次：999999"), ({"batch": "x'1"}, "没有这个批次：x'1"),
                        ({"product": "奶粉"}, "没有这个产品的批次：奶粉"), ({"from": "2026-11-05", "to": "2026-11-01"}, "from")):
        refused = client.get(URL, query_string={**PERIOD, **query})
        assert refused.status_code == 422, query
        assert said in page_text(refused) and 'role="alert"' in page_text(refused), query
    unfiltered = page_text(client.get(URL, query_string={**PERIOD, "store": "S9"}))
    assert re.search(r'id="t-claims"><b>15</b>', unfiltered)  # the unknown store is left out, not an empty page
    nothing = page_text(client.get(URL, query_string={**PERIOD, "store": "S2", "guide": "G1"}))
    assert "这些条件下没有扫码" in nothing and "看全部" in nothing


def test_the_empty_page_says_what_to_do_first(frozen, client, make_token):
    log_in(client, make_token, "manager")
    response = client.get(URL)
    page = page_text(response)
    assert response.status_code == 200 and 'id="empty"' in page and "这段时间还没有人扫码领取" in page
    assert "建一个码批次" in page and 'id="suspicious"' not in page
    assert re.search(r'id="t-claims"><b>0</b>', page)


def test_the_side_bar_has_the_page_under_its_section(frozen, client, make_token):
    log_in(client, make_token, "manager")
    page = page_text(client.get(URL))
    nav = re.search(r'<nav class="side-nav".*?</nav>', page, re.S).group(0)
    section = re.search(r"<h2>一物一码</h2>\s*<ul>(.*?)</ul>", nav, re.S).group(1)
    assert re.findall(r'<a href="([^"]+)"', section) == ["/console/product-codes", "/console/product-codes/stats"]
    assert '<a href="/console/product-codes/stats" aria-current="page">扫码数据</a>' in section


def test_the_page_reads_in_english(world, frozen, client, make_token):
    log_in(client, make_token, "manager")
    client.post("/language", data={"lang": "en", "next": "/"})
    page = page_text(client.get(URL, query_string=PERIOD))
    for words in ("Product code figures", "Claims", "Refused scans", "Not genuine", "Daily limit reached",
                  "Claimed by someone else", "Scanned again", "Not following", "Reward unavailable",
                  "Suspicious activity", "No store", "Product codes"):
        assert words in page, words
    visible = re.sub(r"<(script|style)\b.*?</\1>|<[^>]+>", " ", page, flags=re.S)
    data = ("英氏多维营养米粉", "英氏婴儿面条", "英氏米饼", "上海静安店", "杭州西湖店", "王小美", "李小红", "收码人", "艾米",
            "造假者", "中文", frozen.config.brand.name)  # the brand's data, and the switch naming itself
    for name in data:
        visible = visible.replace(name, "")
    assert re.findall(r"[\u3400-\u9fff]+", visible) == []
    empty = page_text(client.get(URL, query_string={"from": "2026-01-01", "to": "2026-01-07"}))
    assert "No one has claimed" in empty


def test_only_managers_and_admins_see_it(world, client, make_token):
    from guide_world import create_guide  # noqa: F401 - G1 exists in the world

    assert client.get(URL).status_code in (302, 401)
    log_in(client, make_token, "guide", "G1")
    assert client.get(URL).status_code == 403
    log_in(client, make_token, "admin")
    assert client.get(URL).status_code == 200
