"""The product-code batches' JSON API (SPEC §11, §14), for admins and managers.

- ``POST /api/code-batches {product, sku, quantity, reward: {points} | {coupon_template_id},
  store_code?, valid_until?}``: a batch (one row however many codes); 201 with it.
- ``GET /api/code-batches?page=&per_page=``: newest first, each with its claims.
- ``GET /api/code-batches/<id>``: one batch.
- ``GET /api/code-batches/<id>/codes.csv?from=&to=``: ``serial,code,url`` for every serial (or
  from…to), streamed as it is computed (scrm/products/exports.py): no transaction stays open
  while it streams, and a batch of 100,000,000 streams in flat memory.
- ``GET /api/code-batches/<id>/sheet.pdf?from=&to=``: A4 label sheets for at most 5,000
  serials (scrm/products/sheets.py).
- ``GET /api/product-codes/stats?from=&to=&batch_id=&product=&store=&guide=``: the figures of
  a period of local days (at most 93) beside the period before (scrm/products/stats.py).

Refusals: 404 for no such batch; 422 naming the field for bad input (an unknown store or coupon
template, a past ``valid_until``, a range beyond the batch).
"""

from __future__ import annotations

import re
from urllib.parse import quote

from flask import Blueprint, Response, jsonify, request

from scrm.errors import InvalidInput, validated
from scrm.products import batches, exports, listing, sheets, stats
from scrm.products.models import CodeBatch
from scrm.products.schemas import BatchIn, CodeRange, SheetRange
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime, day_range, json_object, path_ids_fit, query_id_of, query_int
from scrm.web.auth import current_caller, require_role
from scrm.web.errors import NotFound

blueprint = Blueprint("products_api", __name__)
path_ids_fit(blueprint, batch_id=CodeBatch.id)

MAX_PAGE = 10_000
STATS_MOST_DAYS = 93  # a quarter: 90 days over 500,000 claims a month take 5-12 s (bench/product_stats.py)
_NOT_IN_FILENAMES = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


class InvalidBatchInput(InvalidInput):
    """Bad batch input; ``field`` names the first offending field."""


@blueprint.post("/api/code-batches")
@require_role(*MANAGERS)
def create_batch():  # noqa: ANN201
    """A batch of product codes: nothing is stored per code until one is claimed."""
    batch_in = validated(BatchIn, json_object(), error=InvalidBatchInput, what="a code batch")
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        batch = batches.create_batch(db_session=db_session, config=runtime.config, batch_in=batch_in,
                                     at=runtime.clock.now(), created_by=current_caller().name[:64])
        body = listing.batches_out(db_session=db_session, batches=[batch])[0]
    return jsonify(body), 201


@blueprint.get("/api/code-batches")
@require_role(*MANAGERS)
def list_batches():  # noqa: ANN201
    """Every batch, newest first, a page at a time, each with its claims."""
    page = query_int("page", default=1, low=1, high=MAX_PAGE)
    per_page = query_int("per_page", default=20, low=1, high=listing.MAX_PER_PAGE)
    with current_runtime().transaction() as db_session:
        found = listing.list_batches(db_session=db_session, page=page, per_page=per_page)
        rows = listing.batches_out(db_session=db_session, batches=found.batches)
    return jsonify(batches=rows, page=found.page, per_page=found.per_page, total=found.total,
                   has_more=found.has_more)


@blueprint.get("/api/code-batches/<int:batch_id>")
@require_role(*MANAGERS)
def get_batch(batch_id: int):  # noqa: ANN201
    """One batch, with its claims."""
    with current_runtime().transaction() as db_session:
        batch = batches.get_batch(db_session=db_session, batch_id=batch_id)
        return jsonify(listing.batches_out(db_session=db_session, batches=[batch])[0])


@blueprint.get("/api/code-batches/<int:batch_id>/codes.csv")
@require_role(*MANAGERS)
def codes_csv(batch_id: int):  # noqa: ANN201
    """The batch's codes as CSV (serial,code,url), streamed."""
    wanted = _range(CodeRange, request.args.get("from"), request.args.get("to"))
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        batch = batches.get_batch(db_session=db_session, batch_id=batch_id)
    first, last = _within(batch, wanted.first or 1, wanted.last or batch.quantity)
    # Made while the answer is sent, after the transaction above has ended.
    rows = exports.csv_chunks(config=runtime.config, batch=batch, first=first, last=last)
    response = Response(rows, mimetype="text/csv")
    response.headers["Content-Disposition"] = _disposition("attachment", batch, first, last, "csv")
    return response


@blueprint.get("/api/code-batches/<int:batch_id>/sheet.pdf")
@require_role(*MANAGERS)
def sheet_pdf(batch_id: int):  # noqa: ANN201
    """Printable A4 label sheets (65 labels of 38.1 × 21.2 mm a page) for serials from…to."""
    wanted = _range(SheetRange, request.args.get("from"), request.args.get("to"))
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        batch = batches.get_batch(db_session=db_session, batch_id=batch_id)
    first, last = _within(batch, wanted.first, wanted.last)
    pdf = sheets.render_sheet(config=runtime.config, batch=batch, first=first, last=last)
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = _disposition("inline", batch, first, last, "pdf")
    return response


# ---- helpers -------------------------------------------------------------------------------


def _range(model, first: str | None, last: str | None):  # noqa: ANN001, ANN202
    """``from`` and ``to`` of the query (an empty one is left out) validated by ``model``."""
    given = {name: value for name, value in (("from", first), ("to", last)) if value not in (None, "")}
    return validated(model, given, error=InvalidBatchInput, what="a range of serials")


def _within(batch: CodeBatch, first: int, last: int) -> tuple[int, int]:
    if last > batch.quantity:
        raise InvalidBatchInput("to", f"the batch's serials go from 1 to {batch.quantity}")
    if first > last:
        raise InvalidBatchInput("from", f"must not be above to ({last})")
    return first, last


def _disposition(kind: str, batch: CodeBatch, first: int, last: int, extension: str) -> str:
    """An ASCII file name every client reads, and the product's own (RFC 5987 ``filename*``)
    for those that read it."""
    plain = f"batch-{batch.id}-{first}-{last}.{extension}"
    named = _NOT_IN_FILENAMES.sub("_", f"{batch.product}-{batch.sku}-{first}-{last}.{extension}")
    return f"{kind}; filename=\"{plain}\"; filename*=UTF-8''{quote(named, safe='')}"


@blueprint.get("/api/product-codes/stats")
@require_role(*MANAGERS)
def product_stats():  # noqa: ANN201
    """Claims, customers, new followers, repeat and refused scans per day, batch, product,
    store and guide, beside the period before, and the suspicious patterns."""
    runtime = current_runtime()
    first, last = day_range(runtime, most_days=STATS_MOST_DAYS, default_days=30)
    batch_id = query_id_of("batch_id", CodeBatch.id)
    product = request.args.get("product") or None
    with runtime.transaction() as db_session:
        choices = stats.filter_choices(db_session=db_session)
        if batch_id is not None and not choices.has_batch(batch_id):
            raise NotFound(f"no batch has the id {batch_id}")
        if product is not None and product not in choices.products:
            raise NotFound(f"no batch is of the product {product!r}")
        store_id = _id_of(choices.store_id, request.args.get("store"), "store")
        guide_id = _id_of(choices.guide_id, request.args.get("guide"), "guide")
        found = stats.product_stats(db_session=db_session, config=runtime.config, first_day=first, last_day=last,
                                    batch_id=batch_id, product=product, store_id=store_id, guide_id=guide_id)
    return jsonify(stats.stats_out(found))


def _id_of(find, code: str | None, name: str) -> int | None:  # noqa: ANN001
    """The id of the store or guide (``name``) of that code (``find``: Choices.store_id or
    guide_id); 404 for none."""
    if not code:
        return None
    found = find(code)
    if found is None:
        raise NotFound(f"no {name} has the code {code!r}")
    return found
