"""Tag rules applied to what a customer does, inside the caller's transaction.

:func:`apply_rules` runs in the webhook's exactly-once transaction (a retry of the callback
applies nothing twice); it asks the in-memory rule book and touches the database only when
a rule matches. Each matching rule adds its weight once per callback, however often its
keyword or synonyms occur.

What a callback offers the rules:

- text messages, and voice messages WeChat recognised as text: ``keyword``
- menu ``CLICK``: ``click`` (the key); menu ``VIEW``: ``view`` (the URL)
- follow: ``event`` follow, and ``scene`` when it came through a QR code; ``SCAN``: ``scene``
- unfollow: ``event`` unfollow
- WeCom: a customer adding a member is a follow (the contact way's ``state`` is its scene),
  either side deleting the other an unfollow
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import select

from scrm import callbacks as ev
from tagging.models import Tag, TagGroup
from tagging.rules import RuleRef, rulebook
from tagging.scores import Cause, TagChange, add_score

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime


def apply_rules(runtime: Runtime, db_session: Session, callback: ev.Callback, customer_id: int) -> list[TagChange]:
    """Score the tags of the rules ``callback`` matches; the changes in carried tags."""
    offered = facts(callback)
    if not offered:
        return []  # a location, an image…: not even the rule book's version is read
    book = rulebook(runtime)
    rule_ids = frozenset().union(*(book.lookup(kind, value) for kind, value in offered))
    if not rule_ids:
        return []
    return _score(runtime, db_session, customer_id, book.refs(rule_ids))


def apply_view_rules(runtime: Runtime, db_session: Session, *, customer_id: int, url: str) -> list[TagChange]:
    """A customer opened ``url`` (a tracked link)."""
    book = rulebook(runtime)
    return _score(runtime, db_session, customer_id, book.refs(book.lookup("view", url)))


def apply_event_rules(runtime: Runtime, db_session: Session, *, customer_id: int, event: str) -> list[TagChange]:
    """An event that is not a callback (``purchase``, from the orders API)."""
    book = rulebook(runtime)
    return _score(runtime, db_session, customer_id, book.refs(book.lookup("event", event)))


def facts(callback: ev.Callback) -> tuple[tuple[str, str], ...]:
    """What ``callback`` offers the rules, as (rule kind, value) pairs."""
    if isinstance(callback, ev.TextMessage):
        return (("keyword", callback.content),)
    if isinstance(callback, ev.MediaMessage) and callback.recognition:
        return (("keyword", callback.recognition),)
    if isinstance(callback, ev.MenuClick):
        return (("click", callback.key),)
    if isinstance(callback, ev.MenuView):
        return (("view", callback.url),)
    if isinstance(callback, ev.Subscribe):
        return (("event", "follow"), *((("scene", callback.scene),) if callback.scene else ()))
    if isinstance(callback, ev.Scan):
        return (("scene", callback.scene),)
    if isinstance(callback, ev.Unsubscribe):
        return (("event", "unfollow"),)
    if isinstance(callback, ev.ExternalContactChange):
        if callback.starts_contact:
            return (("event", "follow"), *((("scene", callback.state),) if callback.state else ()))
        if callback.ends_contact:
            return (("event", "unfollow"),)
    return ()


def _score(runtime: Runtime, db_session: Session, customer_id: int, rules: Iterable[RuleRef]) -> list[TagChange]:
    rules = list(rules)
    if not rules:
        return []
    now = runtime.clock.now()
    # Fresh from the database: a group's half-life or threshold may have changed since the
    # rule book was loaded.
    tags = {
        tag.id: (tag, group)
        for tag, group in db_session.execute(
            select(Tag, TagGroup)
            .join(TagGroup, TagGroup.id == Tag.group_id)
            .where(Tag.id.in_({rule.tag_id for rule in rules}))
        )
    }
    changes = []
    for rule in rules:
        tag, group = tags.get(rule.tag_id, (None, None))
        if tag is None or group is None or group.computed:
            continue  # deleted since the rule book was loaded, or written by computations only
        change = add_score(
            db_session=db_session,
            customer_id=customer_id,
            tag=tag,
            group=group,
            weight=rule.weight,
            now=now,
            cause=Cause("rule", str(rule.id)),
        )
        if change is not None:
            changes.append(change)
    return changes
