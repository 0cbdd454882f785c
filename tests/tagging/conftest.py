"""Tagging's tests: a clock stopped at the module's ``T0``, moved on by the tests (decay,
lapses, link expiry)."""

from __future__ import annotations

import pytest

from scrm.clock import FrozenClock


@pytest.fixture
def clock(runtime, request: pytest.FixtureRequest):  # noqa: ANN001, ANN201
    runtime.clock = FrozenClock(request.module.T0)
    return runtime.clock
