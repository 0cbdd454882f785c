"""Product-code claims where guides' and the dashboard's figures are (SPEC §14 "the guide's stats
count claims"), on both backends, from the fortnight of tests/product_stats_world.py: the
guide's home (本周扫码领取 beside the same days of the week before), the console's guide page
and the dashboard's leaderboard (claims per guide), the dashboard's 一物一码 card, and a
customer's timeline (扫码领取 with the product and the reward) in the console and on /m/."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from guides.login_links import make_link
from product_stats_world import CONFIG, NOW, build
from web_world import log_in, page_text

pytestmark = pytest.mark.parametrize("config_overrides", [CONFIG])
assert NOW  # the clock of the `frozen` fixture: Wednesday 4 November


@pytest.fixture
def world(frozen):  # noqa: ANN001, ANN201
    return build(frozen)


def sign_in_guide(runtime, client, code: str) -> None:  # noqa: ANN001
    with runtime.transaction() as db_session:
        link = urlsplit(make_link(runtime=runtime, db_session=db_session, guide_code=code))
    assert client.get(f"{link.path}?{link.query}").status_code == 302


def test_the_guides_home_shows_this_weeks_claims_beside_last_weeks(world, frozen, client):
    sign_in_guide(frozen, client, "G1")
    home = page_text(client.get("/m/"))
    # dan's claim on Wednesday; amy's two on last Tuesday (the collector's were Friday to Sunday)
    assert re.search(r'id="n-claims" class="wide"><span>本周扫码领取</span> <b>1</b>\s*'
                     r'<span class="versus down">上周同期 2 · -1</span>', home)
    client.post("/language", data={"lang": "en", "next": "/m/"})
    assert "Codes claimed this week" in page_text(client.get("/m/"))


def test_the_console_guide_page_and_the_leaderboard_count_claims(world, client, make_token):
    log_in(client, make_token, "manager")
    guide = page_text(client.get("/console/guides/G1"))
    assert re.search(r'id="stat-claims"><b>16</b><span>扫码领取</span>', guide)  # 30 days: 2 + 1 + 12 + 1
    assert re.search(r'<td>10-30 周五</td>(<td class="num">[\d.]+</td>\s*){6}<td class="num claims">4</td>', guide)
    board = page_text(client.get("/console/dashboard"))
    leaders = re.search(r'<table id="leaders">.*?</table>', board, re.S).group(0)
    assert re.search(r'王小美</a>.*?<td class="num claims">16</td>', leaders, re.S)
    assert re.search(r'李小红</a>.*?<td class="num claims">1</td>', leaders, re.S)


def test_the_dashboard_card_has_today_and_this_week_beside_before(world, client, make_token):
    log_in(client, make_token, "manager")
    board = page_text(client.get("/console/dashboard"))
    card = re.search(r'<section class="card" id="codes-card".*?</section>', board, re.S).group(0)
    assert re.search(r'id="c-today">1</b><span>今天扫码领取</span><small class="delta up">昨天 0 · \+1', card)
    assert re.search(r'id="c-week">2</b><span>本周扫码领取</span><small class="delta flat">上周同期 2</small>', card)
    assert re.search(r'id="c-refused">6</b><span>本周被拒扫码</span><small class="delta down">上周同期 1 · \+5', card)
    assert 'href="/console/product-codes/stats"' in card and "本周从 11-02 起" in card
    s2 = page_text(client.get("/console/dashboard", query_string={"store": "S2"}))
    assert re.search(r'id="c-week">1</b>', s2) and 'href="/console/product-codes/stats?store=S2"' in s2


def test_the_dashboard_card_says_what_to_do_before_any_batch(frozen, client, make_token):
    log_in(client, make_token, "manager")
    board = page_text(client.get("/console/dashboard"))
    card = re.search(r'<section class="card" id="codes-card".*?</section>', board, re.S).group(0)
    assert 'id="no-batches"' in card and "还没有码批次" in card and 'id="c-today"' not in card


def test_a_customers_timeline_names_the_product_and_the_reward(world, frozen, client, make_token):
    log_in(client, make_token, "manager")
    amy = page_text(client.get(f"/console/customers/{world['amy']}"))
    assert amy.count("扫码领取") == 3 and "英氏多维营养米粉 · 50 积分" in amy
    assert "product_claimed" not in amy
    bob = page_text(client.get(f"/console/customers/{world['bob']}"))
    assert "英氏婴儿面条 · 优惠券 英氏到店礼" in bob
    dan = page_text(client.get(f"/console/customers/{world['dan']}"))
    assert "英氏多维营养米粉 · 50 积分（入会后到账）" in dan
    client.post("/language", data={"lang": "en", "next": "/"})
    english = page_text(client.get(f"/console/customers/{world['bob']}"))
    assert "Claimed a product code" in english and "英氏婴儿面条 · coupon 英氏到店礼" in english
    sign_in_guide(frozen, client, "G1")
    client.post("/language", data={"lang": "zh_CN", "next": "/m/"})
    on_phone = page_text(client.get(f"/m/customers/{world['amy']}"))
    assert "扫码领取" in on_phone and "英氏多维营养米粉 · 50 积分" in on_phone
