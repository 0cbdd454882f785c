"""The printable images of a store's and a guide's codes (门店码 / 导购码): one card, or a
store's poster sheet of every active guide's card. A code WeChat has not made yet is a
:class:`~guides.service.ConflictError` naming why; a sheet leaves such codes out and says whose."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from guides.service import ConflictError, get_guide, get_store, list_guides
from qrcodes.images import CodeNotReady, card_png, code_card, sheet
from qrcodes.service import codes_of
from scrm.texts import say

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from qrcodes.models import ChannelCode


@dataclass(frozen=True)
class PosterSheet:
    content: bytes
    missing: list[str]  # whose code was not ready, left off the sheet


def store_card_png(*, db_session: Session, code: str, channel: str, locale: str = "zh_CN") -> bytes:
    store = get_store(db_session=db_session, code=code)
    found = codes_of(db_session=db_session, store_id=store.id).get(channel)
    if found is None:
        raise ConflictError(f"store {code} has no {channel} code yet (WeCom's needs a guide first)")
    return _card_png(found, title=store.name, subtitle=store.address or say(locale, "qr.store_code"), locale=locale)


def guide_card_png(*, db_session: Session, code: str, channel: str, locale: str = "zh_CN") -> bytes:
    guide = get_guide(db_session=db_session, code=code)
    found = codes_of(db_session=db_session, guide_id=guide.id).get(channel)
    if found is None:
        raise ConflictError(f"guide {code} has no {channel} code")
    return _card_png(found, title=guide.name, subtitle=guide.store.name, locale=locale)


def store_poster(*, db_session: Session, code: str, channel: str, fmt: str, locale: str = "zh_CN") -> PosterSheet:
    """Every active guide's code (and the store's own) on A4 pages, for one print run; the words in ``locale``."""
    store = get_store(db_session=db_session, code=code)
    cards, missing = [], []
    owners = [(store.name, say(locale, "qr.store_code"), codes_of(db_session=db_session, store_id=store.id))]
    owners += [(g.name, store.name, codes_of(db_session=db_session, guide_id=g.id))
               for g, _n in list_guides(db_session=db_session, store_code=code)]
    for title, subtitle, codes in owners:
        try:
            cards.append(code_card(codes[channel], title=title, subtitle=subtitle, locale=locale))
        except (KeyError, CodeNotReady):
            missing.append(title)
    if not cards:
        raise ConflictError(f"no {channel} code of store {code} is ready yet", missing=missing)
    content = sheet(cards, title=f"{store.name} · {say(locale, 'qr.channel.' + channel)}", fmt=fmt)
    return PosterSheet(content, missing)


def _card_png(code: ChannelCode, *, title: str, subtitle: str, locale: str) -> bytes:
    try:
        return card_png(code, title=title, subtitle=subtitle, locale=locale)
    except CodeNotReady as exc:
        raise ConflictError(str(exc)) from exc
