"""``scrm simulate``: realistic signed WeChat callbacks against a running server (SPEC §10).

Two parts:

- :func:`make_plan` turns (customers, days, seed) into the callbacks those customers cause
  over ``days`` days of behaviour: a follow (with a ``qrscene_`` scene or without), texts from
  :mod:`scrm.simulator_corpus`, menu clicks and views, scans, images, locations, some
  unfollows, and for a share of the traffic WeCom ``change_external_contact`` events (adds
  with a ``State`` and a ``WelcomeCode``, edits, deletes). Same seed, same plan.
- :class:`scrm.simulator_load.Simulator` delivers a plan as WeChat does: each callback signed, and sealed in safe
  mode (always on WeCom), by :mod:`handlers.signed_callbacks`; paced at a rate by a few threads, each
  with its own HTTP session; some callbacks delivered again, as WeChat's retries are. The
  :class:`Summary` counts what the server answered.

Simulated time only orders the plan. CreateTimes are the clock when a callback is first sent
(the server refuses timestamps outside its 300 s window), kept strictly increasing per
customer so two events of one customer never share their dedupe key
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

from scrm import simulator_corpus as corpus

DAY = 86_400
ACTIONS = ("text", "click", "view", "scan", "image", "location")
ACTION_WEIGHTS = (45, 22, 14, 9, 5, 5)
SCENE_FOLLOW_SHARE = 0.45  # follows that come from scanning a code
UNFOLLOW_SHARE = 0.12
RETURN_SHARE = 0.3  # chance a follower comes back on a later day


# -- the plan --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedCallback:
    index: int
    channel: str  # "mp" or "work"
    kind: str  # MP: follow, unfollow, text, click, view, scan, image, location; WeCom: the ChangeType
    customer: int
    user: str  # the customer's openid (MP) or external_userid (WeCom)
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
        mix = ", ".join(f"{kind} {count}" for kind, count in self.mix().items())
        return (
            f"plan: {self.customers} customers over {self.days} day(s), seed {self.seed}: "
            f"{len(self.callbacks)} callbacks ({work} WeCom), {retried} of them retried "
            f"({self.deliveries - len(self.callbacks)} extra deliveries)\n      {mix}"
        )


def make_plan(*, customers: int, days: int, seed: int, retry_fraction: float = 0.1, work_fraction: float = 0.2) -> Plan:
    """The callbacks ``customers`` customers cause over ``days`` days; ``work_fraction`` of
    them WeCom contact events, ``retry_fraction`` of them delivered more than once."""
    if customers < 1 or days < 1 or not 0 <= retry_fraction <= 1 or not 0 <= work_fraction < 1:
        raise ValueError("customers and days must be at least 1, fractions within [0, 1) ([0, 1] for retries)")
    rng = random.Random(seed)
    items: list[tuple[int, str, str, int, dict[str, str]]] = []  # sim_at, channel, kind, customer, detail
    first_seen: list[int] = []
    for n in range(customers):
        journey = _mp_journey(rng, days)
        first_seen.append(journey[0][0])
        items.extend((at, "mp", kind, n, detail) for at, kind, detail in journey)

    want_work = round(work_fraction * len(items) / (1 - work_fraction))
    order = list(range(customers))
    rng.shuffle(order)
    work: list[tuple[int, str, str, int, dict[str, str]]] = []
    for turn in range(want_work):  # bounded: each turn adds at least one callback
        if len(work) >= want_work:
            break
        n = order[turn % customers]
        start = min(first_seen[n] + rng.randint(60, DAY), days * DAY - 1)
        journey = _work_journey(rng, start, guide=(n + turn // customers) % len(corpus.GUIDES))
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
            user=openid(seed, n) if channel == "mp" else external_userid(seed, n),
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


def _scene(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return f"g:{rng.choice(corpus.GUIDES)[0]}"
    return rng.choice(corpus.OTHER_SCENES)


def _mp_journey(rng: random.Random, days: int) -> list[tuple[int, str, dict[str, str]]]:
    day = rng.randrange(days)
    t = day * DAY + _daytime(rng)
    journey = [(t, "follow", {"scene": _scene(rng)} if rng.random() < SCENE_FOLLOW_SHARE else {})]
    leave_day = day + rng.randrange(days - day) if rng.random() < UNFOLLOW_SHARE else None
    t = _session(rng, journey, t + rng.randint(5, 300), rng.choice((0, 1, 1, 2, 3)))
    for later in range(day + 1, days if leave_day is None else leave_day + 1):
        if rng.random() < RETURN_SHARE:
            t = _session(rng, journey, max(t + 60, later * DAY + _daytime(rng)), rng.randint(1, 3))
    if leave_day is not None:
        journey.append((max(t + rng.randint(60, 3600), leave_day * DAY + _daytime(rng)), "unfollow", {}))
    return journey


def _session(rng: random.Random, journey: list, t: int, actions: int) -> int:
    for _ in range(actions):
        kind = rng.choices(ACTIONS, ACTION_WEIGHTS)[0]
        journey.append((t, kind, _action_detail(rng, kind)))
        t += rng.randint(8, 180)
    return t


def _action_detail(rng: random.Random, kind: str) -> dict[str, str]:
    if kind == "text":
        return {"content": rng.choice(corpus.TEXTS)}
    if kind == "click":
        return {"key": rng.choice(corpus.MENU_CLICK_KEYS)}
    if kind == "view":
        return {"url": rng.choice(corpus.MENU_VIEW_URLS)}
    if kind == "scan":
        return {"scene": _scene(rng)}
    if kind == "image":
        return {"media_id": _token(rng, 40), "pic_url": f"http://mmbiz.qpic.cn/sim/{_token(rng, 24)}/0"}
    label, x, y = rng.choice(corpus.PLACES)
    return {"label": label, "x": x, "y": y}


def _work_journey(rng: random.Random, t: int, *, guide: int) -> list[tuple[int, str, dict[str, str]]]:
    """A customer adds a guide as a WeCom contact (联系我); some edit, some part later."""
    code, member = corpus.GUIDES[guide]
    add = "add_half_external_contact" if rng.random() < 0.05 else "add_external_contact"
    state = f"g:{code}" if rng.random() < 0.8 else ""
    journey = [(t, add, {"userid": member, "state": state, "welcome_code": _token(rng, 43)})]
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
            f"sent        {self.sent} deliveries: {self.callbacks} callbacks + {self.retries_sent} retries",
            f"accepted    {self.accepted} (2xx)",
            f"rejected    {sum(self.rejected.values())}" + (f" ({rejected})" if rejected else ""),
            f"errors      {sum(self.errors.values())} (connection)" + (f": {errors}" if errors else ""),
            f"retries     {self.retries_sent} sent, {self.retries_accepted} accepted; "
            f"{self.retried_answered_alike} of {self.retried_callbacks} retried callbacks answered exactly as "
            "their first delivery (no second effect)",
            f"replies     {self.replies_with_content} with content",
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
                         "retried_answered_alike", "replies_with_content"):
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
