"""The funnel as ``GET /api/stats/funnel`` answers it (described in /api/openapi.json)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FunnelStageOut(BaseModel):
    stage: str
    count: int
    rate_from_previous: float | None = Field(description="of the step before; null for the first or after 0")


class FunnelOut(BaseModel):
    first_day: str
    last_day: str
    stages: list[FunnelStageOut]
