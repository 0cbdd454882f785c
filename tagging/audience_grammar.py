"""The grammar of audience expressions (tagging/audience.py says what they mean): tokens, the
parse tree and :class:`AudienceError`, with no database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from scrm.errors import Refused

MAX_CHARS = 2000
MAX_TERMS = 200
MAX_DEPTH = 50  # nested parentheses and !
_SPECIAL = set('!&|():"')


class AudienceError(Refused):
    """A bad expression (422 ``bad_expression``): ``message`` ends with "at <position>";
    ``position`` is 0-based."""

    code = "bad_expression"

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message, position=position)
        self.position = position


# -- the tree (tagging/audience.py resolves its terms into nodes of its own) ------------------


@dataclass(frozen=True)
class Term:
    name: str
    group: str | None
    position: int
    name_position: int = 0  # where ``name`` starts (after ``group:``)


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


Node = Union[Term, Not, And, Or, Any]  # noqa: UP007 - operands may be resolved nodes too


# -- parsing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # "name", one of ! & | ( ) :, or "end"
    position: int
    text: str = ""


def _tokens(text: str) -> list[_Token]:
    tokens, i = [], 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char == '"':
            name, end = _quoted(text, i)
            tokens.append(_Token("name", i, name))
            i = end
        elif char in _SPECIAL:
            tokens.append(_Token(char, i))
            i += 1
        else:
            start = i
            while i < len(text) and not text[i].isspace() and text[i] not in _SPECIAL:
                i += 1
            tokens.append(_Token("name", start, text[start:i]))
    tokens.append(_Token("end", len(text)))
    return tokens


def _quoted(text: str, start: int) -> tuple[str, int]:
    chars, i = [], start + 1
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            chars.append(text[i + 1])
            i += 2
        elif text[i] == '"':
            name = "".join(chars).strip()
            if not name:
                raise AudienceError(f"empty tag name at {start}", start)
            return name, i + 1
        else:
            chars.append(text[i])
            i += 1
    raise AudienceError(f"unterminated quoted name at {start}", start)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.index = 0
        self.terms = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expression(self, depth: int) -> Node:
        operands = [self.conjunction(depth)]
        while self.token.kind == "|":
            self.take()
            operands.append(self.conjunction(depth))
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def conjunction(self, depth: int) -> Node:
        operands = [self.unary(depth)]
        while self.token.kind == "&":
            self.take()
            operands.append(self.unary(depth))
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def unary(self, depth: int) -> Node:
        token = self.token
        if token.kind in ("!", "(") and depth >= MAX_DEPTH:
            raise AudienceError(f"nested more than {MAX_DEPTH} deep at {token.position}", token.position)
        if token.kind == "!":
            self.take()
            return Not(self.unary(depth + 1))
        if token.kind == "(":
            self.take()
            inner = self.expression(depth + 1)
            if self.token.kind != ")":
                at = self.token.position
                raise AudienceError(f"expected ) at {at} to close the ( at {token.position}", at)
            self.take()
            return inner
        return self.term()

    def term(self) -> Term:
        first = self.expect_name()
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise AudienceError(f"more than {MAX_TERMS} tags at {first.position}", first.position)
        if self.token.kind != ":":
            return Term(first.text, None, first.position, first.position)
        self.take()
        name = self.expect_name()
        return Term(name.text, first.text, first.position, name.position)

    def expect_name(self) -> _Token:
        if self.token.kind != "name":
            raise AudienceError(f"expected a tag name at {self.token.position}", self.token.position)
        return self.take()


def parse(text: str) -> Node:
    """The expression's tree, or :class:`AudienceError` at the offending character."""
    if len(text) > MAX_CHARS:
        raise AudienceError(f"longer than {MAX_CHARS} characters at {MAX_CHARS}", MAX_CHARS)
    parser = _Parser(text)
    tree = parser.expression(0)
    token = parser.token
    if token.kind == ")":
        raise AudienceError(f"unbalanced ) at {token.position}", token.position)
    if token.kind != "end":
        raise AudienceError(f"expected & or | at {token.position}", token.position)
    return tree


def leaves(node: Node):  # noqa: ANN202 - a generator of Term (parsed) or HasTag (resolved)
    if isinstance(node, Not):
        yield from leaves(node.operand)
    elif isinstance(node, And | Or):
        for operand in node.operands:
            yield from leaves(operand)
    else:
        yield node


def spelled(name: str) -> str:
    """``name`` as one name token: bare when it can be, else quoted."""
    if name and not any(char.isspace() or char in _SPECIAL or char == "\\" for char in name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
