"""WeCom OAuth sign-in (网页授权) for the guide pages, when ``guides.wecom_oauth`` is on.

A guide opens /m/ from the corp's WeCom app: WeCom's authorize page signs them in silently
(``snsapi_base``) and comes back with a code, which ``auth/getuserinfo`` turns into the
member's userid; the guide with that ``wecom_userid`` is signed in, as a login link would.
No link to forward, nothing to type. The sandbox plays the authorize page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from sqlalchemy import select

from guides.login_links import sign_in_guide
from guides.models import Guide
from scrm.errors import Refused
from scrm.wechat.errors import WeChatError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime
    from scrm.users.models import ApiToken

AUTHORIZE_URL = "https://open.weixin.qq.com/connect/oauth2/authorize"
CALLBACK_PATH = "/m/oauth/callback"


class OAuthRefused(Refused):
    """WeCom did not sign this person in as a guide; the message says why."""


def authorize_url(runtime: Runtime, *, state: str) -> str:
    """Where to send the guide: WeCom's authorize page, which comes back to the callback."""
    config = runtime.config
    base = (f"{config.server.public_base_url}/sandbox/wechat/work/connect/oauth2/authorize"
            if config.wechat.sandbox else AUTHORIZE_URL)
    query = urlencode({
        "appid": config.wechat.work.corp_id,
        "redirect_uri": config.server.public_base_url + CALLBACK_PATH,
        "response_type": "code",
        "scope": "snsapi_base",
        "state": state,
        "agentid": config.wechat.work.agent_id,
    })
    return f"{base}?{query}#wechat_redirect"


def member_of(runtime: Runtime, *, code: str) -> str:
    """The WeCom member the code names (a WeChat call: made outside any transaction)."""
    try:
        return runtime.work.user_by_oauth_code(code)
    except ValueError:
        raise OAuthRefused("you are not a member of this company's WeCom") from None
    except WeChatError as exc:
        if exc.errcode is None:
            raise OAuthRefused("WeCom is not answering; try again in a minute") from None
        raise OAuthRefused("WeCom did not accept this sign-in; open the page again") from None


def sign_in_member(*, db_session: Session, userid: str) -> ApiToken:
    """A fresh token for the guide who is WeCom member ``userid``."""
    guide = db_session.scalar(select(Guide).where(Guide.wecom_userid == userid))
    if guide is None or not guide.active:
        raise OAuthRefused("your WeCom account is not a guide here; ask your manager")
    return sign_in_guide(db_session=db_session, guide=guide)
