"""What the campaign composer (活动编排, SPEC §11) works out for a manager: how many of an
audience each channel reaches now under WeChat's rules, the cron line of a weekly or monthly
repeat chosen with pickers, and an image checked and uploaded to WeChat as permanent material.

The words a page shows for these live with the pages (scrm/outreach/composer_words.py); here are
the numbers and the rules, from the same reach the sender uses (scrm/outreach/channels.py), so
what the composer promises is what the planner will find.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scrm.errors import InvalidInput
from scrm.outreach import campaigns, channels

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

REACH_CHUNK = 1000  # customers read at a time: reach_of's IN lists and MGET stay small
# Permanent image material: WeChat takes bmp, png, jpeg and gif up to 10 MB (WECHAT-NOTES).
IMAGE_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/bmp": ".bmp"}
IMAGE_MAX_BYTES = 10 * 1024 * 1024
_MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"GIF8", "image/gif"),
          (b"BM", "image/bmp"))
WEEKDAYS = (1, 2, 3, 4, 5, 6, 7)  # Monday … Sunday, as the pickers number them (cron: 7 = Sunday)
LAST_MONTH_DAY = 28  # every month has it: a repeat on the 31st would skip most months silently
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_WEEKLY = re.compile(r"^(\d{1,2}) (\d{1,2}) \* \* ([1-7](?:,[1-7])*)$")
_MONTHLY = re.compile(r"^(\d{1,2}) (\d{1,2}) (\d{1,2}) \* \*$")


@dataclass(frozen=True)
class ChannelReach:
    """An audience as each channel sees it now (customers, or groups for ``work_group``)."""

    audience: int  # customers in the audience (groups, for a group message)
    reachable: int  # reached by the channel or one of its fallbacks
    by_channel: dict[str, int] = field(default_factory=dict)  # each channel on its own
    following: int = 0  # follow the Official Account
    in_window: int = 0  # of them, wrote, clicked, scanned or followed in the last 48 h
    mass_left: int = 0  # following customers with mass sends left this month
    mass_used_up: int = 0  # following customers who had their 4 this month
    wecom_with_guide: int = 0  # WeCom customers with an active guide
    guides: int = 0  # guides who will be asked to confirm a task
    unreached: dict[str, int] = field(default_factory=dict)  # why the rest are not reached, first reason

    def as_json(self) -> dict[str, Any]:
        return {"audience": self.audience, "reachable": self.reachable, "by_channel": self.by_channel,
                "following": self.following, "in_window": self.in_window, "mass_left": self.mass_left,
                "mass_used_up": self.mass_used_up, "mass_per_month": channels.MASS_PER_MONTH,
                "wecom_with_guide": self.wecom_with_guide, "guides": self.guides, "unreached": self.unreached}


def reach(*, runtime: Runtime, db_session: Session, audience: dict[str, Any], channel: str,
          fallbacks: list[str], content_kind: str, now: datetime) -> ChannelReach:
    """How many of ``audience`` the channel (then its fallbacks) reaches now, and the numbers
    behind each channel's rule. The audience is checked first (:class:`campaigns.BadAudience`)."""
    campaigns.check_audience(db_session=db_session, audience=audience, now=now)
    if audience.get("groups"):
        count = len(audience["groups"])
        return ChannelReach(count, count if channel == "work_group" else 0, {"work_group": count})
    ids = list(db_session.scalars(campaigns.audience_ids(db_session=db_session, audience=audience, now=now)))
    content = {"kind": content_kind}
    tried = [channel, *[c for c in fallbacks if c != channel]]
    by_channel = dict.fromkeys(channels.SENDABLE, 0)
    counts = {"reachable": 0, "following": 0, "in_window": 0, "mass_left": 0, "mass_used_up": 0, "wecom": 0}
    unreached: dict[str, int] = {}
    guides: set[str] = set()
    for start in range(0, len(ids), REACH_CHUNK):
        found = channels.reach_of(runtime=runtime, db_session=db_session, customer_ids=ids[start:start + REACH_CHUNK],
                                  now=now)
        for one in found.values():
            for name in by_channel:
                if channels.unreachable(name, one, content) is None:
                    by_channel[name] += 1
            chosen, reasons = channels.choose(tried, one, content)
            if chosen is not None:
                counts["reachable"] += 1
            elif reasons:
                unreached[reasons[0]] = unreached.get(reasons[0], 0) + 1
            if one.openid:
                counts["following"] += 1
                counts["in_window"] += one.in_window
                counts["mass_left" if one.mass_this_month < channels.MASS_PER_MONTH else "mass_used_up"] += 1
            if one.external_userid and one.guide_userid:
                counts["wecom"] += 1
                guides.add(one.guide_userid)
    return ChannelReach(len(ids), counts["reachable"], by_channel, counts["following"], counts["in_window"],
                        counts["mass_left"], counts["mass_used_up"], counts["wecom"], len(guides), unreached)


# ---- repeats from pickers -------------------------------------------------------------------

def weekly_cron(weekdays: list[str], at: str) -> str:
    """``"30 9 * * 1,5"`` for Mondays and Fridays at 09:30 (local time); :class:`InvalidInput`
    naming the picker when a day or the time does not read."""
    days = sorted({_weekday(d) for d in weekdays})
    if not days:
        raise InvalidInput("schedule.weekdays", "choose at least one day of the week")
    hour, minute = _time(at)
    return f"{minute} {hour} * * {','.join(str(d) for d in days)}"


def monthly_cron(day: str, at: str) -> str:
    """``"0 10 15 * *"`` for the 15th of every month at 10:00 (local time)."""
    try:
        number = int(day)
    except ValueError:
        number = 0
    if not 1 <= number <= LAST_MONTH_DAY:
        raise InvalidInput("schedule.monthday", f"choose a day of the month from 1 to {LAST_MONTH_DAY}")
    hour, minute = _time(at)
    return f"{minute} {hour} {number} * *"


def pickers_of(cron: str) -> dict[str, Any] | None:
    """The pickers that give ``cron`` back: ``{"repeat": "weekly", "weekdays", "time"}`` or
    ``{"repeat": "monthly", "monthday", "time"}``; None for a line only the API could write."""
    weekly, monthly = _WEEKLY.match(cron or ""), _MONTHLY.match(cron or "")
    found = weekly or monthly
    if not found or int(found.group(1)) > 59 or int(found.group(2)) > 23:
        return None
    time = f"{int(found.group(2)):02d}:{int(found.group(1)):02d}"
    if weekly:
        return {"repeat": "weekly", "weekdays": [str(int(d)) for d in weekly.group(3).split(",")], "time": time}
    if not 1 <= int(monthly.group(3)) <= LAST_MONTH_DAY:
        return None
    return {"repeat": "monthly", "monthday": str(int(monthly.group(3))), "time": time}


def _weekday(text: str) -> int:
    if text not in {str(d) for d in WEEKDAYS}:
        raise InvalidInput("schedule.weekdays", "days of the week are 1 (Monday) to 7 (Sunday)")
    return int(text)


def _time(text: str) -> tuple[int, int]:
    found = _TIME.match(text or "")
    if not found:
        raise InvalidInput("schedule.time", "choose a time of day, HH:MM")
    return int(found.group(1)), int(found.group(2))


# ---- images ---------------------------------------------------------------------------------

class ImageRefused(InvalidInput):
    """An image WeChat would not take: not bmp/png/jpeg/gif, empty or over 10 MB."""


def check_image(data: bytes) -> str:
    """The image's type read from its first bytes (a file's name and the browser's word can lie)."""
    if not data:
        raise ImageRefused("image", "choose an image file")
    if len(data) > IMAGE_MAX_BYTES:
        raise ImageRefused("image", f"images are at most {IMAGE_MAX_BYTES // (1024 * 1024)} MB")
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    raise ImageRefused("image", "images are JPG, PNG, GIF or BMP")


def upload_image(*, runtime: Runtime, data: bytes, filename: str) -> str:
    """Upload an image to WeChat as permanent material (素材) and return its ``media_id``."""
    kind = check_image(data)
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", filename.rsplit(".", 1)[0])[:40] or "image"
    return runtime.mp.upload_image(f"{stem}{IMAGE_TYPES[kind]}", data, kind)

