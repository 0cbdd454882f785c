"""Membership figures as ``GET /api/members/stats`` answers them (described in /api/openapi.json;
computed by scrm/members/stats.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class MemberStatsTotalsOut(BaseModel):
    joined: int = Field(description="members who joined")
    issued: int = Field(description="points earned: orders, check-ins, grants, product codes, refunds giving back")
    spent: int = Field(description="points spent: exchanges, orders, manual deductions")
    expired: int = Field(description="points taken by the nightly expiry")
    reversed: int = Field(description="points refunds took back")
    checkins: int
    exchanges: int
    exchange_points: int


class MemberStatsDayOut(MemberStatsTotalsOut):
    day: str = Field(description="a local day (brand.timezone), YYYY-MM-DD")


class MemberStatsLevelOut(BaseModel):
    level_id: int
    name: str
    rank: int
    members: int = Field(description="members at the level now")


class MemberStatsItemOut(BaseModel):
    item_id: int
    name: str
    exchanges: int
    points: int


class MemberStatsOutstandingOut(BaseModel):
    total: int = Field(description="the sum of every member's balance now (the brand's liability)")
    available: int = Field(description="points members can spend now")
    frozen: int = Field(description="points earned by orders still in their return window")


class MemberStatsOut(BaseModel):
    first_day: str
    last_day: str
    before_first_day: str = Field(description="the period of the same length before, compared")
    before_last_day: str
    members: int = Field(description="members now")
    by_level: list[MemberStatsLevelOut]
    days: list[MemberStatsDayOut]
    totals: MemberStatsTotalsOut
    before: MemberStatsTotalsOut
    items: list[MemberStatsItemOut] = Field(description="exchanges per item in the period, most first")
    outstanding: MemberStatsOutstandingOut
