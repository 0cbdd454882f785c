"""The compiled rule book and the jieba keyword matcher, without a webhook or a database."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import fakeredis
import pytest

from scrm.versioned_cache import VersionedCache
from tagging.keywords import KeywordEntry, KeywordMatcher, dictionary_with
from tagging.models import TagRule
from tagging.rules import RuleBook


def matcher(*words: str | tuple[str, bool], rule_id: int | None = None) -> KeywordMatcher:
    entries = []
    for index, word in enumerate(words, start=1):
        word, substring = word if isinstance(word, tuple) else (word, False)
        entries.append(KeywordEntry(word, substring, rule_id or index))
    return KeywordMatcher(entries)


def rule(rule_id: int, kind: str, pattern: str, **fields) -> TagRule:  # noqa: ANN003
    return TagRule(
        id=rule_id, kind=kind, pattern=pattern, tag_id=fields.pop("tag_id", rule_id), weight=fields.pop("weight", 1.0),
        synonyms=fields.pop("synonyms", []), substring=fields.pop("substring", False), enabled=True,
    )


def test_whole_words_are_jieba_tokens():
    m = matcher("奶粉")
    assert m.match("我想买奶粉") == {1}
    assert m.match("宝宝奶粉喝完了") == {1}
    assert m.match("奶粉罐还有吗") == frozenset()  # 奶粉罐 is one word in jieba's dictionary
    assert m.match("") == frozenset()


def test_a_keyword_naming_part_of_another_thing_does_not_fire():
    m = matcher("奶粉", "奶瓶")
    assert m.tokens("想买个奶粉盒子") == ["想", "买", "个", "奶粉", "盒子"]  # jieba cuts the compound
    assert m.match("想买个奶粉盒子") == frozenset()  # …but it names a box
    assert m.match("奶瓶刷怎么卖") == frozenset()
    assert m.match("附近有奶粉店吗") == frozenset()
    assert m.match("奶粉价格多少") == {1}  # a price of milk powder is about milk powder
    assert m.match("奶粉盒子和奶粉") == {1}  # the second one counts
    assert matcher(("奶粉", True)).match("想买个奶粉盒子") == {1}  # unless asked: substring


def test_a_longer_keyword_in_the_dictionary_takes_its_characters():
    m = matcher("奶粉", "奶粉盒子")
    assert m.tokens("想买个奶粉盒子") == ["想", "买", "个", "奶粉盒子"]
    assert m.match("想买个奶粉盒子") == {2}
    assert m.match("奶粉和奶粉盒子") == {1, 2}


def test_keywords_jieba_does_not_know_come_out_whole():
    m = matcher("美素佳儿", "飞鹤")
    assert m.match("美素佳儿有货吗") == {1}
    assert m.match("飞鹤奶粉多少钱") == {2}


def test_substring_keywords_match_inside_words():
    m = matcher(("奶粉", True), ("奶 粉", True))
    assert m.match("奶粉罐还有吗") == {1}
    assert m.match("奶 粉") == {2}
    assert m.match("奶和粉") == frozenset()


def test_synonyms_are_the_rule_and_a_rule_matches_once():
    m = matcher("奶粉", "配方奶", "牛奶粉", rule_id=7)
    assert m.match("配方奶") == {7}
    assert m.match("奶粉、配方奶和牛奶粉") == {7}


def test_text_is_compared_case_and_width_folded_and_latin_runs_stay_whole():
    m = matcher("VIP", "C++", "3段")
    assert m.match("我是ＶＩＰ会员") == {1}
    assert m.match("vip") == {1}
    assert m.match("vipshop上买的") == frozenset()
    assert m.match("学c++编程") == {2}
    assert m.match("3段奶粉多少钱") == {3}


def test_our_words_never_reach_jiebas_global_dictionary():
    import jieba

    matcher("美素佳儿")
    assert "美素佳儿" not in jieba.lcut("美素佳儿有货吗")
    assert "美素佳儿" not in jieba.dt.FREQ


def test_the_dictionary_is_built_once_per_set_of_words():
    assert dictionary_with(["美素佳儿", "飞鹤"]) is dictionary_with(["飞鹤", "美素佳儿"])
    assert dictionary_with(["美素佳儿"]) is not dictionary_with(["飞鹤"])


def test_threads_share_a_matcher():
    m = matcher("奶粉", "尿不湿", "优惠券", ("积分", True))
    texts = ["我想买奶粉", "尿不湿L码还有吗", "优惠券怎么领", "积分可以换什么", "你好"] * 200
    expected = [m.match(t) for t in texts]
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(m.match, texts)) == expected


def test_rule_book_lookups_by_kind():
    book = RuleBook.from_rules(
        [
            rule(1, "keyword", "奶粉", synonyms=["配方奶"]),
            rule(2, "click", "MENU_COUPONS"),
            rule(3, "view", "https://m.demo-brand.example/activity/618"),
            rule(4, "scene", "g:G001"),
            rule(5, "scene", "g:*"),
            rule(6, "scene", "*"),
            rule(7, "event", "follow"),
            rule(8, "event", "purchase"),
        ]
    )
    assert book.lookup("keyword", "有配方奶吗") == {1}
    assert book.lookup("click", "MENU_COUPONS") == {2} and book.lookup("click", "MENU_X") == frozenset()
    assert book.lookup("view", "https://m.demo-brand.example/activity/618") == {3}
    assert book.lookup("view", "https://m.demo-brand.example/activity/61") == frozenset()
    assert book.lookup("scene", "g:G001") == {4, 5, 6}
    assert book.lookup("scene", "g:G002") == {5, 6}
    assert book.lookup("scene", "s:SH01") == {6}
    assert book.lookup("event", "follow") == {7} and book.lookup("event", "purchase") == {8}
    assert [r.id for r in book.refs({5, 4, 1})] == [1, 4, 5]


class _Process:
    """Just enough of a Runtime for the cache: a Redis client."""

    def __init__(self, redis) -> None:  # noqa: ANN001
        self.redis = redis


def test_a_slow_reload_does_not_hold_up_other_threads():
    process = _Process(fakeredis.FakeRedis())
    loading, release = threading.Event(), threading.Event()
    loads = iter(["old", "new"])

    def load(_runtime) -> str:  # noqa: ANN001
        value = next(loads)
        if value == "new":
            loading.set()
            release.wait(5)
        return value

    cache: VersionedCache[str] = VersionedCache("test:version", load, stale_while_loading=True)
    assert cache.get(process) == "old"
    cache.bump(process.redis)
    reloader = threading.Thread(target=cache.get, args=(process,))
    reloader.start()
    assert loading.wait(5)
    assert cache.get(process) == "old"  # answered at once from the snapshot in memory
    release.set()
    reloader.join(5)
    assert cache.get(process) == "new"


@pytest.mark.parametrize("stale", [False, True])
def test_a_first_load_is_always_waited_for(stale):
    cache: VersionedCache[int] = VersionedCache("test:first", lambda _runtime: 42, stale_while_loading=stale)
    assert cache.get(_Process(fakeredis.FakeRedis())) == 42
