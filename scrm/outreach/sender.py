"""Sending deliveries (发送): the ``outreach`` queue's job (the scheduler's sweeps that feed it
are scrm/outreach/sweeps.py).

**Claim.** :func:`send_deliveries` takes its ids in one ``UPDATE … SET status = 'sending',
attempts = attempts + 1 WHERE status = 'planned' AND due_at <= now AND the campaign is not
paused or cancelled RETURNING …``: the database decides, row by row, which worker owns a
delivery, so two workers given the same ids send each once. The job's ids are claimed together
because WeCom tasks (one per guide) and mass sends (one per chunk) group them. A paused
campaign's deliveries stay ``planned``; a cancelled one's are ``skipped`` (``cancelled``).

**Channel.** The campaign's channel, else the first of its ``fallbacks`` that reaches the
customer (scrm/outreach/channels.py); none: ``skipped`` with every reason. The channel used is
stored on the delivery.

**Idempotency.** Each delivery's Redis key ``scrm:outreach:sent:<idempotency_key>`` is set
*before* WeChat is called, to ``"<channel> unconfirmed"``; WeChat's answer replaces it with its
reference (a one-by-one send's in the worker's next round trip to Redis: with the next call's
key, or at the job's end), or deletes it when WeChat said no (refused, throttled, busy,
unreachable: the delivery may go again). A delivery whose key is there is marked sent without calling WeChat:
when claimed again, or when the recovery sweep (scrm/outreach/sweeps.py) finds it left
``sending`` by a lost worker; one left ``sending`` without the key goes back to ``planned``.
A worker killed while its call was out leaves ``unconfirmed``: WeChat's customer-service and
WeCom APIs take no idempotency key and cannot be asked afterwards, so that delivery is counted
sent with the reference ``unconfirmed`` rather than sent a second time (the crash test,
tests/test_outreach_crash.py, kills a worker mid-call: before this, that customer got the
message twice). What is left is the other side: a worker killed between the ``SET`` and the
request leaving (our rate limiter's wait, at most a second, and the token) loses that one
message, visibly (``wechat_ref = 'unconfirmed'``). The same holds for a
request that went out and lost its answer (a read timeout, a connection dropped mid-answer:
the transport raises :class:`AnswerLost` instead of sending it again): counted sent,
``unconfirmed``. A connection that never opened is not sent and is retried (mass sends carry
``clientmsgid``, which WeChat dedupes itself, and are retried either way).

**Errors.** Token refusals (40001/40014/42001), WeChat's throttling (45009/45011/45033), system
busy (-1) and network errors are transient: the delivery goes back to ``planned``, due after
``queue.backoff_seconds[attempts - 1]`` (the last entry repeating; at least the throttle's
pause), and after ``1 + queue.max_retries`` tries it is ``dead`` with the error. A throttle
(WeChat's, or our own token bucket's :class:`RateLimited`, which spends no try) also hands the
job's unsent deliveries on that channel back untried, due when the API opens again.
Any other refusal (45015 outside the window, 43004 unfollowed, 40003 bad openid…) is permanent:
the next fallback channel that reaches the customer is tried, else ``failed`` with the reason.
A delivery that ends without a message (skipped, failed, dead) gives its cap slot back.

**Groups, invitations and coupons.** An invitation (``work_group_invite``) gets its campaign's
join way first (scrm/outreach/group_invites.py), then goes as ``work_single`` does. A group
message's deliveries (``chat_id``, no customer) are checked by scrm/outreach/group_messages.py
and sent as one task per group owner. A campaign's attached
coupon is issued in the flush that marks its delivery sent (scrm/outreach/campaign_coupons.py).
Each WeCom task created is recorded in that flush too, pending until the member sends it
(scrm/outreach/wecom_tasks.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from redis.exceptions import LockError
from sqlalchemy import and_, bindparam, exists, select, update

from scrm.outreach import campaign_coupons, channels, finishing, group_invites, group_messages, wecom_tasks
from scrm.outreach.cap import FrequencyCap
from scrm.outreach.models import Campaign, Delivery
from scrm.runtime import Runtime, job
from scrm.wechat.errors import (
    BUSY_ERRCODES,
    RATE_LIMIT_ERRCODES,
    TOKEN_ERRCODES,
    AnswerLost,
    RateLimited,
    WeChatError,
)

if TYPE_CHECKING:
    from scrm.runtime import Runtime

log = logging.getLogger(__name__)

SENT_KEY_SECONDS = 14 * 86400
UNCONFIRMED = "unconfirmed"  # the sent key's reference while a call is out, and after, if its worker died
# A delivery queued by the sweep is not queued again, and one 'sending' is not taken back, for
# ``outreach.stuck_after_seconds``: by then the worker that had it is gone.
SWEEP_LIMIT = 20_000
_deliveries = Delivery.__table__
_HELD = ("paused", "cancelled")


def stuck_after(runtime: Runtime) -> timedelta:
    return timedelta(seconds=runtime.config.outreach.stuck_after_seconds)


def sent_key(idempotency_key: str) -> str:
    return f"scrm:outreach:sent:{idempotency_key}"


def queued_key(delivery_id: int) -> str:
    return f"scrm:outreach:queued:{delivery_id}"


def recorded(raw: bytes) -> tuple[str | None, str]:
    """(channel, WeChat's reference) from a sent key's value ``"<channel> <ref>"``."""
    channel, _, ref = raw.decode().partition(" ")
    return (channel, ref) if ref else (None, channel)


@dataclass
class _Attempt:
    id: int
    campaign_id: int
    run_id: int
    customer_id: int
    key: str
    attempts: int
    variant: str = "main"
    content: dict[str, Any] = field(default_factory=dict)
    reach: channels.Reach = field(default_factory=channels.Reach)
    channels_left: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    channel: str | None = None
    chat_id: str | None = None  # a group message's group (customer_id is then None)
    coupon_template_id: int | None = None  # the coupon to issue once sent (campaign_coupons.py)
    coupon_note: str | None = None  # why it gets none


@job
def send_deliveries(runtime: Runtime, delivery_ids: list[int]) -> dict[str, int]:
    """Job: send the deliveries this worker can claim; returns a count per outcome."""

    outcomes = _Outcomes(runtime)
    _skip_cancelled(runtime, outcomes, delivery_ids)
    claimed = _claim(runtime, delivery_ids)
    if not claimed:
        return outcomes.counts
    refs = runtime.redis.mget([sent_key(a.key) for a in claimed])
    fresh = []
    for attempt, ref in zip(claimed, refs, strict=True):
        if ref is None:
            fresh.append(attempt)
        else:  # sent by a worker that died before telling the database
            attempt.channel, ref = recorded(ref)
            outcomes.sent(attempt, ref, known=True)
    to_groups = group_messages.prepare(runtime, outcomes, [a for a in fresh if a.chat_id is not None])
    fresh = [a for a in fresh if a.chat_id is None]
    _plan_channels(runtime, outcomes, fresh)
    invites = group_invites.prepare(runtime, outcomes, [a for a in fresh if a.channel == group_invites.CHANNEL])
    fresh = [a for a in fresh if a.channel not in (None, group_invites.CHANNEL)] + invites
    _Sending(runtime, outcomes).run(fresh + to_groups)
    outcomes.flush()
    return outcomes.counts


# --- Claiming and choosing ------------------------------------------------------------------


def _live_campaign():  # noqa: ANN202
    return exists().where(Campaign.id == Delivery.campaign_id, Campaign.status.notin_(_HELD))


def _claim(runtime: Runtime, delivery_ids: list[int]) -> list[_Attempt]:
    now = runtime.clock.now()
    with runtime.transaction() as db_session:
        rows = db_session.execute(
            update(Delivery).where(Delivery.id.in_(delivery_ids), Delivery.status == "planned",
                                   Delivery.due_at <= now, _live_campaign())
            .values(status="sending", claimed_at=now, attempts=Delivery.attempts + 1)
            .returning(Delivery.id, Delivery.campaign_id, Delivery.run_id, Delivery.customer_id,
                       Delivery.idempotency_key, Delivery.attempts, Delivery.variant, Delivery.chat_id)
            .execution_options(synchronize_session=False)).all()
        attempts = [_Attempt(r.id, r.campaign_id, r.run_id, r.customer_id, r.idempotency_key, r.attempts,
                             r.variant, chat_id=r.chat_id) for r in sorted(rows, key=lambda r: r.id)]
    return attempts


def _skip_cancelled(runtime: Runtime, outcomes: _Outcomes, delivery_ids: list[int]) -> None:
    cancelled = exists().where(Campaign.id == Delivery.campaign_id, Campaign.status == "cancelled")
    with runtime.transaction() as db_session:
        rows = db_session.execute(
            update(Delivery).where(Delivery.id.in_(delivery_ids), Delivery.status == "planned", cancelled)
            .values(status="skipped", reason="cancelled")
            .returning(Delivery.customer_id, Delivery.idempotency_key, Delivery.run_id)
            .execution_options(synchronize_session=False)).all()
        if rows:
            finishing.finish(db_session=db_session, run_ids={r.run_id for r in rows})
    if rows:
        outcomes.counts["skipped"] = len(rows)
        outcomes.release([(r.customer_id, r.idempotency_key) for r in rows])


def _plan_channels(runtime: Runtime, outcomes: _Outcomes, attempts: list[_Attempt]) -> None:
    if not attempts:
        return
    with runtime.transaction() as db_session:
        campaigns = {c.id: c for c in db_session.scalars(
            select(Campaign).where(Campaign.id.in_({a.campaign_id for a in attempts})))}
        reach = channels.reach_of(runtime=runtime, db_session=db_session,
                                  customer_ids=list({a.customer_id for a in attempts}), now=runtime.clock.now())
        campaign_coupons.check(db_session=db_session, campaigns=campaigns, attempts=attempts, now=runtime.clock.now())
    for attempt in attempts:
        campaign = campaigns[attempt.campaign_id]
        attempt.content = next((v["content"] for v in campaign.variants if v["name"] == attempt.variant),
                               campaign.content)
        attempt.reach = reach[attempt.customer_id]
        attempt.channels_left = [campaign.channel, *campaign.fallbacks]
        _next_channel(outcomes, attempt)


def _next_channel(outcomes: _Outcomes, attempt: _Attempt) -> bool:
    """Move the attempt to the next channel that reaches its customer; skipped or failed
    (when a channel already refused it) if none does."""
    channel, reasons = channels.choose(attempt.channels_left, attempt.reach, attempt.content)
    attempt.reasons.extend(reasons)
    if channel is None:  # the channel stored is the last that refused it, if any
        if any(reason.startswith("refused") for reason in attempt.reasons):
            outcomes.ended(attempt, "failed", "; ".join(attempt.reasons))
        else:
            outcomes.ended(attempt, "skipped", "no_channel: " + "; ".join(attempt.reasons))
        attempt.channel = None
        return False
    attempt.channel = channel
    attempt.channels_left = attempt.channels_left[attempt.channels_left.index(channel) + 1:]
    return True


# --- Sending --------------------------------------------------------------------------------


class _Sending:
    """One job's sends: one by one, per guide, or per mass chunk; refused ones move to their
    next channel and go round again."""

    def __init__(self, runtime: Runtime, outcomes: _Outcomes) -> None:
        self.runtime = runtime
        self.outcomes = outcomes
        self.throttled: dict[str, RateLimited] = {}  # by channel: the others carry on
        # One-by-one sends WeChat took since the last round trip to Redis: (key, "<channel> <ref>"),
        # written with the next call's keys, or when the run ends (a SET saved per delivery).
        self.answered: list[tuple[str, str]] = []

    def run(self, pending: list[_Attempt]) -> None:
        try:
            self._run(pending)
        finally:
            self.outcomes.confirm(self._take_answered())

    def _run(self, pending: list[_Attempt]) -> None:
        while pending:
            retry: list[_Attempt] = []
            for channel, group in channels.group_by(pending, lambda a: a.channel).items():
                if channel in ("work_single", group_invites.CHANNEL):  # a task per guide, run and variant
                    tasks = channels.group_by(group, lambda a: (a.reach.guide_userid, a.run_id, a.variant))
                    for (userid, _, _), share in tasks.items():
                        retry += self._send_group(share, lambda g, u=userid: self._work_single(u, g))
                elif channel == "work_group":  # a task per group owner, run and variant
                    tasks = channels.group_by(group, lambda a: (a.reach.guide_userid, a.run_id, a.variant))
                    for (owner, _, _), share in tasks.items():
                        retry += self._send_group(share, lambda g, u=owner: group_messages.send_task(
                            self.runtime, self.outcomes, u, g))
                elif channel == "mp_mass":  # a sendall per run and variant
                    for share in channels.group_by(group, lambda a: (a.run_id, a.variant)).values():
                        retry += self._send_group(share, self._mp_mass)
                else:
                    for attempt in group:
                        retry += self._send_group([attempt], self._one)
            pending = retry

    def _send_group(self, group: list[_Attempt], send: Any) -> list[_Attempt]:  # noqa: ANN401
        """Send, and sort the group's outcomes; returns the attempts to try on a fallback."""
        channel = group[0].channel
        if channel in self.throttled:
            self.outcomes.put_back(group, self.throttled[channel].retry_after)
            return []
        self.outcomes.calling(group, self._take_answered())
        try:
            refused = send(group)
        except RateLimited as exc:
            self.outcomes.not_sent(group)
            self.throttled[channel] = exc
            if exc.errcode is None:  # our own bucket, or the api paused: no try spent
                self.outcomes.put_back(group, exc.retry_after)
            else:
                self.outcomes.retry(group, exc)
            return []
        except AnswerLost as exc:  # it may have gone: counted sent, never sent again
            log.warning("%s: %d deliveries counted sent, unconfirmed", exc, len(group))
            for attempt in group:
                self.outcomes.sent(attempt, UNCONFIRMED, known=True)
            return []
        except (WeChatError, LockError) as exc:
            self.outcomes.not_sent(group)
            if _transient(exc):
                self.outcomes.retry(group, exc)
                return []
            refused = [(a, _describe(exc)) for a in group]
        except ValueError as exc:  # content the adapter will not send
            self.outcomes.not_sent(group)
            refused = [(a, str(exc)) for a in group]
        self.outcomes.not_sent([a for a, _ in refused])
        again = []
        for attempt, why in refused:
            attempt.reasons.append(f"refused {attempt.channel}: {why}")
            if _next_channel(self.outcomes, attempt):
                again.append(attempt)
        return again

    def _one(self, group: list[_Attempt]) -> list[tuple[_Attempt, str]]:
        (attempt,) = group
        content = campaign_coupons.content_for(self.runtime, group)
        if attempt.channel == "mp_custom":
            ref = channels.send_mp_custom(self.runtime, attempt.reach.openid, content)
        else:
            ref = channels.send_mp_template(self.runtime, attempt.reach.openid, content)
        self.outcomes.sent(attempt, ref, answered=self.answered)
        return []

    def _work_single(self, userid: str, group: list[_Attempt]) -> list[tuple[_Attempt, str]]:
        task = channels.send_work_single(self.runtime, userid, [a.reach.external_userid for a in group],
                                         campaign_coupons.content_for(self.runtime, group))
        failed = set(task.failed_external_userids)
        handed = [a for a in group if a.reach.external_userid not in failed]
        self.outcomes.task(task.msgid, "single", userid, handed)  # first: a flush on the way takes it along
        for attempt in handed:
            self.outcomes.sent(attempt, task.msgid)
        return [(a, "not the guide's WeCom contact") for a in group if a.reach.external_userid in failed]

    def _take_answered(self) -> list[tuple[str, str]]:
        answered, self.answered = self.answered, []
        return answered

    def _mp_mass(self, group: list[_Attempt]) -> list[tuple[_Attempt, str]]:
        ref = channels.send_mp_mass(self.runtime, run_id=group[0].run_id, chunk=group[0].id,
                                    openids=[a.reach.openid for a in group],
                                    content=campaign_coupons.content_for(self.runtime, group))
        channels.count_mass_sends(self.runtime, [a.customer_id for a in group], self.runtime.clock.now())
        for attempt in group:
            self.outcomes.sent(attempt, ref)
        return []


def _transient(exc: Exception) -> bool:
    if isinstance(exc, LockError):
        return True
    code = exc.errcode  # type: ignore[attr-defined]
    return code is None or code in TOKEN_ERRCODES or code in RATE_LIMIT_ERRCODES or code in BUSY_ERRCODES


_ERRMSG = re.compile(r"(errcode -?\d+)[^;]*")
_NETWORK = re.compile(r"errcode None[^;]*")


def coded(reason: str) -> str:
    """The reason as recorded on the delivery: WeChat's codes without their messages, which
    carry openids and request ids (``refused mp_custom: errcode 45015``; ``errcode None``, a
    network failure, as ``unreachable``), so that the results group deliveries by it; the whole
    text stays in ``last_error``."""
    return _ERRMSG.sub(r"\1", _NETWORK.sub("unreachable", reason))


def _describe(exc: Exception) -> str:
    if isinstance(exc, WeChatError):
        return f"errcode {exc.errcode} {exc.errmsg}".strip()
    return str(exc)


# --- Outcomes -------------------------------------------------------------------------------


class _Outcomes:
    """What became of each delivery, written in batches (a sent one's Redis key first)."""

    FLUSH_EVERY = 50

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.rows: list[dict[str, Any]] = []
        self.coupons: list[_Attempt] = []
        self.tasks: list[dict[str, Any]] = []  # WeCom tasks created (wecom_tasks.py)
        self.counts: dict[str, int] = {}
        self.ended_runs: set[int] = set()  # runs with a delivery made final since the last flush
        settings = runtime.config.queue
        self.tries = 1 + settings.max_retries
        self.backoff = settings.backoff_seconds or [0]

    def sent(self, attempt: _Attempt, ref: str, *, known: bool = False,
             answered: list[tuple[str, str]] | None = None) -> None:
        """WeChat took it: the key first, then the row (``known``: the key was there;
        ``answered``: the key is written by the caller with its next round trip, see :meth:`calling`)."""
        ref = str(ref)[:64]
        if answered is not None:
            answered.append((sent_key(attempt.key), f"{attempt.channel} {ref}"))
        elif not known:
            self.runtime.redis.set(sent_key(attempt.key), f"{attempt.channel} {ref}", ex=SENT_KEY_SECONDS)
        used = {"channel": attempt.channel} if attempt.channel else {}
        if attempt.coupon_template_id or attempt.coupon_note:
            self.coupons.append(attempt)  # issued in the flush that marks it sent
        self._row(attempt, "sent", wechat_ref=ref, sent_at=self.runtime.clock.now(), **used)

    def task(self, msgid: str, chat_type: str, sender: str, handed: list[_Attempt]) -> None:
        """A WeCom task the member now has to send: recorded with its deliveries' rows."""
        self.tasks.append(wecom_tasks.task_row(msgid=msgid, chat_type=chat_type, sender=sender, attempts=handed,
                                               now=self.runtime.clock.now()))

    def calling(self, group: list[_Attempt], answered: Sequence[tuple[str, str]] = ()) -> None:
        """About to call WeChat: each key says so (:data:`UNCONFIRMED`) until WeChat answers. The
        ``answered`` keys (earlier calls WeChat took) get their reference in the same round trip:
        until then they say :data:`UNCONFIRMED`, which counts as sent all the same."""
        pipe = self.runtime.redis.pipeline(transaction=False)
        for key, value in answered:
            pipe.set(key, value, ex=SENT_KEY_SECONDS)
        for attempt in group:
            pipe.set(sent_key(attempt.key), f"{attempt.channel} {UNCONFIRMED}", ex=SENT_KEY_SECONDS)
        pipe.execute()

    def confirm(self, answered: list[tuple[str, str]]) -> None:
        """The ``answered`` keys get their reference (the run is over: no next call to go with)."""
        if answered:
            self.calling([], answered)

    def not_sent(self, group: list[_Attempt]) -> None:
        """WeChat answered, and these did not go: their keys go (they may be sent again)."""
        if group:
            self.runtime.redis.delete(*[sent_key(a.key) for a in group])

    def ended(self, attempt: _Attempt, status: str, reason: str, error: str | None = None) -> None:
        used = {"channel": attempt.channel} if attempt.channel else {}
        self._row(attempt, status, reason=coded(reason)[:64], last_error=error or reason, **used)
        self.release([(attempt.customer_id, attempt.key)])

    def retry(self, group: list[_Attempt], exc: Exception) -> None:
        error = _describe(exc)
        for attempt in group:
            if attempt.attempts >= self.tries:
                self.ended(attempt, "dead", f"{attempt.channel}: {error}", error)
                continue
            wait = self.backoff[min(attempt.attempts, len(self.backoff)) - 1]
            if isinstance(exc, RateLimited):
                wait = max(wait, exc.retry_after)
            self._back(attempt, wait, error, attempts=attempt.attempts)

    def put_back(self, group: list[_Attempt], wait: float) -> None:
        """Untried (the API is throttled): planned again, the try not counted."""
        for attempt in group:
            self._back(attempt, wait, "throttled, not tried", attempts=attempt.attempts - 1)

    def release(self, slots: list[tuple[int, str]]) -> None:
        cap = FrequencyCap(self.runtime.redis, self.runtime.config) if slots else None
        for customer_id, key in slots:
            if customer_id is not None:  # a group holds no slot
                cap.release(customer_id, key)

    def _back(self, attempt: _Attempt, wait: float, error: str, *, attempts: int) -> None:
        due = self.runtime.clock.now() + timedelta(seconds=wait)
        self._row(attempt, "planned", due_at=due, last_error=error, attempts=attempts)
        self.runtime.redis.delete(queued_key(attempt.id))

    def _row(self, attempt: _Attempt, status: str, **values: Any) -> None:  # noqa: ANN401
        self.counts[status] = self.counts.get(status, 0) + 1
        if status != "planned":
            self.ended_runs.add(attempt.run_id)
        self.rows.append({"b_id": attempt.id, "status": status, **values})
        if len(self.rows) >= self.FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        """One statement per set of columns, all in one transaction; only rows still
        ``sending`` (this worker's) are written. Their runs (and once campaigns) with nothing
        left to send are done in the same transaction (scrm/outreach/finishing.py)."""
        if not self.rows and not self.tasks:
            return
        by_shape = channels.group_by(self.rows, lambda r: tuple(sorted(r)))
        with self.runtime.transaction() as db_session:
            campaign_coupons.issue_for_sent(runtime=self.runtime, db_session=db_session, sent=self.coupons)
            wecom_tasks.record(db_session=db_session, rows=self.tasks)
            connection = db_session.connection()
            for shape, rows in by_shape.items():
                columns = {name: bindparam(f"v_{name}") for name in shape if name != "b_id"}
                statement = (_deliveries.update()
                             .where(and_(_deliveries.c.id == bindparam("b_id"), _deliveries.c.status == "sending"))
                             .values(**columns))
                connection.execute(statement, [{("b_id" if k == "b_id" else f"v_{k}"): v for k, v in r.items()}
                                               for r in rows])
            finishing.finish(db_session=db_session, run_ids=self.ended_runs)
        self.rows, self.coupons, self.tasks, self.ended_runs = [], [], [], set()
