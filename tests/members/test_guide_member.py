"""What guides see of members (SPEC §13): the level, its discount and benefits, the member number
and the points available on a customer's profile and on the redeem page, the phone masked; the
member QR (会员码) scanned or pasted on /m/member opens the guide's own customer, and is refused
for another guide's customer, once expired, or when it is not a member QR."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from coupon_world import issue, make_template
from guide_world import create_guide, create_store, guide_info, mp_scan
from member_world import grant, make_member
from scrm.members.member_qr import member_qr_token
from scrm.members.models import Member, MemberLevel
from web_world import page_text

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


def sign_in(runtime, client, code: str) -> None:  # noqa: ANN001
    from urllib.parse import urlsplit

    from guides.login_links import make_link

    with runtime.transaction() as db_session:
        parts = urlsplit(make_link(runtime=runtime, db_session=db_session, guide_code=code))
    assert client.get(f"{parts.path}?{parts.query}").status_code == 302


def gold(runtime, customer_id: int) -> None:  # noqa: ANN001
    """The member put at 金卡 (as an order crossing its threshold would)."""
    with runtime.transaction() as db_session:
        level = db_session.query(MemberLevel).filter(MemberLevel.name == "金卡").one()
        db_session.get(Member, customer_id).level_id = level.id


@pytest.fixture
def counter(frozen, client):  # noqa: ANN001, ANN201
    """G1 with 李雷 (a 金卡 member with 120 points, 30 frozen) bound by G1's code; 韩梅梅, G2's member."""
    create_store(frozen)
    g1, g2 = create_guide(frozen, "G1", name="王小美"), create_guide(frozen, "G2", name="韩梅梅")
    lilei = make_member(frozen, phone="13812345678", nickname="李雷", openid="o-lilei")
    meimei = make_member(frozen, phone="13900001111", nickname="韩梅梅", openid="o-meimei")
    mp_scan(frozen, client, "o-lilei", g1.mp_scene)
    mp_scan(frozen, client, "o-meimei", g2.mp_scene)
    gold(frozen, lilei)
    grant(frozen, lilei, 120)
    grant(frozen, lilei, 30, frozen_days=7)
    sign_in(frozen, client, "G1")
    return {"lilei": lilei, "meimei": meimei}


def member_card(text: str) -> str:
    found = re.search(r'<section class="card member" id="member">.*?</section>', text, re.S)
    assert found, "no member card"
    return found.group(0)


def test_the_profile_shows_level_discount_benefits_number_and_points_masked(frozen, client, counter):
    page = page_text(client.get(f"/m/customers/{counter['lilei']}"))
    card = member_card(page)
    with frozen.transaction() as db_session:
        number = db_session.get(Member, counter["lilei"]).member_no
    assert 'id="member-level">金卡<' in card and "金卡 8.5折" in card
    assert number in card and re.search(r'id="member-points"><b>120</b> <small>另有 30 冻结中', card)
    assert "专属客服" in card and "生日礼券" in card
    assert "138****5678" in page and "13812345678" not in page


def test_a_customer_who_has_not_joined_has_no_member_card(frozen, client, counter):
    from coupon_world import make_customer

    stranger = make_customer(frozen, nickname="路人", openid="o-stranger")
    mp_scan(frozen, client, "o-stranger", guide_info(frozen, "G1").mp_scene)
    page = page_text(client.get(f"/m/customers/{stranger}"))
    assert "路人" in page and 'id="member"' not in page


def test_the_redeem_page_shows_the_coupons_member(frozen, client, counter):
    coupon = issue(frozen, make_template(frozen, name="满100减20"), counter["lilei"])
    check = page_text(client.get("/m/redeem/check", query_string={"code": coupon.code}))
    card = member_card(check)
    assert "金卡 8.5折" in card and ">120<" in card
    assert "138****5678" in check and "13812345678" not in check
    done = page_text(client.post("/m/redeem", data={"code": coupon.code}))
    assert "核销成功" in done and "金卡 8.5折" in member_card(done)


def test_a_scanned_member_qr_of_my_customer_opens_their_profile(frozen, client, counter):
    home = page_text(client.get("/m/"))
    assert 'href="/m/member"' in home and "扫会员码" in home
    page = client.get("/m/member")
    assert page.status_code == 200 and 'id="scan"' in page.text and "jsQR.js" in page.text
    assert "qr_scanner.js" in page.text and "window.memberDecode = scanner.decode" in page.text
    token = member_qr_token(frozen, counter["lilei"])
    opened = client.get("/m/member/open", query_string={"token": f"  {token} "})
    assert opened.status_code == 303 and opened.headers["Location"].endswith(f"/m/customers/{counter['lilei']}")
    as_link = client.get("/m/member/open", query_string={"token": f"https://example.com/c/member/qr?token={token}"})
    assert as_link.status_code == 303  # a QR holding a link with the token


def test_another_guides_customer_an_expired_and_a_foreign_qr_are_refused(frozen, client, counter):
    theirs = client.get("/m/member/open", query_string={"token": member_qr_token(frozen, counter["meimei"])})
    assert theirs.status_code == 403 and "不是您的顾客" in page_text(theirs)
    assert 'id="member"' not in theirs.text and "13900001111" not in theirs.text  # nothing of them shown

    token = member_qr_token(frozen, counter["lilei"])
    frozen.clock.advance(minutes=frozen.config.members.qr_minutes, seconds=1)
    expired = client.get("/m/member/open", query_string={"token": token})
    assert expired.status_code == 422 and "会员码已过期，请顾客刷新" in page_text(expired)
    assert 'data-reason="expired"' in expired.text

    for junk in ("hello", "M" + "x" * 40, token[:-3] + "abc", "M" * 500):
        refused = client.get("/m/member/open", query_string={"token": junk})
        assert refused.status_code == 422 and "这不是会员码" in page_text(refused), junk
    assert client.get("/m/member/open", query_string={"token": "M\x00"}).status_code == 400  # refused at the edge


def test_only_a_guide_opens_the_member_scanner(frozen, client, make_token, counter):
    from web_world import log_in

    client.post("/logout")
    assert client.get("/m/member").status_code == 302  # to sign in
    log_in(client, make_token, "manager")
    assert client.get("/m/member").status_code == 403


def test_a_level_without_a_discount_says_none(frozen, client, counter):
    with frozen.transaction() as db_session:
        level = db_session.query(MemberLevel).filter(MemberLevel.name == "金卡").one()
        level.discount = Decimal("1.00")
        level.benefits = []
    card = member_card(page_text(client.get(f"/m/customers/{counter['lilei']}")))
    assert "折" not in card and 'id="member-benefits"' not in card
