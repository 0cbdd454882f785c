"""The apis the sandbox plays: each handler module registers its handlers here with
:func:`api`, and ``dispatch`` answers a call with the handler found in :data:`REGISTRY`."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis as redis_lib
import segno
from flask import Response

from scrm.config import Config
from scrm.sandbox import state


@dataclass(frozen=True)
class Call:
    channel: str
    api: str
    redis: redis_lib.Redis
    config: Config
    now: datetime
    query: dict[str, str]
    body: dict[str, Any]
    upload: tuple[str, bytes, str] | None = None  # a multipart file (material): name, bytes, type

    @property
    def now_ms(self) -> int:
        return state.ms(self.now)

    def public_url(self, path: str) -> str:
        return f"{self.config.server.public_base_url}/sandbox/wechat/{path}"


Handler = Callable[[Call], "dict[str, Any] | Response"]


@dataclass(frozen=True)
class Api:
    channel: str
    name: str
    method: str
    handler: Handler
    needs_token: bool


REGISTRY: dict[tuple[str, str], Api] = {}


def api(channel: str, name: str, *, method: str = "POST", needs_token: bool = True) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        REGISTRY[(channel, name)] = Api(channel, name, method, handler, needs_token)
        return handler

    return register


def png(content: str) -> Response:
    """A QR code of ``content`` as PNG."""
    buffer = io.BytesIO()
    segno.make(content, error="m").save(buffer, kind="png", scale=6, border=2)
    return Response(buffer.getvalue(), mimetype="image/png")
