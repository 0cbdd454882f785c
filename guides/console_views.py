"""What the store and guide console pages show (guides/pages.py), read in one place.

Pages render after their transaction has closed, so each function here returns a frozen
object holding everything a template touches, relationships included: a template never
loads anything lazily. The scan chart's geometry comes from scrm/web/charts.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from guides import service
from guides.duty_routing import WEEKDAYS
from guides.models import Guide, GuideTransfer, Store
from qrcodes import stats
from qrcodes.service import codes_of
from scrm.clock import local_day
from scrm.products.stats import claims_per_day
from scrm.web.charts import Chart, Group, Series, day_label_step, grouped_bars

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.orm import Session

    from qrcodes.models import ChannelCode
    from scrm.runtime import Runtime

STATS_DAYS = 30
TRANSFER_ROWS = 200  # a hand-over of thousands is summed by status; the rows shown are the latest
SERIES = (Series("scans", _l("扫码")), Series("bindings", _l("绑定")))  # lazy: read in the reader's language


@dataclass(frozen=True)
class StorePage:
    store: Store
    guides: list[tuple[Guide, int]]  # with their current customers, the ones who left too
    codes: dict[str, ChannelCode]


@dataclass(frozen=True)
class TransferRow:
    customer_id: int
    external_userid: str
    to_guide: str
    status: str
    errcode: int | None
    reason: str | None
    attempts: int


@dataclass(frozen=True)
class GuidePage:
    guide: Guide
    store: Store
    codes: dict[str, ChannelCode]
    days: list[stats.DayStats]  # oldest first, days without scans included
    totals: dict[str, Any]
    claims: dict[date, int]  # product codes claimed with the guide's credit (SPEC §14), days with some
    chart: Chart
    heirs: list[tuple[Guide, int]]  # the store's other active guides, who may take over
    transfers: list[TransferRow]
    transfer_counts: dict[str, int]
    schedule: dict[str, str]  # weekday → "10-14,18-22", as the form shows it


def store_page(*, db_session: Session, code: str) -> StorePage:
    store = service.get_store(db_session=db_session, code=code)
    return StorePage(
        store=store,
        guides=service.list_guides(db_session=db_session, store_code=code, include_left=True),
        codes=codes_of(db_session=db_session, store_id=store.id),
    )


def guide_page(*, runtime: Runtime, db_session: Session, code: str) -> GuidePage:
    guide = service.get_guide(db_session=db_session, code=code)
    store = guide.store
    end = local_day(runtime.config, runtime.clock.now())
    days = stats.per_day(db_session=db_session, code_ids=stats.code_ids_of(db_session=db_session, guide_id=guide.id),
                         start=end - timedelta(days=STATS_DAYS - 1), end=end)
    heirs = [(g, n) for g, n in service.list_guides(db_session=db_session, store_code=store.code) if g.id != guide.id]
    claims = claims_per_day(db_session=db_session, first_day=days[0].day, last_day=end, guide_id=guide.id)
    return GuidePage(
        guide=guide,
        store=store,
        codes=codes_of(db_session=db_session, guide_id=guide.id),
        days=days,
        totals={**stats.totals(days), "claims": sum(claims.values())},
        claims=claims,
        chart=bar_chart(days),
        heirs=heirs,
        transfers=_transfers_from(db_session, guide.id),
        transfer_counts=_transfer_counts(db_session, guide.id),
        schedule=schedule_text(guide.schedule),
    )


def _transfers_from(db_session: Session, guide_id: int) -> list[TransferRow]:
    rows = db_session.execute(
        select(GuideTransfer, Guide.code)
        .join(Guide, Guide.id == GuideTransfer.to_guide_id)
        .where(GuideTransfer.from_guide_id == guide_id)
        .order_by(GuideTransfer.id.desc())
        .limit(TRANSFER_ROWS)
    )
    return [TransferRow(t.customer_id, t.external_userid, to, t.status, t.errcode, t.reason, t.attempts) for t, to in rows]


def _transfer_counts(db_session: Session, guide_id: int) -> dict[str, int]:
    rows = db_session.execute(
        select(GuideTransfer.status, func.count()).where(GuideTransfer.from_guide_id == guide_id).group_by(GuideTransfer.status)
    )
    return {status: n for status, n in rows}


def schedule_text(schedule: dict[str, list[str]] | None) -> dict[str, str]:
    return {day: ",".join((schedule or {}).get(day, [])) for day in WEEKDAYS}


def schedule_from_text(texts: dict[str, str]) -> dict[str, list[str]]:
    """``{"mon": "10-14, 18-22"}`` → ``{"mon": ["10-14", "18-22"]}``; a blank day is off duty
    (all days blank: always on duty). Validation is the schema's, so the API and the form
    refuse the same ranges."""
    schedule = {}
    for day in WEEKDAYS:
        ranges = [r.strip() for r in texts.get(day, "").replace("，", ",").split(",") if r.strip()]
        if ranges:
            schedule[day] = ranges
    return schedule


def bar_chart(days: Sequence[stats.DayStats]) -> Chart:
    """Scans and bindings per day as paired bars, a slot for every day."""
    groups = [Group(day.day.isoformat(), f"{day.day:%m-%d}", (day.scans, day.bindings)) for day in days]
    return grouped_bars(groups, SERIES, kind="day", label_every=day_label_step(len(groups)))
