"""Jobs shaped like the product's: module-level, take ids, own their DB session."""

from __future__ import annotations

from scrm.customers.models import Customer, Interaction
from scrm.errors import RetryLater
from scrm.runtime import Runtime, current, job


@job
def note_on_timeline(runtime: Runtime, customer_id: int, kind: str = "job_ran") -> None:
    with runtime.transaction() as db_session:
        customer = db_session.get(Customer, customer_id)
        if customer is None:
            raise LookupError(f"customer {customer_id} is not there")
        db_session.add(Interaction(customer_id=customer.id, kind=kind, occurred_at=runtime.clock.now(), payload={}))


def always_fails(customer_id: int) -> None:
    current().redis.incr(f"test:attempts:{customer_id}")
    raise ValueError(f"cannot process customer {customer_id}")


@job
def rate_limited_once(runtime: Runtime, customer_id: int) -> None:
    if runtime.redis.incr(f"test:attempts:{customer_id}") == 1:
        raise RetryLater("slow down", retry_after=30)
    note_on_timeline(customer_id, "after_backoff")
