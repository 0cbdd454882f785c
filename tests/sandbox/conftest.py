"""The sandbox's fake WeChat API, called as our clients call it: on a clock stopped at the
same moment for every test, with the sandbox's Redis at hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scrm.clock import FrozenClock

SANDBOX_NOW = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def clock(runtime):  # noqa: ANN001, ANN201
    runtime.clock = FrozenClock(SANDBOX_NOW)
    return runtime.clock


@pytest.fixture
def redis(runtime):  # noqa: ANN001, ANN201
    return runtime.redis
