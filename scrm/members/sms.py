"""The SMS adapter (短信) that sends members' verification codes, in Tencent Cloud SMS's request
shape: API 2021-01-11 ``SendSms``, a JSON POST to ``members.sms.api_base_url`` (unset: Tencent
Cloud's ``https://sms.tencentcloudapi.com/``, or the sandbox's in sandbox mode, which plays it:
scrm/sandbox/sms_api.py) with the common headers ``X-TC-Action``/``X-TC-Version``/
``X-TC-Timestamp``/``X-TC-Region`` and a TC3-HMAC-SHA256 ``Authorization``
(:func:`tc3_authorization`, which the sandbox uses to check it).

An answer with ``Response.Error`` or a first ``SendStatusSet`` entry whose ``Code`` is not
``Ok`` is a :class:`SmsRefused` naming Tencent's code; no answer at all is one with the code
``unavailable``. The key pair is never logged, nor the code sent: a log line names the
result only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

if TYPE_CHECKING:
    from scrm.clock import SystemClock
    from scrm.config import Config

log = logging.getLogger("scrm.sms")

ACTION = "SendSms"
VERSION = "2021-01-11"
SERVICE = "sms"
ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json; charset=utf-8"
SIGNED_HEADERS = "content-type;host"
TENCENT_URL = "https://sms.tencentcloudapi.com/"
SANDBOX_PATH = "/sandbox/wechat/sms/"
# The key pair the adapter and the sandbox share when sandbox mode has none configured.
SANDBOX_SECRET_ID = "AKIDsandboxsms0000000000000000000000"
SANDBOX_SECRET_KEY = "sandbox-sms-secret-key"
CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 10


class SmsRefused(Exception):
    """The code was not sent: ``code`` is Tencent's (``LimitExceeded.PhoneNumberDailyLimit``,
    ``AuthFailure.SignatureFailure``…), ``unavailable`` when no answer came, or
    ``not_configured`` when no key pair is set outside sandbox mode."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code

    @property
    def too_often(self) -> bool:
        """Tencent's own per-number limits (30 s, 1 h, 1 day)."""
        return self.code.startswith("LimitExceeded.")


@dataclass(frozen=True)
class SmsSent:
    serial_no: str | None
    request_id: str | None


def tc3_authorization(*, secret_id: str, secret_key: str, host: str, payload: bytes, timestamp: int,
                      service: str = SERVICE) -> str:
    """The ``Authorization`` header of a TencentCloud API v3 POST of ``payload`` to ``host``."""
    day = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical = "\n".join([
        "POST", "/", "", f"content-type:{CONTENT_TYPE}\nhost:{host}\n", SIGNED_HEADERS,
        hashlib.sha256(payload).hexdigest(),
    ])
    scope = f"{day}/{service}/tc3_request"
    to_sign = "\n".join([ALGORITHM, str(timestamp), scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(("TC3" + secret_key).encode(), day)
    key = _hmac(_hmac(key, service), "tc3_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={SIGNED_HEADERS}, Signature={signature}"


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def credentials(config: Config) -> tuple[str, str] | None:
    """(secret_id, secret_key): the configured pair, the sandbox's in sandbox mode, else None."""
    sms = config.members.sms
    if sms.secret_id and sms.secret_key:
        return sms.secret_id, sms.secret_key
    if config.wechat.sandbox:
        return SANDBOX_SECRET_ID, SANDBOX_SECRET_KEY
    return None


def base_url(config: Config) -> str:
    sms = config.members.sms
    if sms.api_base_url:
        return sms.api_base_url
    return config.server.public_base_url + SANDBOX_PATH if config.wechat.sandbox else TENCENT_URL


def e164(phone: str) -> str:
    """A China mobile number as Tencent wants it: ``+8613800138000``."""
    return phone if phone.startswith("+") else f"+86{phone}"


class SmsSender:
    """Sends one template message (the verification code) per call."""

    def __init__(self, *, url: str, secret_id: str | None, secret_key: str | None, sdk_app_id: str, sign_name: str,
                 template_id: str, region: str, clock: SystemClock, http: requests.Session | None = None) -> None:
        self.url = url
        self._secret_id = secret_id
        self._secret_key = secret_key
        self.sdk_app_id = sdk_app_id
        self.sign_name = sign_name
        self.template_id = template_id
        self.region = region
        self.clock = clock
        self.http = http or requests.Session()

    def __repr__(self) -> str:  # no secret in a traceback's locals
        return f"SmsSender(url={self.url!r}, sdk_app_id={self.sdk_app_id!r})"

    @classmethod
    def from_config(cls, config: Config, *, clock: SystemClock, http: requests.Session | None = None) -> SmsSender:
        pair = credentials(config)
        sms = config.members.sms
        return cls(url=base_url(config), secret_id=pair and pair[0], secret_key=pair and pair[1],
                   sdk_app_id=sms.sdk_app_id, sign_name=sms.sign_name, template_id=sms.template_id,
                   region=sms.region, clock=clock, http=http)

    def send_code(self, phone: str, code: str, minutes: int) -> SmsSent:
        """Send ``code`` (valid ``minutes``) to ``phone``; :class:`SmsRefused` when not sent."""
        if not self._secret_id or not self._secret_key:
            raise SmsRefused("not_configured", "members.sms.secret_id and secret_key are not set")
        payload = json.dumps({
            "PhoneNumberSet": [e164(phone)], "SmsSdkAppId": self.sdk_app_id, "SignName": self.sign_name,
            "TemplateId": self.template_id, "TemplateParamSet": [code, str(minutes)],
        }, ensure_ascii=False).encode()
        timestamp = int(self.clock.timestamp())
        host = urlsplit(self.url).netloc
        headers = {
            "Content-Type": CONTENT_TYPE, "Host": host, "X-TC-Action": ACTION, "X-TC-Version": VERSION,
            "X-TC-Timestamp": str(timestamp), "X-TC-Region": self.region,
            "Authorization": tc3_authorization(secret_id=self._secret_id, secret_key=self._secret_key, host=host,
                                               payload=payload, timestamp=timestamp),
        }
        answer = self._post(payload, headers)
        result = _result(answer)
        log.info("sms %s: %s", ACTION, "Ok" if isinstance(result, SmsSent) else result.code)
        if isinstance(result, SmsRefused):
            raise result
        return result

    def _post(self, payload: bytes, headers: dict[str, str]) -> Any:
        failure = None
        try:
            response = self.http.post(self.url, data=payload, headers=headers, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
            answer = response.json()
        except requests.RequestException as exc:  # its message holds the URL: only its kind is kept
            failure = type(exc).__name__
        except ValueError:
            failure = "not JSON"
        if failure is not None:  # raised outside ``except``: no requests exception rides along
            log.warning("sms %s: no answer (%s)", ACTION, failure)
            raise SmsRefused("unavailable", failure)
        return answer


def _result(answer: Any) -> SmsSent | SmsRefused:
    response = answer.get("Response") if isinstance(answer, dict) else None
    if not isinstance(response, dict):
        return SmsRefused("unavailable", "no Response in the answer")
    error = response.get("Error")
    if isinstance(error, dict):
        return SmsRefused(str(error.get("Code") or "unknown"), str(error.get("Message") or ""))
    statuses = response.get("SendStatusSet")
    if not isinstance(statuses, list) or not statuses or not isinstance(statuses[0], dict):
        return SmsRefused("unavailable", "no SendStatusSet in the answer")
    status = statuses[0]
    if status.get("Code") != "Ok":
        return SmsRefused(str(status.get("Code") or "unknown"), str(status.get("Message") or ""))
    return SmsSent(status.get("SerialNo"), response.get("RequestId"))
