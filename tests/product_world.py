"""Test data for product codes (scrm/products): batches and their codes, claims, through the
real services."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from scrm import flows
from scrm.products import batches, claiming
from scrm.products.codes import ProductCodec
from scrm.products.schemas import BatchIn


def make_batch(runtime, **fields: Any) -> batches.BatchRef:  # noqa: ANN001
    """A batch (defaults: 100 codes of 英氏 米粉 for 50 points); its reference."""
    body = {"product": "英氏多维营养米粉", "sku": "YS-MF-01", "quantity": 100, "reward": {"points": 50}, **fields}
    with runtime.transaction() as db_session:
        batch = batches.create_batch(db_session=db_session, config=runtime.config, batch_in=BatchIn(**body),
                                     at=runtime.clock.now(), created_by="test")
        return batches.batch_by_prefix(db_session=db_session, prefix=batch.prefix)


def code_of(runtime, batch: batches.BatchRef, serial: int) -> str:  # noqa: ANN001
    return ProductCodec.from_config(runtime.config).encode(batch.prefix, serial)


def claim(runtime, batch: batches.BatchRef, serial: int, customer_id: int, **kwargs: Any) -> claiming.Claimed:  # noqa: ANN001
    """The customer claims the code (scrm.flows, as the page and the follow do), in its own transaction."""
    with runtime.transaction() as db_session:
        return flows.claim_product_code(runtime=runtime, db_session=db_session, batch=batch, serial=serial,
                                        customer_id=customer_id, **kwargs)


@contextmanager
def statements(runtime):  # noqa: ANN001
    """Every SQL statement the runtime's engine runs inside the block, in a list."""
    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        seen.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(runtime.engine, "before_cursor_execute", before)
