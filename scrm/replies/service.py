"""Keyword auto-replies: manage the rules, and answer a customer from memory.

Matching follows the MP console's rule: the message is compared in :func:`match_form`
(outer whitespace stripped, Latin letters case-insensitive, full-width folded; Chinese as
is), for exact rules (全匹配) as a whole and for contains rules (半匹配) as a substring. An exact
match beats a contains match; among matches of one kind the higher ``priority`` wins, then the
older rule (lower id). No match gives the default reply, if one is enabled.

The webhook's hot path (:func:`reply_for_text`, :func:`follow_greeting`, :func:`default_reply`)
reads an in-memory :class:`RuleBook`, reloaded only when the version counter in Redis moves;
every write here bumps it once its transaction commits. Write functions take ``db_session``
and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scrm.errors import ConflictError, NotFoundError
from scrm.replies.models import ReplyRule
from scrm.replies.schemas import SINGLE_MATCHES, RuleIn, match_form, parse_rule
from scrm.versioned_cache import VersionedCache

if TYPE_CHECKING:
    from redis import Redis

    from scrm.runtime import Runtime

VERSION_KEY = "replies:version"
_MAX_ID = 2**31 - 1  # the id column is a 32-bit integer


@dataclass(frozen=True)
class Article:
    title: str
    description: str
    url: str
    picurl: str = ""


@dataclass(frozen=True)
class Reply:
    kind: Literal["text", "news"]
    text: str = ""
    articles: tuple[Article, ...] = ()


class RuleNotFound(NotFoundError):
    """No reply rule has that id."""


class RuleConflict(ConflictError):
    """Another enabled follow greeting or default reply exists (``existing_id``, when known)."""

    def __init__(self, message: str, *, existing_id: int | None = None) -> None:
        super().__init__(message, existing_id=existing_id)
        self.existing_id = existing_id


# -- the hot path --------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleBook:
    """Every enabled rule, arranged for matching. Immutable, so threads share it freely."""

    exact: Mapping[str, Reply]
    contains: tuple[tuple[str, Reply], ...]  # best first
    follow: Reply | None
    default: Reply | None

    @classmethod
    def from_rules(cls, rules: Iterable[ReplyRule]) -> RuleBook:
        exact: dict[str, Reply] = {}
        contains: list[tuple[str, Reply]] = []
        single: dict[str, Reply] = {}
        for rule in sorted(rules, key=lambda r: (-r.priority, r.id)):
            reply = reply_of(rule)
            if rule.match == "exact":
                exact.setdefault(match_form(rule.keyword or ""), reply)
            elif rule.match == "contains":
                contains.append((match_form(rule.keyword or ""), reply))
            else:
                single.setdefault(rule.match, reply)
        return cls(MappingProxyType(exact), tuple(contains), single.get("follow"), single.get("default"))

    def reply_for_text(self, text: str) -> Reply | None:
        message = match_form(text)
        if message:
            reply = self.exact.get(message)
            if reply is not None:
                return reply
            for keyword, reply in self.contains:
                if keyword in message:
                    return reply
        return self.default


def reply_of(rule: ReplyRule) -> Reply:
    if rule.reply_kind == "news":
        articles = tuple(
            Article(a["title"], a.get("description", ""), a["url"], a.get("picurl", "")) for a in rule.articles
        )
        return Reply("news", articles=articles)
    return Reply("text", text=rule.text)


def _load_rulebook(runtime: Runtime) -> RuleBook:
    with runtime.transaction() as db_session:
        return RuleBook.from_rules(db_session.scalars(select(ReplyRule).where(ReplyRule.enabled.is_(True))))


_rulebook: VersionedCache[RuleBook] = VersionedCache(VERSION_KEY, _load_rulebook)


def reply_for_text(runtime: Runtime, text: str) -> Reply | None:
    """The reply to a customer's text message: best keyword rule, else the default reply."""
    return _rulebook.get(runtime).reply_for_text(text)


def follow_greeting(runtime: Runtime) -> Reply | None:
    """The reply to a follow (关注回复), if one is enabled."""
    return _rulebook.get(runtime).follow


def default_reply(runtime: Runtime) -> Reply | None:
    """The reply to a message no keyword rule matches (收到消息回复), if one is enabled."""
    return _rulebook.get(runtime).default


# -- managing rules ------------------------------------------------------------------------


def list_rules(*, db_session: Session) -> list[ReplyRule]:
    return list(db_session.scalars(select(ReplyRule).order_by(ReplyRule.id)))


def get_rule(*, db_session: Session, rule_id: int) -> ReplyRule:
    rule = db_session.get(ReplyRule, rule_id) if 0 < rule_id <= _MAX_ID else None
    if rule is None:
        raise RuleNotFound(f"no reply rule {rule_id}")
    return rule


def create_rule(*, db_session: Session, redis: Redis, rule_in: RuleIn) -> ReplyRule:
    _ensure_single(db_session, rule_in, rule_id=None)
    rule = ReplyRule()
    _apply(rule, rule_in)
    db_session.add(rule)
    _flush(db_session, rule_in)
    _rulebook.bump_after_commit(db_session, redis)
    return rule


def update_rule(*, db_session: Session, redis: Redis, rule_id: int, changes: Mapping[str, Any]) -> ReplyRule:
    """Apply ``changes`` (any fields of :class:`RuleIn`); the result is validated whole.

    Switching ``reply_kind`` drops the other kind's content, and switching to a follow or
    default rule drops the keyword, unless ``changes`` sets them."""
    rule = get_rule(db_session=db_session, rule_id=rule_id)
    merged = _as_input(rule)
    if "reply_kind" in changes and changes["reply_kind"] != rule.reply_kind:
        merged.update(text="", articles=[])
    if "match" in changes and changes["match"] in SINGLE_MATCHES:
        merged["keyword"] = None
    merged.update(changes)
    rule_in = parse_rule(merged)
    _ensure_single(db_session, rule_in, rule_id=rule.id)
    _apply(rule, rule_in)
    _flush(db_session, rule_in)
    _rulebook.bump_after_commit(db_session, redis)
    return rule


def delete_rule(*, db_session: Session, redis: Redis, rule_id: int) -> None:
    db_session.delete(get_rule(db_session=db_session, rule_id=rule_id))
    db_session.flush()
    _rulebook.bump_after_commit(db_session, redis)


def _ensure_single(db_session: Session, rule_in: RuleIn, *, rule_id: int | None) -> None:
    """At most one enabled follow greeting and one enabled default reply."""
    if not (rule_in.enabled and rule_in.match in SINGLE_MATCHES):
        return
    query = select(ReplyRule.id).where(ReplyRule.match == rule_in.match, ReplyRule.enabled.is_(True))
    if rule_id is not None:
        query = query.where(ReplyRule.id != rule_id)
    existing = db_session.scalar(query.limit(1))
    if existing is not None:
        raise RuleConflict(
            f"an enabled {rule_in.match} rule exists already (id {existing}); disable or delete it first",
            existing_id=existing,
        )


def _flush(db_session: Session, rule_in: RuleIn) -> None:
    try:
        db_session.flush()
    except IntegrityError as exc:  # a concurrent writer won the race the check above lost
        raise RuleConflict(f"an enabled {rule_in.match} rule exists already") from exc


def _as_input(rule: ReplyRule) -> dict[str, Any]:
    return {
        "match": rule.match,
        "keyword": rule.keyword,
        "reply_kind": rule.reply_kind,
        "text": rule.text,
        "articles": list(rule.articles),
        "priority": rule.priority,
        "enabled": rule.enabled,
    }


def _apply(rule: ReplyRule, rule_in: RuleIn) -> None:
    rule.match = rule_in.match
    rule.keyword = rule_in.keyword
    rule.reply_kind = rule_in.reply_kind
    rule.text = rule_in.text
    rule.articles = [article.model_dump() for article in rule_in.articles]
    rule.priority = rule_in.priority
    rule.enabled = rule_in.enabled
