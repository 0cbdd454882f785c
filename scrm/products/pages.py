"""Console pages for product codes (一物一码 · 码批次, SPEC §11, §14), for admins and managers:
the batches (filtered by product and store, with each one's reward and how many of its codes
are claimed), a new batch, one batch (its summary, an example label, the downloads of its codes
and label sheets, the latest claims), and the downloads themselves.

A new batch is two steps, as the members' manual grant is: the form (with a key drawn when it
is drawn) is checked as the JSON API checks a batch (schemas.BatchIn, then what create_batch
refuses, read-only) and answered with a confirmation stating the consequence ("将生成 100,000
个码，每个码首次扫码可得 50 积分"); only the confirmation writes. A batch row has no column for
the form's key (no migration for it), so the key is held in Redis (:func:`_first_post`): the
first confirmation with a key makes the batch, a second one (a double click, a reload) waits for
the first and is shown the batch it made, writing nothing. Refused input re-renders the form
with each error under its field and what was typed, and writes nothing (422).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from urllib.parse import quote

import segno
from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from scrm.errors import InvalidInput, validated
from scrm.products import batches as batch_service
from scrm.products import console_forms as forms
from scrm.products import console_views as views
from scrm.products import exports, sheets
from scrm.products.codes import ProductCodec, code_url
from scrm.products.models import CodeBatch
from scrm.products.schemas import SHEET_MAX_LABELS, BatchIn
from scrm.texts import local_time
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime, path_ids_fit
from scrm.web.auth import current_caller, require_role
from scrm.web.forms import form_fields, not_found_as_404
from scrm.web.refusals import reader_message

product_console = Blueprint("product_console", __name__, template_folder="templates", url_prefix="/console")
path_ids_fit(product_console, batch_id=CodeBatch.id)

MAX_PAGE = 100_000
FORM_KEY = "scrm:products:batch-form:{}"
PENDING_SECONDS = 120  # a confirmation still making its batch (a crash leaves the key this long)
DONE_SECONDS = 24 * 3600  # a form confirmed again within a day is shown the batch it made
WAIT_SECONDS = 10  # how long a second confirmation waits for the first to finish

_404_when_missing = not_found_as_404(batch_service.BatchMissing)
_NOT_IN_FILENAMES = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')


class InvalidBatchForm(InvalidInput):
    """A batch form the schema refuses."""


# ---- the list ---------------------------------------------------------------------------------


@product_console.get("/product-codes")
@require_role(*MANAGERS)
def batches():  # noqa: ANN201
    runtime = current_runtime()
    typed = form_fields(request.args, *forms.FILTER_FIELDS)
    product, store_id = forms.filter_of(typed)
    page = _page(request.args.get("page"))
    with runtime.transaction() as db_session:
        rows, total = views.batch_rows(db_session=db_session, product=product, store_id=store_id,
                                       limit=views.PAGE, offset=(page - 1) * views.PAGE)
        products = views.product_choices(db_session=db_session)
        stores = views.store_choices(db_session=db_session)
    return render_template("products/batches.html", rows=rows, total=total, page=page,
                           pages=max(1, -(-total // views.PAGE)), typed=typed, filtered=any(typed.values()),
                           products=products, stores=stores, today=_today(), **_helpers())


# ---- a new batch --------------------------------------------------------------------------------


@product_console.get("/product-codes/new")
@require_role(*MANAGERS)
def new_batch():  # noqa: ANN201
    return _batch_form(form={**dict.fromkeys(forms.FORM_FIELDS, ""), "reward_kind": "points", "key": _new_key()})


@product_console.post("/product-codes")
@require_role(*MANAGERS)
def create_batch():  # noqa: ANN201
    """Step 1 (no ``confirm``): check the form and show what it will make. Step 2: make it, once."""
    runtime = current_runtime()
    form = form_fields(request.form, *forms.FORM_FIELDS)
    if request.form.get("edit") == "1":  # 返回修改 on the confirmation: the form as it was typed
        return _batch_form(form=form)
    batch_in, reward, errors = _checked(form)
    if errors:
        return _batch_form(form=form, errors=errors, status=422)
    if request.form.get("confirm") != "1":
        return render_template("products/batch_confirm.html", batch=batch_in, reward=reward, form=form,
                               **_helpers())
    fingerprint = hashlib.sha256(batch_in.model_dump_json().encode()).hexdigest()[:16]
    made = _first_post(form["key"], fingerprint)
    if made == "other":
        errors = [forms.refusal("key", "stale_form")]
        return _batch_form(form={**form, "key": _new_key()}, errors=errors, status=409)
    if made is not None:
        flash(_("这个批次已经创建过了，没有重复创建。") if made else _("这个批次正在创建，请稍候刷新。"))
        return redirect(url_for(".batch", batch_id=made) if made else url_for(".batches"), code=303)
    try:
        with runtime.transaction() as db_session:
            batch_id = batch_service.create_batch(db_session=db_session, config=runtime.config, batch_in=batch_in,
                                            at=runtime.clock.now(), created_by=current_caller().name).id
    except batch_service.BatchInvalid as exc:  # changed since step 1 (a store removed, midnight passed)
        runtime.redis.delete(FORM_KEY.format(form["key"]))
        return _batch_form(form=form, errors=forms.form_refusals(exc.errors, form), status=422)
    except Exception:
        runtime.redis.delete(FORM_KEY.format(form["key"]))
        raise
    runtime.redis.set(FORM_KEY.format(form["key"]), f"{batch_id}:{fingerprint}", ex=DONE_SECONDS)
    flash(_("批次已创建：%(n)s 个码。下面可以下载码表和标签。", n=_thousands(batch_in.quantity)))
    return redirect(url_for(".batch", batch_id=batch_id), code=303)


# ---- one batch ----------------------------------------------------------------------------------


@product_console.get("/product-codes/<int:batch_id>")
@require_role(*MANAGERS)
@_404_when_missing
def batch(batch_id: int):  # noqa: ANN201
    return _batch_page(batch_id)


@product_console.get("/product-codes/<int:batch_id>/codes.csv")
@require_role(*MANAGERS)
@_404_when_missing
def codes_csv(batch_id: int):  # noqa: ANN201
    """The batch's codes (all, or ``?from=&to=``) as CSV, streamed as they are computed: no
    transaction stays open while it downloads, and memory stays flat for any size."""
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        row = views.batch_row(db_session=db_session, batch_id=batch_id)
    first, last, errors = forms.serial_range(request.args, quantity=row.quantity, default_last=row.quantity)
    if errors:
        return _batch_page(batch_id, download_errors=errors, failed="csv", status=422)
    chunks = exports.csv_chunks(config=runtime.config, batch=row.ref, first=first, last=last)
    name = f"{row.prefix}-{first}-{last}" if (first, last) != (1, row.quantity) else row.prefix
    return Response(chunks, mimetype="text/csv",
                    headers={"Content-Disposition": _attachment(f"codes-{name}.csv", f"{row.product}-{name}.csv")})


@product_console.get("/product-codes/<int:batch_id>/sheet.pdf")
@require_role(*MANAGERS)
@_404_when_missing
def sheet_pdf(batch_id: int):  # noqa: ANN201
    """Printable label sheets for ``?from=&to=`` (at most SHEET_MAX_LABELS labels a file)."""
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        row = views.batch_row(db_session=db_session, batch_id=batch_id)
    first, last, errors = forms.serial_range(request.args, quantity=row.quantity,
                                             default_last=min(row.quantity, SHEET_MAX_LABELS), most=SHEET_MAX_LABELS)
    if errors:
        return _batch_page(batch_id, download_errors=errors, failed="sheet", status=422)
    pdf = sheets.render_sheet(config=runtime.config, batch=row.ref, first=first, last=last)
    name = f"{row.prefix}-{first}-{last}"
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": _attachment(f"labels-{name}.pdf", f"{row.product}-{name}.pdf")})


# ---- helpers ------------------------------------------------------------------------------------


def _checked(form: dict[str, str]):  # noqa: ANN202
    """The batch the form describes, the reward as the confirmation words it, and every error
    on the form's fields (the schema's, then what create_batch would refuse)."""
    runtime = current_runtime()
    errors = forms.shape_refusals(form)
    try:
        batch_in = validated(BatchIn, forms.batch_body(form), error=InvalidBatchForm, what="a batch")
    except InvalidBatchForm as exc:
        return None, None, _worded(errors + forms.form_refusals(exc.errors, form))
    with runtime.transaction() as db_session:
        reward, refused = views.check_new_batch(db_session=db_session, config=runtime.config, batch_in=batch_in,
                                                at=runtime.clock.now())
    errors += [forms.refusal(item["field"], item["code"]) for item in refused]
    return batch_in, reward, _worded(errors)


def _first_post(key: str, fingerprint: str) -> int | str | None:
    """None: this confirmation is the form's first, and makes the batch. Otherwise what the
    first made: its batch id; 0 while it is still being made; ``"other"``: the key made a
    different batch (the form was changed and sent again), which is refused."""
    redis, name = current_runtime().redis, FORM_KEY.format(key)
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        if redis.set(name, "pending", nx=True, ex=PENDING_SECONDS):
            return None
        value = (redis.get(name) or b"").decode()
        if value and value != "pending":
            batch_id, _, made_from = value.partition(":")
            return int(batch_id) if made_from == fingerprint else "other"
        if time.monotonic() > deadline:
            return 0
        time.sleep(0.05)


def _batch_form(*, form: dict[str, str], errors: list | None = None, status: int = 200):  # noqa: ANN202
    with current_runtime().transaction() as db_session:
        templates = views.template_choices(db_session=db_session)
        stores = views.store_choices(db_session=db_session)
    errors = errors or []
    return render_template("products/batch_form.html", form=form, errors=forms.labelled(errors),
                           field_errors=forms.by_field(errors), templates=templates, stores=stores,
                           **_helpers()), status


def _batch_page(batch_id: int, *, download_errors: list | None = None, failed: str | None = None,
                status: int = 200):  # noqa: ANN202
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        row = views.batch_row(db_session=db_session, batch_id=batch_id)
        claims = views.latest_claims(db_session=db_session, batch_id=batch_id)
    example_code = ProductCodec.from_config(runtime.config).encode(row.prefix, 1)
    example_url = code_url(runtime.config.server.public_base_url, example_code)
    qr = Markup(segno.make_qr(example_url, error="m").svg_inline(scale=3, border=4, title=example_url))
    sheet_last = min(row.quantity, SHEET_MAX_LABELS)
    typed = {name: request.args.get(name, "") for name in ("from", "to")}
    return render_template("products/batch.html", batch=row, claims=claims, example_code=example_code,
                           example_url=example_url, qr=qr, sheet_max=SHEET_MAX_LABELS, sheet_last=sheet_last,
                           typed=typed, download_errors=download_errors or [], failed=failed, today=_today(),
                           **_helpers()), status


def _attachment(ascii_name: str, name: str) -> str:
    """A download's file name: ASCII for old clients, the product's own words (RFC 5987) for
    the rest, without the characters file systems refuse."""
    named = quote(_NOT_IN_FILENAMES.sub("_", name), safe="")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{named}"


def _worded(errors: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{**item, "message": reader_message(item["message"])} for item in errors]


def _helpers() -> dict:
    return {"local": _local, "n": _thousands, "rate": views.claim_rate, "caller": current_caller()}


def _new_key() -> str:
    return secrets.token_urlsafe(16)


def _local(at) -> str:  # noqa: ANN001
    return local_time(at, current_runtime().config.brand.zone) if at is not None else ""


def _today():  # noqa: ANN202
    runtime = current_runtime()
    return runtime.clock.now().astimezone(runtime.config.brand.zone).date()


def _thousands(number: int) -> str:
    return f"{number:,}"


def _page(raw: str | None) -> int:
    """A hand-edited ?page= is a page that does not exist, never an error."""
    return int(raw) if raw and raw.isascii() and raw.isdigit() and 0 < int(raw) <= MAX_PAGE else 1
