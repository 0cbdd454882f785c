"""``scrm demo``'s 30 days of history (SPEC §10): the simulator's plan, backfilled, against the
server the demo has just started, so the dashboard has a story on first open.

The server must be listening: its webhook calls the sandbox's WeChat API over HTTP while it
handles a callback (``user/info`` on a follow, a welcome on a WeCom add), and its worker
publishes the menu and makes the guides' codes. The world is learnt over the API as ``scrm
simulate`` learns it (:func:`scrm.simulator_world.discover`: the demo's real guides, codes,
rules and menu), and each simulated customer is put in the sandbox's WeChat world as they act
(:mod:`scrm.simulator_sandbox`), so messages sent to them later are delivered. A third or so of the coupons given to bound
customers is then redeemed by their guides, dated days after each was given
(:mod:`scrm.simulator_redeem`): the funnel's last step and the leaderboard. Two customer
groups (客户群) of the customers who added a guide are then put in the sandbox's WeCom and read
by the groups' sync; :mod:`scrm.demo_groups` then puts a live code, a welcome and an SOP over them.

Made once: a database that already has customers keeps its history (a second ``scrm demo``
adds nothing). Same seed, same plan.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from collections.abc import Callable
from typing import TYPE_CHECKING

import requests
from sqlalchemy import func, select

from scrm.customers.models import Customer
from scrm.groups.sync import sync_groups
from scrm.sandbox import world
from scrm.simulator import Plan, Summary, make_plan
from scrm.simulator_load import LoadOptions, Simulator, backfill_start
from scrm.simulator_redeem import redeem_some
from scrm.simulator_sandbox import registrar
from scrm.simulator_world import discover

if TYPE_CHECKING:
    from scrm.runtime import Runtime

log = logging.getLogger(__name__)

CUSTOMERS = 100
# The dashboard opens on the last 30 days, today included: 29 backfilled days and today fill it,
# and none of the history falls in "the period before" it compares with.
DAYS = 29
SEED = 16
ORDER_FRACTION = 0.2
WORK_FRACTION = 0.15
CODES_WAIT_SECONDS = 30.0
# chat_id, owner (a demo guide's WeCom member, scrm/demo.py), name
GROUPS = (("wrDemoGroupJingan01", "wangxiaomei", "静安店宝妈群"), ("wrDemoGroupSanlitun01", "zhangxiaoxue", "三里屯育儿交流群"))
GROUP_SIZE = 40


def has_history(runtime: Runtime) -> bool:
    with runtime.transaction() as db_session:
        return bool(db_session.scalar(select(func.count()).select_from(Customer)))


def backfill(runtime: Runtime, url: str, token: str, *, echo: Callable[[str], None],
             customers: int = CUSTOMERS, days: int = DAYS) -> Summary:
    """Deliver ``customers`` customers' ``days`` days to the server at ``url``."""
    _wait_for_codes(url, token)
    world = discover(url, token, coupons_menu_key=runtime.config.coupons.menu_key)
    echo(f"  {world.describe()}")
    plan = make_plan(customers=customers, days=days, seed=SEED, retry_fraction=0.02, work_fraction=WORK_FRACTION,
                     order_fraction=ORDER_FRACTION, world=world)
    summary, mix = plan.describe().split("\n", 1)
    echo(f"  {summary}")
    log.info("history's plan, by kind: %s", mix.strip())
    options = LoadOptions(concurrency=4, backfill_start=backfill_start(runtime.config.brand.zone, days))
    simulator = Simulator(runtime.config, url, options, token=token, before_send=registrar(runtime.redis))
    done, step = [0], max(1, plan.deliveries // 10)

    def progress(n: int) -> None:
        before, done[0] = done[0], done[0] + n
        if done[0] // step != before // step or done[0] == plan.deliveries:
            echo(f"  history: {done[0]}/{plan.deliveries} callbacks and orders")

    summary = simulator.run(plan, on_progress=progress)
    echo(f"  {redeem_some(runtime, seed=SEED).describe()}")
    groups = seed_groups(runtime, plan, at=datetime.fromtimestamp(options.backfill_start or 0, UTC))
    echo(f"  customer groups: {groups} read from the sandbox's WeCom")
    return summary


def seed_groups(runtime: Runtime, plan: Plan, *, at: datetime) -> int:
    """Customer groups (客户群) in the sandbox's WeCom, owned by guides' members, with the
    simulated customers who added that member; then read by the groups' sync, as the
    scheduler reads them every night. Returns how many groups the sync read."""
    added: dict[str, list[str]] = {}
    for cb in plan.callbacks:
        if cb.channel == "work" and cb.kind == "add_external_contact":
            added.setdefault(cb.get("userid"), []).append(cb.user)
    for chat_id, owner, name in GROUPS:
        members = list(dict.fromkeys(added.get(owner, ())))[:GROUP_SIZE]
        if members:
            world.add_group_chat(runtime.redis, chat_id, owner=owner, name=name, external_userids=members,
                                 notice="群内每周三上新，欢迎提问～", at=at)
    return sync_groups()


def _wait_for_codes(url: str, token: str) -> None:
    """Until every guide's codes are ready (the worker asks the sandbox for them once the
    server answers), so the plan's follows come through the guides' real scenes."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    deadline = time.monotonic() + CODES_WAIT_SECONDS
    while time.monotonic() < deadline:
        guides = session.get(f"{url}/api/guides", timeout=10).json()["guides"]
        states = [c.get("status") for g in guides
                  for c in (session.get(f"{url}/api/guides/{g['code']}", timeout=10).json().get("codes") or {}).values()]
        if states and all(s == "ready" for s in states):
            return
        time.sleep(0.3)
