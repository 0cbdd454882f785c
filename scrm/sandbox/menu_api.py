"""The Official Account's custom menu as the sandbox plays it: ``menu/create`` and ``menu/get``
under ``/sandbox/wechat/mp/cgi-bin/`` (each call recorded like every other, ``dispatch``).

``menu/create`` checks what WeChat checks and answers its errcodes: 40016 (1-3 buttons), 40017
(a button's type), 40018 (a name over 16 bytes), 40019 (a click key over 128 bytes), 40020 (a
url over 1024 bytes), 40023 (1-5 sub-buttons), 40024-40027 the same for a sub-button (names up
to 60 bytes), 47001 for a body without ``button``. The menu it accepts replaces the last one
and is kept with the rest of the sandbox's world in the database (the ``mp_menu`` document:
a restart keeps it); ``menu/get`` answers it as
``{"menu": {"button": [...]}}`` (leaf buttons with an empty ``sub_button``, as WeChat does), or
46003 when none is set. The phone sandbox shows it (:func:`current`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrm.sandbox import store
from scrm.sandbox.apis import Call, api
from scrm.sandbox.errors import WeChatError

if TYPE_CHECKING:
    import redis as redis_lib

MENU = "mp_menu"  # its document's kind and key
OK = {"errcode": 0, "errmsg": "ok"}
MAX_BUTTONS, MAX_SUB = 3, 5
NAME_BYTES, SUB_NAME_BYTES, KEY_BYTES, URL_BYTES = 16, 60, 128, 1024

MESSAGES = {  # WeChat's wording of the menu's errcodes
    40016: "invalid button size",
    40017: "invalid button type",
    40018: "invalid button name size",
    40019: "invalid button key size",
    40020: "invalid button url size",
    40023: "invalid sub button size",
    40024: "invalid sub button type",
    40025: "invalid sub button name size",
    40026: "invalid sub button key size",
    40027: "invalid sub button url size",
    46003: "menu no exist",
}


def _refused(errcode: int) -> WeChatError:
    return WeChatError(errcode, errmsg=MESSAGES[errcode])


def _bytes(value: Any) -> int:
    return len(value.encode("utf-8")) if isinstance(value, str) else -1


def _button(raw: Any, *, sub: bool) -> dict[str, Any]:
    """One button checked; the errcodes of a sub-button are the top button's + 7."""
    shift = 7 if sub else 0
    if not isinstance(raw, dict):
        raise WeChatError(47001, "a button must be an object")
    if not 1 <= _bytes(raw.get("name")) <= (SUB_NAME_BYTES if sub else NAME_BYTES):
        raise _refused(40018 + shift)
    children = raw.get("sub_button")
    if not sub and children:
        if not isinstance(children, list) or len(children) > MAX_SUB:
            raise _refused(40023)
        return {"name": raw["name"], "sub_button": [_button(child, sub=True) for child in children]}
    kind = raw.get("type")
    if kind == "click":
        if not 1 <= _bytes(raw.get("key")) <= KEY_BYTES:
            raise _refused(40019 + shift)
        leaf = {"type": "click", "name": raw["name"], "key": raw["key"]}
    elif kind == "view":
        if not 1 <= _bytes(raw.get("url")) <= URL_BYTES:
            raise _refused(40020 + shift)
        leaf = {"type": "view", "name": raw["name"], "url": raw["url"]}
    else:
        raise _refused(40017 + shift)
    return {**leaf, "sub_button": []} if not sub else leaf


@api("mp", "menu/create")
def create_menu(call: Call) -> dict[str, Any]:
    buttons = call.body.get("button")
    if not isinstance(buttons, list):
        raise WeChatError(47001, "button must be a list")
    if not 1 <= len(buttons) <= MAX_BUTTONS:
        raise _refused(40016)
    checked = [_button(b, sub=False) for b in buttons]
    store.save_doc(MENU, MENU, checked)
    return OK


@api("mp", "menu/get", method="GET")
def get_menu(call: Call) -> dict[str, Any]:
    menu = current(call.redis)
    if menu is None:
        raise _refused(46003)
    return {"menu": {"button": menu}}


def current(redis: redis_lib.Redis) -> list[dict[str, Any]] | None:
    """The menu the account set last, WeChat's ``button`` list; None before any."""
    return store.doc(MENU, MENU)
