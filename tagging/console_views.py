"""What the tag, tag rule and audience console pages show (tagging/pages.py), read in one place.

Pages render after their transaction has closed, so each function here returns frozen rows
holding everything a template touches. The tag distribution is drawn as CSS bars, their
widths computed here. Tags are offered to the audience builder as the term an expression
needs: the bare name when one group has it, ``group:tag`` when several do, quoted when the
name holds a space or an operator (tagging/audience.py's grammar).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from tagging import rules, service
from tagging.audience import AudienceError
from tagging.keywords import normal_form
from tagging.models import RULE_KINDS, Tag, TagGroup

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

    from tagging.models import TagRule

TRY_MAX_CHARS = 2000  # a WeChat text message is at most 2048 bytes
SAMPLE_SIZE = 10
_SPECIAL = set('!&|():"')


@dataclass(frozen=True)
class TagRow:
    id: int
    name: str
    customers: int  # carrying it now
    bar: float  # width of its bar, % of the most carried tag's
    term: str  # how an audience expression names it


@dataclass(frozen=True)
class GroupRow:
    id: int
    name: str
    half_life_days: float | None
    threshold: float
    computed: bool
    tags: tuple[TagRow, ...]


@dataclass(frozen=True)
class TagsPage:
    groups: tuple[GroupRow, ...]
    top: int  # the most customers any one tag has


@dataclass(frozen=True)
class RuleRow:
    id: int
    kind: str
    pattern: str
    synonyms: tuple[str, ...]
    substring: bool
    weight: float
    enabled: bool
    tag_id: int
    tag: str  # group:tag


@dataclass(frozen=True)
class TagChoice:
    id: int
    label: str  # group:tag
    computed: bool  # rules cannot set it


@dataclass(frozen=True)
class Token:
    text: str
    hit: bool  # a whole-word keyword of a rule that fired


@dataclass(frozen=True)
class Trial:
    """A message tried against the live rule book: how it is segmented, which rules fire."""

    text: str
    tokens: tuple[Token, ...]
    fired: tuple[RuleRow, ...]


@dataclass(frozen=True)
class RulesPage:
    rules: tuple[RuleRow, ...]
    total: int  # before the filters
    tags: tuple[TagChoice, ...]
    kinds: tuple[str, ...]


@dataclass(frozen=True)
class Marked:
    """An expression cut around the character an error points at (past the end: ``at`` is "")."""

    before: str
    at: str
    after: str


@dataclass(frozen=True)
class AudienceResult:
    text: str
    count: int | None = None
    sample: tuple[tuple[int, str | None], ...] = ()
    error: str | None = None
    position: int | None = None
    marked: Marked | None = None


@dataclass(frozen=True)
class AudiencePage:
    groups: tuple[GroupRow, ...]  # the tag picker
    result: AudienceResult | None  # None: nothing asked yet


# -- tags ------------------------------------------------------------------------------------


def tags_page(*, db_session: Session, now: datetime) -> TagsPage:
    entries = service.list_groups(db_session=db_session, now=now)
    in_groups = Counter(tag.name for entry in entries for tag, _ in entry.tags)
    top = max((carried for entry in entries for _, carried in entry.tags), default=0)
    groups = tuple(
        GroupRow(
            id=entry.group.id,
            name=entry.group.name,
            half_life_days=entry.group.half_life_days,
            threshold=entry.group.threshold,
            computed=entry.group.computed,
            tags=tuple(
                TagRow(
                    id=tag.id,
                    name=tag.name,
                    customers=carried,
                    bar=round(100 * carried / top, 1) if top else 0.0,
                    term=audience_term(entry.group.name, tag.name, qualified=in_groups[tag.name] > 1),
                )
                for tag, carried in entry.tags
            ),
        )
        for entry in entries
    )
    return TagsPage(groups, top)


def audience_term(group: str, name: str, *, qualified: bool) -> str:
    """The term that names a tag in an audience expression."""
    return f"{_quoted(group)}:{_quoted(name)}" if qualified else _quoted(name)


def _quoted(name: str) -> str:
    if name and not any(c.isspace() or c in _SPECIAL for c in name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- rules -----------------------------------------------------------------------------------


def rules_page(*, db_session: Session, kind: str | None, tag_id: int | None) -> RulesPage:
    labels = _tag_labels(db_session)
    every = rules.list_rules(db_session=db_session)
    shown = [r for r in every if (kind is None or r.kind == kind) and (tag_id is None or r.tag_id == tag_id)]
    choices = tuple(TagChoice(i, label, computed) for i, (label, computed) in labels.items())
    return RulesPage(tuple(_rule_row(r, labels) for r in shown), len(every), choices, RULE_KINDS)


def try_message(*, db_session: Session, book: rules.RuleBook, text: str) -> Trial:
    """What the webhook would do with ``text`` now: the rule book is the one it matches with
    (enabled rules only, as of the last reload)."""
    fired_ids = book.keywords.match(text)
    labels = _tag_labels(db_session)
    fired = tuple(_rule_row(r, labels) for r in rules.list_rules(db_session=db_session) if r.id in fired_ids)
    words = {normal_form(w) for r in fired if not r.substring for w in (r.pattern, *r.synonyms)}
    tokens = tuple(Token(t, t in words) for t in book.keywords.tokens(text) if t.strip())
    return Trial(text, tokens, fired)


def _tag_labels(db_session: Session) -> dict[int, tuple[str, bool]]:
    rows = db_session.execute(
        select(Tag.id, Tag.name, TagGroup.name, TagGroup.computed)
        .join(TagGroup, TagGroup.id == Tag.group_id)
        .order_by(TagGroup.id, Tag.id)
    )
    return {tag_id: (f"{group}:{name}", bool(computed)) for tag_id, name, group, computed in rows}


def _rule_row(rule: TagRule, labels: dict[int, tuple[str, bool]]) -> RuleRow:
    return RuleRow(
        id=rule.id,
        kind=rule.kind,
        pattern=rule.pattern,
        synonyms=tuple(str(s) for s in rule.synonyms or ()),
        substring=bool(rule.substring),
        weight=float(rule.weight),
        enabled=bool(rule.enabled),
        tag_id=rule.tag_id,
        tag=labels.get(rule.tag_id, (f"#{rule.tag_id}", False))[0],
    )


# -- audiences -------------------------------------------------------------------------------


def audience_page(*, db_session: Session, now: datetime, text: str | None) -> AudiencePage:
    groups = tags_page(db_session=db_session, now=now).groups
    if text is None:
        return AudiencePage(groups, None)
    try:
        preview = service.preview_audience(db_session=db_session, text=text, now=now, limit=SAMPLE_SIZE)
    except AudienceError as exc:
        return AudiencePage(groups, AudienceResult(text, error=exc.message, position=exc.position,
                                                   marked=mark(text, exc.position)))
    return AudiencePage(groups, AudienceResult(text, count=preview.count, sample=preview.sample))


def mark(text: str, position: int) -> Marked:
    position = max(0, min(position, len(text)))
    return Marked(text[:position], text[position:position + 1], text[position + 1:])
