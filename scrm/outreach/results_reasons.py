"""Why (原因): each failed, dead, skipped or waiting delivery of a campaign by its reason, in
the manager's words (Chinese first), with the raw code beside, counted; waiting ones with when
they will go (SPEC §11 "Campaign composer").

The sender and planner record reasons as short machine text (scrm/outreach/sender.py):
``capped``, ``quiet_hours``, ``cancelled``, ``no_channel: mp_custom outside 48h window; …``,
``refused mp_custom: errcode 45015`` (WeChat's message in ``last_error``), ``mp_custom:
errcode 45009`` (dead after retries), ``mp_custom: unreachable``,
``work_group group dismissed``. :func:`classify` turns one into a :class:`Reason`; rows that
read the same are folded together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from scrm.clock import as_utc

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

OUTCOMES = ("failed", "dead", "skipped", "waiting")
OUTCOME_WORDS = {"failed": "失败 failed", "dead": "重试后放弃 gave up after retries", "skipped": "跳过 skipped",
                 "waiting": "等待 waiting"}

# WeChat's and WeCom's error codes a send meets, in a manager's words (Chinese, English).
ERRCODES: dict[int, tuple[str, str]] = {
    -1: ("微信系统繁忙", "WeChat was busy"),
    40001: ("access_token 无效", "access token refused"),
    40003: ("无效的 openid（不是本公众号的粉丝）", "invalid openid (not this account's follower)"),
    40007: ("无效的素材 media_id", "invalid media_id"),
    40037: ("无效的模板 ID", "invalid template id"),
    41030: ("小程序页面路径无效", "invalid mini-program page"),
    41048: ("没有可发送的客户", "no customer to send to"),
    42001: ("access_token 已过期", "access token expired"),
    43004: ("用户未关注公众号", "not following the account"),
    43101: ("用户拒绝接收消息", "the customer refused messages"),
    45009: ("接口调用次数超过每日上限", "daily API quota reached"),
    45011: ("接口调用太频繁", "API called too often"),
    45015: ("超出48小时可发消息的时间", "outside the 48-hour window"),
    45028: ("本月群发次数已用完", "no mass sends left this month"),
    45033: ("企业微信接口并发超限", "too many concurrent WeCom calls"),
    45047: ("客服消息已达下发上限", "customer-service message limit reached"),
    48001: ("公众号没有该接口权限", "the account may not use this API"),
    60111: ("企业微信成员不存在", "WeCom member not found"),
    84061: ("不是该成员的外部联系人", "not the member's external contact"),
}

# What the sender and planner record, read as words. Keys are matched as substrings of one part.
PHRASES: tuple[tuple[str, str, str, str], ...] = (
    # (found in the text, code, Chinese, English)
    ("outside 48h window", "outside_48h", "超出48小时互动窗口", "outside the 48-hour window"),
    ("not following", "unsubscribed", "未关注或已取关公众号", "not following (unsubscribed)"),
    ("quota used", "mass_quota", "本月4次群发已用完", "4 mass sends used this month"),
    ("no WeCom", "no_wecom", "不是企业微信客户", "not a WeCom contact"),
    ("no guide", "no_guide", "没有绑定导购", "no guide bound"),
    ("not the guide's WeCom contact", "not_contact", "不是导购的企业微信好友", "not the guide's WeCom contact"),
    ("cannot carry", "cannot_carry", "该渠道不能发送这种内容", "the channel cannot carry this content"),
    ("needs template content", "needs_template", "模板消息渠道需要模板内容", "template channel needs a template"),
    ("reaches groups, not customers", "groups_only", "群发渠道只发客户群", "that channel reaches groups only"),
    ("unknown group", "unknown_group", "未同步的客户群", "group not synced"),
    ("group dismissed", "group_dismissed", "客户群已解散", "group dismissed"),
    ("owner left", "owner_left", "群主已离职", "the group's owner left"),
    ("monthly limit", "group_monthly_limit", "本月群发次数已满", "the group's monthly limit reached"),
    ("code retired", "code_retired", "群活码已停用", "the group live code is retired"),
)
SKIPS = {"capped": ("超出每周发送上限", "weekly cap reached"), "quiet_hours": ("免打扰时段", "quiet hours"),
         "cancelled": ("活动已取消", "campaign cancelled"), "unknown": ("原因未记录", "no reason recorded")}
WAITS = {"quiet_hours": ("免打扰时段结束后发送", "goes when quiet hours end"),
         "capped": ("因每周上限顺延", "deferred by the weekly cap"),
         "retry": ("出错后等待重试", "retrying after an error"), "sending": ("发送中", "being sent"),
         "queued": ("排队发送", "queued to send now"), "scheduled": ("定时发送", "scheduled")}
_ERRCODE = re.compile(r"errcode (-?\d+)")


@dataclass(frozen=True)
class Reason:
    outcome: str  # failed, dead, skipped, waiting
    code: str  # the raw code: "45015", "capped", "no_channel" …
    zh: str
    en: str
    count: int = 0
    raw: str = ""  # one of the recorded texts, as the sender wrote it
    due_from: datetime | None = None  # waiting: the first and last moment they go
    due_to: datetime | None = None

    @property
    def words(self) -> str:
        return f"{self.zh} {self.en}"


def classify(status: str, reason: str | None, last_error: str | None, *, retrying: bool, due_now: bool) -> Reason:
    """One recorded outcome in words (count 0: :func:`fold` adds them up)."""
    if status in ("planned", "sending"):
        key = ("sending" if status == "sending" else "retry" if retrying else reason if reason in WAITS
               else "queued" if due_now else "scheduled")
        zh, en = WAITS[key]
        return Reason("waiting", key, zh, en, raw=(last_error if key == "retry" else reason) or "")
    # The reason is cut at 64 characters; the error text is whole (a skip's only when it says the same).
    text = (last_error or reason or "") if status in ("failed", "dead") else reason or ""
    if text.startswith("no_channel") and (last_error or "").startswith("no_channel"):
        text = last_error or text
    if status == "skipped":
        if text.startswith("no_channel"):
            parts = [_phrase(p) for p in text.partition(":")[2].split(";") if p.strip()]
            return Reason("skipped", "no_channel", "无可用渠道：" + "；".join(p[1] for p in parts),
                          "no channel reaches: " + "; ".join(p[2] for p in parts), raw=text)
        if text in SKIPS or not text:
            zh, en = SKIPS[text or "unknown"]
            return Reason("skipped", text or "unknown", zh, en, raw=text)
        code, zh, en = _phrase(text)
        return Reason("skipped", code, zh, en, raw=text)
    # failed (refused for good, after every fallback) or dead (transient errors until the last try)
    last = [p.strip() for p in text.split(";") if p.strip()]
    final = next((p for p in reversed(last) if p.startswith("refused")), last[-1] if last else "")
    found = _ERRCODE.search(final)
    if found:
        errcode = int(found.group(1))
        zh, en = ERRCODES.get(errcode, ("微信拒绝了发送", "WeChat refused it"))
        code = str(errcode)
    elif status == "dead" and ("errcode None" in final or "unreachable" in final or not final):
        code, zh, en = "network", "连不上微信", "WeChat could not be reached"
    else:
        code, zh, en = _phrase(final)
    return Reason(status, code, zh, en, raw=last_error or text)


def unreached_words(text: str) -> tuple[str, str]:
    """Why a channel does not reach a customer (``channels.unreachable``'s text), in words."""
    _, zh, en = _phrase(text)
    return zh, en


def _phrase(text: str) -> tuple[str, str, str]:
    for found, code, zh, en in PHRASES:
        if found in text:
            return code, zh, en
    return "other", "其他原因", text.strip() or "unknown"


def fold(rows: list[tuple[Reason, int, datetime | None, datetime | None]]) -> tuple[Reason, ...]:
    """Reasons that read the same added up; by outcome (failed, dead, skipped, waiting), then
    the most frequent first."""
    merged: dict[tuple[str, str, str], Reason] = {}
    for reason, n, first, last in rows:
        key = (reason.outcome, reason.code, reason.zh)
        had = merged.get(key)
        if had is None:
            merged[key] = Reason(reason.outcome, reason.code, reason.zh, reason.en, n, reason.raw,
                                 _utc(first) if reason.outcome == "waiting" else None,
                                 _utc(last) if reason.outcome == "waiting" else None)
            continue
        merged[key] = Reason(had.outcome, had.code, had.zh, had.en, had.count + n, had.raw,
                             _earliest(had.due_from, _utc(first)) if had.outcome == "waiting" else None,
                             _latest(had.due_to, _utc(last)) if had.outcome == "waiting" else None)
    return tuple(sorted(merged.values(), key=lambda r: (OUTCOMES.index(r.outcome), -r.count, r.code)))


def local(moment: datetime | None, zone: ZoneInfo) -> str:
    return f"{as_utc(moment).astimezone(zone):%Y-%m-%d %H:%M}" if moment else ""


def when(reason: Reason, zone: ZoneInfo) -> str:
    """When waiting ones go, in local time: one moment, or the first and the last."""
    first, last = local(reason.due_from, zone), local(reason.due_to, zone)
    if not first:
        return ""
    return first if first == last else f"{first} – {last}"


def as_json(reasons: tuple[Reason, ...], zone: ZoneInfo) -> list[dict[str, Any]]:
    return [{"outcome": r.outcome, "code": r.code, "label": r.zh, "label_en": r.en, "count": r.count, "raw": r.raw,
             "due_from": r.due_from.isoformat() if r.due_from else None,
             "due_to": r.due_to.isoformat() if r.due_to else None, "when": when(r, zone)} for r in reasons]


def _utc(moment: datetime | None) -> datetime | None:
    return as_utc(moment) if moment is not None else None


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return min(x for x in (a, b) if x is not None) if a or b else None


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return max(x for x in (a, b) if x is not None) if a or b else None
