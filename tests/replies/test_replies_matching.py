"""Matching (exact beats contains, priority, case, Chinese) and the in-memory rule book:
no database query once warm, and a change made by one process seen by every other."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import redis
from sqlalchemy import event, update

from scrm.replies import service
from scrm.replies.models import ReplyRule
from scrm.replies.schemas import parse_rule
from scrm.replies.service import Article, Reply, default_reply, follow_greeting, reply_for_text
from scrm.runtime import Runtime

ARTICLE = {
    "title": "新品",
    "description": "看看",
    "url": "https://shop.example.com/new",
    "picurl": "https://shop.example.com/p.png",
}


def create_rule(runtime, **fields: Any) -> ReplyRule:
    with runtime.transaction() as db_session:
        return service.create_rule(db_session=db_session, redis=runtime.redis, rule_in=parse_rule(fields))


def update_rule(runtime, rule_id: int, **changes: Any) -> ReplyRule:
    with runtime.transaction() as db_session:
        return service.update_rule(db_session=db_session, redis=runtime.redis, rule_id=rule_id, changes=changes)


def text(value: str) -> Reply:
    return Reply("text", text=value)


@pytest.fixture
def other_process(runtime):
    """A second runtime on the same database and Redis: another server process."""
    other = Runtime(runtime.config)
    yield other
    other.close()


@pytest.fixture
def statements(runtime):
    """The SQL statements ``runtime`` sends, as they are sent."""
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
        seen.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", count)
    yield seen
    event.remove(runtime.engine, "before_cursor_execute", count)


def test_exact_beats_contains_whatever_the_priority(runtime):
    create_rule(runtime, match="contains", keyword="价格", text="contains", priority=100)
    create_rule(runtime, match="exact", keyword="价格", text="exact", priority=-100)
    assert reply_for_text(runtime, "价格") == text("exact")
    assert reply_for_text(runtime, "  价格\n") == text("exact")  # stripped, as MP does
    assert reply_for_text(runtime, "奶粉价格") == text("contains")


def test_higher_priority_wins_then_the_older_rule(runtime):
    create_rule(runtime, match="contains", keyword="粉", text="low", priority=1)
    create_rule(runtime, match="contains", keyword="奶粉", text="high", priority=5)
    create_rule(runtime, match="contains", keyword="奶", text="high but newer", priority=5)
    assert reply_for_text(runtime, "我想买奶粉") == text("high")
    create_rule(runtime, match="exact", keyword="hi", text="first")
    create_rule(runtime, match="exact", keyword="HI", text="second")
    assert reply_for_text(runtime, "hi") == text("first")


def test_latin_letters_match_whatever_their_case_or_width(runtime):
    create_rule(runtime, match="contains", keyword="VIP", text="vip")
    create_rule(runtime, match="exact", keyword="Hello", text="hello")
    assert reply_for_text(runtime, "how do I become a vip?") == text("vip")
    assert reply_for_text(runtime, "我是ＶＩＰ会员") == text("vip")  # full-width, as Chinese keyboards type
    assert reply_for_text(runtime, "HELLO") == text("hello")
    assert reply_for_text(runtime, "hello there") is None


def test_chinese_keywords(runtime):
    create_rule(runtime, match="contains", keyword="奶粉", text="奶粉在这里")
    create_rule(runtime, match="exact", keyword="门店地址", text="南京路1号")
    assert reply_for_text(runtime, "我想买奶粉") == text("奶粉在这里")
    assert reply_for_text(runtime, "门店地址") == text("南京路1号")
    assert reply_for_text(runtime, "请问门店地址") is None
    assert reply_for_text(runtime, "奶") is None


def test_disabled_rules_are_ignored(runtime):
    rule = create_rule(runtime, match="contains", keyword="奶粉", text="on")
    create_rule(runtime, match="contains", keyword="奶粉", text="off", priority=9, enabled=False)
    create_rule(runtime, match="follow", text="hidden greeting", enabled=False)
    assert reply_for_text(runtime, "奶粉") == text("on")
    assert follow_greeting(runtime) is None
    update_rule(runtime, rule.id, enabled=False)
    assert reply_for_text(runtime, "奶粉") is None


def test_default_reply_when_nothing_matches_and_the_follow_greeting(runtime):
    assert reply_for_text(runtime, "anything") is None and default_reply(runtime) is None
    create_rule(runtime, match="default", text="收到，稍后回复")
    create_rule(runtime, match="follow", reply_kind="news", articles=[ARTICLE, dict(ARTICLE, title="第二篇", picurl="")])
    create_rule(runtime, match="contains", keyword="奶粉", reply_kind="news", articles=[ARTICLE])
    assert reply_for_text(runtime, "anything") == text("收到，稍后回复")
    assert reply_for_text(runtime, "   ") == text("收到，稍后回复")
    assert default_reply(runtime) == text("收到，稍后回复")
    greeting = follow_greeting(runtime)
    assert greeting == Reply(
        "news",
        articles=(
            Article("新品", "看看", "https://shop.example.com/new", "https://shop.example.com/p.png"),
            Article("第二篇", "看看", "https://shop.example.com/new", ""),
        ),
    )
    assert reply_for_text(runtime, "奶粉").articles == (greeting.articles[0],)
    with pytest.raises(AttributeError):
        greeting.kind = "text"  # type: ignore[misc]  # frozen: shared between threads


def test_the_hot_path_does_not_query_the_database_once_warm(runtime, statements):
    create_rule(runtime, match="contains", keyword="奶粉", text="奶粉")
    create_rule(runtime, match="default", text="默认")
    assert reply_for_text(runtime, "我想买奶粉") == text("奶粉")  # warms the snapshot
    statements.clear()
    for i in range(100):
        assert reply_for_text(runtime, f"我想买奶粉{i}") == text("奶粉")
        assert reply_for_text(runtime, f"别的 {i}") == text("默认")
    follow_greeting(runtime)
    default_reply(runtime)
    assert statements == []

    create_rule(runtime, match="exact", keyword="hi", text="hi")
    statements.clear()
    assert reply_for_text(runtime, "hi") == text("hi")  # the write moved the version: one reload
    assert any("reply_rules" in s for s in statements)
    statements.clear()
    assert reply_for_text(runtime, "hi") == text("hi")
    assert statements == []


def test_a_change_made_by_one_process_is_seen_by_another(runtime, other_process, client, auth):
    assert reply_for_text(other_process, "我想买奶粉") is None  # warm, and empty
    created = client.post(
        "/api/reply-rules", json={"match": "contains", "keyword": "奶粉", "text": "有货"}, headers=auth("manager")
    )
    assert reply_for_text(other_process, "我想买奶粉") == text("有货")
    update_rule(runtime, created.get_json()["id"], text="补货中")
    assert reply_for_text(other_process, "我想买奶粉") == text("补货中")
    with runtime.transaction() as db_session:
        service.delete_rule(db_session=db_session, redis=runtime.redis, rule_id=created.get_json()["id"])
    assert reply_for_text(other_process, "我想买奶粉") is None


def test_the_version_moves_only_when_the_write_commits(runtime, other_process):
    assert reply_for_text(other_process, "奶粉") is None
    with pytest.raises(RuntimeError):
        with runtime.transaction() as db_session:
            rule_in = parse_rule({"match": "contains", "keyword": "奶粉", "text": "rolled back"})
            service.create_rule(db_session=db_session, redis=runtime.redis, rule_in=rule_in)
            raise RuntimeError("the caller changes its mind")
    assert runtime.redis.get(service.VERSION_KEY) is None
    assert reply_for_text(other_process, "奶粉") is None

    with runtime.transaction() as db_session:
        rule_in = parse_rule({"match": "contains", "keyword": "奶粉", "text": "committed"})
        service.create_rule(db_session=db_session, redis=runtime.redis, rule_in=rule_in)
        # Another process reloading now reads the old rows; it must not keep them.
        assert reply_for_text(other_process, "奶粉") is None
        assert runtime.redis.get(service.VERSION_KEY) is None
    assert runtime.redis.get(service.VERSION_KEY) == b"1"
    assert reply_for_text(other_process, "奶粉") == text("committed")


def test_a_change_that_missed_its_bump_is_picked_up_after_max_age(runtime, monkeypatch):
    rule = create_rule(runtime, match="exact", keyword="hi", text="old")
    assert reply_for_text(runtime, "hi") == text("old")
    with runtime.transaction() as db_session:  # as if the writer died between commit and bump
        db_session.execute(update(ReplyRule).where(ReplyRule.id == rule.id).values(text="new"))
    assert reply_for_text(runtime, "hi") == text("old")
    monkeypatch.setattr(service._rulebook, "max_age", 0.0)
    assert reply_for_text(runtime, "hi") == text("new")


def test_redis_not_answering_falls_back_to_the_snapshot(runtime, statements, monkeypatch):
    create_rule(runtime, match="exact", keyword="hi", text="hello")
    assert reply_for_text(runtime, "hi") == text("hello")

    def down(*_args: Any, **_kwargs: Any) -> None:
        raise redis.ConnectionError("Redis is down")

    monkeypatch.setattr(runtime.redis, "get", down)
    statements.clear()
    assert reply_for_text(runtime, "hi") == text("hello")
    assert statements == []


def test_a_cold_start_under_concurrency_loads_once(runtime, monkeypatch):
    create_rule(runtime, match="contains", keyword="奶粉", text="奶粉")
    loads: list[int] = []
    real_load = service._rulebook._load

    def counting_load(rt):  # noqa: ANN001, ANN202
        loads.append(1)
        return real_load(rt)

    monkeypatch.setattr(service._rulebook, "_load", counting_load)
    fresh = Runtime(runtime.config)
    start = threading.Barrier(8)
    answers: list[Reply | None] = []

    def customer() -> None:
        start.wait()
        for _ in range(50):
            answers.append(reply_for_text(fresh, "我想买奶粉"))

    threads = [threading.Thread(target=customer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    fresh.close()
    assert loads == [1]
    assert answers == [text("奶粉")] * 400
