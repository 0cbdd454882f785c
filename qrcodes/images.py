"""A code's printable image: the card for one code, the poster sheet for a store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qrcodes.poster import render_sheet
from qrcodes.render import CodeCard, render_card_png
from scrm.texts import say

if TYPE_CHECKING:
    from qrcodes.models import ChannelCode
    from qrcodes.render import CodeCard



class CodeNotReady(Exception):
    """WeChat has not made the code yet (or refused to): the message says which."""


def code_card(code: ChannelCode, *, title: str, subtitle: str, locale: str = "zh_CN") -> CodeCard:
    """The printable card; its caption (what to do) in ``locale``, as customers read it."""
    if code.status not in ("ready", "retired"):
        detail = f": {code.error}" if code.error else ""
        raise CodeNotReady(f"the {code.channel} code is {code.status}{detail}")
    if code.channel == "mp":
        return CodeCard(title=title, subtitle=subtitle, caption=say(locale, "qr.caption.mp"), content=code.content)
    return CodeCard(title=title, subtitle=subtitle, caption=say(locale, "qr.caption.work"), image=code.image)


def card_png(code: ChannelCode, *, title: str, subtitle: str, locale: str = "zh_CN") -> bytes:
    return render_card_png(code_card(code, title=title, subtitle=subtitle, locale=locale))


def sheet(cards: list[CodeCard], *, title: str, fmt: str) -> bytes:
    return render_sheet(cards, title=title, fmt=fmt)
