"""Campaigns as the JSON API shows them (SPEC §11)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from scrm.customers.models import Customer
from scrm.clock import as_utc
from scrm.outreach.models import Campaign, CampaignRun

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

    from scrm.outreach.campaigns import Preview

RUNS_SHOWN = 50


def campaign_json(campaign: Campaign) -> dict[str, Any]:
    return {
        "id": campaign.id, "name": campaign.name, "status": campaign.status, "audience": campaign.audience,
        "channel": campaign.channel, "fallbacks": campaign.fallbacks, "content": campaign.content,
        "coupon_template_id": campaign.coupon_template_id, "schedule": campaign.schedule,
        "when_capped": campaign.when_capped, "variants": campaign.variants,
        "holdout_percent": campaign.holdout_percent, "next_run_at": _moment(campaign.next_run_at),
        "created_at": _moment(campaign.created_at), "launched_at": _moment(campaign.launched_at),
    }


def runs_json(db_session: Session, campaign_id: int) -> list[dict[str, Any]]:
    runs = db_session.scalars(select(CampaignRun).where(CampaignRun.campaign_id == campaign_id)
                              .order_by(CampaignRun.id.desc()).limit(RUNS_SHOWN))
    return [{"id": r.id, "cause": r.cause, "status": r.status, "planned": r.planned,
             "started_at": _moment(r.started_at), "planned_at": _moment(r.planned_at)} for r in runs]


def preview_json(db_session: Session, preview: Preview) -> dict[str, Any]:
    """The count and the sample with nicknames, as the tag audience preview shows them."""
    names = dict(db_session.execute(select(Customer.id, Customer.nickname).where(Customer.id.in_(preview.sample))).all()
                 ) if preview.sample else {}
    return {"count": preview.count, "sample": [{"id": i, "nickname": names.get(i)} for i in preview.sample]}


def _moment(moment: datetime | None) -> str | None:
    return None if moment is None else as_utc(moment).isoformat()
