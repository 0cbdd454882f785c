"""Campaigns, tagged customers and deliveries for tests, written straight to the database
(the sender is not needed to count results)."""

from __future__ import annotations

import itertools
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from scrm.customers.models import Customer, CustomerIdentity, Interaction
from scrm.outreach import campaigns
from scrm.outreach.models import CampaignRun, Delivery
from scrm.outreach.schemas import CampaignIn, parse
from tagging import scores
from tagging.models import Order, Tag, TagGroup

_keys = itertools.count(1)
TEXT = {"kind": "text", "text": "双11 全场满300减50"}


def campaign_body(at: datetime, **changes) -> dict:  # noqa: ANN003
    return {"name": "双11预热", "audience": {}, "channel": "mp_custom", "content": dict(TEXT),
            "schedule": {"kind": "once", "at": at.isoformat()}, **changes}


def make_campaign(runtime, **changes) -> int:  # noqa: ANN001, ANN003
    body = campaign_body(runtime.clock.now(), **changes)
    with runtime.transaction() as db_session:
        return campaigns.create_campaign(db_session=db_session, campaign_in=parse(CampaignIn, body, what="campaign"),
                                         at=runtime.clock.now()).id


def fire(runtime, campaign_id: int, *, launch: bool = True) -> int:  # noqa: ANN001
    """Launch the campaign (unless told not to), start its due run and plan it; the run's id."""
    from scrm.outreach import planner

    if launch:
        with runtime.transaction() as db_session:
            campaigns.launch(runtime=runtime, db_session=db_session, campaign_id=campaign_id)
    with runtime.transaction() as db_session:
        (run_id,) = campaigns.start_due_runs(runtime=runtime, db_session=db_session)
    planner.plan_run(run_id)
    return run_id


def deliveries(runtime, run_id: int) -> list[Delivery]:  # noqa: ANN001
    """A run's deliveries, in id order."""
    with runtime.transaction() as db_session:
        return list(db_session.scalars(select(Delivery).where(Delivery.run_id == run_id).order_by(Delivery.id)))


def customer(runtime, nickname: str | None = None, *, tags: tuple[str, ...] = ()) -> int:  # noqa: ANN001
    """A following MP customer carrying ``tags`` (group 兴趣, made on first use)."""
    with runtime.transaction() as db_session:
        person = Customer(nickname=nickname)
        db_session.add(person)
        db_session.flush()
        db_session.add(CustomerIdentity(customer_id=person.id, channel="mp", external_id=f"oCamp{next(_keys):06d}",
                                        following=True))
        for name in tags:
            group = db_session.scalar(select(TagGroup).where(TagGroup.name == "兴趣"))
            if group is None:
                group = TagGroup(name="兴趣", threshold=1.0)
                db_session.add(group)
                db_session.flush()
            tag = db_session.scalar(select(Tag).where(Tag.group_id == group.id, Tag.name == name))
            if tag is None:
                tag = Tag(group_id=group.id, name=name)
                db_session.add(tag)
                db_session.flush()
            scores.set_manual(db_session=db_session, customer_id=person.id, tag=tag, group=group, on=True,
                              now=runtime.clock.now(), manager="test")
        return person.id


def delivery(runtime, campaign_id: int, customer_id: int, *, status: str = "sent",  # noqa: ANN001
             variant: str = "main", sent_at: datetime | None = None, reason: str | None = None) -> int:
    """A delivery as the planner and sender would leave it (one run per campaign)."""
    now = runtime.clock.now()
    with runtime.transaction() as db_session:
        run_id = db_session.scalar(select(CampaignRun.id).where(CampaignRun.campaign_id == campaign_id))
        if run_id is None:
            run = CampaignRun(campaign_id=campaign_id, cause="schedule", status="planned", planned=0, started_at=now)
            db_session.add(run)
            db_session.flush()
            run_id = run.id
        row = Delivery(campaign_id=campaign_id, run_id=run_id, customer_id=customer_id,
                       idempotency_key=f"{run_id}:{customer_id}:{next(_keys)}", variant=variant, channel="mp_custom",
                       status=status, reason=reason, due_at=now, attempts=1 if status == "sent" else 0,
                       sent_at=(sent_at or now) if status == "sent" else None, created_at=now)
        db_session.add(row)
        db_session.flush()
        return row.id


def interaction(runtime, customer_id: int, kind: str, at: datetime, *, channel: str = "mp") -> None:  # noqa: ANN001
    with runtime.transaction() as db_session:
        db_session.add(Interaction(customer_id=customer_id, kind=kind, channel=channel, occurred_at=at, payload={}))


def order(runtime, customer_id: int, amount: str, at: datetime) -> None:  # noqa: ANN001
    with runtime.transaction() as db_session:
        db_session.add(Order(order_no=f"NO{next(_keys):08d}", customer_id=customer_id, amount=Decimal(amount),
                             ordered_at=at))


def wecom_customer(runtime, nickname: str, guide_code: str) -> tuple[int, str]:  # noqa: ANN001
    """A WeCom customer (an external_userid) bound to the guide, and the guide's contact in the
    sandbox: what a work_single campaign reaches; (customer id, external_userid)."""
    from guides.models import Binding, Guide
    from scrm.sandbox import world

    external = f"wm-camp-{next(_keys)}"
    with runtime.transaction() as db_session:
        person = Customer(nickname=nickname)
        db_session.add(person)
        db_session.flush()
        db_session.add(CustomerIdentity(customer_id=person.id, channel="work", external_id=external))
        guide = db_session.scalar(select(Guide).where(Guide.code == guide_code))
        db_session.add(Binding(customer_id=person.id, guide_id=guide.id, channel="work",
                               bound_at=runtime.clock.now()))
        userid, customer_id = guide.wecom_userid, person.id
    world.add_external_contact(runtime.redis, external, userid=userid)
    return customer_id, external
