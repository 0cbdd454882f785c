"""Signed, timestamped tokens whose time comes from the runtime's clock (frozen in tests),
not ``time.time()``: tracked links, guides' login links."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from itsdangerous import TimestampSigner, URLSafeTimedSerializer

if TYPE_CHECKING:
    from scrm.runtime import Runtime


class _ClockSigner(TimestampSigner):
    def __init__(self, *args: Any, clock: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock

    def get_timestamp(self) -> int:
        return int(self.clock.timestamp())


def clock_serializer(runtime: Runtime, *, salt: str) -> URLSafeTimedSerializer:
    """``dumps`` stamps with the runtime's clock; check age yourself with :func:`signed_before`
    (itsdangerous's own ``max_age`` reads the wall clock)."""
    return URLSafeTimedSerializer(
        runtime.config.secret_key, salt=salt, signer=_ClockSigner, signer_kwargs={"clock": runtime.clock}
    )


def age_seconds(runtime: Runtime, signed_at: datetime) -> float:
    return (runtime.clock.now() - signed_at).total_seconds()
