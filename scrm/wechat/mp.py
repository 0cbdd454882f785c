"""The Official Account (公众号, "MP") adapter: the MP API calls the product makes.

Payloads come from wechatpy's API objects where they post what WeChat wants; the mass send is
posted here (wechatpy 1.8.18 sends ``filter.group_id``, WeChat wants ``filter.tag_id``). All
of it goes through :class:`scrm.wechat.transport.Transport` (configured base URL, shared
token, quotas, bounded retry). Nothing is sent before the first method call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urljoin, urlsplit

import redis
import requests

from scrm.wechat.errors import WeChatError
from scrm.wechat.transport import Transport
from scrm.wechat.values import Follower, MassSend, MPTag, QRCode, frozen_raw
from scrm.wechat.wx import MPWeChatPy

if TYPE_CHECKING:
    from scrm.runtime import Runtime

MAX_QR_EXPIRE_SECONDS = 2_592_000  # 30 days, WeChat's longest temporary code
TAG_BATCH = 50  # openids per batchtagging call
CLIENTMSGID_USED = 45065
NO_MENU = 46003
REAL_API_HOST = "api.weixin.qq.com"
REAL_SHOWQRCODE_BASE = "https://mp.weixin.qq.com/cgi-bin/"


class MPClient:
    def __init__(
        self,
        *,
        redis_client: redis.Redis,
        app_id: str,
        app_secret: str,
        base_url: str,
        timeout: float = 5.0,
        rate_limits: Mapping[str, int] | None = None,
        sleep: Callable[[float], None] | None = None,
        http: requests.Session | None = None,
    ) -> None:
        self.app_id = app_id
        self.transport = Transport(
            channel="mp",
            app=app_id,
            base_url=base_url,
            redis_client=redis_client,
            token_api="token",
            token_params={"grant_type": "client_credential", "appid": app_id, "secret": app_secret},
            secrets=(app_secret,),
            timeout=timeout,
            rate_limits=rate_limits,
            sleep=sleep,
            http=http,
        )
        self._wx = MPWeChatPy(app_id, self.transport)
        self._app_secret = app_secret
        # Web sign-in (网页授权) lives beside cgi-bin/: api.weixin.qq.com/sns/, or the sandbox's mp/sns/.
        self._sns = Transport(
            channel="mp",
            app=app_id,
            base_url=urljoin(self.transport.base_url, "../sns/"),
            redis_client=redis_client,
            token_api="token",
            token_params={},
            secrets=(app_secret,),
            timeout=timeout,
            sleep=sleep,
            http=http,
        )

    @classmethod
    def from_runtime(
        cls,
        runtime: Runtime,
        *,
        sleep: Callable[[float], None] | None = None,
        http: requests.Session | None = None,
    ) -> MPClient:
        config = runtime.config
        return cls(
            redis_client=runtime.redis,
            app_id=config.wechat.mp.app_id,
            app_secret=config.wechat.mp.app_secret,
            base_url=config.mp_api_base_url,
            timeout=config.wechat.timeout_seconds,
            rate_limits=config.wechat.rate_limits,
            sleep=sleep,
            http=http,
        )

    # --- QR codes -------------------------------------------------------------------------

    def create_qrcode(self, scene_str: str, *, permanent: bool = True, expire_seconds: int | None = None) -> QRCode:
        """A string-scene QR code: permanent (QR_LIMIT_STR_SCENE) or temporary (QR_STR_SCENE)."""
        if not 1 <= len(scene_str) <= 64:
            raise ValueError("scene_str must be 1-64 characters")
        data: dict[str, Any] = {"action_info": {"scene": {"scene_str": scene_str}}}
        if permanent:
            if expire_seconds is not None:
                raise ValueError("a permanent QR code has no expire_seconds")
            data["action_name"] = "QR_LIMIT_STR_SCENE"
        else:
            expire_seconds = MAX_QR_EXPIRE_SECONDS if expire_seconds is None else expire_seconds
            if not 1 <= expire_seconds <= MAX_QR_EXPIRE_SECONDS:
                raise ValueError(f"expire_seconds must be 1-{MAX_QR_EXPIRE_SECONDS}")
            data["action_name"] = "QR_STR_SCENE"
            data["expire_seconds"] = expire_seconds
        result = self._wx.qrcode.create(data)
        expires = None if permanent else int(result.get("expire_seconds") or expire_seconds)
        return QRCode(ticket=result["ticket"], url=result.get("url", ""), expire_seconds=expires)

    def qrcode_image_url(self, ticket: str) -> str:
        """Where the code's image is shown: ``showqrcode`` on the configured base, except that
        WeChat itself serves it from mp.weixin.qq.com, not api.weixin.qq.com."""
        base = self.transport.base_url
        if urlsplit(base).hostname == REAL_API_HOST:
            base = REAL_SHOWQRCODE_BASE
        return f"{base}showqrcode?ticket={quote(ticket, safe='')}"

    # --- Web sign-in (网页授权) -------------------------------------------------------------

    def openid_by_oauth_code(self, code: str) -> str:
        """``sns/oauth2/access_token``: the follower who came back from the authorize page with
        ``code`` (good once, for 5 minutes). Only the openid is kept: ``snsapi_base`` asks no more."""
        data = self._sns.call_without_token("GET", "oauth2/access_token", params={
            "appid": self.app_id, "secret": self._app_secret, "code": code, "grant_type": "authorization_code",
        })
        if not data.get("openid"):
            raise WeChatError(0, "the answer holds no openid", "sns/oauth2/access_token")
        return str(data["openid"])

    # --- Custom menu (自定义菜单) ----------------------------------------------------------

    def create_menu(self, buttons: list[dict[str, Any]]) -> None:
        """``menu/create``: replace the account's menu with ``buttons`` (WeChat's ``button`` list).
        Creating the same menu twice does no harm, so a retried job may send it again."""
        self._wx.menu.create({"button": buttons})

    def get_menu(self) -> list[dict[str, Any]] | None:
        """``menu/get``: the menu WeChat has, as its ``button`` list; None when none is set (46003)."""
        try:
            result = self.transport.call("GET", "menu/get")
        except WeChatError as exc:
            if exc.errcode == NO_MENU:
                return None
            raise
        return list((result.get("menu") or {}).get("button") or [])

    # --- Tags (标签) -----------------------------------------------------------------------

    def create_tag(self, name: str) -> MPTag:
        if not 1 <= len(name) <= 30:
            raise ValueError("an MP tag name must be 1-30 characters")
        tag = self._wx.tag.create(name)
        return MPTag(id=int(tag["id"]), name=tag.get("name", name))

    def list_tags(self) -> list[MPTag]:
        return [MPTag(id=int(t["id"]), name=t["name"], count=int(t.get("count") or 0)) for t in self._wx.tag.get()]

    def tag_users(self, tag_id: int, openids: Iterable[str]) -> int:
        """Tag the followers, 50 a call; returns the number of calls. Tagging is idempotent, so
        a job that failed halfway can run again from the start."""
        return self._in_batches(self._wx.tag.tag_user, tag_id, openids)

    def untag_users(self, tag_id: int, openids: Iterable[str]) -> int:
        return self._in_batches(self._wx.tag.untag_user, tag_id, openids)

    def user_tag_ids(self, openid: str) -> list[int]:
        return [int(t) for t in self._wx.tag.get_user_tag(openid)]

    def _in_batches(self, post: Callable[[int, list[str]], Any], tag_id: int, openids: Iterable[str]) -> int:
        unique = list(dict.fromkeys(openids))
        batches = [unique[i : i + TAG_BATCH] for i in range(0, len(unique), TAG_BATCH)]
        for batch in batches:
            post(tag_id, batch)
        return len(batches)

    # --- Followers ------------------------------------------------------------------------

    def user_info(self, openid: str) -> Follower:
        data = self._wx.user.get(openid)
        subscribed = bool(data.get("subscribe", 0))
        return Follower(
            openid=data.get("openid", openid),
            subscribed=subscribed,
            nickname=data.get("nickname") or "",
            unionid=data.get("unionid"),
            language=data.get("language"),
            subscribe_time=data.get("subscribe_time"),
            subscribe_scene=data.get("subscribe_scene"),
            qr_scene_str=data.get("qr_scene_str") or None,
            remark=data.get("remark") or "",
            tag_ids=tuple(int(t) for t in data.get("tagid_list") or ()),
            raw=frozen_raw(data),
        )

    # --- Material ---------------------------------------------------------------------------

    def upload_image(self, filename: str, data: bytes, content_type: str) -> str:
        """An image uploaded as permanent material (永久素材, ``material/add_material``, multipart
        field ``media``); returns its ``media_id``, which image messages and cards name."""
        result = self.transport.call("POST", "material/add_material", params={"type": "image"},
                                     files={"media": (filename, data, content_type)})
        media_id = result.get("media_id")
        if not media_id:
            raise WeChatError(-1, "the material answer holds no media_id", "material/add_material", data=result)
        return str(media_id)

    # --- Messages -------------------------------------------------------------------------

    def send_custom_message(self, openid: str, msgtype: str, body: Mapping[str, Any]) -> None:
        """A customer-service message (客服消息), e.g. ``("text", {"content": "hi"})``."""
        if not msgtype:
            raise ValueError("msgtype is required")
        self._wx.post("message/custom/send", data={"touser": openid, "msgtype": msgtype, msgtype: dict(body)})

    def send_template(self, openid: str, template_id: str, data: Mapping[str, Any], url: str | None = None) -> int:
        """A template message (模板消息); returns WeChat's msgid."""
        result = self._wx.message.send_template(openid, template_id, dict(data), url=url)
        return int(result.get("msgid") or 0)

    def mass_send_by_tag(self, tag_id: int, msgtype: str, body: Mapping[str, Any], clientmsgid: str) -> MassSend:
        """A mass send (群发) to the followers with a tag. WeChat refuses a second send with the
        same ``clientmsgid`` (45065, naming the first): that comes back as the first send with
        ``duplicate=True``, so a retried job neither sends twice nor fails."""
        if not 1 <= len(clientmsgid) <= 64:
            raise ValueError("clientmsgid must be 1-64 characters")
        data: dict[str, Any] = {
            "filter": {"is_to_all": False, "tag_id": tag_id},
            "msgtype": msgtype,
            msgtype: dict(body),
            "clientmsgid": clientmsgid,
        }
        if msgtype == "mpnews":
            data["send_ignore_reprint"] = 0
        try:
            result = self._wx.post("message/mass/sendall", data=data)
        except WeChatError as exc:
            earlier = exc.data.get("msg_id") or exc.data.get("msgid")
            if exc.errcode != CLIENTMSGID_USED or not earlier:
                raise
            return MassSend(msg_id=int(earlier), duplicate=True)
        data_id = result.get("msg_data_id")
        return MassSend(msg_id=int(result.get("msg_id") or 0), msg_data_id=int(data_id) if data_id else None)
