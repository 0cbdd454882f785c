"""The ``change_external_chat`` callbacks WeCom sends when someone joins or quits a customer
group (samples: ../shared/wechat-samples/work_change_external_chat_*.xml), built and POSTed
sealed and signed to the product's WeCom webhook (``/wechat/work``) as WeCom does: the corp id,
the work token and key. A new room is announced first (``ChangeType=create``), then the join
(``update``/``add_member``, ``JoinScene`` 3 through a join way); a quit is ``update``/
``del_member`` with ``QuitScene`` 0 (left by themselves)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import requests

from handlers.render import cdata
from handlers.signed_callbacks import CallbackSender

if TYPE_CHECKING:
    from scrm.runtime import Runtime

WEBHOOK_TIMEOUT_SECONDS = 10
QUIT_BY_THEMSELVES = 0


class CallbackFailed(Exception):
    """The product's WeCom webhook could not be reached or did not answer 200."""


def member_version(userids: Sequence[str]) -> str:
    """WeCom's ``LastMemVer``/``CurMemVer``: a digest of who is in the group."""
    return hashlib.md5(",".join(sorted(userids)).encode()).hexdigest()  # noqa: S324 - a version, not a secret


def chat_xml(*, corp_id: str, chat_id: str, change_type: str, create_time: int, detail: str | None = None,
             join_scene: int = 0, quit_scene: int = 0, members: Sequence[str] = (),
             last_version: str = "", current_version: str = "") -> str:
    """One ``change_external_chat`` event as WeCom writes it."""
    fields = [("ToUserName", cdata(corp_id)), ("FromUserName", cdata("sys")), ("CreateTime", str(create_time)),
              ("MsgType", cdata("event")), ("Event", cdata("change_external_chat")), ("ChatId", cdata(chat_id)),
              ("ChangeType", cdata(change_type))]
    if detail:
        fields += [("UpdateDetail", cdata(detail)), ("JoinScene", str(join_scene)), ("QuitScene", str(quit_scene)),
                   ("MemChangeCnt", str(len(members))),
                   ("MemChangeList", "".join(f"<Item>{cdata(m)}</Item>" for m in members)),
                   ("LastMemVer", cdata(last_version)), ("CurMemVer", cdata(current_version))]
    return "<xml>" + "".join(f"<{k}>{v}</{k}>" for k, v in fields) + "</xml>"


def post_work_callback(runtime: Runtime, xml: str) -> None:
    """POST ``xml`` to ``{server.public_base_url}/wechat/work`` sealed and signed as WeCom does."""
    sender = CallbackSender.from_config(runtime.config, "work")
    signed = sender.sign(xml, timestamp=int(runtime.clock.timestamp()))
    url = runtime.config.server.public_base_url + signed.path
    try:
        response = requests.post(url, data=signed.body, headers={"Content-Type": "text/xml"},
                                 timeout=WEBHOOK_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        raise CallbackFailed(f"could not reach the webhook at {url.split('?')[0]}: {exc}") from None
    if response.status_code != 200:
        raise CallbackFailed(f"the webhook answered {response.status_code}: {response.text[:200]}")


def announce_join(runtime: Runtime, *, chat_id: str, external_userid: str, members_now: Sequence[str],
                  created: bool, create_time: int) -> None:
    """What WeCom sends after a join through a join way: ``create`` for a new room, then
    ``add_member`` with ``JoinScene`` 3."""
    corp_id, at = runtime.config.wechat.work.corp_id, create_time
    if created:
        post_work_callback(runtime, chat_xml(corp_id=corp_id, chat_id=chat_id, change_type="create", create_time=at))
    before = [m for m in members_now if m != external_userid]
    post_work_callback(runtime, chat_xml(
        corp_id=corp_id, chat_id=chat_id, change_type="update", create_time=at, detail="add_member", join_scene=3,
        members=[external_userid], last_version=member_version(before), current_version=member_version(members_now)))


def announce_quit(runtime: Runtime, *, chat_id: str, external_userid: str, members_now: Sequence[str],
                  create_time: int) -> None:
    """What WeCom sends after someone left a group by themselves: ``del_member``, ``QuitScene`` 0."""
    post_work_callback(runtime, chat_xml(
        corp_id=runtime.config.wechat.work.corp_id, chat_id=chat_id, change_type="update",
        create_time=create_time, detail="del_member", quit_scene=QUIT_BY_THEMSELVES,
        members=[external_userid], last_version=member_version([*members_now, external_userid]),
        current_version=member_version(members_now)))
