"""Journeys (旅程) out of the box: editable templates that each make a DRAFT campaign, which the
manager then edits, previews and launches like any other (SPEC §8).

- ``welcome``: a welcome series after binding to a guide (trigger ``binding``);
- ``birthday``: a birthday coupon 3 days before (trigger ``birthday``, days 3), with the coupon
  template the manager chooses;
- ``wake_up``: a weekly wake-up for sleeping customers (the lifecycle tag 沉睡, computed by
  tagging/computed.py), Mondays at 10:00;
- ``thank_you``: a thank-you after a purchase (trigger ``purchase``);
- ``coupon_expiry``: a reminder 3 days before a coupon expires (trigger ``coupon_expiring``);
- ``points_expiry``: a reminder before a member's points expire (trigger ``points_expiring``,
  days ``members.expiry_remind_days``);
- ``level_up``: congratulations when a member reaches a higher level (trigger ``level_up``).

Templates are data: change the copy here, or the draft in the console.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from scrm.errors import NotFoundError
from scrm.outreach import campaigns
from scrm.outreach.schemas import CampaignIn, InvalidCampaign, parse
from scrm.validators import IntId
from tagging.computed import DORMANT

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

    from scrm.outreach.models import Campaign


class JourneyNotFound(NotFoundError):
    pass


@dataclass(frozen=True)
class Journey:
    key: str
    name: str
    description: str
    needs_coupon: bool  # the manager chooses the coupon template
    campaign: dict[str, Any]  # a CampaignIn body, without the coupon

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "description": self.description,
                "needs_coupon": self.needs_coupon, "campaign": self.campaign}


_PRIVATE = {"channel": "work_single", "fallbacks": ["mp_custom"]}  # the bound guide, else the official account

JOURNEYS = (
    Journey("welcome", "欢迎 Welcome series", "After a customer binds to a guide: a welcome from the guide.", False,
            {**_PRIVATE, "audience": {}, "schedule": {"kind": "trigger", "event": "binding"},
             "content": {"kind": "text", "text": "欢迎加入！我是您的专属导购，有任何问题随时找我。"}}),
    Journey("birthday", "生日券 Birthday coupon", "3 days before a customer's birthday: a coupon and wishes.", True,
            {**_PRIVATE, "audience": {}, "schedule": {"kind": "trigger", "event": "birthday", "days": 3},
             "content": {"kind": "text", "text": "生日快乐！送您一张生日专享券，祝您生日愉快。"}}),
    Journey("wake_up", "唤醒 Wake-up", f"Every Monday at 10:00: a nudge to sleeping customers ({DORMANT}).", False,
            {**_PRIVATE, "audience": {"expr": DORMANT}, "schedule": {"kind": "cron", "cron": "0 10 * * 1"},
             "when_capped": "skip", "content": {"kind": "text", "text": "好久不见！最近上了新品，欢迎回来看看。"}}),
    Journey("thank_you", "感谢 Post-purchase thank-you", "After a purchase: thanks and care tips.", False,
            {**_PRIVATE, "audience": {}, "schedule": {"kind": "trigger", "event": "purchase"},
             "content": {"kind": "text", "text": "感谢您的购买！使用中有任何问题，随时联系我们。"}}),
    Journey("coupon_expiry", "券到期提醒 Coupon-expiry reminder", "3 days before a coupon expires: a reminder.",
            False,
            {**_PRIVATE, "audience": {}, "schedule": {"kind": "trigger", "event": "coupon_expiring", "days": 3},
             "content": {"kind": "text", "text": "您有一张优惠券将在 3 天后到期，别忘了使用哦。"}}),
    Journey("points_expiry", "积分到期提醒 Points-expiry reminder",
            "Before a member's points expire (members.expiry_remind_days): a nudge to the points mall.", False,
            {**_PRIVATE, "audience": {}, "schedule": {"kind": "trigger", "event": "points_expiring"},
             "content": {"kind": "text", "text": "您有积分即将过期，快去积分商城兑换好礼吧。"}}),
    Journey("level_up", "升级祝贺 Level-up congratulations",
            "When a member reaches a higher level: congratulations and the new level's benefits.", False,
            {**_PRIVATE, "audience": {}, "schedule": {"kind": "trigger", "event": "level_up"},
             "content": {"kind": "text", "text": "恭喜您升级！新等级的会员权益已为您开启，到店出示会员码即可享受。"}}),
)
BY_KEY = {journey.key: journey for journey in JOURNEYS}


def get_journey(key: str) -> Journey:
    if key not in BY_KEY:
        raise JourneyNotFound(f"no journey {key}; there are {', '.join(BY_KEY)}")
    return BY_KEY[key]


def start_journey(*, db_session: Session, key: str, at: datetime, name: str | None = None,
                  coupon_template_id: int | None = None) -> Campaign:
    """A draft campaign from the journey ``key``; unknown coupon templates raise as for any campaign."""
    journey = get_journey(key)
    if journey.needs_coupon and coupon_template_id is None:
        raise InvalidCampaign("coupon_template_id", "choose the coupon template this journey sends")
    body = {"name": name if name is not None else journey.name, **copy.deepcopy(journey.campaign)}
    if coupon_template_id is not None:
        body["coupon_template_id"] = coupon_template_id
    campaign_in: CampaignIn = parse(CampaignIn, body, what="campaign")
    return campaigns.create_campaign(db_session=db_session, campaign_in=campaign_in, at=at)


class JourneyStartIn(BaseModel):
    """What ``POST /api/journeys/<key>`` accepts: the draft's name and the coupon to attach."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    coupon_template_id: IntId | None = None
