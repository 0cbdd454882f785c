"""The Official Account's custom menu (自定义菜单): checked against WeChat's limits, saved as a
version in ``mp_menus``, and published to WeChat by a queued job (``menu/create``).

WeChat's rules, refused here with a message that names the button rather than left to
WeChat's errcode: 1-3 top buttons; a top button either opens 1-5 sub-buttons or is a button
itself; a top button's name is at most 16 bytes of UTF-8 (5 Chinese characters; the MP console
says 4), a sub-button's at most 60 (20) (WeChat's documented limits, counted in bytes as WeChat counts them);
a ``click`` button carries a key of 1-128 bytes that comes back in the CLICK event, a ``view``
button an http(s) URL of at most 1024 bytes that WeChat opens.

Publishing: :func:`request_publish` marks the newest version ``publishing`` and enqueues
:func:`publish_menu` with its id once the transaction commits; the job sends it and records
``published`` or ``failed`` with WeChat's error. A job for a version that a newer one has
replaced does not send it (``superseded``), so an old menu never overwrites a new one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import select

from scrm.errors import ConflictError, InvalidInput
from scrm.queue import enqueue_after_commit
from scrm.replies.models import MPMenu
from scrm.runtime import job
from scrm.wechat.errors import WeChatError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

log = logging.getLogger(__name__)

KINDS = ("click", "view")
MAX_TOP = 3
MAX_SUB = 5
TOP_NAME_MAX_BYTES = 16
SUB_NAME_MAX_BYTES = 60
KEY_MAX_BYTES = 128
URL_MAX_BYTES = 1024


class InvalidMenu(InvalidInput):
    """A menu WeChat would refuse; ``field`` names the button ("buttons.1.sub.2.name")."""


class MenuNotSaved(ConflictError):
    """There is no saved menu to publish."""


@dataclass(frozen=True)
class ButtonIn:
    """One button as typed: ``kind`` is click or view (ignored when ``sub`` is given)."""

    name: str
    kind: str = ""
    value: str = ""
    sub: tuple[ButtonIn, ...] = ()


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _leaf(button: ButtonIn, where: str, label: str, name_max: int, problems: list[dict[str, str]]) -> dict[str, Any]:
    def refuse(field: str, message: str) -> None:
        problems.append({"field": f"{where}.{field}", "message": f"{label}: {message}"})

    name = button.name.strip()
    if not name:
        refuse("name", "needs a name")
    elif _size(name) > name_max:
        refuse("name", f"「{name}」 is {_size(name)} bytes; WeChat allows {name_max} "
                       f"(about {name_max // 3} Chinese characters)")
    if button.sub:
        return {"name": name, "sub_button": []}
    value = button.value.strip()
    if button.kind == "click":
        if not 1 <= _size(value) <= KEY_MAX_BYTES:
            refuse("value", f"a click button needs a key of 1-{KEY_MAX_BYTES} bytes (the key tag rules see)")
        return {"type": "click", "name": name, "key": value}
    if button.kind == "view":
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
            refuse("value", "a link button needs an http:// or https:// URL")
        elif _size(value) > URL_MAX_BYTES:
            refuse("value", f"the URL is over WeChat's {URL_MAX_BYTES} bytes")
        return {"type": "view", "name": name, "url": value}
    refuse("kind", "choose 点击 click (sends a key) or 链接 view (opens a page), or add sub-buttons")
    return {"name": name}


def check_menu(buttons: tuple[ButtonIn, ...]) -> list[dict[str, Any]]:
    """WeChat's ``button`` list for ``buttons``, or :class:`InvalidMenu` listing every problem."""
    problems: list[dict[str, str]] = []
    if not 1 <= len(buttons) <= MAX_TOP:
        problems.append({"field": "buttons", "message": f"a menu has 1-{MAX_TOP} top buttons, not {len(buttons)}"})
    out = []
    for i, button in enumerate(buttons[:MAX_TOP], start=1):
        top = _leaf(button, f"buttons.{i}", f"菜单 {i} menu {i}", TOP_NAME_MAX_BYTES, problems)
        if len(button.sub) > MAX_SUB:
            problems.append({"field": f"buttons.{i}.sub",
                             "message": f"菜单 {i} menu {i}: at most {MAX_SUB} sub-buttons, not {len(button.sub)}"})
        for j, sub in enumerate(button.sub[:MAX_SUB], start=1):
            top["sub_button"].append(
                _leaf(sub, f"buttons.{i}.sub.{j}", f"菜单 {i}.{j} menu {i}.{j}", SUB_NAME_MAX_BYTES, problems))
        out.append(top)
    if problems:
        raise InvalidMenu(problems[0]["field"], problems[0]["message"], errors=problems)
    return out


def buttons_in(buttons: list[Mapping[str, Any]]) -> tuple[ButtonIn, ...]:
    """WeChat's ``button`` list back as :class:`ButtonIn` (to edit a saved menu)."""
    def one(b: Mapping[str, Any]) -> ButtonIn:
        kind = str(b.get("type") or "")
        value = str(b.get("key") if kind == "click" else b.get("url") if kind == "view" else "") or ""
        return ButtonIn(str(b.get("name") or ""), kind, value, tuple(one(s) for s in b.get("sub_button") or ()))
    return tuple(one(b) for b in buttons)


def default_buttons(coupons_key: str) -> list[dict[str, Any]]:
    """The menu before any is saved: new arrivals, the customer's coupons (the key the webhook
    answers with their coupon link, ``coupons.menu_key``) and the shop."""
    return [
        {"type": "click", "name": "新品", "key": "MENU_NEW_ARRIVALS"},
        {"type": "click", "name": "我的优惠券", "key": coupons_key},
        {"type": "view", "name": "商城", "url": "https://shop.example.com/"},
    ]


# ---- saving and publishing -----------------------------------------------------------------

def current_menu(*, db_session: Session) -> MPMenu | None:
    """The newest saved version, or None before any is saved."""
    return db_session.scalar(select(MPMenu).order_by(MPMenu.id.desc()).limit(1))


def save_menu(*, db_session: Session, buttons: tuple[ButtonIn, ...]) -> MPMenu:
    """Save ``buttons`` as the newest version (not yet published)."""
    menu = MPMenu(buttons=check_menu(buttons), status="saved")
    db_session.add(menu)
    db_session.flush()
    return menu


def request_publish(*, db_session: Session) -> MPMenu:
    """Mark the newest version ``publishing``; :func:`publish_menu` runs after the commit."""
    menu = current_menu(db_session=db_session)
    if menu is None:
        raise MenuNotSaved("save a menu first")
    menu.status, menu.error = "publishing", None
    db_session.flush()
    enqueue_after_commit(db_session, publish_menu, menu.id)
    return menu


@job
def publish_menu(runtime: Runtime, menu_id: int) -> None:
    """Job: send version ``menu_id`` with ``menu/create``, unless a newer one replaced it."""
    with runtime.transaction() as db_session:
        menu = db_session.get(MPMenu, menu_id)
        newest = current_menu(db_session=db_session)
        if menu is None or menu.status != "publishing":
            return
        if newest is not None and newest.id != menu.id:
            menu.status = "superseded"
            return
        buttons = list(menu.buttons)
    try:
        runtime.mp.create_menu(buttons)
    except WeChatError as exc:
        # Not retried: a refused menu stays refused; one WeChat never answered is shown as
        # failed too, and publishing again is one click.
        log.warning("menu %s: menu/create failed: %s", menu_id, exc.errcode)
        _finish(runtime, menu_id, "failed", f"{exc.errcode} {exc.errmsg}" if exc.errcode else exc.errmsg)
        return
    _finish(runtime, menu_id, "published", None)


def _finish(runtime: Runtime, menu_id: int, status: str, error: str | None) -> None:
    with runtime.transaction() as db_session:
        menu = db_session.get(MPMenu, menu_id)
        if menu is not None and menu.status == "publishing":
            menu.status, menu.error = status, error
            if status == "published":
                menu.published_at = runtime.clock.now()
