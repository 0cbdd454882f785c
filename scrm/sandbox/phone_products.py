"""The phone sandbox's product codes (一物一码, SPEC §10 and §14): the phone's 扫商品码.

WeChat's scanner opens the URL of a package's code (``<public_base_url>/p/<code>``) in its
in-app browser, which signs the customer in to the claim page (MP web sign-in, ``snsapi_base``)
without asking. The phone plays both: the customer picks a batch of the database and a serial
(the code printed on that package), or pastes a code or a ``/p/`` link, and the phone opens the
claim page in a new tab as that customer.

That tab goes through ``GET open?t=`` first: a signed link naming the customer and the path.
It records the customer in the browser's session (``mp_oauth.BROWSER_USER``), which the
sandbox's authorize page reads to sign them in at once, as WeChat would (scrm/sandbox/routes.py),
and drops what the customer pages remember of another customer (their sign-in
``coupon_customer``, the claim page's visitor ``product_visitor``): each phone's WeChat is its
own browser. A pasted code that is not ours opens too, and the page says so.

The phone's chat keeps a line for each scan with its link (to open the page again); for a
customer who does not follow the account it also offers what a long press on the claim page's
QR code does in WeChat: follow by the scene ``pc_<code>``, which completes the claim.

Routes on the phone's blueprint (admin session, CSRF like the rest of the phone):
``GET api/product-batches`` (the batches to pick from, newest first), ``POST api/scan-product``
``{openid, batch_id, serial} | {openid, code}`` → ``{code, open, messages, customer}``, and
``GET open?t=`` (the tab the phone opens).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import jsonify, redirect, request, session, url_for
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from scrm.clock import local_day
from scrm.coupons.customer_pages import SIGNED_IN
from scrm.customers import service as customers
from scrm.products import batches
from scrm.products.codes import ProductCodec
from scrm.products.customer_pages import VISITOR
from scrm.products.models import CodeBatch
from scrm.sandbox import mp_oauth
from scrm.sandbox.phone import (
    InvalidAction,
    _check_openid,
    _entry,
    _json_body,
    _remember,
    customer_state,
    phone_pages,
)
from scrm.validators import INT_ID_MAX
from scrm.web.api import current_runtime
from scrm.web.errors import NotFound

if TYPE_CHECKING:
    from scrm.runtime import Runtime

BATCHES_LISTED = 100
PASTE_MAX_CHARS = 2048
# What the phone opens for a pasted code: any code-like text (not only ours: the page says
# "not genuine"), short enough to become a follow scene ``pc_<code>`` of WeChat's 64 characters.
PASTED_CODE = re.compile(r"[A-Za-z0-9_-]{1,61}")
CLAIM_PATH = re.compile(r"/p/([^/?#]*)/?")
FOLLOW_SCENE_PREFIX = "pc_"  # the claim page's follow code: following with it completes the claim
OPEN_SALT = "sandbox-phone-open"


@dataclass(frozen=True)
class ProductScan:
    """What the customer scanned: the code, and the batch and serial when it is one of ours."""

    code: str
    product: str | None = None
    serial: int | None = None


# ---- the batches ---------------------------------------------------------------------------


def batches_to_scan(runtime: Runtime) -> list[dict[str, Any]]:
    """The database's batches, newest first, as the phone offers them: product · prefix · quantity."""
    today = local_day(runtime.config, runtime.clock.now())
    with runtime.transaction() as db_session:
        rows = db_session.execute(
            select(CodeBatch.id, CodeBatch.product, CodeBatch.sku, CodeBatch.prefix, CodeBatch.quantity,
                   CodeBatch.valid_until).order_by(CodeBatch.id.desc()).limit(BATCHES_LISTED)).all()
        claimed = batches.claims_of(db_session=db_session, batch_ids=[row.id for row in rows])
    return [{"id": row.id, "product": row.product, "sku": row.sku, "prefix": row.prefix, "quantity": row.quantity,
             "claims": claimed.get(row.id, 0), "expired": row.valid_until is not None and today > row.valid_until}
            for row in rows]


# ---- what was scanned ----------------------------------------------------------------------


def _whole_number(value: Any, what: str, low: int, high: int) -> int:
    """A JSON integer or the digits a form field holds, within ``low``…``high``."""
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 12:
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidAction(_("%(what)s须是 %(low)s–%(high)s 的整数", what=what, low=low, high=high))
    return value


def from_batch(runtime: Runtime, batch_id: Any, serial: Any) -> ProductScan:
    """The code printed on the package ``serial`` of the batch."""
    batch_id = _whole_number(batch_id, _("批次"), 1, INT_ID_MAX)
    with runtime.transaction() as db_session:
        batch = db_session.get(CodeBatch, batch_id)
        if batch is None:
            raise NotFound(_("没有编号为 %(id)s 的批次", id=batch_id), code="no_such_batch")
        prefix, product, quantity = batch.prefix, batch.product, batch.quantity
    if serial is None or serial == "":
        raise InvalidAction(_("请填写序号：这一批是 1–%(quantity)s", quantity=quantity))
    serial = _whole_number(serial, _("序号"), 1, quantity)
    code = ProductCodec.from_config(runtime.config).encode(prefix, serial)
    return ProductScan(code, product, serial)


def from_pasted(runtime: Runtime, pasted: Any) -> ProductScan:
    """A code, or a link to a claim page (``…/p/<code>``, of any site: a label printed for
    production opens here too). Anything code-like opens: the page says whether it is ours."""
    if not isinstance(pasted, str) or not pasted.strip():
        raise InvalidAction(_("请选择批次并填写序号，或粘贴商品码或 /p/ 链接"))
    text = pasted.strip()
    if len(text) > PASTE_MAX_CHARS:
        raise InvalidAction(_("粘贴的内容太长：商品码或 /p/ 链接不超过 %(n)s 个字符", n=PASTE_MAX_CHARS))
    if "/" in text:
        link = text if "://" in text or text.startswith("/") else "//" + text  # a host without a scheme
        found = CLAIM_PATH.fullmatch(urlsplit(link).path)
        if found is None:
            raise InvalidAction(_("这不是商品码的链接：链接应以 /p/<商品码> 结尾"))
        text = found[1]
    if not PASTED_CODE.fullmatch(text):
        raise InvalidAction(_("这不是商品码：商品码是 1–61 个字母、数字、“_”或“-”"))
    decoded = ProductCodec.from_config(runtime.config).decode(text)
    if decoded is not None:
        with runtime.transaction() as db_session:
            batch = batches.batch_by_prefix(db_session=db_session, prefix=decoded.prefix)
        if batch is not None and decoded.serial <= batch.quantity:
            return ProductScan(text.lower(), batch.product, decoded.serial)
    return ProductScan(text)


def scanned_of(runtime: Runtime, body: dict[str, Any]) -> ProductScan:
    """``{code}`` (pasted) or ``{batch_id, serial}`` (picked), not both."""
    pasted = body.get("code")
    picked = body.get("batch_id") not in (None, "")
    if pasted not in (None, "") and picked:
        raise InvalidAction(_("只给一个：选批次和序号，或粘贴商品码"))
    if picked:
        return from_batch(runtime, body["batch_id"], body.get("serial"))
    return from_pasted(runtime, pasted)


# ---- opening the claim page ----------------------------------------------------------------


def _serializer(runtime: Runtime) -> URLSafeSerializer:
    return URLSafeSerializer(runtime.config.secret_key, salt=OPEN_SALT)


def open_link(runtime: Runtime, openid: str, path: str) -> str:
    """The phone's link that opens ``path`` of this site in the customer's WeChat browser."""
    return url_for("phone_pages.open_as_customer", t=_serializer(runtime).dumps({"o": openid, "p": path}))


def scan_product(runtime: Runtime, openid: str, scanned: ProductScan) -> dict[str, Any]:
    """The customer scans the package: the phone's line for it, and the link it opens."""
    now = runtime.clock.now()
    customer = customer_state(runtime.redis, openid)
    path = f"/p/{scanned.code}"
    link = {"title": path, "url": open_link(runtime, openid, path)}
    if not customer["following"]:
        link["scene"] = FOLLOW_SCENE_PREFIX + scanned.code  # the follow the claim page asks for
    if scanned.product is not None:
        text = _("扫描商品码：%(product)s 第 %(serial)s 号", product=scanned.product, serial=scanned.serial)
    else:
        text = _("扫描商品码：%(code)s", code=scanned.code)
    entry = {**_entry("note", "link", now, text=text), "articles": [link]}
    _remember(runtime.redis, openid, [entry])
    return {"code": scanned.code, "open": link["url"], "messages": [entry], "customer": customer}


def browse_as(runtime: Runtime, openid: str) -> None:
    """This browser is now the customer's WeChat browser: the authorize page signs them in, and
    what the customer pages remember of someone else ends (it was another phone): their sign-in,
    and the claim page's visitor (a WeChat user not following, ``product_visitor``)."""
    session[mp_oauth.BROWSER_USER] = openid
    visitor = session.get(VISITOR)
    if isinstance(visitor, dict) and visitor.get("o") != openid:
        session.pop(VISITOR, None)
    held = session.get(SIGNED_IN)
    if not isinstance(held, dict):
        return
    with runtime.transaction() as db_session:
        mine = customers.lookup(db_session=db_session, channel="mp", external_id=openid)
        theirs = customers.resolve(db_session=db_session, customer_id=held["c"]) if isinstance(held.get("c"), int) \
            else None
        same = mine is not None and theirs is not None and mine.id == theirs.id
    if not same:
        session.pop(SIGNED_IN, None)


# ---- routes --------------------------------------------------------------------------------


@phone_pages.get("/api/product-batches")
def product_batches():  # noqa: ANN201
    return jsonify(batches=batches_to_scan(current_runtime()))


@phone_pages.post("/api/scan-product")
def scan_product_code():  # noqa: ANN201
    body = _json_body()
    if not isinstance(body, dict):
        raise InvalidAction("the body must be a JSON object {openid, batch_id, serial} or {openid, code}")
    openid = _check_openid(body.get("openid"))
    runtime = current_runtime()
    return jsonify(scan_product(runtime, openid, scanned_of(runtime, body)))


@phone_pages.get("/open")
def open_as_customer():  # noqa: ANN201
    runtime = current_runtime()
    try:
        held = _serializer(runtime).loads(request.args.get("t", ""))
    except BadSignature:
        raise InvalidAction("this link was not made by the phone sandbox; scan the code again") from None
    openid, path = _check_openid(held.get("o")), held.get("p")
    if not isinstance(path, str) or not path.startswith("/") or path.startswith("//"):
        raise InvalidAction("the phone opens pages of this site only")
    browse_as(runtime, openid)
    return redirect(path)
