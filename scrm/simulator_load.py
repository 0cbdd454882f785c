"""Delivering a plan of :mod:`scrm.simulator` to a running server: :class:`Simulator`, and
for one run of it the delivery schedule, each callback's XML (or order's JSON), the worker
threads and what they observed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

import requests

from handlers.signed_callbacks import CallbackSender, mp_event_xml, mp_message_xml, mp_text_xml, work_contact_xml
from handlers.wire import Rejected
from scrm.simulator import Plan, PlannedCallback, Summary, new_msg_id_base

if TYPE_CHECKING:
    from scrm.config import Config

NO_REPLY = ("", "success")
BeforeSend = Callable[[PlannedCallback, datetime], None]


class ServerUnreachable(Exception):
    """Nothing answers HTTP at the simulator's URL."""


def check_server(url: str, *, timeout: float = 5.0) -> None:
    """Raise :class:`ServerUnreachable` unless something answers ``GET <url>/healthz``."""
    try:
        requests.get(f"{url}/healthz", timeout=timeout)
    except requests.RequestException as exc:
        reason = type(exc).__name__
        raise ServerUnreachable(f"no server answers at {url} ({reason}); start it with 'scrm serve'") from None


@dataclass(frozen=True)
class LoadOptions:
    encrypt: bool = True  # MP safe mode; WeCom callbacks are always sealed
    concurrency: int = 4
    rate: float = 0.0  # deliveries a second; 0: as fast as the server answers
    timeout: float = 10.0
    max_seconds: float | None = None  # stop sending after this long (the benchmark)
    # --backfill: the epoch second day 0 of the plan starts at; CreateTimes and order times are
    # then when the plan says (never later than now). None: live, stamped when sent.
    backfill_start: int | None = None


class Simulator:
    def __init__(self, config: Config, url: str, options: LoadOptions = LoadOptions(), *,
                 token: str | None = None, before_send: BeforeSend | None = None) -> None:
        self.url = url.rstrip("/")
        self.options = options
        self.token = token  # a manager's, for POST /api/orders
        # Told of each callback (not order) once, before its first delivery, with its CreateTime:
        # what WeChat knows before the server hears of it (scrm.simulator_sandbox).
        self.before_send = before_send
        self.senders = {
            "mp": CallbackSender.from_config(config, "mp", encrypt=options.encrypt),
            "work": CallbackSender.from_config(config, "work"),
        }
        self.addressees = {"mp": config.wechat.mp.original_id, "work": config.wechat.work.corp_id}

    def run(self, plan: Plan, *, on_progress: Callable[[int], None] | None = None) -> Summary:
        """Deliver ``plan``; ``on_progress(n)`` is called from this thread as deliveries end."""
        if self.token is None and any(c.channel == "api" for c in plan.callbacks):
            raise ValueError("a plan with orders needs a token to POST /api/orders")
        delivery = Delivery(self, plan)
        threads = [threading.Thread(target=delivery.work, daemon=True) for _ in range(self.options.concurrency)]
        for thread in threads:
            thread.start()
        reported = 0
        try:
            while any(thread.is_alive() for thread in threads):
                time.sleep(0.05)
                reported = _report(delivery, reported, on_progress)
        except KeyboardInterrupt:
            delivery.stop.set()
            for thread in threads:
                thread.join(self.options.timeout + 1)
        _report(delivery, reported, on_progress)
        return delivery.summary()


def _report(delivery, reported: int, on_progress: Callable[[int], None] | None) -> int:  # noqa: ANN001
    done = delivery.done
    if on_progress is not None and done > reported:
        on_progress(done - reported)
    return done


def backfill_start(zone: tzinfo, days: int) -> int:
    """Local midnight (in ``zone``, brand.timezone) ``days`` days before today: day 0 of a
    backfilled plan, whose last day is yesterday."""
    today = datetime.now(zone).date()
    return int(datetime.combine(today - timedelta(days=days), datetime.min.time(), zone).timestamp())


def schedule(plan: Plan, spread: int) -> list[tuple[int, int]]:
    """(callback index, attempt) in sending order. A retry goes ``spread`` places after the
    delivery before it: with several threads, often while that one is still being answered,
    which is when WeChat's retries are hardest to handle."""
    slots = []
    for cb in plan.callbacks:
        slots.append((float(cb.index), cb.index, 0))
        slots.extend((cb.index + attempt * spread + 0.5, cb.index, attempt) for attempt in range(1, cb.retries + 1))
    slots.sort()
    return [(index, attempt) for _, index, attempt in slots]


class Delivery:
    def __init__(self, simulator: Simulator, plan: Plan) -> None:
        self.simulator = simulator
        self.plan = plan
        self.options = simulator.options
        self.slots = schedule(plan, spread=2 * self.options.concurrency + 1)
        self.stop = threading.Event()
        self.done = 0
        self._lock = threading.Lock()
        self._next = 0
        self._started = time.monotonic()
        self._finished = self._started
        self._xml: dict[int, str] = {}  # kept for callbacks that will be delivered again
        self._orders: dict[int, dict[str, object]] = {}  # likewise for orders
        self._last_create_time: dict[tuple[str, str], int] = {}
        self._sent_at: dict[int, int] = {}  # callback → its CreateTime
        self._msg_id_base = new_msg_id_base()
        self._first_sent: set[int] = set()
        self._replies: dict[int, set[str]] = {}  # retried callback → the replies it got
        self._summary = Summary(rate_asked=self.options.rate)
        # One customer's callbacks (and orders) are first delivered one after the other, in the
        # plan's order, as their phone sends them; retries still race with their first delivery.
        self._turns = threading.Condition()
        self._ordinal: dict[int, int] = {}  # callback → how many of its customer's come before it
        self._ended: dict[tuple[str, str], int] = {}  # customer → first deliveries ended
        for cb in plan.callbacks:
            who = _customer(cb)
            self._ordinal[cb.index] = self._ended.get(who, 0)
            self._ended[who] = self._ordinal[cb.index] + 1
        self._ended.clear()

    # -- threads ---------------------------------------------------------------------------

    def work(self) -> None:
        import requests

        with requests.Session() as session:
            while (slot := self._take()) is not None:
                index, attempt = slot
                try:
                    self._deliver(session, index, attempt)
                finally:
                    if attempt == 0:
                        with self._turns:
                            who = _customer(self.plan.callbacks[index])
                            self._ended[who] = self._ended.get(who, 0) + 1
                            self._turns.notify_all()

    def _take(self) -> tuple[int, int] | None:
        with self._lock:
            k = self._next
            if k >= len(self.slots) or self.stop.is_set():
                return None
            self._next += 1
        now = time.monotonic()
        if self.options.max_seconds is not None and now - self._started >= self.options.max_seconds:
            self.stop.set()
            return None
        if self.options.rate > 0:
            delay = self._started + k / self.options.rate - now
            if delay > 0 and self.stop.wait(delay):
                return None
        index, attempt = self.slots[k]
        if attempt == 0:  # the customer's callbacks before this one have been answered
            cb = self.plan.callbacks[index]
            with self._turns:
                while self._ended.get(_customer(cb), 0) < self._ordinal[index]:
                    if self.stop.is_set():
                        return None
                    self._turns.wait(0.1)
        return index, attempt

    def _deliver(self, session, index: int, attempt: int) -> None:  # noqa: ANN001
        import requests

        cb = self.plan.callbacks[index]
        if cb.channel == "api":
            self._post_order(session, cb, attempt)
            return
        sender = self.simulator.senders[cb.channel]
        xml = self.xml_of(cb)
        if attempt == 0 and self.simulator.before_send is not None:
            self.simulator.before_send(cb, datetime.fromtimestamp(self._sent_at[cb.index], UTC))
        signed = sender.sign(xml)  # every delivery is signed afresh, as WeChat does
        url = self.simulator.url + signed.path
        started = time.perf_counter()
        try:
            response = session.post(
                url, data=signed.body, headers={"Content-Type": "text/xml"}, timeout=self.options.timeout
            )
        except requests.RequestException as exc:
            self._record(cb, attempt, status=None, error=type(exc).__name__)
            return
        elapsed_ms = (time.perf_counter() - started) * 1000
        reply = response.content.decode("utf-8", "replace") if response.ok else ""
        if response.ok and cb.retries and reply not in NO_REPLY:
            try:
                reply = sender.open_reply(reply)  # sealed replies differ byte for byte; compare plaintext
            except (ValueError, KeyError, Rejected) as exc:  # counted as a reply unlike any other
                reply = f"unreadable reply: {exc}"
        self._record(cb, attempt, status=response.status_code, latency_ms=elapsed_ms, reply=reply)

    def _post_order(self, session, cb: PlannedCallback, attempt: int) -> None:  # noqa: ANN001
        import requests

        body = self.order_of(cb)
        headers = {"Authorization": f"Bearer {self.simulator.token}"}
        started = time.perf_counter()
        try:
            response = session.post(self.simulator.url + "/api/orders", json=body, headers=headers,
                                    timeout=self.options.timeout)
        except requests.RequestException as exc:
            self._record(cb, attempt, status=None, error=type(exc).__name__)
            return
        elapsed_ms = (time.perf_counter() - started) * 1000
        self._record(cb, attempt, status=response.status_code, latency_ms=elapsed_ms)

    def _record(self, cb: PlannedCallback, attempt: int, *, status: int | None, latency_ms: float = 0.0,
                error: str = "", reply: str = "") -> None:
        s = self._summary
        with self._lock:
            s.sent += 1
            self.done += 1
            self._finished = time.monotonic()
            if cb.index not in self._first_sent:
                self._first_sent.add(cb.index)
                s.callbacks += 1
            if attempt:
                s.retries_sent += 1
            if status is None:
                s.errors[error] += 1
                return
            s.latencies_ms.append(latency_ms)
            if not 200 <= status < 300:
                s.rejected[status] += 1
                return
            s.accepted += 1
            s.retries_accepted += bool(attempt)
            if cb.channel == "api":
                s.orders_new += status == 201
                s.orders_again += status == 200
                return
            s.replies_with_content += reply not in NO_REPLY
            if cb.retries:
                self._replies.setdefault(cb.index, set()).add(reply)

    # -- the callbacks ---------------------------------------------------------------------

    def xml_of(self, cb: PlannedCallback) -> str:
        """The callback's XML, made when first needed; its retries get the very same."""
        with self._lock:
            xml = self._xml.get(cb.index)
            if xml is not None:
                return xml
            create_time = self._create_time(cb)
            xml = callback_xml(cb, to=self.simulator.addressees[cb.channel], create_time=create_time,
                               msg_id=str(self._msg_id_base + cb.index))
            if cb.retries:
                self._xml[cb.index] = xml
            return xml

    def order_of(self, cb: PlannedCallback) -> dict[str, object]:
        """The order's JSON, made when first needed; its retries get the very same (its number
        is the run's and the plan's, so a retry is the same order)."""
        with self._lock:
            body = self._orders.get(cb.index)
            if body is None:
                moment = datetime.fromtimestamp(self._create_time(cb), UTC)
                body = {"order_no": f"SIM{self._msg_id_base}-{cb.index}", "amount": cb.get("amount"),
                        "ordered_at": moment.isoformat(), "customer": {"openid": cb.user}}
                if cb.get("guide"):
                    body["guide_code"] = cb.get("guide")
                if cb.retries:
                    self._orders[cb.index] = body
            return body

    def _create_time(self, cb: PlannedCallback) -> int:
        """When the callback (or order) happened: now, or the plan's moment when backfilling;
        strictly increasing per customer. Call with the lock held."""
        now = int(time.time())
        start = self.options.backfill_start
        at = now if start is None else min(start + cb.sim_at, now)
        who = _customer(cb)
        at = max(at, self._last_create_time.get(who, 0) + 1)
        self._last_create_time[who] = at
        self._sent_at[cb.index] = at
        return at

    def summary(self) -> Summary:
        with self._lock:
            s = self._summary
            s.elapsed = self._finished - self._started
            s.retried_callbacks = len(self._replies)
            s.retried_answered_alike = sum(1 for replies in self._replies.values() if len(replies) == 1)
            return s


def _customer(cb: PlannedCallback) -> tuple[str, str]:
    return ("work" if cb.channel == "work" else "mp", cb.user)


def callback_xml(cb: PlannedCallback, *, to: str, create_time: int, msg_id: str) -> str:
    """The XML WeChat would send for ``cb``."""
    if cb.channel == "work":
        return work_contact_xml(
            corp_id=to, change_type=cb.kind, userid=cb.get("userid"), external_userid=cb.user, create_time=create_time,
            state=cb.get("state") or None, welcome_code=cb.get("welcome_code") or None,
        )
    common = {"to": to, "openid": cb.user, "create_time": create_time}
    kind = cb.kind
    if kind == "text":
        return mp_text_xml(**common, content=cb.get("content"), msg_id=msg_id)
    if kind == "image":
        fields = {"PicUrl": cb.get("pic_url"), "MediaId": cb.get("media_id"), "MsgId": msg_id}
        return mp_message_xml(**common, msg_type="image", fields=fields)
    if kind == "location":
        fields = {"Location_X": cb.get("x"), "Location_Y": cb.get("y"), "Scale": "15", "Label": cb.get("label"),
                  "MsgId": msg_id}
        return mp_message_xml(**common, msg_type="location", fields=fields)
    if kind == "follow":
        scene = cb.get("scene")
        if not scene:
            return mp_event_xml(**common, event="subscribe", key="")
        return mp_event_xml(**common, event="subscribe", key=f"qrscene_{scene}", Ticket=_ticket(scene))
    if kind == "unfollow":
        return mp_event_xml(**common, event="unsubscribe", key="")
    if kind == "scan":
        return mp_event_xml(**common, event="SCAN", key=cb.get("scene"), Ticket=_ticket(cb.get("scene")))
    if kind == "click":
        return mp_event_xml(**common, event="CLICK", key=cb.get("key"))
    if kind == "view":
        return mp_event_xml(**common, event="VIEW", key=cb.get("url"), MenuId="401")
    raise ValueError(f"unknown planned kind {kind!r}")


def _ticket(scene: str) -> str:
    import hashlib

    return "gQ" + hashlib.sha1(scene.encode()).hexdigest()
