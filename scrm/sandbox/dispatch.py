"""How the sandbox answers one WeChat API call: a registry of api → handler, and the steps
every call goes through, in order:

1. an api the sandbox does not play → HTTP 404, errcode 404;
2. a fault for it → sleep ``delay_ms``, then answer its ``http_status`` (no JSON) or its
   ``errcode``, or carry on;
3. the method (43001/43002), the body (47001: not a JSON object), the ``access_token``
   (41001 missing; MP 40001 invalid, WeCom 40014; 42001 expired);
4. the handler, which returns WeChat's JSON or raises :class:`WeChatError`;
5. the call recorded (secrets masked) with the errcode and HTTP status it got; a call held by
   a delay is recorded before the wait, unanswered, and given them after.

The world's seeding, the fault and the token's status are read in one round trip to Redis and
the call is recorded in one more (a Lua script), where they took eleven: in bench/outreach.py
the sandbox shares the machine's CPU with the senders it answers.

Handlers (``mp_api``, ``mp_oauth``, ``work_api``) register with ``apis.api`` and take a
:class:`~scrm.sandbox.apis.Call`. WeCom answers are given ``{"errcode": 0, "errmsg": "ok"}``
here; MP handlers return their whole answer, since MP's success shapes differ by api.
"""

from __future__ import annotations

import json
import time
from functools import partial
from typing import Any

from flask import Response, jsonify

from scrm.sandbox import (  # noqa: F401 - their handlers register on import
    app_message_api,
    join_way_api,
    material_api,
    menu_api,
    mp_api,
    mp_oauth,
    state,
    work_api,
)
from scrm.sandbox.apis import REGISTRY, Call
from scrm.sandbox.errors import WeChatError

MAX_RECORDED_RAW_BODY = 4096


def known_apis(channel: str) -> list[str]:
    return sorted(name for ch, name in REGISTRY if ch == channel)


def _parse_body(raw: bytes) -> tuple[dict[str, Any] | None, Any]:
    """(the JSON object or None, what to record)."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, raw.decode("utf-8", "replace")[:MAX_RECORDED_RAW_BODY] if raw else None
    return (body, body) if isinstance(body, dict) else (None, body)


def _check_token(call: Call, status: str | None) -> None:
    if status is None:
        raise WeChatError(41001)
    if status == "expired":
        raise WeChatError(42001)
    if status == "invalid":
        raise WeChatError(40001 if call.channel == "mp" else 40014)


def serve(*, runtime: Any, channel: str, name: str, method: str, query: dict[str, str], raw_body: bytes,
          upload: tuple[str, bytes, str] | None = None) -> Response:
    """``upload``: the file of a multipart post (material), which has no JSON body."""
    redis, now = runtime.redis, runtime.clock.now()
    if upload is not None and method == "POST":
        body, recorded_body = {}, {"media": {"filename": upload[0], "size": len(upload[1]), "type": upload[2]}}
    else:
        body, recorded_body = _parse_body(raw_body) if method == "POST" else ({}, None)
    spec = REGISTRY.get((channel, name))
    opened = state.open_call(redis, channel=channel, api=name if spec else None,
                             token=query.get("access_token"), now=now)
    record = partial(state.record_call, redis, channel=channel, api=name, method=method, query=query,
                     body=recorded_body, at=now)
    fault = opened.fault
    if fault is not None and fault["delay_ms"]:  # recorded now: a held call shows, unanswered
        finish = partial(state.finish_call, redis, record()["id"])
        time.sleep(fault["delay_ms"] / 1000)
    else:  # recorded once, with its answer
        finish = record

    def answer(payload: dict[str, Any], status: int = 200) -> Response:
        finish(errcode=int(payload.get("errcode", 0)), http_status=status)
        response = jsonify(payload)
        response.status_code = status
        return response

    if spec is None:
        return answer(WeChatError(404, f"{channel}/cgi-bin/{name}").payload(), 404)
    if fault is not None:
        if fault["http_status"] is not None:
            finish(errcode=None, http_status=fault["http_status"])
            return Response("sandbox fault: upstream unavailable\n", fault["http_status"], mimetype="text/html")
        if fault["errcode"] is not None:
            return answer(WeChatError(fault["errcode"], "sandbox fault").payload())

    call = Call(channel, name, redis, runtime.config, now, query, body or {}, upload)
    try:
        if method != spec.method:
            raise WeChatError(43001 if spec.method == "GET" else 43002)
        if method == "POST" and body is None:
            raise WeChatError(47001, "the body must be a JSON object")
        if spec.needs_token:
            _check_token(call, opened.token_status)
        result = spec.handler(call)
    except WeChatError as exc:
        return answer(exc.payload(), exc.http_status)
    except Exception:
        finish(errcode=None, http_status=500)
        raise
    if isinstance(result, Response):
        finish(errcode=0, http_status=result.status_code)
        return result
    if channel == "work":
        result = {"errcode": 0, "errmsg": "ok", **result}
    return answer(result)
