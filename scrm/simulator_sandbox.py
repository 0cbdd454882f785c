"""The simulated customers in the sandbox's WeChat world (SPEC §10), as the phone sandbox puts
its customer there (scrm/sandbox/phone.py ``_register_with_fake_wechat``).

Real WeChat knows a follower before it tells the server of their follow; the sandbox's world
only knows the customers someone put there. Without this, every message the server later
sends a simulated customer (a campaign, a welcome, a coupon notice) fails with 40003 invalid
openid. So when ``scrm simulate`` loads a sandbox server whose database it shares (it runs
with that server's configuration: ``scrm demo``'s history, or ``scrm simulate`` without
``--token``), each callback first changes the world as the customer's act did, as of the
callback's CreateTime:

- a follow adds the follower (subscribed then; the follow opens the 48 h window), an unfollow
  unsubscribes them; a text, a click or a scan opens a new 48 h window (WeChat's rule, as
  the phone sandbox's ``OPENS_WINDOW``);
- a WeCom add (``add_external_contact``, ``add_half_external_contact``) makes the customer
  the member's contact (with the code's ``state``).

The hook lives here, beside the simulator, rather than in the sandbox's callback handling:
the sandbox plays WeChat's API, and a callback reaching the server is the server's input, not
something WeChat's world learns from; the one who plays the customer (the phone page, the
simulator) is the one who acts in WeChat's world.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from scrm.sandbox import world
from scrm.simulator import PlannedCallback

if TYPE_CHECKING:
    import redis as redis_lib

OPENS_WINDOW = ("text", "click", "scan", "follow")
WORK_ADDS = ("add_external_contact", "add_half_external_contact")


def registrar(redis: redis_lib.Redis) -> Callable[[PlannedCallback, datetime], None]:
    """``before_send`` for :class:`scrm.simulator_load.Simulator`: the world changes of one
    callback, in the installed runtime's database (the server's)."""

    def before_send(cb: PlannedCallback, at: datetime) -> None:
        if cb.channel == "mp":
            if cb.kind == "unfollow":
                world.unfollow(redis, cb.user)
            elif cb.kind == "follow":
                world.add_follower(redis, cb.user, last_message_at=at, at=at)
            elif cb.kind in OPENS_WINDOW:
                world.touch_follower(redis, cb.user, at=at)
        elif cb.channel == "work" and cb.kind in WORK_ADDS and cb.get("userid"):
            world.add_external_contact(redis, cb.user, userid=cb.get("userid"), state=cb.get("state"), at=at)

    return before_send
