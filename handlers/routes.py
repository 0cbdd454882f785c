"""``/wechat/mp`` and ``/wechat/work`` (SPEC §3): check, decrypt, dispatch, reply.

Every refusal happens before anything is stored: body size (413), signature and replay
window (403), XML and addressee (400), decryption (403; sealed for another app, 400).
"""

from __future__ import annotations

import hashlib
import logging

from flask import Blueprint, Response, request

from handlers import wire
from handlers.dispatch import StillProcessing, handle_callback
from handlers.events import parse_callback
from handlers.render import render_reply
from scrm.web.api import current_runtime

log = logging.getLogger(__name__)
blueprint = Blueprint("webhooks", __name__)



def _keys(channel: str) -> wire.Keys:
    config = current_runtime().config.wechat
    account = config.mp if channel == "mp" else config.work
    aes = tuple(k for k in (account.encoding_aes_key, account.previous_encoding_aes_key) if k)
    receive_id = config.mp.app_id if channel == "mp" else config.work.corp_id
    return wire.Keys(account.token, aes, receive_id)


def _addressee(channel: str) -> str:
    config = current_runtime().config.wechat
    return config.mp.original_id if channel == "mp" else config.work.corp_id


@blueprint.errorhandler(wire.Rejected)
def _rejected(exc: wire.Rejected) -> Response:
    log.warning("callback refused on %s: %s", request.path, exc.reason, extra={"status": exc.status})
    return Response(exc.reason, status=exc.status, mimetype="text/plain")


@blueprint.errorhandler(StillProcessing)
def _busy(exc: StillProcessing) -> Response:
    return Response("busy; try again", status=503, mimetype="text/plain")


@blueprint.get("/wechat/mp")
def mp_verify() -> Response:
    args = request.args
    wire.check_timestamp(args.get("timestamp"), current_runtime().clock.timestamp())
    wire.check_signature((_keys("mp").token, args.get("timestamp", ""), args.get("nonce", "")), args.get("signature"))
    return Response(args.get("echostr", ""), mimetype="text/plain")


@blueprint.get("/wechat/work")
def work_verify() -> Response:
    args, keys = request.args, _keys("work")
    echostr = args.get("echostr", "")
    wire.check_timestamp(args.get("timestamp"), current_runtime().clock.timestamp())
    wire.check_signature((keys.token, args.get("timestamp", ""), args.get("nonce", ""), echostr), args.get("msg_signature"))
    return Response(wire.decrypt("work", keys, echostr), mimetype="text/plain")


@blueprint.post("/wechat/mp")
def mp_callback() -> Response:
    args, keys = request.args, _keys("mp")
    body = _body()
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    encrypted = args.get("encrypt_type", "raw").lower() == "aes"
    runtime = current_runtime()
    if not encrypted and runtime.config.mp_requires_safe_mode:
        raise wire.Rejected(403, "plaintext callbacks are refused (wechat.mp.require_safe_mode): use safe mode")
    # Plaintext mode is authenticated by `signature`; safe mode by `msg_signature`, which
    # covers the payload too (WeChat sends both, its official sample only the second).
    if not encrypted or "signature" in args:
        wire.check_signature((keys.token, timestamp, nonce), args.get("signature"))
    wire.check_timestamp(timestamp, runtime.clock.timestamp())
    _bind_signature_to_body(runtime, "mp", args.get("msg_signature") or args.get("signature", ""), timestamp, nonce, body)
    xml = wire.parse_xml(body)
    if encrypted:
        xml = _open_envelope("mp", keys, xml, timestamp, nonce)
    return _dispatch("mp", keys, xml, timestamp if encrypted else None)


@blueprint.post("/wechat/work")
def work_callback() -> Response:
    args, keys = request.args, _keys("work")
    body = _body()
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    runtime = current_runtime()
    wire.check_timestamp(timestamp, runtime.clock.timestamp())
    _bind_signature_to_body(runtime, "work", args.get("msg_signature", ""), timestamp, nonce, body)
    xml = _open_envelope("work", keys, wire.parse_xml(body), timestamp, nonce)
    return _dispatch("work", keys, xml, timestamp)


def _bind_signature_to_body(runtime, channel: str, signature: str, timestamp: str, nonce: str, body: bytes) -> None:  # noqa: ANN001
    """A (timestamp, nonce, signature) is bound to the first body it came with, across
    processes, for as long as the timestamp is accepted: the same request again goes on (WeChat
    resends; the callback ledger answers it once), another body under it is refused (403). A
    plaintext signature covers only token, timestamp and nonce, and is in every callback URL."""
    key = f"scrm:callback:signed:{channel}:{timestamp}:{nonce}:{signature}"
    digest = hashlib.sha256(body).hexdigest()
    if runtime.redis.set(key, digest, nx=True, ex=2 * wire.REPLAY_WINDOW_SECONDS):
        return
    if (runtime.redis.get(key) or b"").decode() != digest:
        raise wire.Rejected(403, "this signature came with another body")


def _body() -> bytes:
    length = request.content_length
    if length is not None and length > wire.MAX_BODY_BYTES:
        raise wire.Rejected(413, "body over 64 KiB")
    body = request.stream.read(wire.MAX_BODY_BYTES + 1)
    wire.check_body(body)
    return body


def _open_envelope(channel: str, keys: wire.Keys, outer: dict, timestamp: str, nonce: str) -> dict:
    encrypted = outer.get("Encrypt")
    if not isinstance(encrypted, str) or not encrypted:
        raise wire.Rejected(400, "no <Encrypt> in an encrypted callback")
    wire.check_signature((keys.token, timestamp, nonce, encrypted), request.args.get("msg_signature"))
    return wire.parse_xml(wire.decrypt(channel, keys, encrypted))


def _dispatch(channel: str, keys: wire.Keys, xml: dict, seal_timestamp: str | None) -> Response:
    callback = parse_callback(channel, xml)
    if callback.to_user != _addressee(channel):
        raise wire.Rejected(400, f"ToUserName {callback.to_user!r} is not this {'account' if channel == 'mp' else 'corp'}")
    reply = handle_callback(current_runtime(), callback)
    if reply is None:
        return Response("success", mimetype="text/plain")
    text = render_reply(reply, to_user=callback.from_user, from_user=callback.to_user, create_time=callback.create_time)
    if seal_timestamp is not None:
        text = wire.encrypt_reply(channel, keys, text, seal_timestamp)
    return Response(text, mimetype="application/xml")
