"""Keyword matching for tag rules: jieba segmentation with the rules' words in the dictionary.

A message matches a whole-word keyword when one of its jieba tokens *is* the keyword (or a
synonym) and the next token does not make the phrase name another thing: 奶粉 matches
我想买奶粉 (我/想/买/奶粉) and 奶粉价格, but not 奶粉罐, which the dictionary knows as one
word, nor 奶粉盒子 (奶粉/盒子: a box), by :data:`OBJECT_HEADS`. Every rule's keyword and synonyms are added to the dictionary, so they come out as
units wherever the text does not make a likelier word of their characters; a ``substring``
keyword also matches inside longer words (a scan of the text itself, not of the tokens).

Text and keywords are compared in one form: NFKC (full-width letters and digits folded) and
case-folded, so ＶＩＰ, Vip and vip are one word.

Cost: each rule-book version gets its own :class:`jieba.Tokenizer`, never jieba's global one
(our words must not leak into other callers), built from a copy of the main dictionary
loaded once per process, and reused while the set of words is unchanged. Matching one
message is one segmentation plus a dictionary lookup per token, whatever the number of
rules. Segmentation uses the dictionary only, without jieba's HMM: the HMM guesses words the
dictionary lacks, and every keyword is in the dictionary; without it a match is explained
by the dictionary alone (and costs less).
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jieba import Tokenizer

# What jieba segments as one block (its ``re_han_default``): a whole-word keyword must be made
# of these only, or no token could ever equal it.
SEGMENTABLE = re.compile(r"[\u4E00-\u9FD5a-zA-Z0-9+#&._%\-]+")
# jieba keeps a run of letters and digits together by itself (vipshop, iphone15); put in the
# dictionary, vip would be cut out of vipshop.
_LATIN_RUN = re.compile(r"[a-z0-9]+")


# Nouns that, right after a keyword, make the phrase name another thing: a container, a tool,
# a shop (奶粉盒子 is a box, 奶瓶刷 a brush, 奶粉店 a shop). jieba cuts such compounds in two
# (奶粉 + 盒子) unless its dictionary knows them, so a whole-word keyword would fire on them.
OBJECT_HEADS = frozenset(
    "盒 盒子 罐子 袋 袋子 瓶子 桶 勺 勺子 盖 盖子 刷 刷子 架 架子 机 柜 箱 箱子 包装 包装盒 店 专卖店 模型 图片 广告".split()
)


def normal_form(text: str) -> str:
    """The form in which keywords and messages are compared."""
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return text.casefold()


def segmentable(word: str) -> bool:
    """Whether ``word`` (in normal form) can come out of segmentation as one token."""
    return SEGMENTABLE.fullmatch(word) is not None


@dataclass(frozen=True)
class KeywordEntry:
    word: str  # as the rule has it; folded here
    substring: bool
    rule_id: int


class KeywordMatcher:
    """Immutable once built: threads share it freely."""

    def __init__(self, entries: Iterable[KeywordEntry]) -> None:
        words: dict[str, set[int]] = {}
        substrings: dict[str, set[int]] = {}
        for entry in entries:
            word = normal_form(entry.word).strip()
            if not word:
                continue
            target = substrings if entry.substring or not segmentable(word) else words
            target.setdefault(word, set()).add(entry.rule_id)
        self._words: Mapping[str, frozenset[int]] = MappingProxyType({w: frozenset(ids) for w, ids in words.items()})
        self._substrings: Mapping[str, frozenset[int]] = MappingProxyType(
            {w: frozenset(ids) for w, ids in substrings.items()}
        )
        # Every prefix of a substring keyword -> the rules of the keyword it completes (empty
        # when it completes none): the scan gives up at the first piece that is no prefix.
        prefixes: dict[str, frozenset[int]] = {}
        for word, ids in self._substrings.items():
            for end in range(1, len(word)):
                prefixes.setdefault(word[:end], frozenset())
            prefixes[word] = ids
        self._prefixes: Mapping[str, frozenset[int]] = MappingProxyType(prefixes)
        self._longest = max((len(w) for w in self._substrings), default=0)
        self._tokenizer = (
            dictionary_with(w for w in (*words, *substrings) if not _LATIN_RUN.fullmatch(w)) if words else None
        )

    def __len__(self) -> int:
        return len(self._words) + len(self._substrings)

    def match(self, text: str) -> frozenset[int]:
        """The ids of the rules whose keyword or a synonym the text contains."""
        if not text or not (self._words or self._substrings):
            return frozenset()
        text = normal_form(text)
        found: set[int] = set()
        words = self._words
        if self._tokenizer is not None:
            tokens = self._tokenizer.lcut(text, HMM=False)
            for index, token in enumerate(tokens):
                ids = words.get(token)
                if ids is not None and (index + 1 == len(tokens) or tokens[index + 1] not in OBJECT_HEADS):
                    found.update(ids)
        if self._substrings:
            found.update(self._substring_ids(text))
        return frozenset(found)

    def tokens(self, text: str) -> list[str]:
        """The message as the matcher segments it (to explain a match or a miss)."""
        tokenizer = self._tokenizer or dictionary_with(())
        return tokenizer.lcut(normal_form(text), HMM=False)

    def _substring_ids(self, text: str) -> set[int]:
        found: set[int] = set()
        prefixes, n, longest = self._prefixes, len(text), self._longest
        for start, char in enumerate(text):
            ids = prefixes.get(char)
            if ids is None:
                continue
            found.update(ids)
            for end in range(start + 2, min(n, start + longest) + 1):
                ids = prefixes.get(text[start:end])
                if ids is None:
                    break
                found.update(ids)
        return found


# -- dictionaries ----------------------------------------------------------------------------

_lock = threading.Lock()
_base: Tokenizer | None = None
_suggested: dict[str, int] = {}  # word -> its frequency in our dictionaries (base never changes)
_recent: list[tuple[frozenset[str], Tokenizer]] = []  # a new version often has the same words
_RECENT = 2


def dictionary_with(words: Iterable[str]) -> Tokenizer:
    """A tokenizer knowing jieba's main dictionary plus ``words`` (in normal form)."""
    key = frozenset(words)
    with _lock:
        if not key:
            return _base_dictionary()
        for known, tokenizer in _recent:
            if known == key:
                return tokenizer
        tokenizer = _build(key)
        _recent.insert(0, (key, tokenizer))
        del _recent[_RECENT:]
        return tokenizer


def _build(words: frozenset[str]) -> Tokenizer:
    import jieba

    base = _base_dictionary()
    freq = dict(base.FREQ)
    total = base.total
    for word in sorted(words):
        count = _suggested.get(word)
        if count is None:
            count = _suggested[word] = _frequency_as_unit(base, word)
        total += count - freq.get(word, 0)
        freq[word] = count
        for end in range(1, len(word)):
            freq.setdefault(word[:end], 0)  # jieba's prefix entries: how it finds longer words
    tokenizer = jieba.Tokenizer()
    tokenizer.FREQ, tokenizer.total, tokenizer.initialized = freq, total, True
    return tokenizer


def _frequency_as_unit(base: Tokenizer, word: str) -> int:
    """jieba's own ``add_word`` default (``suggest_freq``): just enough for the word to beat
    its own split, so it comes out whole without stealing characters from likelier words."""
    return int(base.suggest_freq(word, tune=False))


def _base_dictionary() -> Tokenizer:
    global _base
    if _base is None:
        import jieba

        jieba.setLogLevel(logging.WARNING)  # it prints its loading progress at DEBUG otherwise
        base = jieba.Tokenizer()
        base.initialize()
        _base = base
    return _base

