"""Audience expressions (人群, SPEC §8): which customers carry which tags, as one SQL query.

Grammar (parsed in tagging/audience_grammar.py), loosest first (``a | b & !c`` is ``a | (b & (!c))``)::

    expr   = and ( "|" and )*
    and    = unary ( "&" unary )*
    unary  = "!" unary | "(" expr ")" | term
    term   = name [ ":" name ]       a tag name, or group:tag
    name   = bare | quoted
    bare   = characters other than whitespace and  ! & | ( ) : "
    quoted = '"' any characters, \\" and \\\\ escaped '"'   ("双十一 活动")

Reserved words before ``:`` name things other than tag groups (a tag group called so cannot
be named as ``group:tag``):

- ``segment:名字`` names a saved segment (below);
- ``store:S001``: customers bound now to a guide of the store with that code;
- ``guide:G001``: customers bound now to the guide with that code (an unknown store or guide
  code is an error pointing at the code);
- ``interacted:30d``: customers who did something themselves (a timeline entry of
  ``ACTIVITY_KINDS``: a message, click, scan, follow, order, redemption…; not our tags,
  coupons or messages) in the last 30 days, the moment exactly 30 days ago included;
  ``!interacted:30d``: none.
  The count is whole days, 1 to 3650, written with ``d``.

Stores, guides and bindings belong to guides/, a layer above tagging, which therefore never
imports them: a caller above passes :class:`Places` down (guides/audience_places.py), which
looks codes up and writes the ``EXISTS`` over ``guide_bindings``. Without it (``places=None``)
a ``store:`` or ``guide:`` term is an error. The timeline (``interactions``) belongs to
scrm.customers, below tagging, so ``interacted:`` is written here.

``segment:名字`` names a saved segment (tagging/segments/): its expression, resolved when
this one is, stands in for the term, so a changed segment changes every audience naming it.
A segment may name other segments, never itself through any chain (an error naming the
chain); errors inside a segment point at the ``segment:`` term.

A bare tag name must be in one group only; when two groups have a tag of that name the
expression must say ``group:tag``. Whitespace (the full-width space too) separates tokens.
Errors are :class:`AudienceError` with the 0-based character position they point at.

The SQL shape: each term becomes ``EXISTS (SELECT 1 FROM customer_tags WHERE customer_id =
customers.id AND tag_id = :id AND active_until > :now)``, combined with AND/OR/NOT over
``customers`` (merged customers left out), one statement. Chosen over ``customers.id IN
(SELECT customer_id …)`` because of ``!``: PostgreSQL plans ``NOT EXISTS`` as an anti-join,
while ``NOT IN`` can never be one (NULL semantics) and degrades to a per-row scan of the
subquery once its hash outgrows work_mem. Otherwise the two are planned alike: a top-level
``EXISTS`` is a semi-join, driven from ``ix_customer_tags_tag_id_active_until`` when the tag
is rare; under ``OR`` it becomes a hashed subplan (one index range scan) or, when the hash
would outgrow work_mem, a primary-key probe per customer. To keep ORs out of that second
case, the terms of one ``|`` share a single ``EXISTS … tag_id IN (…)`` (a semi-join again),
and the negated terms of one ``&`` a single ``NOT EXISTS … tag_id IN (…)``. ``store:``,
``guide:`` and ``interacted:`` are one ``EXISTS`` each (bench/audience_places.py measures them).

Measured on PostgreSQL 1M customers, 1.7M customer tags, work_mem 4 MB: a rare tag (0.1 %)
10 ms, rare & common 13 ms; 40 % & 20 % 0.5 s; ``!`` 40 % 0.6 s; 40 % | 20 % 0.46 s (2.1 s
as two EXISTS). The sample (``ORDER BY id LIMIT 10``) takes 2-90 ms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, Union

from sqlalchemy import DateTime, and_, bindparam, func, literal_column, not_, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, Select

from scrm.clock import as_utc
from scrm.customers.models import ACTIVITY_KINDS, Customer, Interaction
from tagging.audience_grammar import (  # noqa: F401 - MAX_CHARS, parse and spelled are used through this module
    MAX_CHARS,
    And,
    AudienceError,
    Not,
    Or,
    Term,
    leaves as _leaves,
    parse,
    spelled,
)
from tagging.models import CustomerTag, Segment, Tag, TagGroup

SEGMENT = "segment"  # segment:名字
MAX_SEGMENT_DEPTH = 8  # segments naming segments
MAX_EXPANDED_TAGS = 1000  # tags once segments are expanded
STORE, GUIDE, INTERACTED = "store", "guide", "interacted"  # store:S001, guide:G001, interacted:30d
RESERVED = (SEGMENT, STORE, GUIDE, INTERACTED)
MAX_DAYS = 3650
_customer_tags = CustomerTag.__table__


# -- the tree ------------------------------------------------------------------------------


class Places(Protocol):
    """Stores' and guides' codes and customers' current guides, which guides/ owns."""

    def ids(self, db_session: Session, kind: str, codes: set[str]) -> dict[str, int]:
        """The ids of the stores (``kind`` "store") or guides ("guide") with these codes."""

    def bound(self, kind: str, ids: list[int]) -> ColumnElement[bool]:
        """EXISTS a current binding of ``customers.id`` to one of these guides or stores' guides."""


@dataclass(frozen=True)
class HasTag:
    """A term resolved to its tag."""

    tag_id: int
    label: str  # group:tag


@dataclass(frozen=True)
class BoundTo:
    """A ``store:`` or ``guide:`` term resolved to the store's or guide's id."""

    kind: str
    place_id: int
    places: Places


@dataclass(frozen=True)
class Interacted:
    days: int


Node = Union[Term, HasTag, BoundTo, Interacted, Not, And, Or]  # noqa: UP007 - a runtime alias


@dataclass(frozen=True)
class Audience:
    """A parsed expression whose terms are resolved to tags; build queries from it."""

    text: str
    tree: Node

    def condition(self, now: datetime) -> ColumnElement[bool]:
        at = bindparam("audience_now", as_utc(now), type_=DateTime(timezone=True), unique=True)
        return and_(Customer.merged_into_id.is_(None), _sql(self.tree, at, as_utc(now)))


# -- resolving and compiling ---------------------------------------------------------------


def resolve(*, db_session: Session, text: str, segments: dict[str, str] | None = None,
            as_segment: str | None = None, places: Places | None = None) -> Audience:
    """Parse ``text``, find its tags (one SELECT) and expand its segments: unknown or
    ambiguous names are errors. ``segments`` overrides saved segments' expressions by name
    and ``as_segment`` names the segment ``text`` is to become (a segment being saved,
    checked for cycles through itself); ``places`` resolves ``store:`` and ``guide:``."""
    context = _Context(db_session, dict(segments or {}), [0], places)
    tree = _resolve_text(context, text, (as_segment,) if as_segment else ())
    return Audience(text, tree)


@dataclass(frozen=True)
class _Context:
    db_session: Session
    texts: dict[str, str]  # segments' expressions by name, as read (or overridden)
    tags: list[int]  # how many tags the expansion holds so far
    places: Places | None


def _resolve_text(context: _Context, text: str, stack: tuple[str, ...]) -> Node:
    tree = parse(text)
    terms = list(_leaves(tree))
    names = {term.name for term in terms if term.group not in RESERVED}
    rows = context.db_session.execute(
        select(Tag.id, Tag.name, TagGroup.name.label("group"))
        .join(TagGroup, TagGroup.id == Tag.group_id)
        .where(Tag.name.in_(names))
    ).all() if names else []
    found: dict[str, list[tuple[int, str]]] = {}
    for row in rows:
        found.setdefault(row.name, []).append((row.id, row.group))
    place_ids = {kind: _place_ids(context, kind, [term for term in terms if term.group == kind])
                 for kind in (STORE, GUIDE)}

    def reserved(term: Term) -> Node:
        if term.group == SEGMENT:
            return _segment(context, term, stack)
        if term.group == INTERACTED:
            return _interacted(term)
        assert context.places is not None
        place_id = place_ids[term.group].get(term.name)
        if place_id is None:
            raise AudienceError(f"no {term.group} with the code {term.name} at {term.name_position}",
                                term.name_position)
        return BoundTo(term.group, place_id, context.places)

    return _resolved(tree, found, reserved)


def _place_ids(context: _Context, kind: str, terms: list[Term]) -> dict[str, int]:
    if not terms:
        return {}
    if context.places is None:  # a caller's omission, said where it shows
        at = terms[0].position
        raise AudienceError(f"{kind}: terms cannot be counted here at {at}", at)
    return context.places.ids(context.db_session, kind, {term.name for term in terms})


def _interacted(term: Term) -> Interacted:
    text, at = term.name, term.name_position
    days = int(text[:-1]) if text[-1:] == "d" and text[:-1].isascii() and text[:-1].isdigit() else 0
    if not 1 <= days <= MAX_DAYS:
        raise AudienceError(f"interacted: takes whole days from 1d to {MAX_DAYS}d, like interacted:30d at {at}", at)
    return Interacted(days)


def _segment(context: _Context, term: Term, stack: tuple[str, ...]) -> Node:
    """The tree of the segment ``term`` names, its errors pointing at ``term``."""
    name, at = term.name, term.position
    if name in stack:
        chain = " → ".join((*stack[stack.index(name):], name))
        raise AudienceError(f"segment {name} would use itself ({chain}) at {at}", at)
    if len(stack) >= MAX_SEGMENT_DEPTH:
        raise AudienceError(f"segments nested more than {MAX_SEGMENT_DEPTH} deep at {at}", at)
    if name not in context.texts:
        saved = context.db_session.scalar(select(Segment.expr).where(Segment.name == name))
        if saved is None:
            raise AudienceError(f"unknown segment {name} at {at}", at)
        context.texts[name] = saved
    try:
        tree = _resolve_text(context, context.texts[name], (*stack, name))
    except AudienceError as exc:
        reason = exc.message if "would use itself" in exc.message else f"segment {name}: {exc.message}"
        reason = reason.rsplit(" at ", 1)[0]
        raise AudienceError(f"{reason} at {at}", at) from exc
    context.tags[0] += sum(1 for _ in _leaves(tree))
    if context.tags[0] > MAX_EXPANDED_TAGS:
        raise AudienceError(f"more than {MAX_EXPANDED_TAGS} tags once segments are expanded at {at}", at)
    return tree


def segment_names(text: str) -> set[str]:
    """The segments ``text`` names directly (none when it does not parse)."""
    try:
        return {term.name for term in _leaves(parse(text)) if term.group == SEGMENT}
    except AudienceError:
        return set()


def tag_terms(text: str) -> set[tuple[str | None, str]]:
    """The (group or None, tag) terms ``text`` names directly (none when it does not parse)."""
    try:
        return {(term.group, term.name) for term in _leaves(parse(text)) if term.group not in RESERVED}
    except AudienceError:
        return set()


def _resolved(node: Node, found: dict[str, list[tuple[int, str]]], reserved: Callable[[Term], Node]) -> Node:
    if isinstance(node, Not):
        return Not(_resolved(node.operand, found, reserved))
    if isinstance(node, And | Or):
        return type(node)(tuple(_resolved(operand, found, reserved) for operand in node.operands))
    assert isinstance(node, Term)
    if node.group in RESERVED:
        return reserved(node)
    at = node.position
    candidates = found.get(node.name, [])
    if node.group is not None:
        candidates = [(tag_id, group) for tag_id, group in candidates if group == node.group]
        if not candidates:
            raise AudienceError(f"no tag {node.name} in group {node.group} at {at}", at)
    elif not candidates:
        raise AudienceError(f"unknown tag {node.name} at {at}", at)
    elif len(candidates) > 1:
        groups = sorted(group for _, group in candidates)
        spelled = " or ".join(f"{group}:{node.name}" for group in groups)
        raise AudienceError(
            f"tag {node.name} is in groups {', '.join(groups)}; write {spelled} at {at}", at
        )
    (tag_id, group), = candidates
    return HasTag(tag_id, f"{group}:{node.name}")


def _sql(node: Node, now: ColumnElement[datetime], moment: datetime) -> ColumnElement[bool]:
    if isinstance(node, HasTag):
        return _carries([node.tag_id], now)
    if isinstance(node, BoundTo):
        return node.places.bound(node.kind, [node.place_id])
    if isinstance(node, Interacted):
        since = bindparam("audience_since", moment - timedelta(days=node.days), type_=DateTime(timezone=True),
                          unique=True)
        return (select(literal_column("1"))
                .where(Interaction.customer_id == Customer.id, Interaction.occurred_at >= since,
                       Interaction.kind.in_(ACTIVITY_KINDS)).exists())
    if isinstance(node, Not):
        return not_(_sql(node.operand, now, moment))
    if isinstance(node, Or):
        # a | b | c: one EXISTS over tag_id IN (a, b, c), a semi-join, not three subplans
        tags = [operand.tag_id for operand in node.operands if isinstance(operand, HasTag)]
        rest = [_sql(operand, now, moment) for operand in node.operands if not isinstance(operand, HasTag)]
        return or_(*([_carries(tags, now)] if tags else []), *rest)
    if isinstance(node, And):
        # !a & !b: one NOT EXISTS over tag_id IN (a, b), one anti-join
        absent = [operand.operand.tag_id for operand in node.operands if _is_absent(operand)]
        rest = [_sql(operand, now, moment) for operand in node.operands if not _is_absent(operand)]
        return and_(*rest, *([not_(_carries(absent, now))] if absent else []))
    raise TypeError(f"resolve the expression before compiling it: {node!r}")


def _is_absent(node: Node) -> bool:
    return isinstance(node, Not) and isinstance(node.operand, HasTag)


def _carries(tag_ids: list[int], now: ColumnElement[datetime]) -> ColumnElement[bool]:
    """EXISTS a row of one of ``tag_ids`` for the customer, still active ``now``."""
    ids = sorted(set(tag_ids))
    tag = _customer_tags.c.tag_id == ids[0] if len(ids) == 1 else _customer_tags.c.tag_id.in_(ids)
    return (
        select(literal_column("1"))
        .where(_customer_tags.c.customer_id == Customer.id, tag, _customer_tags.c.active_until > now)
        .exists()
    )


# -- queries -------------------------------------------------------------------------------


def customer_ids_query(*, db_session: Session, expr: str | Audience, now: datetime,
                       places: Places | None = None) -> Select:
    """``SELECT customers.id`` of the audience, for outreach to stream or join against."""
    audience = _audience(db_session, expr, places)
    return select(Customer.id).where(audience.condition(now))


def count(*, db_session: Session, expr: str | Audience, now: datetime, places: Places | None = None) -> int:
    """How many customers are in the audience now: one statement for an :class:`Audience`
    (a text expression first costs the SELECT of its tags)."""
    audience = _audience(db_session, expr, places)
    return db_session.scalar(select(func.count(Customer.id)).where(audience.condition(now))) or 0


def sample(*, db_session: Session, expr: str | Audience, now: datetime, limit: int = 10,
           places: Places | None = None) -> list[int]:
    """The ids of up to ``limit`` customers of the audience, oldest first."""
    audience = _audience(db_session, expr, places)
    query = select(Customer.id).where(audience.condition(now)).order_by(Customer.id).limit(limit)
    return list(db_session.scalars(query))


def _audience(db_session: Session, expr: str | Audience, places: Places | None = None) -> Audience:
    return expr if isinstance(expr, Audience) else resolve(db_session=db_session, text=expr, places=places)
