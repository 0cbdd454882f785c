"""What the coupon console pages show (scrm/coupons/pages.py), read in one place.

Pages render after their transaction has closed, so each function here returns frozen rows
holding everything a template touches. Times are shown in the brand's zone
(``brand.timezone``), as the statistics count days. The per-day chart's geometry comes from
scrm/web/charts.py, as the guide console's scan chart does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from flask_babel import get_locale, gettext as _, lazy_gettext as _l
from sqlalchemy import func, select

from guides.models import Guide, Store
from scrm.clock import as_utc
from scrm.coupons import coupon_templates, redemption, stats
from scrm.coupons.codes import display
from scrm.coupons.models import Coupon, CouponAttempt, CouponReminder, CouponTemplate, stock_left
from scrm.coupons.schemas import coupon_json, value_text
from scrm.users.models import User
from scrm.web.charts import Chart, Group, Series, day_label_step, grouped_bars

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.config import Config
    from scrm.runtime import Runtime

STATS_DAYS = 30
ATTEMPT_ROWS = 200
REMINDER_ROWS = 500
# Lazy: put in the reader's language when a page is drawn (scrm/web/i18n.py).
SERIES = (Series("issued", _l("发放")), Series("redeemed", _l("核销")), Series("expired", _l("过期")))


@dataclass(frozen=True)
class TemplateRow:
    id: int
    name: str
    kind: str
    value_text: str
    validity: str
    stock: int | None  # None: no limit
    issued: int
    left: int | None
    redeemed: int
    rate: str  # redeemed ÷ issued, "33.3 %"
    status: str
    per_customer_limit: int | None
    remind_days_before: int | None
    description: str | None
    stores: tuple[str, ...]  # codes; empty: every store


@dataclass(frozen=True)
class TemplatesPage:
    templates: tuple[TemplateRow, ...]
    stores: tuple[tuple[str, str], ...]  # (code, name), what a new template may be limited to


@dataclass(frozen=True)
class RuleRow:
    id: int
    trigger: str
    min_amount: str | None
    active: bool


@dataclass(frozen=True)
class Period:
    """Statistics for ``first_day``..``last_day`` by day, store and guide (one template or all)."""

    first_day: date
    last_day: date
    totals: stats.StatsRow
    by_day: tuple[stats.StatsRow, ...]
    by_store: tuple[stats.StatsRow, ...]
    by_guide: tuple[stats.StatsRow, ...]
    chart: Chart


@dataclass(frozen=True)
class TemplatePage:
    template: TemplateRow
    rules: tuple[RuleRow, ...]
    period: Period


@dataclass(frozen=True)
class AttemptRow:
    at: str
    action: str
    result: str
    user: str
    guide: str
    store: str
    reason: str


@dataclass(frozen=True)
class LookupPage:
    code: str  # as typed
    outcome: redemption.Outcome | None  # None: nothing asked yet
    coupon: dict[str, Any] | None  # coupon_json, when the code named one
    times: dict[str, str]  # its moments in local time
    attempts: tuple[AttemptRow, ...]


@dataclass(frozen=True)
class StatsPage:
    by: str
    first_day: date
    last_day: date
    rows: tuple[stats.StatsRow, ...]
    totals: stats.StatsRow
    chart: Chart | None  # by day only


@dataclass(frozen=True)
class ReminderRow:
    coupon_id: int
    code: str
    customer_id: int
    template: str
    due_at: str
    valid_until: str
    state: str
    coupon_status: str


# -- templates -------------------------------------------------------------------------------


def templates_page(*, config: Config, db_session: Session) -> TemplatesPage:
    found = coupon_templates.list_templates(db_session=db_session)
    redeemed = coupon_templates.redeemed_counts(db_session=db_session, template_ids=[t.id for t in found])
    rows = db_session.execute(select(Store.code, Store.name).order_by(Store.code))
    stores = tuple((code, name) for code, name in rows)
    return TemplatesPage(tuple(_template_row(config, db_session, t, redeemed.get(t.id, 0)) for t in found), stores)


def template_page(*, config: Config, db_session: Session, template_id: int, today: date) -> TemplatePage:
    template = coupon_templates.get_template(db_session=db_session, template_id=template_id)
    redeemed = coupon_templates.redeemed_counts(db_session=db_session, template_ids=[template_id]).get(template_id, 0)
    rules = tuple(RuleRow(r.id, r.trigger, None if r.min_amount is None else f"{r.min_amount:.2f}", bool(r.active))
                  for r in coupon_templates.list_rules(db_session=db_session, template_id=template_id))
    return TemplatePage(_template_row(config, db_session, template, redeemed), rules,
                        period(config=config, db_session=db_session, first_day=today - timedelta(days=STATS_DAYS - 1),
                               last_day=today, template_id=template_id))


def period(*, config: Config, db_session: Session, first_day: date, last_day: date,
           template_id: int | None = None) -> Period:
    def rows(by: str) -> tuple[stats.StatsRow, ...]:
        return tuple(stats.coupon_stats(db_session=db_session, config=config, by=by, first_day=first_day,
                                        last_day=last_day, template_id=template_id))

    by_day = rows("day")
    return Period(first_day, last_day, stats.totals(list(by_day)), by_day, rows("store"), rows("guide"),
                  day_chart(by_day, first_day=first_day, last_day=last_day))


def _template_row(config: Config, db_session: Session, template: CouponTemplate, redeemed: int) -> TemplateRow:
    issued = template.issued_count
    return TemplateRow(
        id=template.id, name=template.name, kind=template.kind, value_text=value_text(template, reader_locale()),
        validity=validity_text(config, template), stock=template.stock, issued=issued,
        left=stock_left(template.stock, issued), redeemed=redeemed,
        rate=stats.percent(redeemed / issued if issued else None), status=template.status,
        per_customer_limit=template.per_customer_limit, remind_days_before=template.remind_days_before,
        description=template.description,
        stores=tuple(coupon_templates.store_codes(db_session=db_session, template_id=template.id)),
    )


def validity_text(config: Config, template: CouponTemplate) -> str:
    if template.valid_days is not None:
        return _("领取后 %(n)s 天", n=template.valid_days)
    return _("%(first)s 至 %(last)s", first=local_time(config, template.valid_from, day_only=True),
             last=last_moment(config, template.valid_until))


def reader_locale() -> str:
    """The console reader's language (scrm/web/i18n.py), for a coupon's value as scrm/texts.py words it."""
    return str(get_locale() or "zh_CN")


def last_moment(config: Config, until: datetime | None) -> str:
    """The end of a validity as people say it: a midnight end is the day before, included."""
    if until is None:
        return ""
    local = as_utc(until).astimezone(config.brand.zone)
    if local.hour == local.minute == local.second == 0:
        return f"{local.date() - timedelta(days=1):%Y-%m-%d}"
    return f"{local:%Y-%m-%d %H:%M}"


def local_time(config: Config, moment: datetime | str | None, *, day_only: bool = False) -> str:
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    local = as_utc(moment).astimezone(config.brand.zone)
    if day_only and local.hour == local.minute == local.second == 0:
        return f"{local:%Y-%m-%d}"
    return f"{local:%Y-%m-%d %H:%M}"


# -- one coupon ------------------------------------------------------------------------------


def lookup_page(*, runtime: Runtime, db_session: Session, code: str) -> LookupPage:
    """The coupon a code names, whether it could be redeemed now, and its audit trail. A
    preview: nothing is written (redemption.find without a counter: any store)."""
    outcome = redemption.find(runtime=runtime, db_session=db_session, code=code)
    if outcome.coupon_id is None:
        return LookupPage(code, outcome, None, {}, ())
    coupon = db_session.get(Coupon, outcome.coupon_id)
    body = coupon_json(db_session, coupon)
    body["template"] = {**body["template"], "value_text": value_text(coupon.template, reader_locale())}
    moments = ("issued_at", "valid_from", "valid_until", "redeemed_at", "voided_at", "expired_at")
    times = {name: local_time(runtime.config, body[name]) for name in moments}
    times["valid_until"] = last_moment(runtime.config, coupon.valid_until)
    return LookupPage(code, outcome, body, times, _attempts(runtime.config, db_session, coupon.id))


def _attempts(config: Config, db_session: Session, coupon_id: int) -> tuple[AttemptRow, ...]:
    rows = db_session.execute(
        select(CouponAttempt, User.name, Guide.code, Store.code)
        .outerjoin(User, User.id == CouponAttempt.user_id)
        .outerjoin(Guide, Guide.id == CouponAttempt.guide_id)
        .outerjoin(Store, Store.id == CouponAttempt.store_id)
        .where(CouponAttempt.coupon_id == coupon_id)
        .order_by(CouponAttempt.at.desc(), CouponAttempt.id.desc())
        .limit(ATTEMPT_ROWS)
    )
    return tuple(
        AttemptRow(local_time(config, a.at), a.action, a.result,
                   user or ("" if a.user_id is None else f"#{a.user_id}"), guide or "", store or "", a.reason or "")
        for a, user, guide, store in rows
    )


# -- statistics ------------------------------------------------------------------------------


def stats_page(*, config: Config, db_session: Session, by: str, first_day: date, last_day: date) -> StatsPage:
    rows = stats.coupon_stats(db_session=db_session, config=config, by=by, first_day=first_day, last_day=last_day)
    chart = day_chart(rows, first_day=first_day, last_day=last_day) if by == "day" else None
    return StatsPage(by, first_day, last_day, tuple(rows), stats.totals(rows), chart)


def day_chart(rows: tuple[stats.StatsRow, ...] | list[stats.StatsRow], *, first_day: date, last_day: date) -> Chart:
    """Issued, redeemed and expired per day as groups of three bars: a slot for every day of
    the range, a group for each day with something."""
    by_day = {str(row.key): row for row in rows}
    groups = []
    for i in range((last_day - first_day).days + 1):
        day = first_day + timedelta(days=i)
        row = by_day.get(day.isoformat())
        values = tuple(0 if row is None else getattr(row, one.key) for one in SERIES)
        groups.append(Group(day.isoformat(), f"{day:%m-%d}", values))
    return grouped_bars(groups, SERIES, kind="day", label_every=day_label_step(len(groups)), unit=_("张"))


# -- reminders -------------------------------------------------------------------------------


def reminders_page(*, config: Config, db_session: Session) -> tuple[tuple[ReminderRow, ...], dict[str, int]]:
    """The recorded reminders, pending first (soonest due first), and how many are in each state."""
    rows = db_session.execute(
        select(CouponReminder, Coupon.code, Coupon.valid_until, Coupon.status, CouponTemplate.name)
        .join(Coupon, Coupon.id == CouponReminder.coupon_id)
        .join(CouponTemplate, CouponTemplate.id == Coupon.template_id)
        .order_by(CouponReminder.state != "pending", CouponReminder.due_at, CouponReminder.coupon_id)
        .limit(REMINDER_ROWS)
    )
    shown = tuple(
        ReminderRow(r.coupon_id, display(code or ""), r.customer_id, name, local_time(config, r.due_at),
                    last_moment(config, until), r.state, status)
        for r, code, until, status, name in rows
    )
    counts = dict(db_session.execute(select(CouponReminder.state, func.count()).group_by(CouponReminder.state)).all())
    return shown, counts
