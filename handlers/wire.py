"""The callback wire format: signatures, replay window, AES envelopes, safe XML (SPEC §3).

Each check raises :class:`Rejected` with the HTTP status SPEC §3 gives it; nothing here
touches the database. Signatures are compared in constant time (wechatpy uses ``!=``).
The AES is wechatpy's ``PrpCrypto``: 16 random bytes + length + message + app/corp id.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

MAX_BODY_BYTES = 64 * 1024
REPLAY_WINDOW_SECONDS = 300
_UNSAFE_XML = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class Rejected(Exception):
    """A callback refused before anything is stored; ``status`` is the HTTP answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Keys:
    """What one channel's callbacks are checked and sealed with."""

    token: str
    aes_keys: tuple[str, ...]  # the current EncodingAESKey first, then the previous one
    receive_id: str  # the MP app id, or the WeCom corp id


def signature_of(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def check_signature(expected_parts: tuple[str, ...], given: str | None) -> None:
    if not given or not hmac.compare_digest(signature_of(*expected_parts), given.lower()):
        raise Rejected(403, "bad signature")


def check_timestamp(timestamp: str | None, now: float) -> None:
    try:
        sent = int(timestamp or "")
    except ValueError:
        raise Rejected(403, "missing or malformed timestamp") from None
    if abs(now - sent) > REPLAY_WINDOW_SECONDS:
        raise Rejected(403, "timestamp outside the replay window")


def check_body(body: bytes) -> None:
    if len(body) > MAX_BODY_BYTES:
        raise Rejected(413, "body over 64 KiB")


def parse_xml(body: bytes | str) -> dict[str, Any]:
    """The ``<xml>`` element as a dict of strings (and nested dicts/lists). Refuses any
    DOCTYPE or entity declaration before the parser sees it (XML bombs, XXE)."""
    import xmltodict
    from xml.parsers.expat import ExpatError

    raw = body.encode() if isinstance(body, str) else body
    if _UNSAFE_XML.search(raw):
        raise Rejected(400, "DOCTYPE or entity declarations are not accepted")
    try:
        document = xmltodict.parse(raw, disable_entities=True)
    except (ExpatError, ValueError) as exc:
        raise Rejected(400, f"malformed XML: {exc}") from None
    root = document.get("xml") if isinstance(document, dict) else None
    if not isinstance(root, dict):
        raise Rejected(400, "the root element must be <xml> with children")
    return root


def _prp(channel: str, key: str) -> Any:
    import base64

    if channel == "work":
        from wechatpy.enterprise.crypto import PrpCrypto
    else:
        from wechatpy.crypto import PrpCrypto
    return PrpCrypto(base64.b64decode(key + "="))


def decrypt(channel: str, keys: Keys, encrypted: str) -> str:
    """Try each EncodingAESKey in turn. A payload no key opens → 403; one that opens but was
    sealed for another app or corp → 400 (SPEC §3)."""
    from wechatpy.enterprise.exceptions import InvalidCorpIdException
    from wechatpy.exceptions import InvalidAppIdException

    wrong_receiver = False
    for key in keys.aes_keys:
        try:
            return _prp(channel, key).decrypt(encrypted, keys.receive_id)
        except (InvalidAppIdException, InvalidCorpIdException):
            wrong_receiver = True
        except Exception:  # noqa: BLE001 - bad base64, padding or length: try the next key
            continue
    if wrong_receiver:
        raise Rejected(400, "the envelope is for another app or corp")
    raise Rejected(403, "could not decrypt")


def _seal(channel: str, keys: Keys, plaintext: str) -> str:
    encrypted = _prp(channel, keys.aes_keys[0]).encrypt(plaintext, keys.receive_id)
    return encrypted.decode() if isinstance(encrypted, bytes) else encrypted


def encrypt_reply(channel: str, keys: Keys, plaintext: str, timestamp: str) -> str:
    """A passive reply sealed with the current key, in WeChat's envelope."""
    nonce = str(secrets.randbelow(10**10))
    encrypted = _seal(channel, keys, plaintext)
    signature = signature_of(keys.token, timestamp, nonce, encrypted)
    return (
        f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt>"
        f"<MsgSignature><![CDATA[{signature}]]></MsgSignature>"
        f"<TimeStamp>{timestamp}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>"
    )


def seal_request(channel: str, keys: Keys, plaintext: str, timestamp: str, nonce: str) -> tuple[str, str]:
    """What WeChat sends: the envelope body and its ``msg_signature`` (the sandbox and the
    simulator play WeChat with this)."""
    encrypted = _seal(channel, keys, plaintext)
    body = f"<xml><ToUserName><![CDATA[{keys.receive_id}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    return body, signature_of(keys.token, timestamp, nonce, encrypted)
