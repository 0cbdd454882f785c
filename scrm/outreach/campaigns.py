"""Campaigns (活动): create, preview, launch, pause, cancel, and the scheduler's firing of the
due ones. Service functions take ``db_session`` and never commit; the caller owns the
transaction. Planning a run's deliveries is scrm/outreach/planner.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, select

from guides.audience_places import PLACES
from guides.models import Binding, Guide, Store
from scrm.clock import as_utc
from scrm.coupons.coupon_templates import TemplateNotFound, get_template
from scrm.customers.models import Customer
from scrm.errors import ConflictError, NotFoundError, Refused
from scrm.groups.models import GroupCode
from scrm.outreach.models import Campaign, CampaignRun
from tagging import audience as audiences

if TYPE_CHECKING:
    from sqlalchemy import Select
    from sqlalchemy.orm import Session

    from scrm.outreach.schemas import CampaignIn
    from scrm.runtime import Runtime

LIVE = ("scheduled", "running", "paused")
SAMPLE = 10
RUNS_SHOWN = 50


class CampaignNotFound(NotFoundError):
    pass


class CampaignRefused(ConflictError):
    """The campaign cannot do that now (launch a cancelled one…); ``code`` says what."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


class CampaignFieldRefused(Refused):
    """A campaign field names something that cannot be used; ``field`` names it, ``reason``
    says why (the message is ``"field: reason"``)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", field=field)
        self.field = field
        self.reason = reason


class BadAudience(CampaignFieldRefused):
    """The audience names an unknown tag, store or guide."""

    code = "bad_audience"


class UnknownCouponTemplate(CampaignFieldRefused):
    """The campaign's coupon template does not exist."""

    code = "unknown_coupon_template"

    def __init__(self, reason: str) -> None:
        super().__init__("coupon_template_id", reason)


class UnknownGroupCode(CampaignFieldRefused):
    """An invitation (``work_group_invite``) names a group live code that does not exist or is retired."""

    code = "unknown_group_code"

    def __init__(self, reason: str) -> None:
        super().__init__("content.code_id", reason)


@dataclass(frozen=True)
class Preview:
    count: int
    sample: list[int]
    nicknames: dict[int, str | None] = field(default_factory=dict)  # the sample's


def create_campaign(*, db_session: Session, campaign_in: CampaignIn, at: datetime) -> Campaign:
    check_audience(db_session=db_session, audience=campaign_in.audience.model_dump(), now=at)
    _check_coupon_template(db_session=db_session, template_id=campaign_in.coupon_template_id)
    _check_group_code(db_session=db_session, code_id=campaign_in.content.code_id)
    fields = campaign_in.model_dump(mode="json")
    campaign = Campaign(**fields, status="draft", created_at=at)
    db_session.add(campaign)
    db_session.flush()
    return campaign


def get_campaign(*, db_session: Session, campaign_id: int, lock: bool = False) -> Campaign:
    query = select(Campaign).where(Campaign.id == campaign_id)
    campaign = db_session.scalar(query.with_for_update() if lock else query)
    if campaign is None:
        raise CampaignNotFound(f"no campaign {campaign_id}")
    return campaign


def list_campaigns(*, db_session: Session) -> list[Campaign]:
    return list(db_session.scalars(select(Campaign).order_by(Campaign.id.desc())))


def preview(*, db_session: Session, campaign: Campaign, now: datetime) -> Preview:
    """How many customers the audience holds now, and a few of them (oldest first)."""
    if campaign.audience.get("groups"):
        return Preview(len(campaign.audience["groups"]), [])
    query = audience_ids(db_session=db_session, audience=campaign.audience, now=now)
    count = db_session.scalar(select(func.count()).select_from(query.subquery())) or 0
    sample = list(db_session.scalars(query.order_by(Customer.id).limit(SAMPLE)))
    nicknames = dict(db_session.execute(select(Customer.id, Customer.nickname).where(Customer.id.in_(sample))).all()
                     ) if sample else {}
    return Preview(count, sample, nicknames)


def latest_runs(*, db_session: Session, campaign_id: int, limit: int = RUNS_SHOWN) -> list[CampaignRun]:
    """The campaign's runs, newest first."""
    return list(db_session.scalars(select(CampaignRun).where(CampaignRun.campaign_id == campaign_id)
                                   .order_by(CampaignRun.id.desc()).limit(limit)))


def launch(*, runtime: Runtime, db_session: Session, campaign_id: int) -> Campaign:
    """Draft (or paused) → scheduled: a once campaign fires at its moment (now, if that has
    passed), a cron one at its next time, a triggered one on its events."""
    campaign = get_campaign(db_session=db_session, campaign_id=campaign_id, lock=True)
    if campaign.status not in ("draft", "paused"):
        raise CampaignRefused("not_launchable", f"campaign {campaign_id} is {campaign.status}")
    now = runtime.clock.now()
    campaign.status = "scheduled"
    campaign.launched_at = campaign.launched_at or now
    campaign.next_run_at = next_run(runtime, campaign.schedule, now, first=True)
    db_session.flush()
    return campaign


def set_status(*, db_session: Session, campaign_id: int, status: str) -> Campaign:
    """Pause (a live campaign) or cancel (any not finished); planned deliveries of a paused or
    cancelled campaign are not sent (the sender checks)."""
    campaign = get_campaign(db_session=db_session, campaign_id=campaign_id, lock=True)
    allowed = LIVE if status == "paused" else ("draft", *LIVE)
    if campaign.status not in allowed:
        raise CampaignRefused(f"not_{status}", f"campaign {campaign_id} is {campaign.status}")
    campaign.status = status
    if status == "cancelled":
        campaign.next_run_at = None
    db_session.flush()
    return campaign


def next_run(runtime: Runtime, schedule: dict, after: datetime, *, first: bool = False) -> datetime | None:
    kind = schedule.get("kind")
    if kind == "once":
        return max(datetime.fromisoformat(schedule["at"]), after) if first else None
    if kind == "cron":
        trigger = cron_trigger(schedule["cron"], runtime.config.brand.timezone)
        # A launch at a fire time fires then; after a firing, the next is strictly later.
        start = after if first else after + timedelta(seconds=1)
        return trigger.get_next_fire_time(None, start).astimezone(UTC)
    return None  # triggered: fired by events


_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def cron_trigger(line: str, zone: str):  # noqa: ANN201 - an APScheduler CronTrigger
    """A crontab line read as cron reads it. APScheduler 3 counts weekdays from Monday = 0,
    where cron has Sunday = 0 (and 7), Monday = 1: numbers are turned into names first."""
    import re

    from apscheduler.triggers.cron import CronTrigger

    fields = line.split()
    if len(fields) != 5:
        raise ValueError("needs 5 fields: minute hour day month weekday")
    fields[4] = re.sub(r"\d+", lambda m: _WEEKDAYS[int(m.group()) % 7], fields[4])
    minute, hour, day, month, weekday = fields
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=weekday, timezone=ZoneInfo(zone))


def start_due_runs(*, runtime: Runtime, db_session: Session, limit: int = 100) -> list[int]:
    """The runs of campaigns whose time has come (the scheduler's job): one run each, the next
    time set (cron) or cleared (once). Returns the new runs' ids, to enqueue after the commit."""
    now = runtime.clock.now()
    due = db_session.scalars(
        select(Campaign).where(Campaign.status.in_(("scheduled", "running")), Campaign.next_run_at <= now)
        .order_by(Campaign.next_run_at).limit(limit).with_for_update(skip_locked=True)
    ).all()
    runs = []
    for campaign in due:
        run = CampaignRun(campaign_id=campaign.id, cause="schedule", status="planning", planned=0,
                          started_at=as_utc(campaign.next_run_at))
        db_session.add(run)
        campaign.status = "running"
        campaign.next_run_at = next_run(runtime, campaign.schedule, now)
        db_session.flush()
        runs.append(run.id)
    return runs


def check_audience(*, db_session: Session, audience: dict, now: datetime) -> None:
    """Refuse an audience whose expression, store or guide is not known, naming the field."""
    if audience.get("expr"):
        try:
            audiences.resolve(db_session=db_session, text=audience["expr"], places=PLACES)
        except audiences.AudienceError as exc:
            raise BadAudience("audience.expr", str(exc)) from exc
    for field, model in (("store", Store), ("guide", Guide)):
        code = audience.get(field)
        if code and db_session.scalar(select(model.id).where(model.code == code)) is None:
            raise BadAudience(f"audience.{field}", f"no {field} with the code {code}")


def _check_coupon_template(*, db_session: Session, template_id: int | None) -> None:
    """Refuse a coupon template that does not exist (a 422 here, where the coupon API's own
    lookup answers 404)."""
    if template_id is None:
        return
    try:
        get_template(db_session=db_session, template_id=template_id)
    except TemplateNotFound as exc:
        raise UnknownCouponTemplate(str(exc)) from exc


def _check_group_code(*, db_session: Session, code_id: int | None) -> None:
    if code_id is None:
        return
    code = db_session.get(GroupCode, code_id)
    if code is None:
        raise UnknownGroupCode(f"no group live code {code_id}")
    if code.status != "active":
        raise UnknownGroupCode(f"group live code {code_id} is retired")


def audience_ids(*, db_session: Session, audience: dict, now: datetime) -> Select:
    """``SELECT customers.id`` of a customer audience: the tag expression (everyone when there
    is none; merged customers never), narrowed to a guide's or a store's current customers."""
    if audience.get("expr"):
        query = audiences.customer_ids_query(db_session=db_session, expr=audience["expr"], now=now, places=PLACES)
    else:
        query = select(Customer.id).where(Customer.merged_into_id.is_(None))
    bound = and_(Binding.customer_id == Customer.id, Binding.ended_at.is_(None))
    if audience.get("guide"):
        guide = select(Guide.id).where(Guide.code == audience["guide"]).scalar_subquery()
        query = query.where(exists().where(bound, Binding.guide_id == guide))
    if audience.get("store"):
        store = select(Store.id).where(Store.code == audience["store"]).scalar_subquery()
        query = query.where(exists().where(bound, Binding.guide_id == Guide.id, Guide.store_id == store))
    return query


def update_draft(*, db_session: Session, campaign_id: int, campaign_in: CampaignIn, now: datetime) -> Campaign:
    """Replace a draft's settings (the console's editor); a launched campaign is not edited."""
    campaign = get_campaign(db_session=db_session, campaign_id=campaign_id, lock=True)
    if campaign.status != "draft":
        raise CampaignRefused("not_editable", f"campaign {campaign_id} is {campaign.status}: only a draft is edited")
    check_audience(db_session=db_session, audience=campaign_in.audience.model_dump(), now=now)
    _check_coupon_template(db_session=db_session, template_id=campaign_in.coupon_template_id)
    _check_group_code(db_session=db_session, code_id=campaign_in.content.code_id)
    for name, value in campaign_in.model_dump(mode="json").items():
        setattr(campaign, name, value)
    db_session.flush()
    return campaign
