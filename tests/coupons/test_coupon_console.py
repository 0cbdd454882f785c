"""The coupon console pages (SPEC §7, §11), driven as a manager's browser would: a login
session, form posts, redirects, and the HTML that comes back."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from coupon_world import issue, make_customer, make_template
from guide_world import create_guide, create_store
from guides.models import Store
from scrm.clock import FrozenClock
from scrm.coupons import expiry, redemption
from scrm.coupons.codes import CouponCodec
from scrm.coupons.models import Coupon, CouponAttempt, CouponRule, CouponTemplate
from scrm.clock import as_utc
from web_world import log_in, page_text
from platform_world import count

START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Shanghai
SHANGHAI = "+08:00"
embedded_only = pytest.mark.parametrize("backend", ["embedded"], indirect=True)
PAGES = ("/console/coupons", "/console/coupons/{id}", "/console/coupons/lookup", "/console/coupons/lookup?code={code}",
         "/console/coupons/stats", "/console/coupons/stats?by=day", "/console/coupons/reminders")


def coupon(runtime, coupon_id: int) -> Coupon:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.get(Coupon, coupon_id)


def template_form(**given: object) -> dict[str, object]:
    """The new-template form as the browser posts it: every field, a blank one as ""."""
    form = {"name": "满100减20", "kind": "cash", "amount": "20", "discount": "", "gift": "", "min_spend": "100",
            "validity": "days", "valid_days": "30", "valid_from": "", "valid_until": "", "stock": "",
            "per_customer_limit": "1", "remind_days_before": "", "description": ""}
    form.update(given)
    return form


def redeem_at(runtime, code: str, store: str = "S1", guide_id: int | None = None) -> redemption.Outcome:  # noqa: ANN001
    with runtime.transaction() as db_session:
        store_id = db_session.scalar(select(Store.id).where(Store.code == store))
        return redemption.redeem(runtime=runtime, db_session=db_session, code=code,
                                 counter=redemption.Counter(user_id=None, store_id=store_id, guide_id=guide_id))


@pytest.fixture
def shop(runtime):  # noqa: ANN001, ANN201
    runtime.clock = FrozenClock(START)
    create_store(runtime)
    create_store(runtime, "S2", "上海徐汇店")
    return runtime


# ---- access -----------------------------------------------------------------------------------

def test_every_page_renders_for_a_manager_and_is_closed_to_guides_and_strangers(shop, client, make_token):
    template_id = make_template(shop)
    code = issue(shop, template_id, make_customer(shop)).code
    paths = [p.format(id=template_id, code=code) for p in PAGES]
    for path in paths:
        assert client.get(path).status_code == 302, path  # to /login
    create_guide(shop, "G1")
    log_in(client, make_token, "guide", "G1")
    for path in paths:
        assert client.get(path).status_code == 403, path
    refused = client.post("/console/coupons", data=template_form(name="导购做的券"))
    assert refused.status_code == 403 and count(shop, CouponTemplate) == 1
    assert "/console/coupons" not in page_text(client.get("/"))

    log_in(client, make_token, "manager")
    assert "/console/coupons" in page_text(client.get("/"))
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, (path, page_text(response)[:500])
        assert 'aria-current="page">券模板</a>' in page_text(response) or ">券模板</a>" in page_text(response)  # the coupon pages' navigation
    assert client.get("/console/coupons/999999").status_code == 404


# ---- templates --------------------------------------------------------------------------------

def test_a_manager_creates_templates_of_each_kind_through_the_form(shop, client, make_token):
    log_in(client, make_token)
    created = client.post("/console/coupons", data=template_form(
        validity="dates", valid_days="", valid_from="2026-12-01", valid_until="2026-12-31", stock="100",
        per_customer_limit="2", remind_days_before="3", stores=["S2"]))
    assert created.status_code == 302, page_text(created)
    template_id = int(re.search(r"/console/coupons/(\d+)$", created.headers["Location"]).group(1))
    with shop.transaction() as db_session:
        t = db_session.get(CouponTemplate, template_id)
        stores = [db_session.get(Store, s.store_id).code for s in t.stores]
        assert (t.kind, t.amount, t.min_spend, t.stock, t.per_customer_limit, t.remind_days_before, stores) == (
            "cash", Decimal("20.00"), Decimal("100.00"), 100, 2, 3, ["S2"])
        # Whole days in Shanghai, the last day included.
        assert as_utc(t.valid_from) == datetime.fromisoformat("2026-12-01T00:00" + SHANGHAI)
        assert as_utc(t.valid_until) == datetime.fromisoformat("2027-01-01T00:00" + SHANGHAI)
    page = page_text(client.get(created.headers["Location"]))
    assert "券模板 满100减20 已创建" in page and "2026-12-01 至 2026-12-31" in page and "S2" in page

    assert client.post("/console/coupons", data=template_form(
        name="会员8.5折", kind="discount", amount="999", discount="8.5", min_spend="", valid_days="7",
        per_customer_limit="")).status_code == 302
    assert client.post("/console/coupons", data=template_form(
        name="买一送湿巾", kind="gift", amount="", gift="婴儿湿巾一包", min_spend="")).status_code == 302
    with shop.transaction() as db_session:
        discount, gift = db_session.scalars(select(CouponTemplate).where(CouponTemplate.id != template_id)
                                            .order_by(CouponTemplate.id)).all()
        # Only the chosen kind's value is taken: the stray amount of the discount form is ignored.
        assert (discount.discount, discount.amount, discount.valid_days, discount.per_customer_limit) == (
            Decimal("8.5"), None, 7, None)
        assert (gift.gift, gift.amount, gift.stock) == ("婴儿湿巾一包", None, None)
    listing = page_text(client.get("/console/coupons"))
    for text in ("满100减20", "8.5折", "赠 婴儿湿巾一包", "领取后 7 天", "0 / 100"):
        assert text in listing, text


@pytest.mark.parametrize("given, field, message", [
    ({"amount": ""}, "amount", "代金券需要填减多少"),
    ({"validity": "dates", "valid_from": "2026-12-31", "valid_until": "2026-12-01"}, "valid_until", "须晚于开始日期"),
    ({"kind": "gift", "gift": "湿巾", "amount": ""}, "min_spend", "赠品券没有消费门槛"),
    ({"stock": "lots"}, "stock", "须为整数"),
    ({"stores": ["S9"]}, "stores", "没有门店代码 S9"),
])
def test_a_bad_template_form_re_renders_with_the_fields_message_and_creates_nothing(
        shop, client, make_token, given, field, message):
    log_in(client, make_token)
    bad = client.post("/console/coupons", data=template_form(name="打错的券", **given))
    assert bad.status_code == 422
    text = page_text(bad)
    assert f"<b>{field}</b>: " in text and message in text, text[text.find('class="errors"'):][:400]
    assert 'value="打错的券"' in text and "未保存，没有任何改动" in text
    assert count(shop, CouponTemplate) == 0
    client.post("/language", data={"lang": "en", "next": "/"})  # the same refusal, in English
    english = page_text(client.post("/console/coupons", data=template_form(name="打错的券", **given)))
    assert f"<b>{field}</b>: " in english and "Nothing was changed" in english and message not in english
    assert count(shop, CouponTemplate) == 0


def test_a_template_is_paused_restocked_and_given_rules_from_its_page(shop, client, make_token):
    template_id = make_template(shop, stock=5)
    for _ in range(3):
        issue(shop, template_id, make_customer(shop))
    log_in(client, make_token)
    page = f"/console/coupons/{template_id}"

    assert client.post(page, data={"status": "paused"}).status_code == 302
    assert "已暂停发放" in page_text(client.get(page))
    below = client.post(page, data={"status": "active", "stock": "2", "remind_days_before": "", "description": ""})
    assert below.status_code == 409 and "库存 2 少于已发的 3 张" in page_text(below)
    with shop.transaction() as db_session:
        assert (db_session.get(CouponTemplate, template_id).stock,
                db_session.get(CouponTemplate, template_id).status) == (5, "paused")
    saved = client.post(page, data={"status": "active", "stock": "", "remind_days_before": "2", "description": "店庆"})
    assert saved.status_code == 302
    with shop.transaction() as db_session:
        t = db_session.get(CouponTemplate, template_id)
        assert (t.status, t.stock, t.remind_days_before, t.description) == ("active", None, 2, "店庆")

    no_amount = client.post(f"{page}/rules", data={"trigger": "order_over", "min_amount": ""})
    assert no_amount.status_code == 422 and "订单满额规则需要填订单金额" in page_text(no_amount)
    assert count(shop, CouponRule) == 0
    assert client.post(f"{page}/rules", data={"trigger": "order_over", "min_amount": "199"}).status_code == 302
    assert client.post(f"{page}/rules", data={"trigger": "binding", "min_amount": ""}).status_code == 302
    with shop.transaction() as db_session:
        over, binding = db_session.scalars(select(CouponRule).order_by(CouponRule.id)).all()
        assert (over.trigger, over.min_amount, binding.trigger, binding.active) == (
            "order_over", Decimal("199.00"), "binding", True)
    off = client.post(f"/console/coupons/rules/{binding.id}/active", data={"active": "0"})
    assert off.status_code == 302 and off.headers["Location"].endswith(f"{page}#rules")
    with shop.transaction() as db_session:
        assert db_session.get(CouponRule, binding.id).active is False
    text = page_text(client.get(page))
    assert "订单满额" in text and "¥199.00" in text and "已停用" in text
    assert client.post("/console/coupons/rules/999999/active", data={"active": "1"}).status_code == 404


# ---- issuing by hand --------------------------------------------------------------------------

def test_issuing_by_hand_from_the_page(shop, client, make_token):
    template_id = make_template(shop, per_customer_limit=1, stock=4)
    by_id = make_customer(shop)
    by_openid = make_customer(shop, openid="o-console-1")
    by_phone = make_customer(shop, phone="13800138000")
    log_in(client, make_token)
    url = f"/console/coupons/{template_id}/issue"
    for by, who, customer_id in (("customer_id", str(by_id), by_id), ("openid", "o-console-1", by_openid),
                                 ("phone", "+86 138 0013 8000", by_phone)):
        done = client.post(url, data={"by": by, "who": who})
        assert done.status_code == 302, page_text(done)
        with shop.transaction() as db_session:
            made = db_session.scalar(select(Coupon).where(Coupon.customer_id == customer_id))
            assert (made.source, made.source_ref, made.template_id) == ("manual", "manager-0", template_id)
        flashed = page_text(client.get(done.headers["Location"]))
        assert f"已发券：{CouponCodec.from_config(shop.config).encode(made.id)[:4]}" in flashed
        assert f"顾客 #{customer_id}" in flashed

    unknown = client.post(url, data={"by": "openid", "who": "o-nobody"})
    assert unknown.status_code == 422 and "没有这个 openid 的顾客" in page_text(unknown)
    assert "customer.openid" not in page_text(unknown)  # the form's field is "who", said once
    assert 'value="o-nobody"' in page_text(unknown)
    twice = client.post(url, data={"by": "customer_id", "who": str(by_id)})
    assert twice.status_code == 409 and "这位顾客已领到每人限领的张数" in page_text(twice)
    assert client.post(url, data={"by": "customer_id", "who": str(make_customer(shop))}).status_code == 302
    gone = client.post(url, data={"by": "customer_id", "who": str(make_customer(shop))})
    assert gone.status_code == 409 and "库存已发完" in page_text(gone)
    assert count(shop, Coupon) == 4
    with shop.transaction() as db_session:
        assert db_session.get(CouponTemplate, template_id).issued_count == 4


# ---- one coupon: look up, void, un-redeem -------------------------------------------------------

def test_void_and_unredeem_need_a_reason_and_are_audited(shop, client, make_token):
    template_id = make_template(shop)
    unused = issue(shop, template_id, make_customer(shop, nickname="小红"))
    used = issue(shop, template_id, make_customer(shop))
    assert redeem_at(shop, used.code).ok
    log_in(client, make_token)

    page = page_text(client.get("/console/coupons/lookup", query_string={"code": unused.code.lower()}))
    assert unused.code in page and "小红" in page and ">作废</button>" in page and ">撤销核销</button>" not in page
    no_reason = client.post("/console/coupons/void", data={"code": unused.code, "reason": "  "})
    assert no_reason.status_code == 422 and "<b>reason</b>: 须为 1–200 个字符，不能只有空格" in page_text(no_reason)
    assert coupon(shop, unused.id).status == "issued" and count(shop, CouponAttempt) == 1  # the redemption only
    voided = client.post("/console/coupons/void", data={"code": unused.code, "reason": "顾客退货"})
    assert voided.status_code == 302
    assert (coupon(shop, unused.id).status, coupon(shop, unused.id).void_reason) == ("voided", "顾客退货")
    page = page_text(client.get(voided.headers["Location"]))
    assert '<p class="flash" role="status">已作废。</p>' in page and '<span class="badge voided">已作废</span>' in page
    assert re.search(r"作废</td>\s*<td><span class=\"badge ok\">成功</span></td>\s*<td>manager-0</td>", page)
    assert "顾客退货" in page and ">作废</button>" not in page

    page = page_text(client.get("/console/coupons/lookup", query_string={"code": used.code}))
    assert ">撤销核销</button>" in page and ">作废</button>" not in page
    assert "这张券已经核销过了" in page and "already_redeemed" not in page and "上海静安店" in page
    refused = client.post("/console/coupons/void", data={"code": used.code, "reason": "试试"})
    assert refused.status_code == 409
    assert "未执行：" in page_text(refused) and "这张券已经核销过了" in page_text(refused)
    assert coupon(shop, used.id).status == "redeemed"
    assert client.post("/console/coupons/unredeem", data={"code": used.code, "reason": ""}).status_code == 422
    assert coupon(shop, used.id).status == "redeemed"
    taken_back = client.post("/console/coupons/unredeem", data={"code": used.code, "reason": "收银误操作"})
    assert taken_back.status_code == 302
    assert (coupon(shop, used.id).status, coupon(shop, used.id).redeemed_at) == ("issued", None)
    with shop.transaction() as db_session:
        trail = [(a.action, a.result, a.reason) for a in db_session.scalars(
            select(CouponAttempt).where(CouponAttempt.coupon_id == used.id).order_by(CouponAttempt.id))]
    assert trail == [("redeem", "ok", None), ("void", "already_redeemed", "试试"), ("unredeem", "ok", "收银误操作")]
    page = page_text(client.get(taken_back.headers["Location"]))
    assert page.index("收银误操作") < page.index("试试")  # newest first
    assert ">作废</button>" in page


def test_a_lookup_shows_bad_and_unknown_codes_clearly(shop, client, make_token):
    log_in(client, make_token)
    blank = client.get("/console/coupons/lookup?code=+")
    assert blank.status_code == 422 and "输入券码" in page_text(blank)
    typo = client.get("/console/coupons/lookup?code=ABCD-EFGH-JKLM")
    assert typo.status_code == 422 and "券码格式不对" in page_text(typo)  # the result by its name, not bad_code
    unknown = CouponCodec.from_config(shop.config).encode(987654)
    missing = client.get(f"/console/coupons/lookup?code={unknown}")
    assert missing.status_code == 404 and "没有这个券码的券" in page_text(missing)
    client.post("/language", data={"lang": "en", "next": "/"})
    assert "No coupon has this code" in page_text(client.get(f"/console/coupons/lookup?code={unknown}"))
    assert "type a code" in page_text(client.get("/console/coupons/lookup?code=+"))
    assert count(shop, CouponAttempt) == 0  # a lookup is not an attempt


# ---- statistics -------------------------------------------------------------------------------

def test_the_stats_page_counts_the_coupons_made(shop, client, make_token):
    guide = create_guide(shop, "G1", name="王小美")
    template_id = make_template(shop, name="店庆券")
    other = make_template(shop, name="没人领的券")
    coupons = [issue(shop, template_id, make_customer(shop)) for _ in range(3)]
    assert redeem_at(shop, coupons[0].code, guide_id=guide.id).ok
    log_in(client, make_token)

    by_template = page_text(client.get("/console/coupons/stats"))
    row = re.search(r"<tr><td class=\"wrap\">店庆券</td>(.*?)</tr>", by_template, re.S).group(1)
    assert re.findall(r">([^<>]+)</td>", row) == ["3", "1", "0", "33.3 %"]
    assert "没人领的券" not in by_template and other
    by_store = page_text(client.get("/console/coupons/stats?by=store"))
    assert re.search(r"S1 上海静安店</td><td class=\"num\">0</td><td class=\"num\">1</td>", by_store)
    by_guide = page_text(client.get("/console/coupons/stats?by=guide"))
    assert re.search(r"G1 王小美</td><td class=\"num\">0</td><td class=\"num\">1</td>", by_guide)
    listing = page_text(client.get("/console/coupons"))
    assert re.search(r"店庆券</a>.*?<td class=\"num\">3</td>.*?<td class=\"num\">1</td><td class=\"num\">33.3 %</td>",
                     listing, re.S)

    bad = client.get("/console/coupons/stats?by=day&from=2026-11-30&to=2026-11-01")
    assert bad.status_code == 422 and "不能早于开始日期" in page_text(bad)


def test_the_svg_chart_has_a_group_of_bars_for_each_day_with_data(shop, client, make_token):
    template_id = make_template(shop, valid_days=1)
    first = [issue(shop, template_id, make_customer(shop)) for _ in range(2)]  # Mon 2 Nov, Shanghai
    shop.clock = FrozenClock(START + timedelta(days=2))  # Wed 4 Nov
    issue(shop, template_id, make_customer(shop))
    assert redeem_at(shop, issue(shop, template_id, make_customer(shop)).code).ok
    _expire(shop)  # the Monday pair, expired since Tuesday 10:00
    log_in(client, make_token)

    for url in ("/console/coupons/stats?by=day", f"/console/coupons/{template_id}"):
        page = page_text(client.get(url))
        svg = re.search(r"<svg class=\"chart\".*?</svg>", page, re.S).group(0)
        groups = dict(re.findall(r"<g class=\"day\" data-day=\"([\d-]+)\">(.*?)</g>", svg, re.S))
        assert sorted(groups) == ["2026-11-02", "2026-11-03", "2026-11-04"], url
        bars = {day: re.findall(r"<rect class=\"(\w+)\"[^>]*><title>([^<]+)</title>", group)
                for day, group in groups.items()}
        assert bars == {"2026-11-02": [("issued", "11-02 发放: 2")],
                        "2026-11-03": [("expired", "11-03 过期: 2")],
                        "2026-11-04": [("issued", "11-04 发放: 2"), ("redeemed", "11-04 核销: 1")]}
        assert ">11-04</text>" in svg and ">0</text>" in svg  # the last day and the scale are labelled
    assert all(coupon(shop, c.id).status == "expired" for c in first)


def _expire(runtime) -> None:  # noqa: ANN001
    with runtime.transaction() as db_session:
        assert expiry.expire_batch(db_session=db_session, now=runtime.clock.now()) == 2


# ---- reminders --------------------------------------------------------------------------------

def test_the_reminders_page_lists_pending_reminders(shop, client, make_token):
    template_id = make_template(shop, valid_days=2, remind_days_before=3)
    soon = issue(shop, template_id, make_customer(shop))
    with shop.transaction() as db_session:
        assert expiry.remind_due(runtime=shop, db_session=db_session) == 1
    log_in(client, make_token)
    page = page_text(client.get("/console/coupons/reminders"))
    assert soon.code in page and "待发" in page and "满100减20" in page
