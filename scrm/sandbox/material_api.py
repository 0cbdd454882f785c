"""The Official Account's permanent material (永久素材) as the sandbox plays it:
``material/add_material?type=image`` with the file in the multipart field ``media``; and
WeCom's ``media/uploadimg`` (below), whose URL serves the image it kept.

Played: the type (40004 anything but image, voice, video or thumb; only images are kept), a
missing file (41005), the file's type read from its first bytes (40005: not bmp, png, jpeg or
gif) and size (40006: over 10 MB). The answer is WeChat's: ``media_id`` and the image's
``url``. What was uploaded (name, type, size, when; not the bytes) is kept for a week under
``sandbox:mp:material:<media_id>``, so a test can see the material the console made.
"""

from __future__ import annotations

import secrets
from typing import Any

from scrm.sandbox import world
from scrm.sandbox.apis import Call, api
from scrm.sandbox.errors import WeChatError

MATERIAL_TYPES = ("image", "voice", "video", "thumb")
IMAGE_MAX_BYTES = 10 * 1024 * 1024
_MAGIC = ((b"\xff\xd8\xff", "jpeg"), (b"\x89PNG\r\n\x1a\n", "png"), (b"GIF8", "gif"), (b"BM", "bmp"))
KEY = "sandbox:mp:material:"


@api("mp", "material/add_material")
def add_material(call: Call) -> dict[str, Any]:
    kind = call.query.get("type")
    if kind not in MATERIAL_TYPES:
        raise WeChatError(40004, f"type must be one of {', '.join(MATERIAL_TYPES)}")
    if kind != "image":
        raise WeChatError(40004, "the sandbox keeps images only")
    filename, data, found = _image(call, _MAGIC, IMAGE_MAX_BYTES, kinds="bmp, png, jpeg or gif", most="10 MB")
    media_id = "sbx-img-" + secrets.token_urlsafe(24)
    key = KEY + media_id
    call.redis.hset(key, mapping={"name": filename, "type": found, "size": len(data), "at": call.now_ms})
    call.redis.expire(key, world.GC_SECONDS)
    return {"media_id": media_id, "url": call.public_url(f"mp/material/{media_id}.{found}")}


def _image(call: Call, magics: tuple[tuple[bytes, str], ...], max_bytes: int, *, kinds: str,
           most: str) -> tuple[str, bytes, str]:
    """The uploaded file's name, bytes and type (read from its first bytes): 41005 no file,
    40005 not one of ``magics``, 40006 over ``max_bytes``."""
    if call.upload is None or not call.upload[1]:
        raise WeChatError(41005, "the file goes in the multipart field media")
    filename, data, _ = call.upload
    found = next((name for magic, name in magics if data.startswith(magic)), None)
    if found is None:
        raise WeChatError(40005, f"an image is {kinds}")
    if len(data) > max_bytes:
        raise WeChatError(40006, f"an image is at most {most}")
    return filename, data, found


def material(redis: Any, media_id: str) -> dict[str, str] | None:  # noqa: ANN401 - a redis client
    """What was uploaded as ``media_id`` (name, type, size, at), or None."""
    found = redis.hgetall(KEY + media_id)
    return {k.decode(): v.decode() for k, v in found.items()} if found else None


# ---- WeCom's media/uploadimg: an image's permanent URL (a group welcome's image.pic_url) ------

UPLOADIMG_MAX_BYTES = 2 * 1024 * 1024
_UPLOADIMG_MAGIC = ((b"\xff\xd8\xff", "jpg"), (b"\x89PNG\r\n\x1a\n", "png"))
UPLOADIMG_KEY = "sandbox:work:uploadimg:"
UPLOADIMG_TYPES = {"jpg": "image/jpeg", "png": "image/png"}


@api("work", "media/uploadimg")
def upload_image(call: Call) -> dict[str, Any]:
    """WeCom's ``media/uploadimg``: 41005 no file, 40005 not jpg or png (read from its first
    bytes), 40006 over 2 MB; the bytes are kept (a week) and served at the URL it answers."""
    filename, data, found = _image(call, _UPLOADIMG_MAGIC, UPLOADIMG_MAX_BYTES, kinds="jpg or png", most="2 MB")
    name = f"{secrets.token_urlsafe(18)}.{found}"
    key = UPLOADIMG_KEY + name
    call.redis.hset(key, mapping={"name": filename, "data": data, "at": call.now_ms})
    call.redis.expire(key, world.GC_SECONDS)
    return {"url": call.public_url(f"work/uploadimg/{name}")}


def uploaded_image(redis: Any, name: str) -> tuple[bytes, str] | None:  # noqa: ANN401 - a redis client
    """The bytes and the content type of an image ``media/uploadimg`` kept as ``name`` (the URL's
    last part), or None."""
    data = redis.hget(UPLOADIMG_KEY + name, "data")
    kind = UPLOADIMG_TYPES.get(name.rsplit(".", 1)[-1])
    return (data, kind) if data is not None and kind else None
