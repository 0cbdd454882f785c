"""The sandbox plays WeCom's group join ways (群活码): ``externalcontact/groupchat/
{add,get,update,del}_join_way``, kept as sandbox documents (``world.save_join_way``).

Validation follows WeCom's: ``scene`` 1 or 2, ``chat_id_list`` of 1–5 groups that exist (none
only with ``auto_create_room`` 1, which needs ``room_base_name``), ``state`` at most 30
characters. A QR way's ``qr_code`` is ``/sandbox/wechat/work/join_way/<config_id>.png``, a real
image whose content is that URL without ``.png``. Who joins through a way, and the group WeCom
creates when every chat is full, are played by :mod:`scrm.sandbox.world_joins`.
"""

from __future__ import annotations

import secrets
from typing import Any

from scrm.sandbox import world
from scrm.sandbox.apis import Call, api
from scrm.sandbox.errors import WeChatError, invalid

MAX_STATE = 30
MAX_CHATS = 5
MAX_REMARK = 30
MAX_ROOM_BASE_NAME = 40


def _definition(call: Call) -> dict[str, Any]:
    """The way's fields from the body, checked; ``update_join_way`` takes them all again."""
    body = call.body
    scene = body.get("scene")
    if scene not in (1, 2) or isinstance(scene, bool):
        raise invalid("scene", "must be 1 (mini program) or 2 (QR code)")
    auto = body.get("auto_create_room", 1)
    if auto not in (0, 1) or isinstance(auto, bool):
        raise invalid("auto_create_room", "must be 0 or 1")
    chats = body.get("chat_id_list", [])
    if not isinstance(chats, list) or not all(isinstance(c, str) and c for c in chats):
        raise invalid("chat_id_list", "must be a list of chat ids")
    if len(chats) > MAX_CHATS or (not chats and not auto):
        raise invalid("chat_id_list", f"must name 1 to {MAX_CHATS} groups")
    unknown = [c for c in chats if world.get_group_chat(call.redis, c) is None]
    if unknown:
        raise WeChatError(40050, f"no group chat {', '.join(unknown)}")
    state = body.get("state", "")
    if not isinstance(state, str) or len(state) > MAX_STATE:
        raise invalid("state", f"must be a string of at most {MAX_STATE} characters")
    remark = body.get("remark", "")
    if not isinstance(remark, str) or len(remark) > MAX_REMARK:
        raise invalid("remark", f"must be a string of at most {MAX_REMARK} characters")
    base_name = body.get("room_base_name", "")
    base_id = body.get("room_base_id", 1)
    if auto:
        if not isinstance(base_name, str) or not base_name or len(base_name) > MAX_ROOM_BASE_NAME:
            raise invalid("room_base_name", f"needed with auto_create_room, at most {MAX_ROOM_BASE_NAME} characters")
        if not isinstance(base_id, int) or isinstance(base_id, bool) or base_id < 0:
            raise invalid("room_base_id", "must be a number from 0")
    return {"scene": scene, "remark": remark, "auto_create_room": auto, "room_base_name": base_name if auto else "",
            "room_base_id": base_id if auto else 0, "chat_id_list": list(dict.fromkeys(chats)), "state": state}


def _way(call: Call) -> dict[str, Any]:
    config_id = call.body.get("config_id")
    way = world.get_join_way(call.redis, config_id) if isinstance(config_id, str) and config_id else None
    if way is None:
        raise invalid("config_id", "no such join way")
    return way


@api("work", "externalcontact/groupchat/add_join_way")
def add_join_way(call: Call) -> dict[str, Any]:
    way = {"config_id": secrets.token_hex(16), **_definition(call)}
    if way["scene"] == 2:
        way["qr_code"] = call.public_url(f"work/join_way/{way['config_id']}.png")
    world.save_join_way(call.redis, way)
    return {"config_id": way["config_id"]}


@api("work", "externalcontact/groupchat/get_join_way")
def get_join_way(call: Call) -> dict[str, Any]:
    way = _way(call)
    return {"join_way": {key: value for key, value in way.items() if not key.startswith("sandbox_")}}


@api("work", "externalcontact/groupchat/update_join_way")
def update_join_way(call: Call) -> dict[str, Any]:
    way = _way(call)
    way.update(_definition(call))
    if way["scene"] == 2:
        way["qr_code"] = call.public_url(f"work/join_way/{way['config_id']}.png")
    else:
        way.pop("qr_code", None)
    world.save_join_way(call.redis, way)
    return {}


@api("work", "externalcontact/groupchat/del_join_way")
def del_join_way(call: Call) -> dict[str, Any]:
    world.remove_join_way(call.redis, _way(call)["config_id"])
    return {}
