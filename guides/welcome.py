"""Welcoming a customer a code bound (SPEC §6).

- MP: the passive reply to the subscribe/SCAN is the guide's card (a news article: the
  welcome text, the guide's name and store, their photo, a link to their card page).
- WeCom: ``send_welcome_msg`` with the event's ``WelcomeCode``, which WeCom honours for 20 s
  and once. The job goes first in line (queue ``urgent``); past the window it gives up and
  says so in the timeline; 41050 (code expired), 41051 (already welcomed) and 41096 (another
  app is welcoming) end it too. Other failures inside the window are tried again within a second or two.

Placeholders in welcome texts: ``#nickname#`` (dropped when WeChat has not told us the name
yet), ``#guide#``, ``#store#``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from guides.binding import GuideCard
from guides.models import Guide
from scrm.customers.models import Customer, Interaction
from scrm.errors import RetryLater
from scrm.replies.service import Article, Reply
from scrm.runtime import Runtime, current, job
from scrm.wechat.errors import WeChatError

if TYPE_CHECKING:
    from scrm.runtime import Runtime

log = logging.getLogger(__name__)

WELCOME_WINDOW = timedelta(seconds=20)
SETTLED_ERRCODES = {
    41050: "the welcome code is unknown or expired",
    41051: "already welcomed",
    41096: "another app is sending the welcome",
}


def welcome_text(runtime: Runtime, guide: Guide | GuideCard, nickname: str | None) -> str:
    template = guide.welcome_text or runtime.config.binding.welcome_text
    store_name = guide.store_name if isinstance(guide, GuideCard) else guide.store.name
    return template.replace("#nickname#", nickname or "").replace("#guide#", guide.name).replace("#store#", store_name).strip()


def card_url(runtime: Runtime, guide: Guide | GuideCard) -> str:
    return f"{runtime.config.server.public_base_url}/card/{guide.code}"


def needs_nickname(runtime: Runtime, card: GuideCard) -> bool:
    return "#nickname#" in (card.welcome_text or runtime.config.binding.welcome_text)


def mp_card(*, runtime: Runtime, card: GuideCard, nickname: str | None) -> Reply:
    """The passive reply that introduces the customer's guide."""
    article = Article(
        title=f"您的专属导购：{card.name}（{card.store_name}）",
        description=welcome_text(runtime, card, nickname),
        url=card_url(runtime, card),
        picurl=card.photo_url or "",
    )
    return Reply(kind="news", articles=(article,))


@job
def send_welcome(runtime: Runtime, welcome_code: str, guide_id: int, customer_id: int, received_at: str) -> None:
    """Queued (``urgent``) when a customer adds a guide on WeCom through one of our codes."""
    deadline = datetime.fromisoformat(received_at) + WELCOME_WINDOW
    with runtime.transaction() as db_session:
        guide = db_session.get(Guide, guide_id)
        customer = db_session.get(Customer, customer_id)
        if guide is None or customer is None:
            return
        text = welcome_text(runtime, guide, customer.nickname)
        link = {"msgtype": "link", "link": {"title": f"{guide.name}（{guide.store.name}）", "url": card_url(runtime, guide),
                                            **({"picurl": guide.photo_url} if guide.photo_url else {})}}
    if runtime.clock.now() >= deadline:
        _note(customer_id, guide_id, "welcome_expired", "the welcome code had expired before its turn")
        return
    try:
        runtime.work.send_welcome_msg(welcome_code, text, [link])
    except WeChatError as exc:
        if exc.errcode in SETTLED_ERRCODES:
            _note(customer_id, guide_id, "welcome_skipped", SETTLED_ERRCODES[exc.errcode], exc.errcode)
            return
        if runtime.clock.now() + timedelta(seconds=1) < deadline:
            raise RetryLater(f"welcome not sent ({exc}); trying again inside the window", retry_after=1) from exc
        _note(customer_id, guide_id, "welcome_failed", str(exc), exc.errcode)
        return
    _note(customer_id, guide_id, "welcome_sent", text)


def _note(customer_id: int, guide_id: int, kind: str, detail: str, errcode: int | None = None) -> None:
    runtime = current()
    with runtime.transaction() as db_session:
        guide = db_session.get(Guide, guide_id)
        db_session.add(Interaction(
            customer_id=customer_id, kind=kind, channel="work", occurred_at=runtime.clock.now(),
            payload={"guide": guide.code, "detail": detail, **({"errcode": errcode} if errcode is not None else {})},
        ))
    if kind != "welcome_sent":
        log.info("welcome for customer %s by guide %s: %s (%s)", customer_id, guide_id, kind, detail)
