"""Group welcome templates (入群欢迎语素材) in the sandbox's world: each one JSON document of kind
``work_group_welcome`` keyed by its ``template_id``, as ``group_welcome_template/add`` made it:
``{"template_id", "text"?: {"content"}, "image"?: {"media_id" | "pic_url"}, "link"?: {…},
"miniprogram"?, "file"?, "video"?, "agentid"?, "notify": 0|1, "create_time"}``.
Re-exported by :mod:`scrm.sandbox.world`.

WeCom's join way has no welcome: a group's OWNER applies a template to their group in WeCom's
client, and WeCom sends it to whoever joins that group. The sandbox plays the owner applying
it with :func:`apply_group_welcome` (the control endpoint ``POST /api/sandbox/work/groups/
<chat_id>/welcome``): the group chat document carries ``welcome_template_id`` (the sandbox's
field; WeCom's ``groupchat/get`` does not report it). :func:`group_welcome_text` gives the
words a customer who joins such a group reads (the phone sandbox shows them)."""

from __future__ import annotations

from typing import Any

import redis as redis_lib

from scrm.sandbox import store
from scrm.sandbox.world_docs import _change_group

GROUP_WELCOME = "work_group_welcome"
NICKNAME = "%NICKNAME%"


def save_group_welcome(redis: redis_lib.Redis, template: dict[str, Any]) -> None:
    store.save_doc(GROUP_WELCOME, template["template_id"], template)


def get_group_welcome(redis: redis_lib.Redis, template_id: str) -> dict[str, Any] | None:
    return store.doc(GROUP_WELCOME, template_id)


def group_welcomes(redis: redis_lib.Redis) -> dict[str, dict[str, Any]]:
    """template_id → template, every one, in one read."""
    with store.transaction() as session:
        return dict(sorted(store.docs(session, GROUP_WELCOME).items()))


def remove_group_welcome(redis: redis_lib.Redis, template_id: str) -> None:
    with store.transaction() as session:
        store.drop_doc(session, GROUP_WELCOME, template_id)


def group_welcome_text(redis: redis_lib.Redis, template_id: str, nickname: str) -> str | None:
    """The template's text with ``%NICKNAME%`` replaced by ``nickname`` (what a customer who
    joins a group whose owner applied it reads), or None: no such template (deleted: WeCom
    sends nothing), or one without text."""
    template = get_group_welcome(redis, template_id)
    content = ((template or {}).get("text") or {}).get("content")
    return content.replace(NICKNAME, nickname) if content else None


def apply_group_welcome(redis: redis_lib.Redis, chat_id: str, template_id: str | None) -> None:
    """The group's owner applies the template to their group (None: takes the welcome off), as
    in WeCom's client. :class:`KeyError`, nothing changed: no such group, or no such template."""
    if template_id is not None and get_group_welcome(redis, template_id) is None:
        raise KeyError(f"no group welcome template {template_id!r} in the sandbox")

    def apply(chat: dict[str, Any]) -> None:
        if template_id is None:
            chat.pop("welcome_template_id", None)
        else:
            chat["welcome_template_id"] = template_id

    _change_group(redis, chat_id, apply)
