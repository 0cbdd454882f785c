"""``scrm simulate``: a deterministic plan with the configured mix, delivered signed to a live
server, where every callback lands once however often it is delivered."""

from __future__ import annotations

from collections import defaultdict

import pytest
from sqlalchemy import func, select

from handlers.models import CallbackRecord
from scrm.config import Config
from scrm.customers.models import Interaction
from scrm import simulator_corpus as corpus
from scrm.simulator import DAY, make_plan
from scrm.simulator_load import LoadOptions, ServerUnreachable, Simulator, check_server
from scrm.simulator_world import World

MP_KINDS = {"follow", "unfollow", "text", "click", "view", "scan", "image", "location"}


def _count(runtime, model) -> int:
    with runtime.transaction() as db_session:
        return db_session.scalar(select(func.count()).select_from(model))


def _with(config: Config, **changes: str) -> Config:
    data = config.model_dump()
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = data
        for part in parents:
            node = node[part]
        node[leaf] = value
    return Config.model_validate(data)


def test_the_plan_is_deterministic_for_a_seed():
    def plan(seed: int):
        return make_plan(customers=30, days=5, seed=seed, retry_fraction=0.2, work_fraction=0.25)

    assert plan(7) == plan(7)
    assert plan(7).callbacks != plan(8).callbacks


def test_the_plan_has_the_configured_mix():
    plan = make_plan(customers=200, days=7, seed=1, retry_fraction=0.1, work_fraction=0.3)
    callbacks = plan.callbacks
    work = [c for c in callbacks if c.channel == "work"]
    assert abs(len(work) / len(callbacks) - 0.3) < 0.01
    assert sum(1 for c in callbacks if c.retries) == round(0.1 * len(callbacks))
    assert all(1 <= c.retries <= 3 for c in callbacks if c.retries)
    assert plan.deliveries == len(callbacks) + sum(c.retries for c in callbacks)

    mix = plan.mix()
    assert MP_KINDS <= set(mix) and mix["follow"] == 200
    assert mix["text"] == max(mix[kind] for kind in MP_KINDS)
    follows = [c for c in callbacks if c.kind == "follow"]
    assert any(c.get("scene") for c in follows) and any(not c.get("scene") for c in follows)
    assert len({c.sim_at // DAY for c in follows}) == 7  # follows spread over the days
    texts = [c.get("content") for c in callbacks if c.kind == "text"]
    for keyword in ("奶粉", "尿不湿", "优惠券", "门店", "营业时间"):
        assert any(keyword in text for text in texts), keyword
    adds = [c for c in work if c.kind == "add_external_contact"]
    assert adds and all(c.get("welcome_code") for c in adds) and any(c.get("state").startswith("g:") for c in adds)
    assert {c.user[:2] for c in work} == {"wm"}

    # Each customer's story makes sense: a follow first, nothing after an unfollow.
    journeys: dict[int, list[str]] = defaultdict(list)
    for c in callbacks:
        if c.channel == "mp":
            journeys[c.customer].append(c.kind)
    assert all(kinds[0] == "follow" and "follow" not in kinds[1:] for kinds in journeys.values())
    assert all(kinds.index("unfollow") == len(kinds) - 1 for kinds in journeys.values() if "unfollow" in kinds)
    assert [c.sim_at for c in callbacks] == sorted(c.sim_at for c in callbacks)


@pytest.mark.parametrize("encrypt", [True, False], ids=["safe-mode", "plaintext"])
def test_a_run_is_accepted_and_lands_once_per_callback_despite_retries(stack, client, auth, encrypt):
    response = client.post(
        "/api/reply-rules",
        json={"match": "contains", "keyword": "奶粉", "reply_kind": "text", "text": "奶粉专区: 1 段 2 段 3 段"},
        headers=auth("manager"),
    )
    assert response.status_code == 201
    plan = make_plan(customers=20, days=3, seed=11, retry_fraction=0.3, work_fraction=0.2)
    simulator = Simulator(stack.runtime.config, stack.url, LoadOptions(encrypt=encrypt, concurrency=4))
    progress: list[int] = []

    summary = simulator.run(plan, on_progress=progress.append)

    assert summary.sent == plan.deliveries == sum(progress)
    assert summary.accepted == summary.sent and not summary.rejected and not summary.errors
    assert summary.callbacks == len(plan.callbacks)
    assert summary.retries_sent == summary.retries_accepted == plan.deliveries - len(plan.callbacks) > 0
    assert summary.retried_callbacks == summary.retried_answered_alike == sum(1 for c in plan.callbacks if c.retries)
    texts_with_keyword = {c.index for c in plan.callbacks if c.kind == "text" and "奶粉" in c.get("content")}
    assert summary.replies_with_content >= len(texts_with_keyword) > 0
    assert _count(stack.runtime, CallbackRecord) == len(plan.callbacks)
    assert _count(stack.runtime, Interaction) == len(plan.callbacks)


def test_a_wrong_token_is_refused_every_time_and_nothing_is_stored(stack):
    wrong = _with(stack.runtime.config, wechat__mp__token="not-the-token", wechat__work__token="not-the-token")
    plan = make_plan(customers=5, days=2, seed=3, retry_fraction=0.2, work_fraction=0.3)

    summary = Simulator(wrong, stack.url, LoadOptions(concurrency=2)).run(plan)

    assert summary.sent == plan.deliveries and summary.accepted == 0
    assert dict(summary.rejected) == {403: plan.deliveries}
    assert _count(stack.runtime, CallbackRecord) == 0 and _count(stack.runtime, Interaction) == 0


def test_a_paced_run_keeps_to_its_rate(stack):
    plan = make_plan(customers=3, days=1, seed=5, retry_fraction=0, work_fraction=0)
    summary = Simulator(stack.runtime.config, stack.url, LoadOptions(rate=20, concurrency=2)).run(plan)
    # k-th delivery is due k/rate seconds after the start, so the run cannot be quicker.
    assert summary.elapsed >= (plan.deliveries - 1) / 20
    assert summary.all_accepted


def test_no_server_is_reported_as_unreachable():
    with pytest.raises(ServerUnreachable, match="no server answers at http://127.0.0.1:9"):
        check_server("http://127.0.0.1:9", timeout=2)


def test_scrm_simulate_prints_the_plan_and_the_summary(served_cli, stack):
    result = served_cli("simulate", "--customers", "6", "--days", "2", "--rate", "0", "--seed", "4",
                        "--retry-fraction", "0.5", "--order-fraction", "0")
    assert result.exit_code == 0, result.output
    # A server with no guides, rules or menu route: the coupons button is the menu.
    world = World((), (), corpus.TEXTS, (stack.runtime.config.coupons.menu_key,), (), "")
    plan = make_plan(customers=6, days=2, seed=4, retry_fraction=0.5, work_fraction=0.2, world=world)
    assert "guides none: nobody will be bound" in result.output
    assert f"{len(plan.callbacks)} callbacks (0 WeCom) and 0 orders" in result.output and "seed 4" in result.output
    assert f"sent        {plan.deliveries} deliveries" in result.output
    assert f"accepted    {plan.deliveries} (2xx)" in result.output
    assert "rejected    0" in result.output and "p99" in result.output
    assert _count(stack.runtime, CallbackRecord) == len(plan.callbacks)


def test_scrm_simulate_fails_clearly_when_no_server_answers(served_cli):
    result = served_cli("simulate", "--url", "http://127.0.0.1:9", "--customers", "2")
    assert result.exit_code == 1
    assert "no server answers at http://127.0.0.1:9" in result.output


def test_scrm_simulate_exits_1_when_callbacks_are_refused(served_cli, monkeypatch):
    monkeypatch.setenv("SCRM_WECHAT__MP__TOKEN", "not-the-token")
    result = served_cli("simulate", "--customers", "2", "--days", "1", "--rate", "0", "--work-fraction", "0", "--plain")
    assert result.exit_code == 1
    assert "403 ×" in result.output and "were not accepted" in result.output
