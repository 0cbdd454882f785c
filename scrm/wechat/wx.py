"""wechatpy's clients with their HTTP replaced by our :class:`Transport`.

wechatpy's API objects (``client.tag.create``, ``client.external_contact.mark_tag``…) build
the payloads WeChat wants and call ``client._request``; here ``_request`` hands them to the
transport, which adds the quota, the shared token, the configured base URL and the bounded
retry. wechatpy never fetches a token itself (its ``fetch_access_token`` hard-codes WeChat's
hosts) and never retries (``auto_retry=False``).
"""

from __future__ import annotations

from typing import Any

from wechatpy import WeChatClient as _WeChatMPClient
from wechatpy.enterprise import WeChatClient as _WeChatWorkClient

from scrm.wechat.transport import Transport


class _Routed:
    _transport: Transport

    def _request(self, method: str, url_or_endpoint: str, **kwargs: Any) -> Any:
        kwargs.pop("api_base_url", None)
        processor = kwargs.pop("result_processor", None)
        api = url_or_endpoint
        if api.startswith(self._transport.base_url):
            api = api[len(self._transport.base_url):]
        if api.startswith(("http://", "https://")):
            raise ValueError("wechatpy asked for an absolute URL; post it through the transport instead")
        result = self._transport.call(method, api, params=kwargs.get("params"), body=kwargs.get("data"))
        return processor(result) if processor else result

    @property
    def access_token(self) -> str:
        transport = self.__dict__.get("_transport")
        if transport is None:  # wechatpy's __new__ inspects every attribute
            raise AttributeError("access_token")
        return transport.tokens.get()

    def fetch_access_token(self) -> dict:
        raise NotImplementedError("tokens are fetched by scrm.wechat.tokens.TokenCache")


class MPWeChatPy(_Routed, _WeChatMPClient):
    def __init__(self, app_id: str, transport: Transport) -> None:
        super().__init__(app_id, "", auto_retry=False)
        self._transport = transport


class WorkWeChatPy(_Routed, _WeChatWorkClient):
    def __init__(self, corp_id: str, transport: Transport) -> None:
        super().__init__(corp_id, "", auto_retry=False)
        self._transport = transport
