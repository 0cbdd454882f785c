"""WeCom JS-SDK (企业微信 JS-SDK) on the guide's pages: the ``wx.config`` a page needs before it
may call ``wx.scanQRCode``.

The signature is WeChat's: sort ``jsapi_ticket``, ``noncestr``, ``timestamp`` and ``url`` by
name, join them as ``key=value&…`` with the values as they are (no URL escaping), SHA-1 the
result. ``url`` is the page's address as the browser has it, without ``#`` and what follows.
The ticket is the corp's (``get_jsapi_ticket``), cached in Redis by :class:`WorkClient`.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrm.runtime import Runtime

SCRIPT = "https://res.wx.qq.com/open/js/jweixin-1.2.0.js"
API_LIST = ("scanQRCode",)


@dataclass(frozen=True)
class PageConfig:
    """What ``wx.config`` takes, for one page load."""

    app_id: str
    timestamp: int
    nonce_str: str
    signature: str
    api_list: tuple[str, ...] = API_LIST


def signature(*, jsapi_ticket: str, noncestr: str, timestamp: int, url: str) -> str:
    fields = {"jsapi_ticket": jsapi_ticket, "noncestr": noncestr, "timestamp": str(timestamp),
              "url": url.split("#", 1)[0]}
    signed = "&".join(f"{name}={fields[name]}" for name in sorted(fields))
    return hashlib.sha1(signed.encode("utf-8")).hexdigest()  # noqa: S324 - WeChat's algorithm, not ours


def page_config(runtime: Runtime, *, url: str) -> PageConfig:
    """``wx.config`` for the page at ``url``; asks WeCom for the ticket when none is cached."""
    ticket = runtime.work.jsapi_ticket()
    nonce, timestamp = secrets.token_urlsafe(12), int(runtime.clock.now().timestamp())
    return PageConfig(app_id=runtime.config.wechat.work.corp_id, timestamp=timestamp, nonce_str=nonce,
                      signature=signature(jsapi_ticket=ticket, noncestr=nonce, timestamp=timestamp, url=url))
