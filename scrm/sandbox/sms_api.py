"""Tencent Cloud SMS (``SendSms``, API 2021-01-11) as the sandbox plays it, at
``/sandbox/wechat/sms/`` (the default of ``members.sms.api_base_url`` in sandbox mode).

It checks what Tencent checks: the common headers (``X-TC-Action`` ``SendSms``,
``X-TC-Version`` ``2021-01-11``, a timestamp within 5 minutes of the runtime's clock), the
TC3-HMAC-SHA256 signature over the body with the configured (or the sandbox's) key pair, the
application, sign name and template of ``[members.sms]``, and each number; and answers in
Tencent's shape: ``{"Response": {"SendStatusSet": [...], "RequestId": …}}``, or
``{"Response": {"Error": {"Code", "Message"}, "RequestId"}}``.

Each message sent is kept in ``sandbox_messages`` on channel ``sms`` (recipient: the 11-digit
number), so it survives a restart with the rest of the sandbox's world. The phone sandbox shows
a customer the messages to their number with :func:`messages_to`.
"""

from __future__ import annotations

import hmac
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from scrm.members import sms
from scrm.sandbox import store
from scrm.sandbox.models import SandboxMessage

if TYPE_CHECKING:
    from collections.abc import Mapping

    from scrm.runtime import Runtime

CHANNEL = "sms"
MAX_AGE_SECONDS = 300
MAX_NUMBERS = 200  # Tencent's limit per request
# The verification template the sandbox's account has approved: {1} the code, {2} the minutes.
TEMPLATE = "【{sign}】您的验证码是{code}，{minutes}分钟内有效。如非本人操作，请忽略本短信。"
_AUTHORIZATION = re.compile(
    r"TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<day>\d{4}-\d{2}-\d{2})/sms/tc3_request, "
    r"SignedHeaders=(?P<headers>[a-z;-]+), Signature=(?P<signature>[0-9a-f]{64})")
_CHINA_MOBILE = re.compile(r"\+861[3-9]\d{9}")


@dataclass(frozen=True)
class SmsMessage:
    """One message the sandbox delivered to a phone number."""

    id: int
    phone: str  # 11 digits
    text: str  # as the phone shows it: 【签名】您的验证码是123456，5分钟内有效…
    params: tuple[str, ...]  # the template's parameters: the code, the minutes
    sent_at: datetime


class _Error(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def serve(runtime: Runtime, *, headers: Mapping[str, str], raw_body: bytes) -> dict[str, Any]:
    """Tencent's answer to one request (always HTTP 200, as Tencent's are)."""
    request_id = str(uuid.uuid4())
    try:
        body = _checked(runtime, headers, raw_body)
        statuses = _deliver(runtime, body)
    except _Error as exc:
        return {"Response": {"Error": {"Code": exc.code, "Message": exc.message}, "RequestId": request_id}}
    return {"Response": {"SendStatusSet": statuses, "RequestId": request_id}}


def messages_to(runtime: Runtime, phone: str, *, limit: int = 10) -> list[SmsMessage]:
    """The last ``limit`` messages the sandbox delivered to ``phone`` (11 digits, or +86…), newest first."""
    number = phone.removeprefix("+86")
    with runtime.engine.connect() as conn:
        rows = conn.execute(
            select(SandboxMessage.id, SandboxMessage.body)
            .where(SandboxMessage.channel == CHANNEL, SandboxMessage.recipient == number)
            .order_by(SandboxMessage.id.desc()).limit(limit)
        ).all()
    return [SmsMessage(row.id, number, row.body["text"], tuple(row.body["params"]),
                       datetime.fromtimestamp(row.body["at"], UTC)) for row in rows]


def _checked(runtime: Runtime, headers: Mapping[str, str], raw_body: bytes) -> dict[str, Any]:
    config = runtime.config
    if headers.get("X-TC-Action") != sms.ACTION:
        raise _Error("InvalidAction", "the sandbox plays SendSms only")
    if headers.get("X-TC-Version") != sms.VERSION:
        raise _Error("NoSuchVersion", f"X-TC-Version must be {sms.VERSION}")
    if not headers.get("X-TC-Region"):
        raise _Error("MissingParameter", "X-TC-Region is required")
    stamp = headers.get("X-TC-Timestamp", "")
    if not stamp.isdigit():
        raise _Error("MissingParameter", "X-TC-Timestamp must be epoch seconds")
    if abs(int(stamp) - runtime.clock.timestamp()) > MAX_AGE_SECONDS:
        raise _Error("AuthFailure.SignatureExpire", "the request's timestamp is more than 5 minutes off")
    pair = sms.credentials(config)
    found = _AUTHORIZATION.fullmatch(headers.get("Authorization", ""))
    if found is None or found["headers"] != sms.SIGNED_HEADERS:
        raise _Error("AuthFailure.InvalidAuthorization", "Authorization is not a TC3-HMAC-SHA256 signature")
    if pair is None or found["id"] != pair[0]:
        raise _Error("AuthFailure.SecretIdNotFound", "unknown SecretId")
    expected = sms.tc3_authorization(secret_id=pair[0], secret_key=pair[1], host=headers.get("Host", ""),
                                     payload=raw_body, timestamp=int(stamp))
    if not hmac.compare_digest(expected.encode(), headers["Authorization"].encode()):
        raise _Error("AuthFailure.SignatureFailure", "the signature does not match the request")
    if headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
        raise _Error("InvalidParameter", "the body must be JSON")
    try:
        body = json.loads(raw_body)
    except ValueError:
        raise _Error("InvalidParameter", "the body is not JSON") from None
    if not isinstance(body, dict):
        raise _Error("InvalidParameter", "the body must be a JSON object")
    settings = config.members.sms
    for field, wanted in (("SmsSdkAppId", settings.sdk_app_id), ("SignName", settings.sign_name),
                          ("TemplateId", settings.template_id)):
        if body.get(field) != wanted:
            code = {"SmsSdkAppId": "InvalidParameterValue.SdkAppIdNotExist",
                    "SignName": "FailedOperation.SignatureIncorrectOrUnapproved",
                    "TemplateId": "FailedOperation.TemplateIncorrectOrUnapproved"}[field]
            raise _Error(code, f"{field} is not the sandbox's ({wanted!r})")
    numbers, params = body.get("PhoneNumberSet"), body.get("TemplateParamSet")
    if not isinstance(numbers, list) or not 1 <= len(numbers) <= MAX_NUMBERS:
        raise _Error("InvalidParameterValue.IncorrectPhoneNumber", "PhoneNumberSet must list 1-200 numbers")
    if not isinstance(params, list) or len(params) != 2 or not all(isinstance(p, str) and p for p in params):
        raise _Error("InvalidParameterValue.TemplateParameterFormatError",
                     "TemplateParamSet must hold the template's 2 parameters (code, minutes) as strings")
    return body


def _deliver(runtime: Runtime, body: dict[str, Any]) -> list[dict[str, Any]]:
    at = runtime.clock.now()
    code, minutes = body["TemplateParamSet"]
    text = TEMPLATE.format(sign=body["SignName"], code=code, minutes=minutes)
    statuses = []
    with runtime.engine.begin() as conn:
        for number in body["PhoneNumberSet"]:
            if not isinstance(number, str) or not _CHINA_MOBILE.fullmatch(number):
                statuses.append(_status(number, "InvalidParameterValue.IncorrectPhoneNumber", "wrong number"))
                continue
            serial = uuid.uuid4().hex
            store.put_messages(conn, CHANNEL, [number.removeprefix("+86")], {
                "text": text, "params": [code, minutes], "sign_name": body["SignName"],
                "template_id": body["TemplateId"], "serial_no": serial, "at": int(at.timestamp()),
            })
            statuses.append({**_status(number, "Ok", "send success"), "SerialNo": serial, "Fee": 1})
    return statuses


def _status(number: Any, code: str, message: str) -> dict[str, Any]:
    return {"PhoneNumber": str(number), "Code": code, "Message": message, "SerialNo": "", "Fee": 0,
            "SessionContext": "", "IsoCode": "CN"}
