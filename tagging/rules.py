"""Tag rules (打标签规则): manage them, and the compiled rule book the webhook matches against.

The rule book holds every enabled rule arranged for lookup: keywords in a
:class:`~tagging.keywords.KeywordMatcher`, menu keys, URLs, scenes and events in dictionaries,
scene prefixes (``g:*``) by prefix. A lookup never loops over the rules. It lives in process
memory, reloaded when the version counter in Redis moves (:mod:`scrm.versioned_cache`); every
write here bumps the counter once its transaction commits. Write functions take
``db_session`` and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scrm.errors import NotFoundError
from scrm.versioned_cache import VersionedCache
from tagging.keywords import KeywordEntry, KeywordMatcher
from tagging.models import Tag, TagGroup, TagRule
from tagging.schemas import InvalidTagRule, TagRuleIn, parse_rule

if TYPE_CHECKING:
    from redis import Redis

    from scrm.runtime import Runtime

VERSION_KEY = "tag_rules:version"
_MAX_ID = 2**31 - 1
_EXACT_KINDS = ("click", "view", "scene", "event")


class TagRuleError(NotFoundError):
    """A tag rule, or the tag it sets, cannot be found (404); the message says which."""


class TagRuleNotFound(TagRuleError):
    pass


class TagNotFound(TagRuleError):
    pass


# -- the rule book -------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleRef:
    """What applying a rule needs: no ORM object, so threads share it."""

    id: int
    tag_id: int
    weight: float


@dataclass(frozen=True)
class RuleBook:
    """Every enabled rule, arranged for matching. Immutable."""

    rules: Mapping[int, RuleRef]
    keywords: KeywordMatcher
    exact: Mapping[tuple[str, str], frozenset[int]]  # (kind, pattern) -> rule ids
    scene_prefixes: Mapping[str, frozenset[int]]  # "g:" for the pattern "g:*"

    @classmethod
    def from_rules(cls, rules: Iterable[TagRule]) -> RuleBook:
        refs: dict[int, RuleRef] = {}
        keywords: list[KeywordEntry] = []
        exact: dict[tuple[str, str], set[int]] = {}
        prefixes: dict[str, set[int]] = {}
        for rule in rules:
            refs[rule.id] = RuleRef(rule.id, rule.tag_id, float(rule.weight))
            if rule.kind == "keyword":
                for word in (rule.pattern, *(rule.synonyms or ())):
                    keywords.append(KeywordEntry(str(word), bool(rule.substring), rule.id))
            elif rule.kind == "scene" and rule.pattern.endswith("*"):
                prefixes.setdefault(rule.pattern[:-1], set()).add(rule.id)
            elif rule.kind in _EXACT_KINDS:
                exact.setdefault((rule.kind, rule.pattern), set()).add(rule.id)
        return cls(
            MappingProxyType(refs),
            KeywordMatcher(keywords),
            MappingProxyType({key: frozenset(ids) for key, ids in exact.items()}),
            MappingProxyType({key: frozenset(ids) for key, ids in prefixes.items()}),
        )

    def lookup(self, kind: str, value: str) -> frozenset[int]:
        """The ids of the rules of ``kind`` that ``value`` (a text, menu key, URL, scene or
        event name) matches."""
        if kind == "keyword":
            return self.keywords.match(value)
        if kind == "scene":
            return self._scene(value.strip())
        return self.exact.get((kind, value.strip()), frozenset())

    def _scene(self, scene: str) -> frozenset[int]:
        found = set(self.exact.get(("scene", scene), ()))
        if self.scene_prefixes:
            for end in range(len(scene) + 1):  # one lookup per prefix of the scene, not per rule
                found.update(self.scene_prefixes.get(scene[:end], ()))
        return frozenset(found)

    def refs(self, rule_ids: Iterable[int]) -> list[RuleRef]:
        """The rules, in the order they are applied: by tag (row locks are taken in one
        order), then by id."""
        return sorted((self.rules[i] for i in set(rule_ids)), key=lambda r: (r.tag_id, r.id))


def _load_rulebook(runtime: Runtime) -> RuleBook:
    with runtime.transaction() as db_session:
        return RuleBook.from_rules(db_session.scalars(select(TagRule).where(TagRule.enabled.is_(True))))


# Building the jieba dictionary takes a while: other threads keep matching with the old book.
_rulebook: VersionedCache[RuleBook] = VersionedCache(VERSION_KEY, _load_rulebook, stale_while_loading=True)


def rulebook(runtime: Runtime) -> RuleBook:
    """The current rule book, from memory (one Redis GET to check its version)."""
    return _rulebook.get(runtime)


def rules_changed(*, db_session: Session, redis: Redis) -> None:
    """Every process reloads its rule book once ``db_session`` commits. For writers of rules
    outside this module (deleting a tag deletes its rules)."""
    _rulebook.bump_after_commit(db_session, redis)


# -- managing rules ------------------------------------------------------------------------


def list_rules(*, db_session: Session, tag_id: int | None = None) -> list[TagRule]:
    query = select(TagRule).order_by(TagRule.id)
    if tag_id is not None:
        query = query.where(TagRule.tag_id == tag_id)
    return list(db_session.scalars(query))


def get_rule(*, db_session: Session, rule_id: int) -> TagRule:
    rule = db_session.get(TagRule, rule_id) if 0 < rule_id <= _MAX_ID else None
    if rule is None:
        raise TagRuleNotFound(f"no tag rule {rule_id}")
    return rule


def create_rule(*, db_session: Session, redis: Redis, rule_in: TagRuleIn) -> TagRule:
    _check_tag(db_session, rule_in.tag_id)
    rule = TagRule()
    _apply(rule, rule_in)
    db_session.add(rule)
    db_session.flush()
    rules_changed(db_session=db_session, redis=redis)
    return rule


def update_rule(*, db_session: Session, redis: Redis, rule_id: int, changes: Mapping[str, Any]) -> TagRule:
    """Apply ``changes`` (any fields of :class:`TagRuleIn`); the result is validated whole.
    A rule that stops being a keyword rule drops its synonyms and substring flag."""
    rule = get_rule(db_session=db_session, rule_id=rule_id)
    merged = _as_input(rule)
    if changes.get("kind", rule.kind) != "keyword":
        merged.update(synonyms=[], substring=False)
    merged.update(changes)
    rule_in = parse_rule(merged)
    if rule_in.tag_id != rule.tag_id:
        _check_tag(db_session, rule_in.tag_id)
    _apply(rule, rule_in)
    db_session.flush()
    rules_changed(db_session=db_session, redis=redis)
    return rule


def delete_rule(*, db_session: Session, redis: Redis, rule_id: int) -> None:
    db_session.delete(get_rule(db_session=db_session, rule_id=rule_id))
    db_session.flush()
    rules_changed(db_session=db_session, redis=redis)


def _check_tag(db_session: Session, tag_id: int) -> None:
    row = db_session.execute(
        select(Tag.id, TagGroup.computed).join(TagGroup, TagGroup.id == Tag.group_id).where(Tag.id == tag_id)
    ).first()
    if row is None:
        raise TagNotFound(f"no tag {tag_id}")
    if row.computed:
        raise InvalidTagRule("tag_id", f"tag {tag_id} is in a computed group (RFM, lifecycle): rules cannot set it")


def _as_input(rule: TagRule) -> dict[str, Any]:
    return {
        "kind": rule.kind,
        "pattern": rule.pattern,
        "tag_id": rule.tag_id,
        "weight": float(rule.weight),
        "synonyms": list(rule.synonyms or ()),
        "substring": bool(rule.substring),
        "enabled": bool(rule.enabled),
    }


def _apply(rule: TagRule, rule_in: TagRuleIn) -> None:
    rule.kind = rule_in.kind
    rule.pattern = rule_in.pattern
    rule.tag_id = rule_in.tag_id
    rule.weight = rule_in.weight
    rule.synonyms = list(rule_in.synonyms)
    rule.substring = rule_in.substring
    rule.enabled = rule_in.enabled
