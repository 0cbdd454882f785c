"""Outbound call quotas, as data: how fast we let ourselves call each WeChat API.

Each quota is a token bucket (see :mod:`scrm.wechat.ratelimit`): ``burst`` calls may go at
once, then ``per_minute`` calls a minute. A bucket that starts full can pass
``burst + per_minute`` calls in one 60-second window, so where WeChat publishes a hard
per-minute limit the two figures add up to it:

- WeCom: 10,000 calls a minute and 150,000 an hour per corp per API. 2,500 a minute is
  150,000 an hour; a burst of 7,500 on top keeps any minute at 10,000 or below.
- MP mass send (``message/mass/sendall``): 60 requests a minute → 30 + 30.
- Other MP APIs have daily quotas per account (接口权限 in the MP console), not per-minute
  ones; the figures below only spread a burst out. Set the account's own figures in
  ``wechat.rate_limits``.

``wechat.rate_limits`` in the config maps an API to calls per minute (burst = the same
figure) and wins over these. A key is ``"<api>"`` (both channels), ``"mp:<api>"`` or
``"work:<api>"``; ``"*"``, ``"mp:*"`` and ``"work:*"`` replace a channel's default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Quota:
    per_minute: int
    burst: int | None = None

    def __post_init__(self) -> None:
        if self.per_minute < 1 or (self.burst is not None and self.burst < 1):
            raise ValueError(f"a quota needs at least 1 call a minute, got {self}")

    @property
    def capacity(self) -> int:
        return self.burst or self.per_minute


DEFAULTS: Mapping[str, Quota] = {
    "mp": Quota(per_minute=600, burst=600),
    "work": Quota(per_minute=2_500, burst=7_500),
}

QUOTAS: Mapping[str, Mapping[str, Quota]] = {
    "mp": {
        "message/mass/sendall": Quota(per_minute=30, burst=30),
        "message/custom/send": Quota(per_minute=300, burst=600),
        "message/template/send": Quota(per_minute=300, burst=600),
        "qrcode/create": Quota(per_minute=300, burst=300),
        "tags/create": Quota(per_minute=60, burst=60),
        "tags/members/batchtagging": Quota(per_minute=300, burst=300),
        "tags/members/batchuntagging": Quota(per_minute=300, burst=300),
        "user/info": Quota(per_minute=1_200, burst=1_200),
    },
    # transfer_customer moves up to 100 customers a call; the rest use the corp default.
    "work": {
        "externalcontact/transfer_customer": Quota(per_minute=600, burst=600),
    },
}


def quota_for(channel: str, api: str, overrides: Mapping[str, int] | None = None) -> Quota:
    """The quota for ``api`` on ``channel`` ("mp" or "work"), config overrides first."""
    overrides = overrides or {}
    for key in (f"{channel}:{api}", api):
        if key in overrides:
            return Quota(per_minute=int(overrides[key]))
    if api in QUOTAS.get(channel, {}):
        return QUOTAS[channel][api]
    for key in (f"{channel}:*", "*"):
        if key in overrides:
            return Quota(per_minute=int(overrides[key]))
    return DEFAULTS[channel]
