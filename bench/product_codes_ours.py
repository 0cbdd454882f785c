"""Our side of bench/product_codes.py: the product's database and people, the batch made
through the API, codes generated and verified in process, and customers signed in the way a
phone in WeChat is (the claim page's MP web sign-in, played by the sandbox).

People are made through the services: a manager (their API token makes the batch and reads
codes.csv), a store and its guides, and ``customers`` followers of the account who are members
(so a claim's points go to the ledger) and are bound to the store's guides (so a claim renews
the binding's protection and credits the guide): a claim walks the whole path a real one does.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import requests

from bench.databases import database_url, migrate_afresh
from bench.product_codes_http import cookie_header, csrf_token_of

STORE = "S00"
PRODUCT, SKU, POINTS = "英氏多维营养米粉", "YS-MF-01", 10


@dataclass(frozen=True)
class People:
    manager_token: str
    openids: list[str]
    customer_ids: list[int]


def prepare_database(database: str) -> str:
    """The bench's database, created if missing; our schema dropped and migrated (the peers'
    schema is left as it is). Returns its SQLAlchemy URL."""
    url = database_url(database)
    migrate_afresh(url)
    return url


def seed_people(runtime, customers: int, guides: int) -> People:  # noqa: ANN001
    """The manager, the store, its guides, and the customers (followers, members, bound)."""
    from guides import service
    from guides.binding import bind, guide_card
    from guides.schemas import GuideIn, StoreIn
    from scrm.customers import service as customer_service
    from scrm.members.service import create_member
    from scrm.sandbox import world
    from scrm.users.service import create_user

    now = runtime.clock.now()
    with runtime.transaction() as db_session:
        _, manager_token = create_user(db_session=db_session, name="bench-manager", role="manager")
        service.create_store(runtime=runtime, db_session=db_session, store_in=StoreIn(code=STORE, name="英氏旗舰店"))
    guide_ids = []
    for g in range(guides):
        userid = f"bench-guide-{g:02d}"
        world.add_member(runtime.redis, userid, f"导购{g:02d}")
        with runtime.transaction() as db_session:
            guide = service.create_guide(runtime=runtime, db_session=db_session, guide_in=GuideIn(
                code=f"G{g:02d}", name=f"导购{g:02d}", store=STORE, wecom_userid=userid))
            guide_ids.append(guide.id)
    openids = [f"obench{j:08d}claims" for j in range(customers)]
    world.add_followers(runtime.redis, openids, at=now)
    customer_ids = []
    for start in range(0, customers, 100):
        with runtime.transaction() as db_session:
            for j in range(start, min(start + 100, customers)):
                identity, _ = customer_service.contact(db_session=db_session, channel="mp", external_id=openids[j],
                                                       at=now)
                customer_service.set_following(db_session=db_session, identity=identity, following=True, at=now)
                create_member(db_session=db_session, config=runtime.config, customer_id=identity.customer_id,
                              phone=f"139{j:08d}", at=now, joined_via="bench")
                bind(runtime=runtime, db_session=db_session, customer_id=identity.customer_id,
                     guide=guide_card(db_session=db_session, guide_id=guide_ids[j % guides]), code_id=None,
                     channel="mp", at=now, previous_guide_id=None)
                customer_ids.append(identity.customer_id)
    return People(manager_token, openids, customer_ids)


def create_batch(base_url: str, token: str, quantity: int) -> dict:
    """The batch of ``quantity`` codes, through ``POST /api/code-batches`` as a manager makes it."""
    answer = requests.post(f"{base_url}/api/code-batches", timeout=30, headers={"Authorization": f"Bearer {token}"},
                           json={"product": PRODUCT, "sku": SKU, "quantity": quantity, "reward": {"points": POINTS},
                                 "store_code": STORE})
    if answer.status_code != 201:
        raise SystemExit(f"POST /api/code-batches: {answer.status_code} {answer.text[:500]}")
    return answer.json()


def sign_in(base_url: str, openid: str, code: str) -> tuple[str, str]:
    """A customer opens the claim page of ``code`` in WeChat: sent to the account's web sign-in
    (the sandbox's authorize page, where they say who they are, as WeChat knows), back through
    ``/p/oauth/callback``, and shown the page. Their ``Cookie`` header and the form's
    ``csrf_token``."""
    browser = requests.Session()
    page = browser.get(f"{base_url}/p/{code}", timeout=30)
    if "/sandbox/wechat/mp/connect/oauth2/authorize" not in page.url:
        raise SystemExit(f"GET /p/{code} without a session did not lead to the web sign-in: {page.status_code} {page.url}")
    page = browser.post(page.url, data={"openid": openid}, timeout=30)
    if page.status_code != 200 or not page.url.split("#")[0].endswith(f"/p/{code}"):  # a browser keeps the fragment
        raise SystemExit(f"the web sign-in of {openid} ended at {page.url} ({page.status_code}): {page.text[:300]}")
    return cookie_header(browser.cookies), csrf_token_of(page.text)


def generate(codec, prefix: str, count: int, public_base_url: str) -> dict:  # noqa: ANN001
    """``count`` codes of the batch as CSV rows ``serial,code,url`` (as codes.csv has them),
    joined 1,000 rows at a time and dropped: codes/s, bytes, and this process's memory."""
    base = public_base_url.rstrip("/") + "/p/"
    before = _own_rss_kib()
    started = time.perf_counter()
    rows: list[str] = []
    size = peak = 0
    for serial, code in codec.codes(prefix, 1, count):
        rows.append(f"{serial},{code},{base}{code}\n")
        if len(rows) == 1000:
            size += len("".join(rows))
            rows = []
            if serial % 1_000_000 == 0:
                peak = max(peak, _own_rss_kib())
    size += len("".join(rows))
    seconds = time.perf_counter() - started
    after = _own_rss_kib()
    return {"rows": count, "bytes": size, "seconds": seconds, "rss": (before, max(peak, after), after)}


def export_in_process(config, batch: dict) -> dict:  # noqa: ANN001
    """The rows codes.csv streams, made in this process by ``exports.csv_chunks`` (what the
    endpoint runs) and dropped: rows/s, bytes, and this process's memory."""
    from types import SimpleNamespace

    from scrm.products.exports import csv_chunks

    before = _own_rss_kib()
    started = time.perf_counter()
    size = lines = 0
    for chunk in csv_chunks(config=config, batch=SimpleNamespace(prefix=batch["prefix"], quantity=batch["quantity"])):
        size += len(chunk)
        lines += chunk.count("\n")
    seconds = time.perf_counter() - started
    return {"rows": lines - 1, "bytes": size, "seconds": seconds, "rss": (before, _own_rss_kib(), _own_rss_kib())}


def statements_per_claim(runtime, batch: dict, serial: int, customer_id: int) -> int:  # noqa: ANN001
    """The SQL statements a claim runs (the page's check of the code, then the claim), counted
    on one claim made in this process as the page makes it."""
    from sqlalchemy import event

    from scrm import flows
    from scrm.products import claiming
    from scrm.products.codes import ProductCodec

    code = ProductCodec.from_config(runtime.config).encode(batch["prefix"], serial)
    seen: list[str] = []

    def count(*_args) -> None:  # noqa: ANN002
        seen.append("")

    event.listen(runtime.engine, "before_cursor_execute", count)
    try:
        with runtime.transaction() as db_session:
            checked = claiming.check_code(runtime=runtime, db_session=db_session, code=code)
            claimed = flows.claim_product_code(runtime=runtime, db_session=db_session, batch=checked.batch,
                                               serial=checked.serial, customer_id=customer_id)
    finally:
        event.remove(runtime.engine, "before_cursor_execute", count)
    if claimed.result != "claimed":
        raise SystemExit(f"the claim counted for its statements was {claimed.result}")
    return len(seen)


def verify(codec, codes: list[str]) -> tuple[float, int]:  # noqa: ANN001
    """``ProductCodec.decode`` of every code, one thread: (seconds, codes found genuine)."""
    decode = codec.decode
    started = time.perf_counter()
    genuine = sum(1 for code in codes if decode(code) is not None)
    return time.perf_counter() - started, genuine


def claim_counts(url: str, batch_id: int) -> dict[str, int]:
    """The claims of the batch by the page, the points they gave, and scans refused."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT (SELECT count(*) FROM product_claims WHERE batch_id = :b) AS claims, "
            "(SELECT count(DISTINCT serial) FROM product_claims WHERE batch_id = :b) AS serials, "
            "(SELECT count(*) FROM product_claims WHERE batch_id = :b AND guide_id IS NOT NULL) AS credited, "
            "(SELECT coalesce(sum(amount), 0) FROM point_entries WHERE source = 'product_claim') AS points, "
            "(SELECT count(*) FROM product_scans) AS refused"), {"b": batch_id}).one()
    engine.dispose()
    return dict(row._mapping)


def _own_rss_kib() -> int:
    from bench.product_codes_http import rss_kib

    return rss_kib(os.getpid()) or 0
