"""WeCom's group welcome templates (入群欢迎语素材) as the sandbox plays them:
``externalcontact/group_welcome_template/{add,edit,get,del}``, kept as documents of kind
``work_group_welcome`` (:mod:`scrm.sandbox.world_welcome`).

Played as WeCom documents them: ``text.content`` at most 3000 bytes of UTF-8 (it may hold
``%NICKNAME%``); ``image`` with ``media_id`` or ``pic_url``; ``link`` with ``title`` (at most
128 bytes) and ``url``, ``desc`` at most 512 bytes, ``picurl``; ``miniprogram`` with
``title``, ``pic_media_id``, ``appid`` and ``page``; ``file`` and ``video`` with ``media_id``;
``notify`` 0 or 1 (default 1); text and the rest cannot all be empty; at most 100 templates a
corp. ``edit`` takes the whole content again. The sandbox's choices where WeCom's docs say no
code: all empty 44004; the 101st template 40058 naming the limit; a field of the wrong shape
40058 naming it; an unknown ``template_id`` 40037.
"""

from __future__ import annotations

import secrets
from typing import Any

from scrm.sandbox import store, world
from scrm.sandbox.apis import Call, api
from scrm.sandbox.errors import WeChatError, invalid
from scrm.sandbox.world_welcome import GROUP_WELCOME

MAX_TEMPLATES = 100
TEXT_MAX_BYTES = 3000
LINK_TITLE_MAX_BYTES = 128
LINK_DESC_MAX_BYTES = 512
MINIPROGRAM_TITLE_MAX_BYTES = 64
# Each part of the content: its required fields (one of, for an image) and its byte limits.
PARTS: dict[str, tuple[tuple[str, ...], bool, dict[str, int]]] = {
    "text": (("content",), False, {"content": TEXT_MAX_BYTES}),
    "image": (("media_id", "pic_url"), True, {}),
    "link": (("title", "url"), False, {"title": LINK_TITLE_MAX_BYTES, "desc": LINK_DESC_MAX_BYTES}),
    "miniprogram": (("title", "pic_media_id", "appid", "page"), False, {"title": MINIPROGRAM_TITLE_MAX_BYTES}),
    "file": (("media_id",), False, {}),
    "video": (("media_id",), False, {}),
}


def _part(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = body.get(name)
    if value is None:
        return None
    required, any_one, limits = PARTS[name]
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise invalid(name, "must be an object of strings")
    present = [field for field in required if value.get(field)]
    if name == "text" and not present:
        return None  # an empty text is no text: the other parts must carry the template
    if (any_one and not present) or (not any_one and len(present) < len(required)):
        raise invalid(name, f"needs {' or '.join(required) if any_one else ', '.join(required)}")
    for field, most in limits.items():
        if len(value.get(field, "").encode("utf-8")) > most:
            raise invalid(f"{name}.{field}", f"must be at most {most} bytes")
    return dict(value)


def _content(body: dict[str, Any]) -> dict[str, Any]:
    """The template's parts as given (those present), checked like WeCom checks them."""
    content = {name: part for name in PARTS if (part := _part(body, name)) is not None}
    if not content:
        raise WeChatError(44004, "text, image, link, miniprogram, file and video cannot all be empty")
    agentid = body.get("agentid")
    if agentid is not None:
        if not isinstance(agentid, int) or isinstance(agentid, bool):
            raise invalid("agentid", "must be an integer")
        content["agentid"] = agentid
    return content


def _template_id(call: Call) -> str:
    template_id = call.body.get("template_id")
    if not isinstance(template_id, str) or not template_id:
        raise invalid("template_id", "is required")
    return template_id


def _known(call: Call) -> tuple[str, dict[str, Any]]:
    template_id = _template_id(call)
    template = world.get_group_welcome(call.redis, template_id)
    if template is None:
        raise WeChatError(40037, f"no group welcome template {template_id!r}")
    return template_id, template


@api("work", "externalcontact/group_welcome_template/add")
def add_template(call: Call) -> dict[str, Any]:
    content = _content(call.body)
    notify = call.body.get("notify", 1)
    if notify not in (0, 1) or isinstance(notify, bool):
        raise invalid("notify", "must be 0 or 1")
    template_id = "msg" + secrets.token_urlsafe(18)
    template = {"template_id": template_id, **content, "notify": notify, "create_time": call.now_ms // 1000}
    with store.lock(call.redis, "work"), store.transaction() as session:
        if len(store.doc_keys(session, GROUP_WELCOME)) >= MAX_TEMPLATES:
            raise invalid("template", f"a corp has at most {MAX_TEMPLATES} group welcome templates")
        store.put_doc(session, GROUP_WELCOME, template_id, template)
    return {"template_id": template_id}


@api("work", "externalcontact/group_welcome_template/edit")
def edit_template(call: Call) -> dict[str, Any]:
    template_id, template = _known(call)
    content = _content(call.body)
    world.save_group_welcome(call.redis, {"template_id": template_id, **content, "notify": template.get("notify", 1),
                                          "create_time": template.get("create_time")})
    return {}


@api("work", "externalcontact/group_welcome_template/get")
def get_template(call: Call) -> dict[str, Any]:
    _, template = _known(call)
    return {name: template[name] for name in PARTS if name in template}


@api("work", "externalcontact/group_welcome_template/del")
def del_template(call: Call) -> dict[str, Any]:
    template_id, _ = _known(call)
    world.remove_group_welcome(call.redis, template_id)
    return {}
