"""Guides' tests: ``shop`` is store S1 with two guides, A (王小美) and B (李大力), the clock
stopped at the module's ``START`` (a module may define a ``shop`` of its own)."""

from __future__ import annotations

import pytest

from guide_world import create_guide, create_store
from scrm.clock import FrozenClock


@pytest.fixture
def shop(runtime, request: pytest.FixtureRequest):  # noqa: ANN001, ANN201
    runtime.clock = FrozenClock(request.module.START)
    create_store(runtime)
    return create_guide(runtime, "A", name="王小美"), create_guide(runtime, "B", name="李大力")
