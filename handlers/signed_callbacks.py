"""Play WeChat's side of a callback: build the XML, sign it, seal it (safe mode / WeCom).

Used by the phone sandbox, the simulator and the tests, so every callback they send is
checked by the real webhook exactly as WeChat's would be.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from handlers import wire
from handlers.render import cdata


@dataclass(frozen=True)
class SignedCallback:
    path: str  # "/wechat/mp?signature=…"
    body: bytes

    @property
    def query(self) -> str:
        return self.path.split("?", 1)[1]


class CallbackSender:
    """Signs callbacks for one channel with the account's token and key."""

    def __init__(self, channel: str, keys: wire.Keys, *, encrypt: bool = True) -> None:
        self.channel = channel
        self.keys = keys
        self.encrypt = encrypt or channel == "work"  # WeCom callbacks are always sealed

    @classmethod
    def from_config(cls, config, channel: str, *, encrypt: bool = True) -> CallbackSender:  # noqa: ANN001
        account = config.wechat.mp if channel == "mp" else config.wechat.work
        receive_id = config.wechat.mp.app_id if channel == "mp" else config.wechat.work.corp_id
        return cls(channel, wire.Keys(account.token, (account.encoding_aes_key,), receive_id), encrypt=encrypt)

    def sign(self, xml: str, *, timestamp: int | None = None, nonce: str | None = None) -> SignedCallback:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        nonce = nonce or str(secrets.randbelow(10**9))
        token = self.keys.token
        query: dict[str, str] = {"timestamp": ts, "nonce": nonce}
        body = xml
        if self.channel == "mp":
            query["signature"] = wire.signature_of(token, ts, nonce)
            query["openid"] = _field(xml, "FromUserName")
        if self.encrypt:
            body, query["msg_signature"] = wire.seal_request(self.channel, self.keys, xml, ts, nonce)
            if self.channel == "mp":
                query["encrypt_type"] = "aes"
        return SignedCallback(f"/wechat/{self.channel}?{urlencode(query)}", body.encode())

    def open_reply(self, body: bytes | str) -> str:
        """The plaintext XML of a passive reply (decrypting it when sealed)."""
        text = body.decode() if isinstance(body, bytes) else body
        if text in ("", "success") or not self.encrypt:
            return text
        outer = wire.parse_xml(text)
        expected = wire.signature_of(self.keys.token, outer["TimeStamp"], outer["Nonce"], outer["Encrypt"])
        if expected != outer["MsgSignature"]:
            raise ValueError("the reply's signature does not check")
        return wire.decrypt(self.channel, self.keys, outer["Encrypt"])


def _field(xml: str, name: str) -> str:
    start = xml.find(f"<{name}>")
    if start < 0:
        return ""
    value = xml[start + len(name) + 2 : xml.find(f"</{name}>")]
    return value.removeprefix("<![CDATA[").removesuffix("]]>")


def mp_message_xml(*, to: str, openid: str, create_time: int, msg_type: str, fields: dict[str, str]) -> str:
    return _xml({"ToUserName": to, "FromUserName": openid, "CreateTime": create_time, "MsgType": msg_type, **fields})


def mp_text_xml(*, to: str, openid: str, content: str, msg_id: str, create_time: int) -> str:
    return mp_message_xml(to=to, openid=openid, create_time=create_time, msg_type="text", fields={"Content": content, "MsgId": msg_id})


def mp_event_xml(*, to: str, openid: str, event: str, create_time: int, key: str | None = None, **extra: str) -> str:
    fields = {"Event": event, **({"EventKey": key} if key is not None else {}), **extra}
    return mp_message_xml(to=to, openid=openid, create_time=create_time, msg_type="event", fields=fields)


def work_contact_xml(
    *, corp_id: str, change_type: str, userid: str, external_userid: str, create_time: int, state: str | None = None,
    welcome_code: str | None = None,
) -> str:
    fields = {"Event": "change_external_contact", "ChangeType": change_type, "UserID": userid, "ExternalUserID": external_userid}
    if state:
        fields["State"] = state
    if welcome_code:
        fields["WelcomeCode"] = welcome_code
    return _xml({"ToUserName": corp_id, "FromUserName": "sys", "CreateTime": create_time, "MsgType": "event", **fields})


def _xml(fields: dict[str, object]) -> str:
    parts = "".join(
        f"<{k}>{v}</{k}>" if isinstance(v, int) else f"<{k}>{cdata(str(v))}</{k}>" for k, v in fields.items()
    )
    return f"<xml>{parts}</xml>"
