"""Customers read the brand's language only (``brand.locale``): with zh_CN no English word
reaches a coupon page, the guide's public card, the "my coupons" reply, a coupon announcement,
a campaign's coupon line or a printed code's caption; with en, no Chinese. Guides and managers
see every timeline kind by its name, times in ``brand.timezone``, and 顾客 #id for a customer
without a nickname."""

from __future__ import annotations

import ast
import re
import time
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from coupon_world import issue, make_customer, make_template
from guide_world import create_guide, create_store, guide_id, openid, reply_of, send
from sqlalchemy import select

from guides.login_links import make_link
from handlers import wire
from handlers.signed_callbacks import mp_event_xml
from qrcodes.images import code_card
from qrcodes.models import ChannelCode
from scrm import callbacks, texts
from scrm.coupons import redemption
from scrm.coupons.announce import announcement
from scrm.coupons.links import coupons_link, coupons_reply
from scrm.customers.models import Customer, CustomerIdentity, Interaction
from scrm.outreach.campaign_coupons import content_for
from scrm.outreach.sender import _Attempt
from web_world import log_in

NOW = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, 03:00 in Paris
ROOT = Path(__file__).resolve().parents[2]
URL = re.compile(r"https?://\S+")
CODE = re.compile(r"\b[0-9A-Z]{4}(?:-[0-9A-Z]{4})+\b")  # a coupon code as shown
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")

ZH = {"brand.locale": "zh_CN", "brand.name": "英氏 YEEHOO"}
EN = {"brand.locale": "en", "brand.name": "YEEHOO", "brand.timezone": "Europe/Paris"}
# What the test's own data is called in each language (names a brand or a customer chose).
NAMES = {
    "zh_CN": {"store": "上海静安店", "guide": "王小美", "cash": "满100减20", "discount": "双十二", "gift": "赠品券",
              "gift_item": "试用装", "customer": "小美"},
    "en": {"store": "Jingan Store", "guide": "Mei Wang", "cash": "Spend and save", "discount": "Double twelve",
           "gift": "Gift coupon", "gift_item": "sample pack", "customer": "Amy"},
}


class _Visible(HTMLParser):
    """What a person reads on a page: its text, title, and the alt/title/aria-label words."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):  # noqa: ANN001, ANN201
        if tag in ("style", "script"):
            self._skip += 1
        self.parts += [value for name, value in attrs if name in ("alt", "title", "aria-label") and value]

    def handle_endtag(self, tag):  # noqa: ANN001, ANN201
        if tag in ("style", "script"):
            self._skip -= 1

    def handle_data(self, data):  # noqa: ANN001, ANN201
        if not self._skip:
            self.parts.append(data)


def visible(html: str) -> str:
    parser = _Visible()
    parser.feed(html)
    return " ".join(parser.parts)


def foreign(text: str, locale: str, proper: tuple[str, ...] = ("YEEHOO",)) -> list[str]:
    """The words in the other language: English words (3+ letters) with zh_CN, CJK with en;
    links, coupon codes and the brand's name are not words."""
    for noun in proper:
        text = text.replace(noun, " ")
    text = CODE.sub(" ", URL.sub(" ", text))
    return re.findall(r"[A-Za-z]{3,}", text) if locale == "zh_CN" else CJK.findall(text)


def test_the_checker_sees_both_languages() -> None:
    assert foreign("我的优惠券 My coupons", "zh_CN") == ["coupons"]
    assert foreign("有效期至 https://x.example/c?t=abc ABCD-EFGH-JKLM 英氏 YEEHOO", "zh_CN") == []
    assert foreign("My coupons 我的", "en") == ["我", "的"]
    assert visible('<style>a{}</style><img alt="Hello"><p>x</p>') == "Hello x"


def _local_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _coupons(runtime, names: dict[str, str]) -> tuple[int, list]:  # noqa: ANN001
    create_store(runtime, "S1", names["store"])
    customer = make_customer(runtime, nickname=names["customer"], openid="oLanguage000000000000000001")
    cash = issue(runtime, make_template(runtime, name=names["cash"], stores=["S1"]), customer)
    plain = issue(runtime, make_template(runtime, name=names["cash"] + " 2", min_spend=None), customer)
    later = issue(runtime, make_template(
        runtime, name=names["discount"], kind="discount", amount=None, discount="8.5", min_spend=None, valid_days=None,
        valid_from=(NOW + timedelta(days=40)).isoformat(), valid_until=(NOW + timedelta(days=50)).isoformat()),
        customer)
    used = issue(runtime, make_template(runtime, name=names["gift"], kind="gift", gift=names["gift_item"],
                                        amount=None, min_spend=None), customer)
    with runtime.transaction() as db_session:
        assert redemption.redeem(runtime=runtime, db_session=db_session, code=used.code,
                                 counter=redemption.Counter(user_id=None, store_id=None)).result == "ok"
    return customer, [cash, plain, later, used]


@pytest.mark.parametrize("config_overrides", [ZH, EN], ids=["zh_CN", "en"])
def test_customer_pages_speak_only_the_brands_language(frozen, client, config_overrides):  # noqa: ANN001
    locale = config_overrides["brand.locale"]
    names = NAMES[locale]
    customer, coupons = _coupons(frozen, names)
    create_guide(frozen, "G1", name=names["guide"])

    pages = {"no session": client.get("/c/coupons"), "bad link": client.get("/c/coupons?t=forged"),
             "card": client.get("/card/G1"), "no card": client.get("/card/NOPE")}
    assert client.get(_local_path(coupons_link(frozen, customer))).status_code == 302
    pages["list"] = client.get("/c/coupons")
    pages["detail"] = client.get(f"/c/coupons/{coupons[0].id}")
    pages["redeemed"] = client.get(f"/c/coupons/{coupons[3].id}")
    pages["no coupon"] = client.get("/c/coupons/999999")
    assert [p.status_code for p in pages.values()] == [200, 403, 200, 404, 200, 200, 200, 404]

    listed = pages["list"].text
    assert all(c.code in listed for c in coupons)  # all four shown: the check below read them
    assert f'<html lang="{texts.say(locale, "html.lang")}">' in listed
    for name, page in pages.items():
        assert foreign(visible(page.text), locale) == [], name
    if locale == "zh_CN":
        assert "满100减¥20" in listed and "¥20 代金券" in listed and "8.5折" in listed and "赠 试用装" in listed
        assert "有效期至 2026-12-01 10:00" in listed  # Shanghai
    else:
        assert "¥20 off over ¥100" in listed and "15% off" in listed and "Gift: sample pack" in listed
        assert "Valid until 2026-12-01 03:00" in listed  # Paris


@pytest.mark.parametrize("config_overrides", [ZH, EN], ids=["zh_CN", "en"])
def test_messages_to_customers_speak_only_the_brands_language(frozen, client, config_overrides):  # noqa: ANN001
    locale = config_overrides["brand.locale"]
    customer, coupons = _coupons(frozen, NAMES[locale])

    [article] = coupons_reply(frozen, customer).articles
    said = [article.title, article.description,
            announcement(frozen, customer, NAMES[locale]["cash"], NOW + timedelta(days=30))]
    # The menu's "my coupons" button, through the webhook as WeChat sends it.
    xml = mp_event_xml(to=frozen.config.wechat.mp.original_id, openid="oLanguage000000000000000001", event="CLICK",
                       key=frozen.config.coupons.menu_key, create_time=int(time.time()))
    reply = wire.parse_xml(reply_of(frozen, "mp", send(frozen, client, "mp", xml)))
    said += [reply["Articles"]["item"]["Title"], reply["Articles"]["item"]["Description"]]
    # A campaign's text with a coupon: the brand wrote the text; the product adds the line.
    attempt = _Attempt(id=1, campaign_id=1, run_id=1, customer_id=customer, key="k", attempts=0,
                       content={"kind": "text", "text": ""}, coupon_template_id=1)
    said.append(content_for(frozen, [attempt])["text"])
    # Printed codes: the caption under every QR code a customer scans.
    for channel in ("mp", "work"):
        code = ChannelCode(channel=channel, status="ready", content="https://weixin.qq.com/q/x" if channel == "mp" else None,
                           image=None if channel == "mp" else b"png")
        said.append(code_card(code, title="", subtitle="", locale=locale).caption)

    assert said[0] == texts.say(locale, "coupons.title")
    assert "/c/coupons?t=" in said[2] and "/c/coupons?t=" in said[-3]
    for text in said:
        assert text and foreign(text, locale) == [], text


def _nameless_customer_with_history(runtime, wechat, scene: str) -> tuple[int, list[str]]:  # noqa: ANN001
    who = openid()
    xml = mp_event_xml(to=runtime.config.wechat.mp.original_id, openid=who, event="subscribe",
                       create_time=int(time.time()), key=f"qrscene_{scene}")
    assert wechat.mp(xml).status_code == 200
    with runtime.transaction() as db_session:
        customer_id = db_session.scalar(select(CustomerIdentity.customer_id).where(CustomerIdentity.external_id == who))
        db_session.get(Customer, customer_id).nickname = None
        kinds = ["coupon_issued", "edit_external_contact", "a_kind_from_the_future"]
        for minutes, kind in enumerate(kinds):
            payload = {"template": "满100减20"} if kind == "coupon_issued" else {}
            db_session.add(Interaction(customer_id=customer_id, kind=kind, channel="mp", payload=payload,
                                       occurred_at=datetime(2026, 11, 1, 2, minutes, tzinfo=UTC)))
    return customer_id, kinds


@pytest.mark.parametrize("config_overrides", [{"brand.timezone": "Asia/Shanghai"}])
def test_timelines_name_kinds_and_customers_in_the_brands_time(runtime, client, wechat, make_token):  # noqa: ANN001
    create_store(runtime)
    guide = create_guide(runtime, "G1", name="王小美")
    customer_id, kinds = _nameless_customer_with_history(runtime, wechat, guide.mp_scene)
    assert guide_id(runtime, "G1")

    with runtime.transaction() as db_session:
        link = make_link(runtime=runtime, db_session=db_session, guide_code="G1")
    phone = client.application.test_client()
    assert phone.get(_local_path(link)).status_code == 302
    listed = phone.get("/m/customers").text
    shown = phone.get(f"/m/customers/{customer_id}").text
    log_in(client, make_token, "admin")
    console = client.get(f"/console/customers/{customer_id}").text

    for page in (listed, shown, console):
        assert f"顾客 #{customer_id}" in page
    for page in (shown, console):
        for kind in kinds:
            assert kind not in page  # never the raw key
        assert "获得优惠券" in page and "满100减20" in page and "修改企业微信备注" in page and "其他动态（a kind from the future）" in page
        assert "2026-11-01 10:01" in page  # 02:01 UTC, in Shanghai: one format, the brand's zone
        assert "2026-11-01 02:01" not in page and " UTC" not in visible(page)
    client.post("/language", data={"lang": "en", "next": "/"})  # the console reads the reader's language
    english = client.get(f"/console/customers/{customer_id}").text
    assert f"Customer #{customer_id}" in english and "WeCom note edited" in english
    assert texts.KIND_WORDS["en"]["coupon_issued"] in english and "获得优惠券" not in english


# ---- every kind the code can write has a name ----------------------------------------------

WRITERS = {"Interaction", "record_interaction", "_note"}  # what puts a row on a timeline


def _strings(node: ast.AST, constants: dict[str, ast.AST]) -> set[str]:
    """The strings an expression can be: a literal, either side of an if-else, a module dict's values."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _strings(node.body, constants) | _strings(node.orelse, constants)
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in constants:
        table = constants[node.value.id]
        return {v for value in getattr(table, "values", []) for v in _strings(value, constants)}
    return set()


def _kinds_written(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    constants = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                 for t in node.targets if isinstance(t, ast.Name)}
    kind_at = {f.name: [a.arg for a in f.args.args].index("kind") for f in ast.walk(tree)
               if isinstance(f, ast.FunctionDef) and "kind" in [a.arg for a in f.args.args]}
    kinds: set[str] = set()
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        name = getattr(call.func, "id", None) or getattr(call.func, "attr", None)
        if name not in WRITERS:
            continue
        for keyword in call.keywords:
            if keyword.arg == "kind":
                kinds |= _strings(keyword.value, constants)
        if name in kind_at and len(call.args) > kind_at[name]:
            kinds |= _strings(call.args[kind_at[name]], constants)
    return kinds


def _kinds_from_callbacks() -> set[str]:
    """What handlers/reactions.py writes: each callback's kind, a contact change's change type."""
    kinds = {c.kind for c in vars(callbacks).values() if isinstance(c, type) and issubclass(c, callbacks.Callback)}
    for path in (ROOT / "scrm" / "callbacks.py", ROOT / "handlers" / "reactions.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare) and getattr(node.left, "attr", None) == "change_type":
                for right in node.comparators:
                    items = right.elts if isinstance(right, ast.Tuple) else [right]
                    kinds |= {i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)}
    return kinds


def test_every_kind_the_code_writes_has_a_name_in_every_language() -> None:
    written: set[str] = set()
    for package in ("scrm", "guides", "handlers", "tagging", "qrcodes"):
        for path in (ROOT / package).rglob("*.py"):
            written |= _kinds_written(path)
    assert {"coupon_issued", "guide_bound", "tag_added", "tag_removed", "coupon_voided", "welcome_sent",
            "custom_event", "purchase"} <= written  # the walk finds them (guards the walk itself)
    written |= _kinds_from_callbacks()
    assert {"follow", "text", "edit_external_contact", "del_follow_user"} <= written
    for locale in texts.LOCALES:
        missing = sorted(k for k in written if k not in texts.KIND_WORDS[locale])
        assert missing == [], (locale, missing)
        for kind in written:
            assert foreign(texts.kind_words(locale, kind), locale) == [], (locale, kind)
    assert "_" not in texts.kind_words("zh_CN", "brand_new_kind")


def test_every_text_exists_in_every_language() -> None:
    keys = {locale: set(table) for locale, table in texts.TEXTS.items()}
    assert keys["zh_CN"] == keys["en"]
    for locale, table in texts.TEXTS.items():
        for key, text in table.items():
            words = re.sub(r"\{\w+\}", " ", text)  # the placeholders are not words
            assert foreign(words, locale, proper=("WeChat", "WeCom")) == [] or key == "html.lang", (locale, key)


def test_a_nameless_customer_in_an_audience_sample_is_named_by_id() -> None:
    from scrm.outreach.campaigns import Preview
    from scrm.outreach.schemas import preview_json

    shown = preview_json(Preview(2, [5, 6], {5: None, 6: "小美"}))
    assert [c["name"] for c in shown["sample"]] == ["顾客 #5", "小美"]
    assert preview_json(Preview(1, [5], {5: " "}), "en")["sample"][0]["name"] == "Customer #5"
