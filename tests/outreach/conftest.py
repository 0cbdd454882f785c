"""Outreach's tests. In a module that sets ``OUTREACH`` (its ``outreach.*`` and ``queue.*``
settings), ``frozen`` also applies them and keeps the deliveries the planner hands to the
sender in ``runtime.queued`` instead of queueing them, so that the test sends them itself (or
not). Elsewhere ``frozen`` is the shared one: the clock stopped at the module's ``NOW``."""

from __future__ import annotations

import pytest

from platform_world import reconfigure
from scrm.outreach import planner


@pytest.fixture
def frozen(frozen, monkeypatch, request: pytest.FixtureRequest):  # noqa: ANN001, ANN201
    settings = getattr(request.module, "OUTREACH", None)
    if settings is None:
        return frozen
    reconfigure(frozen, settings)
    frozen.queued = []
    monkeypatch.setattr(planner, "enqueue_sends", lambda _runtime, ids: frozen.queued.extend(ids))
    return frozen
