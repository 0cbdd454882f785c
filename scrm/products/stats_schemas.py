"""What ``GET /api/product-codes/stats`` answers (scrm/products/stats.py ``stats_out``), as
models for /api/openapi.json."""

from __future__ import annotations

from pydantic import BaseModel


class ScansByReasonOut(BaseModel):
    already_yours: int
    claimed_by_other: int
    not_genuine: int
    expired: int
    daily_limit: int
    not_following: int
    reward_unavailable: int


class FiguresOut(BaseModel):
    claims: int
    customers: int | None  # None: not counted (a line's period before)
    new_followers: int
    repeat_scans: int
    refused_scans: int
    scans_by_reason: ScansByReasonOut


class DayOut(FiguresOut):
    day: str
    before: FiguresOut


class LineOut(FiguresOut):
    key: str | int | None  # a batch's, store's or guide's id, a product's name; None: none
    label: str
    note: str
    before: FiguresOut


class ScopeOut(BaseModel):
    batch_id: int | None
    product: str | None
    store_id: int | None
    guide_id: int | None


class PersonOut(BaseModel):
    customer_id: int
    nickname: str | None
    phone: str | None  # masked


class ManyClaimsOut(BaseModel):
    customer: PersonOut | None
    claims: int
    days: int


class SharedCodeOut(BaseModel):
    batch_id: int
    product: str
    serial: int
    code: str
    scanners: int
    scans: int
    owner: PersonOut | None
    claimed_at: str | None


class LimitDaysOut(BaseModel):
    customer: PersonOut | None
    days: int
    scans: int


class NotGenuineOut(BaseModel):
    customer: PersonOut | None
    scans: int


class ThresholdsOut(BaseModel):
    many_claims: int
    shared_by: int
    limit_days: int
    not_genuine: int
    shown: int


class SuspiciousOut(BaseModel):
    thresholds: ThresholdsOut
    many_claims: list[ManyClaimsOut]
    shared_codes: list[SharedCodeOut]
    limit_days: list[LimitDaysOut]
    not_genuine: list[NotGenuineOut]


class ProductStatsOut(BaseModel):
    first_day: str
    last_day: str
    before_first_day: str
    before_last_day: str
    scope: ScopeOut
    totals: FiguresOut
    before: FiguresOut
    days: list[DayOut]
    batches: list[LineOut]
    products: list[LineOut]
    stores: list[LineOut]
    guides: list[LineOut]
    suspicious: SuspiciousOut
