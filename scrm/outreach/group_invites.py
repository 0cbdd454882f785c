"""Invitations by tag (标签拉群, SPEC §9): a ``work_group_invite`` campaign invites the customers
of its audience to a group live code (群活码, scrm/groups/codes.py) through their guides.

**Content.** ``{"kind": "invite", "code_id", "text"}`` (the text defaults to
``schemas.INVITE_TEXT``). A campaign may name only an active code (checked when it is created
or changed: ``campaigns.UnknownGroupCode``).

**Planning** is a customer campaign's (scrm/outreach/planner.py): one delivery per customer,
the weekly cap and quiet hours applied as to every proactive message, deferred or skipped with
the reason. A customer with no WeCom identity or no active guide is skipped
(``work_group_invite no WeCom`` / ``no guide``), as ``work_single`` does.

**Sending.** The campaign gets its own join way on the code, made once and kept
(``way_for(…, source="campaign", source_id=campaign.id)``, state ``gc<code>c<campaign>``):
:func:`prepare` resolves it before the send (the code's name, the way's ``qr_code``), then
the sender hands each guide ONE task (``add_msg_template`` ``single``, one per guide, run and
variant) to their customers of the share: the text, and a link card whose picture and link are
the way's QR image (WeCom's ``qr_code`` is an image URL: opened, the customer long-presses it
to join). The task is recorded like a ``work_single`` one and shown on the guide's /m/tasks.
A retired or deleted code fails the deliveries (``code retired``); WeCom refusing to make the
way fails them with its code, a transient error retries them.

**Results.** Joins through the campaign's ways are the group members whose ``state`` is one
of them (:func:`joins_query`): the campaign's results show them as 入群.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select

from scrm.errors import DomainError
from scrm.groups.codes import GroupCodeRefused, way_for
from scrm.groups.models import GroupCode, GroupCodeWay, GroupMember
from scrm.outreach.channels import INVITE, group_by
from scrm.wechat.errors import BUSY_ERRCODES, RATE_LIMIT_ERRCODES, TOKEN_ERRCODES, WeChatError

if TYPE_CHECKING:
    from sqlalchemy import Select
    from sqlalchemy.orm import Session

    from scrm.outreach.sender import _Attempt, _Outcomes
    from scrm.runtime import Runtime

CHANNEL = INVITE
SOURCE = "campaign"
RETIRED = "refused work_group_invite: code retired"


def active_codes(db_session: Session) -> list[tuple[int, str]]:
    """The live codes an invitation may name: (id, name), newest first."""
    rows = db_session.execute(select(GroupCode.id, GroupCode.name).where(GroupCode.status == "active")
                              .order_by(GroupCode.id.desc()))
    return [(code_id, name) for code_id, name in rows]


def prepare(runtime: Runtime, outcomes: _Outcomes, attempts: list[_Attempt]) -> list[_Attempt]:
    """Give each invitation its campaign's way (its QR and the code's name) in its content;
    returns those ready to send, the others ended (retired code, WeCom's refusal) or put back
    to retry (WeCom busy, throttled or unreachable)."""
    ready = []
    for campaign_id, share in group_by(attempts, lambda a: a.campaign_id).items():
        code_id = share[0].content.get("code_id")
        try:
            with runtime.transaction() as db_session:
                code = db_session.get(GroupCode, code_id)
                if code is None or code.status != "active":
                    raise GroupCodeRefused("the code is retired")
                name = code.name
            # Outside our transaction: way_for owns its own (it may call WeCom).
            way = way_for(runtime=runtime, code_id=code_id, source=SOURCE, source_id=campaign_id)
            card = {"title": name, "qr_code": way.qr_code}
        except WeChatError as exc:
            _not_made(outcomes, share, exc, exc.errcode)
            continue
        except DomainError as exc:  # the code service's refusal: a retired code, or WeCom's (its errcode)
            if "errcode" in exc.details:
                _not_made(outcomes, share, exc, exc.details["errcode"])
            else:
                for attempt in share:
                    outcomes.ended(attempt, "failed", RETIRED, f"{RETIRED} ({exc})")
            continue
        for attempt in share:
            attempt.content = {**attempt.content, **card}
            ready.append(attempt)
    return ready


def _not_made(outcomes: _Outcomes, share: list[_Attempt], exc: Exception, errcode: int | None) -> None:
    """WeCom did not make the way: retried when it may next time, else failed with its code."""
    if errcode is None or errcode in TOKEN_ERRCODES or errcode in RATE_LIMIT_ERRCODES or errcode in BUSY_ERRCODES:
        outcomes.retry(share, exc)
        return
    for attempt in share:
        outcomes.ended(attempt, "failed", f"refused {CHANNEL}: errcode {errcode}", f"{CHANNEL}: {exc}")


def joins_query(campaign_id: int) -> Select:
    """How many members joined a group through one of the campaign's ways (their ``state``)."""
    states = select(GroupCodeWay.state).where(GroupCodeWay.source == SOURCE, GroupCodeWay.source_id == campaign_id)
    return select(func.count()).select_from(GroupMember).where(GroupMember.state.in_(states))
