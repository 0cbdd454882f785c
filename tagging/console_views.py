"""What the tag, tag rule and audience console pages show (tagging/pages.py), read in one place.

Pages render after their transaction has closed, so each function here returns frozen rows
holding everything a template touches. The tag distribution is drawn as CSS bars, their
widths computed here. Tags are offered to the audience builder as the term an expression
needs: the bare name when one group has it, ``group:tag`` when several do, quoted when the
name holds a space or an operator (tagging/audience.py's grammar).

How long one firing keeps a tag (SPEC §5) is said in words from the weight, the group's
threshold and half-life (:func:`one_firing`), on the rules, the groups and their forms; the
try-a-message box says which tags a message would add now and until when.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select

from guides.audience_places import PLACES
from tagging import rules, scores, service
from tagging.audience import AudienceError
from tagging.keywords import normal_form
from tagging.models import RULE_KINDS, Tag, TagGroup
from tagging.schemas import DEFAULT_THRESHOLD, DEFAULT_WEIGHT, HALF_LIFE_MAX_DAYS, MAX_WEIGHT, THRESHOLD_MAX

if TYPE_CHECKING:
    from datetime import datetime, tzinfo

    from sqlalchemy.orm import Session

    from tagging.models import TagRule

TRY_MAX_CHARS = 2000  # a WeChat text message is at most 2048 bytes
SAMPLE_SIZE = 10
_SPECIAL = set('!&|():"')


@dataclass(frozen=True)
class Firing:
    """How long one firing keeps a tag, in words; ``warn``: not at all, or only for that moment."""

    text: str
    warn: bool


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
    keeps: Firing  # one firing of a rule with the default weight


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
    keeps: Firing | None  # None: a computed tag's (no rule fires for it)


@dataclass(frozen=True)
class TagChoice:
    id: int
    label: str  # group:tag
    computed: bool  # rules cannot set it
    half_life_days: float | None
    threshold: float


@dataclass(frozen=True)
class Token:
    text: str
    hit: bool  # a whole-word keyword of a rule that fired


@dataclass(frozen=True)
class Outcome:
    """What a message does to one tag of a customer who has no score for it yet."""

    tag: str  # group:tag
    score: float  # the fired rules' weights, added up
    threshold: float
    added: bool  # the customer carries the tag now
    until: datetime | None  # when it lapses, local time; None: not added, or carried for ever
    forever: bool
    keeps: Firing


@dataclass(frozen=True)
class Trial:
    """A message tried against the live rule book: how it is segmented, which rules fire,
    and which tags it would add now."""

    text: str
    tokens: tuple[Token, ...]
    fired: tuple[RuleRow, ...]
    outcomes: tuple[Outcome, ...]


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
    top = max((carried for entry in entries for _name, carried in entry.tags), default=0)
    groups = tuple(
        GroupRow(
            id=entry.group.id,
            name=entry.group.name,
            half_life_days=entry.group.half_life_days,
            threshold=entry.group.threshold,
            computed=entry.group.computed,
            keeps=one_firing(DEFAULT_WEIGHT, entry.group.half_life_days, entry.group.threshold, say_weight=True),
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
    choices = _tag_choices(db_session)
    every = rules.list_rules(db_session=db_session)
    shown = [r for r in every if (kind is None or r.kind == kind) and (tag_id is None or r.tag_id == tag_id)]
    return RulesPage(tuple(_rule_row(r, choices) for r in shown), len(every), tuple(choices.values()), RULE_KINDS)


def try_message(*, db_session: Session, book: rules.RuleBook, text: str, now: datetime, zone: tzinfo) -> Trial:
    """What the webhook would do with ``text`` now: the rule book is the one it matches with
    (enabled rules only, as of the last reload). The outcomes are for a customer without a
    score for the tags yet: each tag's fired weights added up, against its group's threshold."""
    fired_ids = book.keywords.match(text)
    choices = _tag_choices(db_session)
    fired = tuple(_rule_row(r, choices) for r in rules.list_rules(db_session=db_session) if r.id in fired_ids)
    words = {normal_form(w) for r in fired if not r.substring for w in (r.pattern, *r.synonyms)}
    tokens = tuple(Token(t, t in words) for t in book.keywords.tokens(text) if t.strip())
    return Trial(text, tokens, fired, _outcomes(fired, choices, now, zone))


def _outcomes(fired: tuple[RuleRow, ...], choices: dict[int, TagChoice], now: datetime, zone: tzinfo,
              ) -> tuple[Outcome, ...]:
    added: defaultdict[int, float] = defaultdict(float)
    for rule in fired:
        if rule.tag_id in choices and not choices[rule.tag_id].computed:  # as tagging/apply.py skips them
            added[rule.tag_id] += rule.weight
    outcomes = []
    for tag_id, score in added.items():
        tag = choices[tag_id]
        until = scores.active_until(score, now, tag.half_life_days, tag.threshold)
        forever = until >= scores.HELD
        outcomes.append(Outcome(
            tag=tag.label, score=score, threshold=tag.threshold, added=until > now,
            until=until.astimezone(zone) if now < until < scores.HELD else None, forever=forever,
            keeps=one_firing(score, tag.half_life_days, tag.threshold),
        ))
    return tuple(outcomes)


def one_firing(weight: float, half_life_days: float | None, threshold: float, *, say_weight: bool = False) -> Firing:
    """How long one firing of ``weight`` keeps a tag of a group, in words (the reader's language)."""
    keeps = scores.carried_for(weight, half_life_days, threshold)
    return Firing(_keeps_words(keeps, weight, threshold, say_weight=say_weight), warn=not keeps)


def _keeps_words(keeps: timedelta | None, weight: float, threshold: float, *, say_weight: bool) -> str:
    firing = _("一次触发（权重 %(weight)s）", weight=f"{weight:g}") if say_weight else _("一次触发")
    if keeps is None:
        return _("不足以打上标签：%(firing)s得 %(weight)s 分，低于阈值 %(threshold)s", firing=firing,
                 weight=f"{weight:g}", threshold=f"{threshold:g}")
    if keeps == timedelta.max:
        return _("%(firing)s一直保持标签（不衰减）", firing=firing)
    if not keeps:
        return _("%(firing)s只在那一刻打上标签，分数随即低于阈值", firing=firing)
    return _("%(firing)s保持标签约 %(span)s", firing=firing, span=_about(keeps))


def _about(span: timedelta) -> str:
    days = span / timedelta(days=1)
    for unit, tenths in ((1.0, True), (1 / 24, True), (1 / 1440, False)):
        if days >= unit:
            n = round(days / unit, 1 if tenths and days < 10 * unit else 0)
            count = 1 if n == 1 else 2  # gettext picks the form by an integer: "1 day", "1.5 days"
            if unit == 1.0:
                return ngettext("%(n)s 天", "%(n)s 天", count, n=f"{n:g}")
            if tenths:
                return ngettext("%(n)s 小时", "%(n)s 小时", count, n=f"{n:g}")
            return ngettext("%(n)s 分钟", "%(n)s 分钟", count, n=f"{n:g}")
    return _("不到 1 分钟")


def one_firing_of(weight: str | float | None, half_life_days: str | float | None,
                  threshold: str | float | None, *, say_weight: bool = False) -> Firing | None:
    """:func:`one_firing` for a form as typed (blank: the default; a blank half-life: no
    decay); None when a number cannot be read or is out of range (the form says why)."""
    w = _typed(weight, DEFAULT_WEIGHT, MAX_WEIGHT)
    t = _typed(threshold, DEFAULT_THRESHOLD, THRESHOLD_MAX)
    h = _typed(half_life_days, None, HALF_LIFE_MAX_DAYS)
    if w is None or t is None or (h is None and _given(half_life_days)):
        return None
    return one_firing(w, h, t, say_weight=say_weight)


def _given(raw: str | float | None) -> bool:
    return raw is not None and str(raw).strip() != ""


def _typed(raw: str | float | None, default: float | None, top: float) -> float | None:
    if not _given(raw):
        return default
    try:
        value = float(raw)  # type: ignore[arg-type]
    except ValueError:
        return None
    return value if 0 < value <= top else None  # also refuses nan and inf


def tag_choice(*, db_session: Session, tag_id: int) -> TagChoice | None:
    return _tag_choices(db_session, tag_id).get(tag_id)


def _tag_choices(db_session: Session, tag_id: int | None = None) -> dict[int, TagChoice]:
    query = (
        select(Tag.id, Tag.name, TagGroup.name, TagGroup.computed, TagGroup.half_life_days, TagGroup.threshold)
        .join(TagGroup, TagGroup.id == Tag.group_id)
        .order_by(TagGroup.id, Tag.id)
    )
    rows = db_session.execute(query if tag_id is None else query.where(Tag.id == tag_id))
    return {
        tag_id: TagChoice(tag_id, f"{group}:{name}", bool(computed), half_life, threshold)
        for tag_id, name, group, computed, half_life, threshold in rows
    }


def _rule_row(rule: TagRule, choices: dict[int, TagChoice]) -> RuleRow:
    tag = choices.get(rule.tag_id)
    weight = float(rule.weight)
    return RuleRow(
        id=rule.id,
        kind=rule.kind,
        pattern=rule.pattern,
        synonyms=tuple(str(s) for s in rule.synonyms or ()),
        substring=bool(rule.substring),
        weight=weight,
        enabled=bool(rule.enabled),
        tag_id=rule.tag_id,
        tag=tag.label if tag else f"#{rule.tag_id}",
        keeps=one_firing(weight, tag.half_life_days, tag.threshold) if tag and not tag.computed else None,
    )


# -- audiences -------------------------------------------------------------------------------


def audience_page(*, db_session: Session, now: datetime, text: str | None) -> AudiencePage:
    groups = tags_page(db_session=db_session, now=now).groups
    if text is None:
        return AudiencePage(groups, None)
    try:
        preview = service.preview_audience(db_session=db_session, text=text, now=now, limit=SAMPLE_SIZE,
                                           places=PLACES)
    except AudienceError as exc:
        return AudiencePage(groups, AudienceResult(text, error=exc.message, position=exc.position,
                                                   marked=mark(text, exc.position)))
    return AudiencePage(groups, AudienceResult(text, count=preview.count, sample=preview.sample))


def mark(text: str, position: int) -> Marked:
    position = max(0, min(position, len(text)))
    return Marked(text[:position], text[position:position + 1], text[position + 1:])
