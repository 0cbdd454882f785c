"""Errors shared across domains."""

from __future__ import annotations


class RetryLater(Exception):
    """Transient refusal: try again after ``retry_after`` seconds (the queue backs off by it
    without spending one of the job's retries). WeChat's rate limits raise a subclass."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
