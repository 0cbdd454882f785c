"""The console pages for stores, guides and their codes (SPEC §6, §11), driven as a manager's
browser would: a login session, form posts, redirects, and the HTML that comes back."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from guide_world import create_guide, create_store, mp_scan, openid, work_add
from guides.models import Binding, Guide, Store
from qrcodes.models import ChannelCode
from scrm.sandbox import world
from web_world import log_in
from platform_world import count

START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Shanghai
embedded_only = pytest.mark.parametrize("backend", ["embedded"], indirect=True)


def page_text(response) -> str:  # noqa: ANN001
    return response.get_data(as_text=True)


def guide_row(runtime, code: str) -> Guide:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.scalar(select(Guide).where(Guide.code == code))


def current_guide_of(runtime, external_id: str) -> str:  # noqa: ANN001
    from scrm.customers.models import CustomerIdentity

    with runtime.transaction() as db_session:
        return db_session.scalar(
            select(Guide.code).join(Binding, Binding.guide_id == Guide.id)
            .join(CustomerIdentity, CustomerIdentity.customer_id == Binding.customer_id)
            .where(CustomerIdentity.external_id == external_id, Binding.ended_at.is_(None))
        )


def edit_form(**given: str) -> dict[str, object]:
    """The edit form as the browser posts it: every field, the hidden backup=0 first."""
    form = {"name": "王小美", "photo_url": "", "welcome_text": "", "daily_cap": "", "backup": ["0"],
            **{f"schedule_{day}": "" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}
    form.update(given)
    return form


# ---- stores and guides through the forms -------------------------------------------------------

def test_a_manager_creates_a_store_and_a_guide_through_the_forms(runtime, client, make_token):
    log_in(client, make_token)
    assert "门店与导购" in page_text(client.get("/"))
    created = client.post("/console/stores", data={"code": "S1", "name": "上海静安店", "address": ""})
    assert created.status_code == 302 and created.headers["Location"].endswith("/console/stores/S1")
    assert "门店 S1 已创建" in page_text(client.get("/console/stores/S1"))

    world.add_member(runtime.redis, "member-g1", "王小美")
    added = client.post("/console/stores/S1/guides", data={"code": "G1", "name": "王小美", "wecom_userid": "member-g1"})
    assert added.status_code == 302 and added.headers["Location"].endswith("/console/guides/G1")
    runtime.queue.run_pending()

    with runtime.transaction() as db_session:
        store = db_session.scalar(select(Store).where(Store.code == "S1"))
        guide = db_session.scalar(select(Guide).where(Guide.code == "G1"))
        assert (store.name, store.address, guide.store_id, guide.wecom_userid) == ("上海静安店", None, store.id, "member-g1")
        statuses = {(c.kind, c.channel): c.status for c in db_session.scalars(select(ChannelCode))}
    assert statuses == {("store", "mp"): "ready", ("store", "work"): "ready",
                        ("guide", "mp"): "ready", ("guide", "work"): "ready"}

    listing = page_text(client.get("/console/stores"))
    assert "/console/stores/S1" in listing and "上海静安店" in listing
    store_page = page_text(client.get("/console/stores/S1"))
    assert "/console/guides/G1" in store_page and "member-g1" in store_page
    assert "/console/stores/S1/poster.pdf?channel=mp" in store_page and "/console/stores/S1/poster.png?channel=mp" in store_page
    guide_page = page_text(client.get("/console/guides/G1"))
    for channel in ("mp", "work"):
        src = f"/console/guides/G1/qrcode.png?channel={channel}"
        assert f'src="{src}"' in guide_page
        image = client.get(src)  # the page's images load under the same login session
        assert image.status_code == 200 and image.mimetype == "image/png"


@embedded_only
def test_a_code_not_yet_made_shows_its_status_instead_of_the_image(runtime, client, make_token):
    log_in(client, make_token)
    client.post("/console/stores", data={"code": "S1", "name": "上海静安店"})
    world.add_member(runtime.redis, "member-g1", "王小美")
    client.post("/console/stores/S1/guides", data={"code": "G1", "name": "王小美", "wecom_userid": "member-g1"})
    # The jobs that ask WeChat have not run yet.
    page = page_text(client.get("/console/guides/G1"))
    assert "/console/guides/G1/qrcode.png" not in page and "生成中" in page


@embedded_only
def test_bad_input_re_renders_the_form_with_the_error_and_creates_nothing(runtime, client, make_token):
    log_in(client, make_token)
    bad = client.post("/console/stores", data={"code": "S 1!", "name": "上海静安店"})
    assert bad.status_code == 422
    text = page_text(bad)
    assert "must be 1-32 letters, digits, _ or -" in text and 'value="S 1!"' in text and 'value="上海静安店"' in text
    assert count(runtime, Store) == 0

    create_store(runtime, "S1")
    taken = client.post("/console/stores", data={"code": "S1", "name": "另一家"})
    assert taken.status_code == 409 and "exists already" in page_text(taken)
    assert count(runtime, Store) == 1

    bad_guide = client.post("/console/stores/S1/guides", data={"code": "G 1", "name": "王小美", "wecom_userid": "m1"})
    assert bad_guide.status_code == 422 and "must be 1-32 letters" in page_text(bad_guide)
    assert count(runtime, Guide) == 0
    assert client.post("/console/stores/NOPE/guides", data={"code": "G1", "name": "x", "wecom_userid": "m1"}).status_code == 404
    assert client.get("/console/stores/NOPE").status_code == 404
    assert client.get("/console/guides/NOPE").status_code == 404


@embedded_only
def test_a_guide_session_is_refused_and_a_visitor_is_sent_to_log_in(runtime, client, make_token):
    assert client.get("/console/stores").status_code == 302
    assert "/login?next=/console/stores" in client.get("/console/stores").headers["Location"]
    create_store(runtime)
    create_guide(runtime, "G1")
    log_in(client, make_token, "guide", "G1")
    assert client.get("/console/stores").status_code == 403
    assert client.get("/console/guides/G1").status_code == 403
    assert client.post("/console/stores", data={"code": "S2", "name": "x"}).status_code == 403
    assert client.post("/console/guides/G1", data=edit_form(name="改名")).status_code == 403
    assert count(runtime, Store) == 1 and guide_row(runtime, "G1").name == "导购G1"
    assert "门店与导购" not in page_text(client.get("/"))


# ---- the guide page ----------------------------------------------------------------------------

@embedded_only
def test_the_guide_page_shows_the_scan_numbers_and_a_bar_chart(runtime, client, make_token, shop):
    a, _b = shop
    mp_scan(runtime, client, openid(), a.mp_scene)
    mp_scan(runtime, client, openid(), a.mp_scene)
    log_in(client, make_token)
    page = page_text(client.get("/console/guides/A"))
    assert re.search(r"<b>2</b><span>扫码<", page) and re.search(r"<b>2</b><span>绑定<", page)
    assert "<svg" in page and "<script" not in page
    assert re.search(r'<rect class="bindings"[^>]*><title>11-02 绑定: 2</title>', page)
    assert re.search(r'<rect class="scans"[^>]*><title>11-02 扫码: 2</title>', page)
    assert re.search(r"<td>11-02 周一</td><td class=\"num\">2</td><td class=\"num\">2</td>\s*<td class=\"num\">2</td>", page)


@embedded_only
def test_editing_the_schedule_and_profile_saves_them(runtime, client, make_token, shop):
    log_in(client, make_token)
    form = edit_form(schedule_mon="10-14, 18-22", daily_cap="5", welcome_text="您好，我是小美", backup=["0", "1"])
    saved = client.post("/console/guides/A", data=form)
    assert saved.status_code == 302
    guide = guide_row(runtime, "A")
    assert guide.schedule == {"mon": ["10-14", "18-22"]}
    assert (guide.daily_cap, guide.welcome_text, guide.backup) == (5, "您好，我是小美", True)
    page = page_text(client.get("/console/guides/A"))
    assert "已保存" in page and 'value="10-14,18-22"' in page

    client.post("/console/guides/A", data=edit_form(schedule_mon="10-14,18-22"))  # box unticked, cap blank
    guide = guide_row(runtime, "A")
    assert (guide.daily_cap, guide.welcome_text, guide.backup) == (None, None, False)


@embedded_only
def test_a_bad_schedule_shows_the_error_and_changes_nothing(runtime, client, make_token, shop):
    log_in(client, make_token)
    refused = client.post("/console/guides/A", data=edit_form(name="新名字", schedule_mon="25-3"))
    assert refused.status_code == 422
    text = page_text(refused)
    assert "schedule" in text and "25-3" in text and "hours are 0-24" in text
    assert 'value="新名字"' in text  # what was typed is kept
    assert 'href="#edit"' in text  # pointed to from the top of the page
    guide = guide_row(runtime, "A")
    assert (guide.name, guide.schedule) == ("王小美", {})
    assert client.post("/console/guides/A", data=edit_form(daily_cap="lots")).status_code == 422
    assert guide_row(runtime, "A").daily_cap is None


# ---- leaving -----------------------------------------------------------------------------------

@embedded_only
def test_leaving_through_the_form_moves_the_customers_to_the_chosen_guide(runtime, client, make_token, shop):
    a, b = shop
    create_guide(runtime, "C", name="赵小川")
    who = openid()
    mp_scan(runtime, client, who, a.mp_scene)
    work_add(runtime, client, "wm-cust-1", a.wecom_userid, a.work_scene, welcome=False)
    log_in(client, make_token)
    form = page_text(client.get("/console/guides/A"))
    assert 'value="B"' in form and 'value="C"' in form and 'option value="A"' not in form

    left = client.post("/console/guides/A/leave", data={"to": "B", "confirm": "1"})
    assert left.status_code == 302
    assert (current_guide_of(runtime, who), current_guide_of(runtime, "wm-cust-1")) == ("B", "B")
    assert guide_row(runtime, "A").status == "left"
    page = page_text(client.get("/console/guides/A"))
    assert "2 位顾客转给 B" in page and "1 个企业微信交接" in page
    assert "wm-cust-1" in page and '<span class="badge pending">待交接</span>' in page

    runtime.queue.run_pending()  # WeCom's transfer_customer answers
    page = page_text(client.get("/console/guides/A"))
    assert '<span class="badge done">已交接</span>' in page


@embedded_only
def test_a_refused_leave_shows_why_and_moves_nobody(runtime, client, make_token, shop):
    a, _b = shop
    create_store(runtime, "S2", name="上海徐汇店")
    create_guide(runtime, "X", store="S2")
    who = openid()
    mp_scan(runtime, client, who, a.mp_scene)
    log_in(client, make_token)
    missing = client.post("/console/guides/A/leave", data={})
    assert missing.status_code == 422 and "选择接手导购" in page_text(missing)
    elsewhere = client.post("/console/guides/A/leave", data={"to": "X"})
    assert elsewhere.status_code == 409 and "works in another store" in page_text(elsewhere)
    assert client.post("/console/guides/A/leave", data={"to": "NOPE"}).status_code == 422
    assert current_guide_of(runtime, who) == "A" and guide_row(runtime, "A").status == "active"


# ---- CSV import --------------------------------------------------------------------------------

def upload(text: str, encoding: str = "utf-8") -> dict[str, object]:
    return {"file": (io.BytesIO(text.encode(encoding)), "guides.csv", "text/csv")}


@embedded_only
def test_a_csv_with_a_bad_row_shows_the_row_and_creates_nothing_a_good_file_creates_the_guides(
    runtime, client, make_token
):
    create_store(runtime)
    for userid in ("m-g1", "m-g2"):
        world.add_member(runtime.redis, userid, userid)
    log_in(client, make_token)
    bad = "code,name,store,wecom_userid,daily_cap\nG1,王小美,S1,m-g1,5\nG 2,李大力,S1,m-g2,x\n"
    refused = client.post("/console/stores/S1/import", data=upload(bad), content_type="multipart/form-data")
    assert refused.status_code == 422
    text = page_text(refused)
    assert "没有导入任何导购" in text
    assert re.search(r'<td class="num">3</td><td>G 2</td><td>code</td><td class="wrap">must be 1-32 letters', text)
    assert count(runtime, Guide) == 0

    good = "code,name,store,wecom_userid,backup\nG1,王小美,S1,m-g1,否\nG2,李大力,S1,m-g2,是\n"
    # Excel on a Chinese Windows saves CSV as GBK.
    imported = client.post("/console/stores/S1/import", data=upload(good, "gbk"), content_type="multipart/form-data")
    assert imported.status_code == 302
    assert (guide_row(runtime, "G1").name, guide_row(runtime, "G2").backup) == ("王小美", True)
    assert "新建 2 位，0 位没有变化" in page_text(client.get("/console/stores/S1"))

    no_file = client.post("/console/stores/S1/import", data={}, content_type="multipart/form-data")
    assert no_file.status_code == 422 and "选择 CSV 文件" in page_text(no_file)
