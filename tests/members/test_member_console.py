"""The console's membership pages (会员): the member list with its filters, one member with
their card, ledger, check-ins and exchanges, the manual grant or deduction (confirmed first,
written once whatever the double submits), the levels and their edit rules, the points mall's
list; each with data and empty; CSRF on every form; guides kept out."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from coupon_world import make_customer, make_template
from member_world import grant, make_member
from scrm.members import ledger
from scrm.members.models import Member, MemberLevel, PointEntry
from web_world import log_in, page_text

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai


@pytest.fixture
def signed_in(frozen, client, make_token):  # noqa: ANN001, ANN201
    log_in(client, make_token, "manager")
    return frozen


def entries(runtime, customer_id: int) -> list[tuple[str, int, str | None]]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return [(e.kind, e.amount, e.created_by) for e in db_session.scalars(
            select(PointEntry).where(PointEntry.customer_id == customer_id).order_by(PointEntry.id))]


def level_ids(runtime) -> dict[str, int]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return dict(db_session.execute(select(MemberLevel.name, MemberLevel.id)).all())


def test_the_member_list_filters_by_phone_number_level_and_joining_day(signed_in, client):
    empty = client.get("/console/members")
    assert empty.status_code == 200 and "还没有会员" in page_text(empty) and "设置会员等级" in page_text(empty)
    amy = make_member(signed_in, phone="13811112222", nickname="艾米", at=NOW - timedelta(days=3))
    make_member(signed_in, phone="13933334444", nickname="鲍勃", at=NOW)
    grant(signed_in, amy, 120)
    grant(signed_in, amy, 30, frozen_days=7)
    with signed_in.transaction() as db_session:
        amy_no = db_session.get(Member, amy).member_no
    page = page_text(client.get("/console/members"))
    assert re.search(r"鲍勃.*艾米", page, re.S)  # newest first
    row = re.search(rf'<tr data-customer="{amy}">.*?</tr>', page, re.S).group(0)
    assert amy_no in row and "普通" in row and ">120<" in row and ">30<" in row and "2026-10-30" in row

    by_phone = page_text(client.get("/console/members", query_string={"phone": "+86 138-1111-2222"}))
    assert "艾米" in by_phone and "鲍勃" not in by_phone  # normalised, exact
    assert "艾米" not in page_text(client.get("/console/members", query_string={"phone": "1381111"}))
    by_no = page_text(client.get("/console/members", query_string={"member_no": amy_no}))
    assert "艾米" in by_no and "鲍勃" not in by_no
    by_day = page_text(client.get("/console/members", query_string={"from": "2026-11-01", "to": "2026-11-02"}))
    assert "鲍勃" in by_day and "艾米" not in by_day
    by_level = page_text(client.get("/console/members", query_string={"level": level_ids(signed_in)["金卡"]}))
    assert "没有符合条件的会员" in by_level and "艾米" not in by_level

    refused = client.get("/console/members", query_string={"phone": "abc", "from": "2026-13-01"})
    assert refused.status_code == 422
    assert "手机号只能是数字" in page_text(refused) and "日期格式为 YYYY-MM-DD" in page_text(refused)


def test_a_member_page_shows_the_card_the_ledger_in_words_and_the_progress(signed_in, client):
    customer = make_member(signed_in, phone="13811112222", nickname="张三")
    grant(signed_in, customer, 100, expires_at=NOW + timedelta(days=10))
    grant(signed_in, customer, 50, frozen_days=7)
    with signed_in.transaction() as db_session:
        ledger.spend(db_session=db_session, customer_id=customer, amount=30, kind="exchange", source="exchange",
                     source_id="1", key="x1", at=NOW)
    page = page_text(client.get(f"/console/members/{customer}"))
    assert "张三" in page and "13811112222" in page  # a manager sees the whole phone
    assert re.search(r'id="available">70<', page) and re.search(r'id="frozen">50<', page)
    assert re.search(r'id="expiring">70<', page) and "2026-11-12 前过期" in page
    assert "再获得 1000 成长值升级为 银卡" in page
    ledger_table = re.search(r'<table id="ledger">.*?</table>', page, re.S).group(0)
    assert re.search(r"积分兑换.*-30.*>120<.*手动发放.*\+50.*>150<.*手动发放.*\+100.*>100<", ledger_table, re.S)
    assert "exchange" not in ledger_table and "2026-11-09 10:00 起可用" in ledger_table
    assert "还没有签到" in page and "还没有兑换" in page

    assert client.get("/console/members/999999").status_code == 404
    assert client.get(f"/console/members/{2**63}").status_code == 404
    not_member = make_customer(signed_in, nickname="路人")
    assert client.get(f"/console/members/{not_member}").status_code == 404


def test_a_grant_is_confirmed_first_and_posts_once_under_a_double_submit(signed_in, client):
    customer = make_member(signed_in, nickname="张三")
    form = page_text(client.get(f"/console/members/{customer}"))
    key = re.search(r'name="key" value="([^"]+)"', form).group(1)
    assert 'name="csrf_token"' in form

    asked = client.post(f"/console/members/{customer}/points", data={"amount": "100", "reason": "门店活动补发",
                                                                     "key": key})
    assert asked.status_code == 200 and "将给 张三 增加 100 积分" in page_text(asked)
    assert entries(signed_in, customer) == []  # nothing written before the confirmation

    body = {"amount": "100", "reason": "门店活动补发", "key": key, "confirm": "1"}
    first = client.post(f"/console/members/{customer}/points", data=body)
    second = client.post(f"/console/members/{customer}/points", data=body)  # a double click
    assert first.status_code == second.status_code == 303
    assert len(entries(signed_in, customer)) == 1
    kind, amount, by = entries(signed_in, customer)[0]
    assert (kind, amount) == ("grant", 100) and by.startswith("manager-")
    page = page_text(client.get(f"/console/members/{customer}"))
    assert "已增加 100 积分" in page or "这次改动已经记过了" in page
    assert re.search(r'id="available">100<', page) and "门店活动补发" in page
    assert re.search(r'name="key" value="([^"]+)"', page).group(1) != key  # a fresh form, a fresh key


def test_a_deduction_beyond_the_available_points_is_refused_on_the_page(signed_in, client):
    customer = make_member(signed_in, nickname="张三")
    grant(signed_in, customer, 40)
    grant(signed_in, customer, 500, frozen_days=7)  # frozen: not for deducting
    asked = client.post(f"/console/members/{customer}/points", data={"amount": "-50", "reason": "误发", "key": "k1"})
    assert "将从 张三 扣除 50 积分" in page_text(asked) and "可用积分不足" in page_text(asked)
    refused = client.post(f"/console/members/{customer}/points",
                          data={"amount": "-50", "reason": "误发", "key": "k1", "confirm": "1"})
    assert refused.status_code == 409
    assert "可用积分不足：只有 40 积分可扣，没有扣除。" in page_text(refused)
    assert 'value="-50"' in page_text(refused) and 'value="误发"' in page_text(refused)
    assert len(entries(signed_in, customer)) == 2

    done = client.post(f"/console/members/{customer}/points",
                       data={"amount": "-40", "reason": "误发", "key": "k2", "confirm": "1"})
    assert done.status_code == 303 and entries(signed_in, customer)[-1][:2] == ("deduct", -40)
    reused = client.post(f"/console/members/{customer}/points",  # the same form's key, another change
                         data={"amount": "-30", "reason": "误发", "key": "k2", "confirm": "1"})
    assert reused.status_code == 409 and "这张表单已用于另一次改动" in page_text(reused)
    assert len(entries(signed_in, customer)) == 3


@pytest.mark.parametrize("amount,reason,key", [
    ("0", "原因", "k"), ("abc", "原因", "k"), ("NaN", "原因", "k"), ("1e999", "原因", "k"), ("1000001", "原因", "k"),
    ("10", "", "k"), ("10", "x" * 201, "k"), ("10", "a\x00b", "k"), ("10", "原因", ""), ("10", "原因", "k" * 65),
])
def test_bad_points_input_is_refused_and_changes_nothing(signed_in, client, amount, reason, key):
    customer = make_member(signed_in, nickname="张三")
    refused = client.post(f"/console/members/{customer}/points",
                          data={"amount": amount, "reason": reason, "key": key, "confirm": "1"})
    assert refused.status_code in (400, 422)
    assert entries(signed_in, customer) == []


def test_every_form_needs_its_csrf_token(signed_in, client):
    customer = make_member(signed_in, nickname="张三")
    ids = level_ids(signed_in)
    for path, data in [(f"/console/members/{customer}/points", {"amount": "5", "reason": "r", "key": "k",
                                                                  "confirm": "1"}),
                       ("/console/member-levels", {"name": "黑卡", "threshold": "99999"}),
                       (f"/console/member-levels/{ids['金卡']}", {"name": "金卡", "threshold": "2000"}),
                       (f"/console/member-levels/{ids['钻石']}/delete", {}),
                       ("/console/points-mall", {"name": "券", "template_id": "1", "points": "10"})]:
        assert client.post(path, data=data, csrf=False).status_code == 403, path
    assert entries(signed_in, customer) == []
    assert len(level_ids(signed_in)) == 4


def test_the_levels_page_counts_members_and_edits_keep_the_ladder(signed_in, client):
    make_member(signed_in, nickname="张三")
    page = page_text(client.get("/console/member-levels"))
    assert re.search(r"普通.*银卡.*金卡.*钻石", page, re.S)
    ids = level_ids(signed_in)
    assert re.search(rf'<tr data-level="{ids["普通"]}">.*?class="num members"><a [^>]*>1<', page, re.S)
    template = make_template(signed_in, name="金卡升级礼")
    edit = page_text(client.get(f"/console/member-levels/{ids['金卡']}"))
    assert "金卡升级礼" in edit and 'name="discount_zhe"' in edit

    saved = client.post(f"/console/member-levels/{ids['金卡']}", data={
        "name": "金卡", "threshold": "2500", "discount_zhe": "8.5", "points_multiplier": "1.5",
        "benefits": "生日双倍积分\n\n专属客服", "level_up_template_id": str(template), "birthday_template_id": ""})
    assert saved.status_code == 303
    with signed_in.transaction() as db_session:
        gold = db_session.get(MemberLevel, ids["金卡"])
        assert (gold.threshold, str(gold.discount), str(gold.points_multiplier), gold.benefits,
                gold.level_up_template_id) == (2500, "0.85", "1.50", ["生日双倍积分", "专属客服"], template)
    listed = page_text(client.get("/console/member-levels"))
    assert "8.5折" in listed and "专属客服" in listed and "金卡升级礼" in listed


@pytest.mark.parametrize("level,fields,words", [
    ("金卡", {"threshold": "100"}, "门槛须高于下一级、低于上一级"),  # below 银卡's
    ("金卡", {"threshold": "99999999"}, "门槛须高于下一级、低于上一级"),  # above 钻石's
    ("普通", {"threshold": "10"}, "最低等级的成长值门槛必须是 0"),
    ("金卡", {"name": "银卡"}, "已有同名等级：银卡"),
    ("金卡", {"discount_zhe": "8.55"}, "discount_zhe"),
    ("金卡", {"discount_zhe": "NaN"}, "discount_zhe"),
    ("金卡", {"points_multiplier": "1e999"}, "points_multiplier"),
    ("金卡", {"level_up_template_id": "999"}, "请选择一张启用中的优惠券"),
    ("金卡", {"level_up_template_id": str(2**40)}, "level_up_template_id"),
    ("金卡", {"name": "x" * 17}, "name"),
    ("金卡", {"benefits": "y" * 41}, "benefits"),
])
def test_a_level_edit_that_breaks_the_ladder_is_refused_and_changes_nothing(signed_in, client, level, fields, words):
    ids = level_ids(signed_in) or (client.get("/console/member-levels") and level_ids(signed_in))
    with signed_in.transaction() as db_session:
        before = [(lv.name, lv.threshold, str(lv.discount)) for lv in db_session.scalars(select(MemberLevel))]
    base = {"name": level, "threshold": "2000" if level == "金卡" else "0", "discount_zhe": "9",
            "points_multiplier": "1", "benefits": "", "level_up_template_id": "", "birthday_template_id": ""}
    refused = client.post(f"/console/member-levels/{ids[level]}", data={**base, **fields})
    assert refused.status_code == 422 and words in page_text(refused)
    with signed_in.transaction() as db_session:
        assert [(lv.name, lv.threshold, str(lv.discount)) for lv in db_session.scalars(select(MemberLevel))] == before


def test_a_new_level_takes_its_place_and_a_held_level_is_not_deleted(signed_in, client):
    customer = make_member(signed_in, nickname="张三")
    assert client.get("/console/member-levels/new").status_code == 200
    made = client.post("/console/member-levels", data={"name": "铂金", "threshold": "3000", "discount_zhe": "",
                                                       "points_multiplier": "", "benefits": ""})
    assert made.status_code == 303
    with signed_in.transaction() as db_session:
        ladder = [(lv.name, lv.threshold) for lv in db_session.scalars(select(MemberLevel).order_by(MemberLevel.rank))]
    assert [name for name, _ in ladder] == ["普通", "银卡", "铂金", "金卡", "钻石"]
    assert [t for _, t in ladder] == sorted(t for _, t in ladder)
    taken = client.post("/console/member-levels", data={"name": "又一个", "threshold": "3000"})
    assert taken.status_code == 422 and "已有等级用这个门槛：铂金" in page_text(taken)

    ids = level_ids(signed_in)
    held = client.post(f"/console/member-levels/{ids['普通']}/delete")
    assert held.status_code == 303
    assert "不能删除最低等级" in page_text(client.get("/console/member-levels"))
    with signed_in.transaction() as db_session:
        db_session.get(Member, customer).level_id = ids["银卡"]
    client.post(f"/console/member-levels/{ids['银卡']}/delete")
    assert "不能删除：还有 1 位会员在这个等级" in page_text(client.get("/console/member-levels"))
    assert client.post(f"/console/member-levels/{ids['铂金']}/delete").status_code == 303
    assert "等级 铂金 已删除。" in page_text(client.get("/console/member-levels"))
    assert set(level_ids(signed_in)) == {"普通", "银卡", "金卡", "钻石"}
    assert client.post("/console/member-levels/999/delete").status_code == 404


def test_the_customer_profile_has_a_member_section(signed_in, client):
    member = make_member(signed_in, nickname="张三")
    grant(signed_in, member, 80)
    grant(signed_in, member, 20, frozen_days=7)
    page = page_text(client.get(f"/console/customers/{member}"))
    section = re.search(r'<section class="card" id="membership">.*?</section>', page, re.S).group(0)
    assert "普通" in section and "可用 80 · 冻结 20" in section and f'href="/console/members/{member}"' in section
    stranger = make_customer(signed_in, nickname="路人")
    assert "还不是会员" in page_text(client.get(f"/console/customers/{stranger}"))


def test_the_points_mall_page_says_what_to_do_first_when_empty(signed_in, client):
    page = client.get("/console/points-mall")
    assert page.status_code == 200 and "积分商城还没有商品" in page_text(page)


def item_row(client, item_id: int) -> str:  # noqa: ANN001
    page = page_text(client.get("/console/points-mall"))
    return re.search(rf'<tr data-item="{item_id}">.*?</tr>', page, re.S).group(0)


def test_a_manager_puts_an_item_in_the_mall_changes_pauses_and_resumes_it(signed_in, client):
    from scrm.members import mall
    from scrm.members.models import MallItem

    template = make_template(signed_in, name="满100减20")
    form = page_text(client.get("/console/points-mall/new"))
    assert "满100减20" in form and "金卡及以上" in form
    gold = level_ids(signed_in)["金卡"]
    made = client.post("/console/points-mall", data={
        "name": "20元券", "template_id": str(template), "points": "100", "stock": "10", "per_member_limit": "1",
        "min_level_id": "", "status": "active", "sort": "0", "description": "到店使用"})
    assert made.status_code == 303
    with signed_in.transaction() as db_session:
        item_id = db_session.scalar(select(MallItem.id))
    row = item_row(client, item_id)
    assert "20元券" in row and "满100减20" in row and ">100<" in row and ">10<" in row and "所有会员" in row
    assert "上架中" in row

    member = make_member(signed_in, nickname="张三")
    grant(signed_in, member, 150)
    with signed_in.transaction() as db_session:
        mall.exchange(runtime=signed_in, db_session=db_session, customer_id=member, item_id=item_id, key="k1", at=NOW)
    row = item_row(client, item_id)
    assert re.search(r'class="num stock">9<', row) and re.search(r'class="num exchanged">1<', row)
    member_page = page_text(client.get(f"/console/members/{member}"))
    assert re.search(r'<table id="exchanges">.*20元券.*100.*未使用', member_page, re.S)

    below = client.post(f"/console/points-mall/{item_id}", data={
        "name": "20元券", "template_id": str(template), "points": "100", "stock": "0", "per_member_limit": "1",
        "min_level_id": "", "status": "active", "sort": "0", "description": ""})
    assert below.status_code == 422 and "库存不能少于已兑换的 1 件" in page_text(below)
    changed = client.post(f"/console/points-mall/{item_id}", data={
        "name": "20元券（金卡）", "template_id": str(template), "points": "80", "stock": "", "per_member_limit": "",
        "min_level_id": str(gold), "status": "active", "sort": "-1", "description": ""})
    assert changed.status_code == 303
    row = item_row(client, item_id)
    assert "20元券（金卡）" in row and "金卡及以上" in row and ">80<" in row and "不限" in row

    paused = client.post(f"/console/points-mall/{item_id}/status", data={"status": "paused"}, follow_redirects=True)
    assert "会员暂时看不到它" in page_text(paused)
    assert "已暂停" in item_row(client, item_id)
    client.post(f"/console/points-mall/{item_id}/status", data={"status": "active"})
    assert "上架中" in item_row(client, item_id)
    assert client.post(f"/console/points-mall/{item_id}/status", data={"status": "gone"}).status_code == 422
    assert client.post("/console/points-mall/999/status", data={"status": "paused"}).status_code == 404
    assert client.get("/console/points-mall/999").status_code == 404


@pytest.mark.parametrize("fields,words", [
    ({"points": "abc"}, "points"), ({"points": "0"}, "points"), ({"points": "1e999"}, "points"),
    ({"points": "NaN"}, "points"), ({"stock": "-1"}, "stock"), ({"template_id": "999"}, "请选择一张优惠券"),
    ({"template_id": str(2**40)}, "template_id"), ({"name": ""}, "name"), ({"name": "x" * 65}, "name"),
    ({"min_level_id": "999"}, "没有这个等级"), ({"status": "sold"}, "status"), ({"description": "a\x00b"}, ""),
])
def test_a_refused_item_says_why_and_changes_nothing(signed_in, client, fields, words):
    from scrm.members.models import MallItem

    template = make_template(signed_in)
    body = {"name": "券", "template_id": str(template), "points": "10", "stock": "", "per_member_limit": "",
            "min_level_id": "", "status": "active", "sort": "0", "description": "", **fields}
    refused = client.post("/console/points-mall", data=body)
    assert refused.status_code in (400, 422) and words in page_text(refused)
    with signed_in.transaction() as db_session:
        assert db_session.scalar(select(func.count()).select_from(MallItem)) == 0


def test_guides_cannot_open_the_membership_pages(frozen, client, make_token):
    from guide_world import create_guide, create_store

    create_store(frozen)
    create_guide(frozen, "G1")
    log_in(client, make_token, "guide", "G1")
    for path in ("/console/members", "/console/member-levels", "/console/points-mall", "/console/member-stats"):
        assert client.get(path).status_code in (302, 403), path
