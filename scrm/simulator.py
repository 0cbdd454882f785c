"""``scrm simulate``: realistic signed WeChat callbacks against a running server (SPEC §10).

Two parts:

- :func:`make_plan` turns (customers, days, seed) and a :class:`~scrm.simulator_world.World`
  (what the server has: its guides' and stores' scenes, its guides' WeCom members, the words
  its rules listen for, its menu; :func:`scrm.simulator_world.discover`) into the callbacks
  those customers cause over ``days`` days of behaviour: a follow (by a real code's scene or
  without), texts (chatter from :mod:`scrm.simulator_corpus` and the rules' keywords), menu
  clicks and views on the menu's keys and URLs, scans, images, locations, some unfollows; for
  a share of the traffic WeCom ``change_external_contact`` events (adds of a real guide's
  member with the guide's ``State`` and a ``WelcomeCode``, edits, deletes); and for a share of
  the customers orders (``POST /api/orders``), credited to the guide whose code they scanned.
  Same seed and world, same plan.
- :class:`scrm.simulator_load.Simulator` delivers a plan as WeChat does: each callback signed, and sealed in safe
  mode (always on WeCom), by :mod:`handlers.signed_callbacks`; paced at a rate by a few threads, each
  with its own HTTP session; some callbacks delivered again, as WeChat's retries are. The
  :class:`Summary` counts what the server answered.

Live (the default), simulated time only orders the plan: CreateTimes are the clock when a
callback is first sent. With ``--backfill`` day 0 of the plan is ``days`` days ago and each
CreateTime (and order time) is when the plan says it happened; the signed query timestamp is
still now (the server refuses one outside its 300 s window), and the sandbox handles such a
callback as of its CreateTime (handlers/dispatch.py). Either way CreateTimes are kept strictly
increasing per customer so two events of one customer never share their dedupe key
(``FromUserName + CreateTime + …``). MsgIds start at a random base per run, so a second run
with the same seed is new traffic, not retries of the first.
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
import secrets
from collections import Counter
from dataclasses import dataclass, field

from scrm.simulator_corpus import PLACES
from scrm.simulator_world import GuideRef, World, builtin

DAY = 86_400
ACTIONS = ("text", "click", "view", "scan", "image", "location")
ACTION_WEIGHTS = (45, 22, 14, 9, 5, 5)
SCENE_FOLLOW_SHARE = 0.45  # follows that come from scanning a code
GUIDE_SCENE_SHARE = 0.7  # scans of a guide's code rather than a store's
UNFOLLOW_SHARE = 0.12
RETURN_SHARE = 0.3  # chance a follower comes back on a later day


# -- the plan --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedCallback:
    index: int
    channel: str  # "mp", "work", or "api" (an order, POST /api/orders)
    kind: str  # MP: follow, unfollow, text, click, view, scan, image, location; WeCom: the ChangeType; order
    customer: int
    user: str  # the customer's openid (MP and their orders) or external_userid (WeCom)
    sim_at: int  # simulated seconds since the start of day 0
    detail: tuple[tuple[str, str], ...] = ()
    retries: int = 0  # deliveries after the first

    def get(self, name: str) -> str:
        return dict(self.detail).get(name, "")


@dataclass(frozen=True)
class Plan:
    seed: int
    customers: int
    days: int
    callbacks: tuple[PlannedCallback, ...]

    @property
    def deliveries(self) -> int:
        return sum(1 + c.retries for c in self.callbacks)

    def mix(self) -> dict[str, int]:
        return dict(Counter(c.kind for c in self.callbacks).most_common())

    def describe(self) -> str:
        retried = sum(1 for c in self.callbacks if c.retries)
        work = sum(1 for c in self.callbacks if c.channel == "work")
        orders = sum(1 for c in self.callbacks if c.channel == "api")
        mix = ", ".join(f"{kind} {count}" for kind, count in self.mix().items())
        return (
            f"plan: {self.customers} customers over {self.days} day(s), seed {self.seed}: "
            f"{len(self.callbacks) - orders} callbacks ({work} WeCom) and {orders} orders, {retried} of them "
            f"retried ({self.deliveries - len(self.callbacks)} extra deliveries)\n      {mix}"
        )


def make_plan(*, customers: int, days: int, seed: int, retry_fraction: float = 0.1, work_fraction: float = 0.2,
              order_fraction: float = 0.0, world: World | None = None) -> Plan:
    """The callbacks ``customers`` customers cause over ``days`` days in ``world`` (default:
    the built-in corpus); ``work_fraction`` of them WeCom contact events (none when no guide
    has a WeCom member and code), ``retry_fraction`` of them delivered more than once;
    ``order_fraction`` of the customers also buy (orders count among the callbacks)."""
    if customers < 1 or days < 1 or not 0 <= retry_fraction <= 1 or not 0 <= work_fraction < 1 \
            or not 0 <= order_fraction <= 1:
        raise ValueError("customers and days must be at least 1, fractions within [0, 1) ([0, 1] for retries "
                         "and orders)")
    world = world or builtin()
    rng = random.Random(seed)
    items: list[tuple[int, str, str, int, dict[str, str]]] = []  # sim_at, channel, kind, customer, detail
    first_seen: list[int] = []
    horizon = days * DAY  # what would happen after the last day is not in the plan
    for n in range(customers):
        journey = [step for step in _mp_journey(rng, days, world) if step[0] < horizon]
        first_seen.append(journey[0][0])
        items.extend((at, "mp", kind, n, detail) for at, kind, detail in journey)
        if rng.random() < order_fraction:
            items.extend((at, "api", "order", n, detail) for at, detail in _orders(rng, journey, days, world))

    work_guides = world.work_guides
    want_work = round(work_fraction * len(items) / (1 - work_fraction)) if work_guides else 0
    order = list(range(customers))
    rng.shuffle(order)
    work: list[tuple[int, str, str, int, dict[str, str]]] = []
    for turn in range(want_work):  # bounded: each turn adds at least one callback
        if len(work) >= want_work:
            break
        n = order[turn % customers]
        start = min(first_seen[n] + rng.randint(60, DAY), days * DAY - 1)
        journey = _work_journey(rng, start, work_guides[(n + turn // customers) % len(work_guides)])
        journey = [step for step in journey if step[0] < horizon]
        work.extend((at, "work", kind, n, detail) for at, kind, detail in journey[: want_work - len(work)])
    items.extend(work)

    items.sort(key=lambda item: (item[0], item[1], item[3]))
    retried = set(rng.sample(range(len(items)), round(retry_fraction * len(items))))
    callbacks = tuple(
        PlannedCallback(
            index=i,
            channel=channel,
            kind=kind,
            customer=n,
            user=external_userid(seed, n) if channel == "work" else openid(seed, n),
            sim_at=at,
            detail=tuple(sorted(detail.items())),
            retries=rng.choice((1, 1, 1, 2, 3)) if i in retried else 0,  # WeChat tries 3 times more at most
        )
        for i, (at, channel, kind, n, detail) in enumerate(items)
    )
    return Plan(seed, customers, days, callbacks)


def openid(seed: int, n: int) -> str:
    return _identifier("o", f"mp:{seed}:{n}", 28)


def external_userid(seed: int, n: int) -> str:
    return _identifier("wm", f"work:{seed}:{n}", 32)


def _identifier(prefix: str, source: str, length: int) -> str:
    digest = hashlib.sha256(source.encode()).digest()
    return (prefix + base64.urlsafe_b64encode(digest).decode())[:length]


def _daytime(rng: random.Random) -> int:
    """Seconds into a day, mostly between 8:00 and 23:00 China time."""
    return int(min(max(rng.gauss(15.5, 3.5), 7.0), 23.9) * 3600)


def _scene(rng: random.Random, world: World) -> dict[str, str]:
    """A scanned code's scene (and, for a guide's code, the guide), or {} when the server has
    no codes."""
    guides, stores = world.mp_guides, world.store_scenes
    if guides and (not stores or rng.random() < GUIDE_SCENE_SHARE):
        guide = rng.choice(guides)
        return {"scene": guide.mp_scene, "guide": guide.code}
    return {"scene": rng.choice(stores)} if stores else {}


def _actions(world: World) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The actions the world allows: no clicks without a menu key, no scans without codes."""
    can = {"click": bool(world.click_keys), "view": bool(world.view_urls),
           "scan": bool(world.mp_guides or world.store_scenes), "text": bool(world.texts)}
    kept = [(a, w) for a, w in zip(ACTIONS, ACTION_WEIGHTS, strict=True) if can.get(a, True)]
    return tuple(a for a, _ in kept), tuple(w for _, w in kept)


def _mp_journey(rng: random.Random, days: int, world: World) -> list[tuple[int, str, dict[str, str]]]:
    day = rng.randrange(days)
    t = day * DAY + _daytime(rng)
    journey = [(t, "follow", _scene(rng, world) if rng.random() < SCENE_FOLLOW_SHARE else {})]
    leave_day = day + rng.randrange(days - day) if rng.random() < UNFOLLOW_SHARE else None
    t = _session(rng, journey, t + rng.randint(5, 300), rng.choice((0, 1, 1, 2, 3)), world)
    for later in range(day + 1, days if leave_day is None else leave_day + 1):
        if rng.random() < RETURN_SHARE:
            t = _session(rng, journey, max(t + 60, later * DAY + _daytime(rng)), rng.randint(1, 3), world)
    if leave_day is not None:
        journey.append((max(t + rng.randint(60, 3600), leave_day * DAY + _daytime(rng)), "unfollow", {}))
    return journey


def _session(rng: random.Random, journey: list, t: int, actions: int, world: World) -> int:
    kinds, weights = _actions(world)
    for _ in range(actions):
        kind = rng.choices(kinds, weights)[0]
        journey.append((t, kind, _action_detail(rng, kind, world)))
        t += rng.randint(8, 180)
    return t


def _orders(rng: random.Random, journey: list, days: int, world: World) -> list[tuple[int, dict[str, str]]]:
    """One or two orders after the customer's first visit; credited to the guide whose code
    they scanned, if any (the server credits the bound guide otherwise)."""
    guide = next((d["guide"] for _, _, d in journey if d.get("guide")), "")
    t, made = journey[0][0], []
    for _ in range(rng.choice((1, 1, 1, 2))):
        t = min(t + rng.randint(600, 3 * DAY), days * DAY - 1)
        amount = f"{rng.choice((39, 59, 89, 128, 199, 258, 329, 468, 899))}.{rng.choice(('00', '50', '90'))}"
        made.append((t, {"amount": amount, "guide": guide}))
    return made


def _action_detail(rng: random.Random, kind: str, world: World) -> dict[str, str]:
    if kind == "text":
        return {"content": rng.choice(world.texts)}
    if kind == "click":
        return {"key": rng.choice(world.click_keys)}
    if kind == "view":
        return {"url": rng.choice(world.view_urls)}
    if kind == "scan":
        return _scene(rng, world)
    if kind == "image":
        return {"media_id": _token(rng, 40), "pic_url": f"http://mmbiz.qpic.cn/sim/{_token(rng, 24)}/0"}
    label, x, y = rng.choice(PLACES)
    return {"label": label, "x": x, "y": y}


def _work_journey(rng: random.Random, t: int, guide: GuideRef) -> list[tuple[int, str, dict[str, str]]]:
    """A customer adds a guide as a WeCom contact (联系我); some edit, some part later."""
    member = guide.wecom_userid
    add = "add_half_external_contact" if rng.random() < 0.05 else "add_external_contact"
    state = guide.work_scene if rng.random() < 0.8 else ""
    journey = [(t, add, {"userid": member, "state": state, "welcome_code": _token(rng, 43),
                         "guide": guide.code if state else ""})]
    if rng.random() < 0.15:
        journey.append((t + rng.randint(600, DAY), "edit_external_contact", {"userid": member}))
    ending = rng.random()
    if ending < 0.12:  # the customer deleted the guide
        journey.append((journey[-1][0] + rng.randint(3600, 7 * DAY), "del_follow_user", {"userid": member}))
    elif ending < 0.17:  # the guide deleted the customer
        journey.append((journey[-1][0] + rng.randint(3600, 7 * DAY), "del_external_contact", {"userid": member}))
    return journey


def _token(rng: random.Random, length: int) -> str:
    return base64.urlsafe_b64encode(rng.randbytes(length)).decode()[:length]


# -- delivering it ---------------------------------------------------------------------------


@dataclass
class Summary:
    sent: int = 0  # deliveries, retries included
    callbacks: int = 0  # distinct callbacks delivered at least once
    accepted: int = 0  # 2xx
    rejected: Counter = field(default_factory=Counter)  # status → deliveries
    errors: Counter = field(default_factory=Counter)  # exception name → deliveries
    retries_sent: int = 0
    retries_accepted: int = 0
    retried_callbacks: int = 0
    retried_answered_alike: int = 0  # retried callbacks whose accepted deliveries got one same reply
    replies_with_content: int = 0
    orders_new: int = 0  # POST /api/orders answered 201
    orders_again: int = 0  # answered 200: the order number was recorded before (a retry)
    latencies_ms: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    rate_asked: float = 0.0

    @property
    def all_accepted(self) -> bool:
        return self.sent > 0 and self.accepted == self.sent

    @property
    def achieved_rate(self) -> float:
        return self.sent / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile of the latencies, in ms (0 when nothing was answered)."""
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    def lines(self) -> list[str]:
        rejected = ", ".join(f"{status} ×{n}" for status, n in sorted(self.rejected.items()))
        errors = ", ".join(f"{name} ×{n}" for name, n in sorted(self.errors.items()))
        asked = f"asked {self.rate_asked:g}/s" if self.rate_asked else "unpaced"
        return [
            f"sent        {self.sent} deliveries: {self.callbacks} callbacks and orders + {self.retries_sent} retries",
            f"accepted    {self.accepted} (2xx)",
            f"rejected    {sum(self.rejected.values())}" + (f" ({rejected})" if rejected else ""),
            f"errors      {sum(self.errors.values())} (connection)" + (f": {errors}" if errors else ""),
            f"retries     {self.retries_sent} sent, {self.retries_accepted} accepted; "
            f"{self.retried_answered_alike} of {self.retried_callbacks} retried callbacks answered exactly as "
            "their first delivery (no second effect)",
            f"replies     {self.replies_with_content} with content",
            f"orders      {self.orders_new} recorded (201), {self.orders_again} answered as already recorded (200)",
            f"latency     p50 {self.percentile(50):.1f} ms  p95 {self.percentile(95):.1f} ms  "
            f"p99 {self.percentile(99):.1f} ms  max {max(self.latencies_ms, default=0):.1f} ms",
            f"elapsed     {self.elapsed:.1f} s, {self.achieved_rate:.1f} deliveries/s ({asked})",
        ]

    @classmethod
    def combine(cls, parts: list[Summary]) -> Summary:
        """Several load processes' summaries as one (they ran side by side)."""
        total = cls(rate_asked=sum(p.rate_asked for p in parts))
        for part in parts:
            for name in ("sent", "callbacks", "accepted", "retries_sent", "retries_accepted", "retried_callbacks",
                         "retried_answered_alike", "replies_with_content", "orders_new", "orders_again"):
                setattr(total, name, getattr(total, name) + getattr(part, name))
            total.rejected.update(part.rejected)
            total.errors.update(part.errors)
            total.latencies_ms.extend(part.latencies_ms)
            total.elapsed = max(total.elapsed, part.elapsed)
        return total


def new_msg_id_base() -> int:
    """Where a run's MsgIds start: random, so runs never repeat each other's (WeChat's are
    17-digit numbers)."""
    return 10**16 + secrets.randbelow(8 * 10**16)
