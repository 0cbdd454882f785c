"""Group welcome templates (入群欢迎语素材) in the sandbox's world: each one JSON document of kind
``work_group_welcome`` keyed by its ``template_id``, as ``group_welcome_template/add`` made it:
``{"template_id", "text"?: {"content"}, "image"?: {"media_id" | "pic_url"}, "link"?: {…},
"miniprogram"?, "file"?, "video"?, "agentid"?, "notify": 0|1, "create_time"}``.
Re-exported by :mod:`scrm.sandbox.world`.

WeCom applies a template where a group owner or a join way uses it; the sandbox applies none
on its own: :func:`group_welcome_text` gives the words a customer who joins through a live
code carrying the template reads (the phone sandbox shows them)."""

from __future__ import annotations

from typing import Any

import redis as redis_lib

from scrm.sandbox import store

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
    joins a group through a live code carrying it reads), or None: no such template, or one
    without text."""
    template = get_group_welcome(redis, template_id)
    content = ((template or {}).get("text") or {}).get("content")
    return content.replace(NICKNAME, nickname) if content else None
