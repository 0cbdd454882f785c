"""Keyword tag rules: the cost of matching one message against 10,000 rules, against the
anchor of a plain ``jieba.lcut`` of the same message, in the same run. Target: ≤ 1.3×.

The rule book is the webhook's own (:class:`tagging.rules.RuleBook`, built from ``TagRule``
rows as the process loads them): 10,000 keyword rules, nine in ten whole-word and one in ten
substring, a fifth of them with synonyms. Keywords are nouns from jieba's dictionary and
invented brand and product names it does not know (so they go into our dictionary). Messages
are generated from what a maternal-and-baby retailer's followers write, about half of them
naming a keyword. Each side runs over every message, alternating, several rounds; the best
round counts (the least disturbed by the machine).

    .venv/bin/python bench/tagging.py [--rules 10000] [--messages 3000] [--rounds 15] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET = 1.3

BRAND_CHARS = "美素佳儿飞鹤惠氏雅培合生元爱他美贝因诺优能启赋君乐宝伊利金领冠澳优佳贝艾施恩帮宝适好奇花王大王尤妮佳巴拉"
PRODUCT_HEADS = ("奶粉", "尿不湿", "拉拉裤", "湿巾", "奶瓶", "辅食", "米粉", "溶豆", "牙胶", "安抚奶嘴", "睡袋", "爽身粉", "护臀膏")
STAGES = ("1段", "2段", "3段", "4段", "新生儿", "NB码", "S码", "M码", "L码", "XL码")
STORES = ("万达店", "浦东店", "徐汇店", "朝阳店", "中山公园店", "旗舰店")
TEMPLATES = (
    "你好，请问{k}有货吗？",
    "{k}多少钱一罐",
    "宝宝{m}个月了，可以吃{k}吗",
    "昨天在{s}买的{k}，{c}",
    "有没有{k}和{k2}的优惠活动",
    "{k}{st}还有吗？我要两箱",
    "我家宝宝最近不爱喝{k}，换成{k2}会不会好一点",
    "请问{k}是正品吗，有没有防伪码",
    "{k}满199减30的优惠券还能用吗",
    "导购小王说{k}周末有买一送一，是真的吗",
    "{k}和{k2}哪个好？纠结中",
    "会员积分可以换{k}吗",
    "你们{s}营业时间是几点到几点",
    "在吗",
    "谢谢，收到了",
    "快递几天能到？上周买的还没发货",
    "宝宝最近老是吐奶怎么办",
    "退货流程是怎样的，包装已经拆了",
    "新品什么时候到，等好久了",
    "好的[微笑]",
)
COMPLAINTS = ("包装有点破损", "宝宝很喜欢", "感觉和以前味道不一样", "日期很新鲜", "想问下怎么冲泡")


def dictionary_nouns(rng: random.Random, count: int) -> list[str]:
    import jieba

    lines = jieba.get_dict_file().read().decode("utf-8").splitlines()
    nouns = [w for w, freq, tag in (line.split(" ") for line in lines) if tag == "n" and 2 <= len(w) <= 4 and int(freq) >= 20]
    return rng.sample(nouns, count)


def invented_names(rng: random.Random, count: int) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        brand = "".join(rng.sample(BRAND_CHARS, rng.choice((2, 2, 3, 4))))
        names.add(brand if rng.random() < 0.5 else brand + rng.choice(PRODUCT_HEADS))
    return sorted(names)


def make_rules(rng: random.Random, count: int) -> tuple[list, list[str]]:
    from tagging.models import TagRule

    words = dictionary_nouns(rng, count // 2) + invented_names(rng, count - count // 2) + list(PRODUCT_HEADS)
    words = list(dict.fromkeys(words))[:count]
    rng.shuffle(words)
    rules = []
    for rule_id, word in enumerate(words, start=1):
        synonyms = [word + rng.choice(("系列", "旗舰款"))] if rng.random() < 0.2 else []
        rules.append(
            TagRule(id=rule_id, kind="keyword", pattern=word, synonyms=synonyms, substring=rng.random() < 0.1,
                    tag_id=1 + rule_id % 300, weight=1.0, enabled=True)
        )
    return rules, words


def make_messages(rng: random.Random, count: int, keywords: list[str]) -> list[str]:
    chatter = ["宝宝", "奶粉", "价格", "活动", "门店", "快递", "包装"]  # common words, often not rules
    messages = []
    for _ in range(count):
        named = rng.random() < 0.5
        pick = (lambda: rng.choice(keywords)) if named else (lambda: rng.choice(chatter))
        template = rng.choice(TEMPLATES)
        messages.append(
            template.format(
                k=pick(), k2=pick(), m=rng.randint(1, 24), s=rng.choice(STORES), st=rng.choice(STAGES),
                c=rng.choice(COMPLAINTS),
            )
        )
    return messages


def best_round(fn, messages: list[str], rounds: int) -> tuple[float, float]:  # noqa: ANN001
    """(best, median) seconds per message over ``rounds`` passes."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for message in messages:
            fn(message)
        times.append((time.perf_counter() - start) / len(messages))
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=3_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    import logging

    import jieba

    from tagging.rules import RuleBook

    jieba.setLogLevel(logging.WARNING)
    rng = random.Random(args.seed)
    jieba.initialize()  # the anchor's dictionary, loaded before timing like ours
    rules, words = make_rules(rng, args.rules)
    messages = make_messages(rng, args.messages, words)

    start = time.perf_counter()
    book = RuleBook.from_rules(rules)  # first build: jieba's main dictionary + our words
    first_build = time.perf_counter() - start
    start = time.perf_counter()
    RuleBook.from_rules(rules[:-1] + [rules[-1]])  # a new version, same words: dictionary reused
    same_words = time.perf_counter() - start

    matched = sum(1 for m in messages if book.lookup("keyword", m))
    lcut, lcut_no_hmm, ours = [], [], []
    for _ in range(args.rounds):  # alternate, so drift in the machine hits both sides alike
        lcut.append(best_round(jieba.lcut, messages, 1)[0])
        lcut_no_hmm.append(best_round(lambda m: jieba.lcut(m, HMM=False), messages, 1)[0])
        ours.append(best_round(lambda m: book.lookup("keyword", m), messages, 1)[0])

    us = 1e6
    print(f"rules: {len(rules):,} keyword ({sum(r.substring for r in rules):,} substring, "
          f"{sum(bool(r.synonyms) for r in rules):,} with synonyms); messages: {len(messages):,}, "
          f"{statistics.mean(map(len, messages)):.1f} characters on average, {matched / len(messages):.0%} match a rule")
    print(f"rule book build: {first_build:.2f} s first (jieba dictionary), {same_words:.2f} s for a new version with the same words")
    print(f"{'per message':<38}{'best':>10}{'median':>10}")
    for name, times in (
        ("jieba.lcut (anchor)", lcut),
        ("jieba.lcut(HMM=False) (for reference)", lcut_no_hmm),
        ("RuleBook.lookup (ours)", ours),
    ):
        print(f"{name:<38}{min(times) * us:>8.1f}µs{statistics.median(times) * us:>8.1f}µs")
    ratio = min(ours) / min(lcut)
    print(f"ratio ours / jieba.lcut: {ratio:.2f}× (median {statistics.median(ours) / statistics.median(lcut):.2f}×); "
          f"target ≤ {TARGET}×: {'met' if ratio <= TARGET else 'NOT met'}")


if __name__ == "__main__":
    main()
