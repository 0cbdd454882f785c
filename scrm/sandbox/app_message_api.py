"""The sandbox plays WeCom's app messages to members (应用消息, ``message/send``).

As on WeCom, they are sent with the token of the self-built app's own secret
(``wechat.work.agent_secret``), not the customer-contact secret's: a contact token is refused
(40014). ``agentid`` must be ``wechat.work.agent_id``; ``touser`` names members joined by
``|`` (WeCom's ``@all`` is not played). A text lands in each member's ``work_app`` inbox
(``world.list_messages(redis, userid, channel="work_app")``); members the corp does not have
come back in ``invaliduser``.
"""

from __future__ import annotations

from typing import Any

from scrm.sandbox import state, world
from scrm.sandbox.apis import Call, api
from scrm.sandbox.errors import WeChatError, invalid
from scrm.sandbox.work_api import AGENT_TOKENS

MAX_TEXT_BYTES = 2048
MAX_USERS = 1000


@api("work", "message/send", needs_token=False)
def send_app_message(call: Call) -> dict[str, Any]:
    token = call.query.get("access_token")
    if not token:
        raise WeChatError(41001)
    status = state.token_status(call.redis, AGENT_TOKENS, token, now=call.now)
    if status != "valid":
        raise WeChatError(42001 if status == "expired" else 40014)
    body = call.body
    if body.get("agentid") != call.config.wechat.work.agent_id:
        raise WeChatError(40056, "invalid agentid")
    if body.get("msgtype") != "text":
        raise invalid("msgtype", "the sandbox plays text app messages")
    content = (body.get("text") or {}).get("content") if isinstance(body.get("text"), dict) else None
    if not isinstance(content, str) or not content or len(content.encode()) > MAX_TEXT_BYTES:
        raise invalid("text.content", f"must be 1 to {MAX_TEXT_BYTES} bytes")
    touser = body.get("touser")
    users = [u for u in touser.split("|") if u] if isinstance(touser, str) else []
    if not users or len(users) > MAX_USERS:
        raise invalid("touser", f"must name 1 to {MAX_USERS} members")
    known = [u for u in users if world.get_member(call.redis, u) is not None]
    if not known:
        raise WeChatError(81013, "all touser invalid")
    world.deliver(call.redis, "work_app", known, {"msgtype": "text", "text": {"content": content},
                                                  "agentid": body["agentid"], "at": call.now_ms})
    return {"invaliduser": "|".join(u for u in users if u not in known)}
