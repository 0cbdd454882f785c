"""The WeCom (企业微信, "work") adapter: customer contact (客户联系) calls the product makes,
made with the corp's customer-contact secret.

Payloads come from wechatpy 1.8.18's ``wechatpy.enterprise`` API objects where they post what
WeChat wants; ``transfer_customer`` (missing from wechatpy) is posted here. Messages take
WeCom's current ``attachments`` list: ``{"msgtype": "image", "image": {"media_id": …}}``,
``{"msgtype": "link", "link": {"title": …, "url": …}}``, ``miniprogram``, ``video``, ``file``.
All of it goes through :class:`scrm.wechat.transport.Transport`. Nothing is sent before the
first method call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import redis
import requests

from scrm.wechat.errors import WeChatError, WeChatUnavailable
from scrm.wechat.tokens import TokenCache
from scrm.wechat.transport import Transport, secret_fingerprint
from scrm.wechat.values import (
    ContactWay,
    CorpTag,
    CorpTagGroup,
    ExternalContact,
    FollowUser,
    GroupChat,
    GroupChatPage,
    GroupChatRef,
    GroupMember,
    JoinWay,
    Member,
    MemberTask,
    MsgTemplate,
    PairTag,
    TransferResult,
    frozen_raw,
)
from scrm.wechat.wx import WorkWeChatPy

if TYPE_CHECKING:
    from scrm.runtime import Runtime

ATTACHMENT_TYPES = frozenset({"image", "link", "miniprogram", "video", "file"})
MAX_ATTACHMENTS = 9
MAX_STATE_LENGTH = 30
MAX_JOIN_WAY_CHATS = 5  # chat_id_list of a join way
JOIN_WAY_QR = 2  # scene: 1 a mini program button, 2 a QR code
TRANSFER_BATCH = 100  # customers per transfer_customer call
MAX_TEMPLATE_CHATS = 2000  # groups in one add_msg_template chat_id_list
MAX_TASK_PAGE = 1000  # get_groupmsg_task limit
TASK_SENT = 2  # get_groupmsg_task status: 0 not sent yet, 2 sent


class WorkClient:
    def __init__(
        self,
        *,
        redis_client: redis.Redis,
        corp_id: str,
        secret: str,
        base_url: str,
        timeout: float = 5.0,
        rate_limits: Mapping[str, int] | None = None,
        sleep: Callable[[float], None] | None = None,
        http: requests.Session | None = None,
        agent_id: int = 0,
        agent_secret: str | None = None,
    ) -> None:
        self.corp_id = corp_id
        self.agent_id = agent_id
        app = f"{corp_id}:{secret_fingerprint(secret)}"
        self.transport = Transport(
            channel="work",
            # Each secret of a corp has its own token; the key names the secret by a hash.
            app=app,
            base_url=base_url,
            redis_client=redis_client,
            token_api="gettoken",
            token_params={"corpid": corp_id, "corpsecret": secret},
            secrets=(secret,),
            timeout=timeout,
            rate_limits=rate_limits,
            sleep=sleep,
            http=http,
        )
        self._wx = WorkWeChatPy(corp_id, self.transport)
        # App messages go with the self-built app's own secret, so with a token of their own.
        self._agent_transport = None if not agent_secret else Transport(
            channel="work", app=f"{corp_id}:{secret_fingerprint(agent_secret)}", base_url=base_url,
            redis_client=redis_client, token_api="gettoken",
            token_params={"corpid": corp_id, "corpsecret": agent_secret}, secrets=(agent_secret,),
            timeout=timeout, rate_limits=rate_limits, sleep=sleep, http=http,
        )
        # The JS-SDK ticket is rationed like the token: one cached copy for every process.
        self._jsapi_tickets = TokenCache(redis_client, key=f"scrm:wechat:jsapi_ticket:work:{app}",
                                         api="get_jsapi_ticket", fetch=self._fetch_jsapi_ticket)

    @classmethod
    def from_runtime(
        cls,
        runtime: Runtime,
        *,
        sleep: Callable[[float], None] | None = None,
        http: requests.Session | None = None,
    ) -> WorkClient:
        config = runtime.config
        return cls(
            redis_client=runtime.redis,
            corp_id=config.wechat.work.corp_id,
            secret=config.wechat.work.secret,
            base_url=config.work_api_base_url,
            timeout=config.wechat.timeout_seconds,
            rate_limits=config.wechat.rate_limits,
            sleep=sleep,
            http=http,
            agent_id=config.wechat.work.agent_id,
            agent_secret=config.work_agent_secret,
        )

    # --- 联系我 and welcome messages ---------------------------------------------------------

    def add_contact_way(
        self,
        state: str,
        userids: Sequence[str],
        *,
        remark: str | None = None,
        skip_verify: bool = True,
        multi: bool = False,
    ) -> ContactWay:
        """A 「联系我」 QR code for one member (single) or several (multi); ``state`` comes back
        in the add-contact event and names the channel code. ``multi``: a multi-person way even
        with one member now, so that its members can be changed later (a single one cannot)."""
        if not 1 <= len(state) <= MAX_STATE_LENGTH:
            raise ValueError(f"state must be 1-{MAX_STATE_LENGTH} characters")
        if not userids:
            raise ValueError("a contact way needs at least one member")
        result = self._wx.external_contact.add_contact_way(
            type=1 if len(userids) == 1 and not multi else 2,
            scene=2,
            remark=remark,
            skip_verify=skip_verify,
            state=state,
            user=list(userids),
        )
        return ContactWay(config_id=result["config_id"], qr_code=result.get("qr_code", ""))

    def update_contact_way(self, config_id: str, userids: Sequence[str], *, remark: str | None = None) -> None:
        """Replace the members a multi-person contact way hands customers to (store codes
        follow the guides on duty)."""
        if not userids:
            raise ValueError("a contact way needs at least one member")
        self._wx.external_contact.update_contact_way(config_id, remark, user=list(userids))

    def send_welcome_msg(self, welcome_code: str, text: str, attachments: Sequence[Mapping[str, Any]] = ()) -> None:
        """The welcome message (欢迎语) for a new customer. The code is valid for 20 s and once:
        errcode 41051 means already welcomed, 41096 that another app is sending it."""
        self._wx.external_contact.send_welcome_msg({"welcome_code": welcome_code, **_content(text, attachments)})

    # --- Group welcome templates (入群欢迎语素材) ------------------------------------------------

    def upload_image(self, name: str, data: bytes, content_type: str) -> str:
        """``media/uploadimg`` (multipart field ``media``, jpg or png of at most 2 MB): the image's
        permanent URL, which a group welcome template's ``image.pic_url`` names."""
        answer = self.transport.call("POST", "media/uploadimg", files={"media": (name, data, content_type)})
        url = answer.get("url")
        if not url:
            raise WeChatError(-1, "the uploadimg answer holds no url", "media/uploadimg", data=answer)
        return str(url)

    def add_group_welcome_template(self, *, text: str, image_media_id: str | None = None,
                                   link: Mapping[str, str] | None = None, notify: bool = True,
                                   image_pic_url: str | None = None) -> str:
        """``group_welcome_template/add``: the ``template_id`` of a new template (at most 100 a
        corp). ``text`` may hold ``%NICKNAME%``; the image is ``image_pic_url`` (from
        :meth:`upload_image`) or ``image_media_id``; ``link`` is ``{title, url, desc?, picurl?}``;
        ``notify``: WeCom tells the members they may use it in their groups."""
        body = {**_welcome_content(text, image_media_id, link, image_pic_url), "notify": 1 if notify else 0}
        answer = self.transport.call("POST", "externalcontact/group_welcome_template/add", body=body)
        return str(answer["template_id"])

    def edit_group_welcome_template(self, template_id: str, *, text: str, image_media_id: str | None = None,
                                    link: Mapping[str, str] | None = None, image_pic_url: str | None = None) -> None:
        """``group_welcome_template/edit``: the template's whole content again (only one this
        corp's app made may be edited)."""
        self.transport.call("POST", "externalcontact/group_welcome_template/edit",
                            body={"template_id": template_id,
                                  **_welcome_content(text, image_media_id, link, image_pic_url)})

    def get_group_welcome_template(self, template_id: str) -> dict[str, Any]:
        """``group_welcome_template/get``: ``{text, image, link, miniprogram, file, video}`` as
        WeCom keeps them (the errcode/errmsg left out)."""
        answer = self.transport.call("POST", "externalcontact/group_welcome_template/get",
                                     body={"template_id": template_id})
        return {k: v for k, v in answer.items() if k not in ("errcode", "errmsg")}

    def del_group_welcome_template(self, template_id: str) -> None:
        self.transport.call("POST", "externalcontact/group_welcome_template/del", body={"template_id": template_id})

    # --- Corp tags (企业客户标签) --------------------------------------------------------------

    def mark_tag(
        self, userid: str, external_userid: str, add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> None:
        """Add/remove corp tags on the member–customer pair (WeCom tags hang on the pair)."""
        add, remove = list(add), list(remove)
        if not add and not remove:
            return
        self._wx.external_contact.mark_tag(userid, external_userid, add_tag=add, remove_tag=remove)

    def corp_tags(self) -> list[CorpTagGroup]:
        result = self._wx.external_contact.get_corp_tag_list()
        return [_tag_group(g) for g in result.get("tag_group") or ()]

    def add_corp_tag(self, group_name: str, names: Iterable[str]) -> CorpTagGroup:
        """Add tags to the group named ``group_name`` (WeCom creates it if it does not exist)."""
        tags = [{"name": n} for n in names]
        if not tags:
            raise ValueError("add_corp_tag needs at least one tag name")
        result = self._wx.external_contact.add_corp_tag(group_id=None, group_name=group_name, order=None, tags=tags)
        return _tag_group(result.get("tag_group") or {})

    # --- Mass messages, hand-over ---------------------------------------------------------

    def add_msg_template(
        self,
        chat_type: str,
        sender: str,
        external_userids: Sequence[str],
        text: str,
        attachments: Sequence[Mapping[str, Any]] = (),
        *,
        chat_ids: Sequence[str] = (),
    ) -> MsgTemplate:
        """A mass message (群发) the member ``sender`` confirms in WeCom: ``single`` to the
        customers, ``group`` to the sender's customer groups: those of ``chat_ids`` (sent as
        ``chat_id_list``, at most 2,000, all owned by the sender; WeCom clients from 4.1.10 on
        skip the owner's choosing), or when none are named, the groups the owner picks."""
        if chat_type not in ("single", "group"):
            raise ValueError('chat_type must be "single" or "group"')
        template: dict[str, Any] = {"chat_type": chat_type, "sender": sender, **_content(text, attachments)}
        if chat_type == "single":
            if not external_userids:
                raise ValueError("a single-chat mass message needs customers")
            if chat_ids:
                raise ValueError("chat_ids name groups: only a group mass message takes them")
            template["external_userid"] = list(external_userids)
        elif chat_ids:
            if len(chat_ids) > MAX_TEMPLATE_CHATS:
                raise ValueError(f"at most {MAX_TEMPLATE_CHATS} groups a group mass message")
            template["chat_id_list"] = list(dict.fromkeys(chat_ids))
        result = self._wx.external_contact.add_msg_template(template)
        failed = tuple(result.get("fail_list") or ())
        return MsgTemplate(msgid=str(result.get("msgid", "")), failed_external_userids=failed)

    def msg_tasks(self, msgid: str) -> list[MemberTask]:
        """``get_groupmsg_task``: each member's part of a mass message and whether they have
        sent it (status 2; 0 is "not yet"), every page."""
        tasks: list[MemberTask] = []
        cursor = ""
        while True:
            data = self.transport.call("POST", "externalcontact/get_groupmsg_task",
                                       body={"msgid": msgid, "limit": MAX_TASK_PAGE, "cursor": cursor})
            for entry in data.get("task_list") or ():
                sent = int(entry.get("status") or 0) == TASK_SENT
                tasks.append(MemberTask(userid=entry["userid"], sent=sent,
                                        send_time=int(entry["send_time"]) if sent and entry.get("send_time") else None))
            cursor = data.get("next_cursor") or ""
            if not cursor:
                return tasks

    def transfer_customer(
        self,
        handover: str,
        takeover: str,
        external_userids: Iterable[str],
        *,
        transfer_success_msg: str | None = None,
    ) -> list[TransferResult]:
        """Hand customers from one member to another (在职继承), 100 a call; WeCom answers per
        customer (e.g. 40128: moved twice in 90 days). It takes effect after 24 h."""
        results: list[TransferResult] = []
        ids = list(dict.fromkeys(external_userids))
        for start in range(0, len(ids), TRANSFER_BATCH):
            batch = ids[start : start + TRANSFER_BATCH]
            data: dict[str, Any] = {
                "handover_userid": handover,
                "takeover_userid": takeover,
                "external_userid": batch,
            }
            if transfer_success_msg:
                data["transfer_success_msg"] = transfer_success_msg
            answer = self._wx.post("externalcontact/transfer_customer", data=data)
            by_id = {c.get("external_userid"): int(c.get("errcode") or 0) for c in answer.get("customer") or ()}
            # A customer WeCom did not answer for is reported as -1 (unknown: try again).
            results.extend(TransferResult(external_userid=e, errcode=by_id.get(e, -1)) for e in batch)
        return results

    # --- Customer groups (客户群), members -----------------------------------------------------

    def group_chats(self, cursor: str | None = None, limit: int = 100) -> GroupChatPage:
        if not 1 <= limit <= 1000:
            raise ValueError("limit must be 1-1000")
        result = self._wx.external_contact_group_chat.list(cursor=cursor or None, limit=limit)
        chats = tuple(
            GroupChatRef(chat_id=c["chat_id"], status=int(c.get("status") or 0))
            for c in result.get("group_chat_list") or ()
        )
        return GroupChatPage(chats=chats, next_cursor=result.get("next_cursor") or None)

    def group_chat(self, chat_id: str) -> GroupChat:
        """``groupchat/get`` with ``need_name``: members come with their names."""
        data = self.transport.call("POST", "externalcontact/groupchat/get",
                                   body={"chat_id": chat_id, "need_name": 1}).get("group_chat") or {}
        members = tuple(
            GroupMember(
                userid=m["userid"],
                type=int(m.get("type") or 0),
                join_time=m.get("join_time"),
                join_scene=m.get("join_scene"),
                invitor=(m.get("invitor") or {}).get("userid"),
                name=m.get("name") or m.get("group_nickname") or "",
                unionid=m.get("unionid"),
                state=m.get("state") or None,
            )
            for m in data.get("member_list") or ()
        )
        return GroupChat(
            chat_id=data.get("chat_id", chat_id),
            name=data.get("name") or "",
            owner=data.get("owner") or "",
            create_time=data.get("create_time"),
            notice=data.get("notice") or "",
            members=members,
            admins=tuple(a["userid"] for a in data.get("admin_list") or ()),
            raw=frozen_raw(data),
        )

    # --- Group join ways (群活码) ----------------------------------------------------------------

    def add_join_way(self, *, chat_ids: Sequence[str], state: str, remark: str = "", auto_create_room: bool = False,
                     room_base_name: str = "", room_base_id: int = 1) -> str:
        """A QR join way into the first of ``chat_ids`` with room (WeCom creates a new group
        when all are full and ``auto_create_room``); ``state`` comes back on each member who
        joins through it (``groupchat/get``). Returns its ``config_id``."""
        body = _join_way_body(chat_ids=chat_ids, state=state, remark=remark, auto_create_room=auto_create_room,
                              room_base_name=room_base_name, room_base_id=room_base_id)
        return self.transport.call("POST", "externalcontact/groupchat/add_join_way", body=body)["config_id"]

    def get_join_way(self, config_id: str) -> JoinWay:
        way = self.transport.call("POST", "externalcontact/groupchat/get_join_way",
                                  body={"config_id": config_id}).get("join_way") or {}
        return JoinWay(
            config_id=way.get("config_id", config_id), scene=int(way.get("scene") or JOIN_WAY_QR),
            remark=way.get("remark") or "", auto_create_room=bool(way.get("auto_create_room")),
            room_base_name=way.get("room_base_name") or "", room_base_id=int(way.get("room_base_id") or 0),
            chat_ids=tuple(way.get("chat_id_list") or ()), state=way.get("state") or "",
            qr_code=way.get("qr_code") or "",
        )

    def update_join_way(self, config_id: str, *, chat_ids: Sequence[str], state: str, remark: str = "",
                        auto_create_room: bool = False, room_base_name: str = "", room_base_id: int = 1) -> None:
        """WeCom takes the whole definition again: what is left out is reset."""
        body = _join_way_body(chat_ids=chat_ids, state=state, remark=remark, auto_create_room=auto_create_room,
                              room_base_name=room_base_name, room_base_id=room_base_id)
        self.transport.call("POST", "externalcontact/groupchat/update_join_way", body={"config_id": config_id, **body})

    def del_join_way(self, config_id: str) -> None:
        self.transport.call("POST", "externalcontact/groupchat/del_join_way", body={"config_id": config_id})

    def external_contact(self, external_userid: str) -> ExternalContact:
        """``externalcontact/get``: who a customer is, with the ``unionid`` when WeCom gives it."""
        data = self.transport.call("GET", "externalcontact/get", params={"external_userid": external_userid})
        contact = data.get("external_contact") or {}
        follow_users = tuple(_follow_user(f) for f in data.get("follow_user") or () if f.get("userid"))
        return ExternalContact(
            external_userid=contact.get("external_userid", external_userid),
            name=contact.get("name") or "",
            unionid=contact.get("unionid") or None,
            follow_userids=tuple(f.userid for f in follow_users),
            follow_users=follow_users,
            raw=frozen_raw(data),
        )

    def get_user(self, userid: str) -> Member:
        data = self._wx.user.get(userid)
        return Member(
            userid=data.get("userid", userid),
            name=data.get("name") or "",
            department=tuple(int(d) for d in data.get("department") or ()),
            position=data.get("position") or "",
            status=data.get("status"),
            raw=frozen_raw(data),
        )

    # --- OAuth (网页授权) ----------------------------------------------------------------------

    def user_by_oauth_code(self, code: str) -> str:
        """``auth/getuserinfo``: the member who signed in on WeCom's authorize page (the code is
        good once, for 5 minutes). Someone who is not a member of the corp gets an openid or
        external_userid instead of a userid: :class:`ValueError`."""
        data = self.transport.call("GET", "auth/getuserinfo", params={"code": code})
        userid = data.get("userid") or data.get("UserId")
        if not userid:
            raise ValueError("this WeCom user is not a member of the corp")
        return str(userid)

    # --- JS-SDK ------------------------------------------------------------------------------

    def jsapi_ticket(self) -> str:
        """The corp's ``jsapi_ticket`` (``get_jsapi_ticket``) that signs ``wx.config`` on our pages
        (guides/jssdk.py); cached in Redis until shortly before its 7200 s run out."""
        return self._jsapi_tickets.get()

    def _fetch_jsapi_ticket(self) -> tuple[str, int]:
        data = self.transport.call("GET", "get_jsapi_ticket")
        if not data.get("ticket"):
            raise WeChatUnavailable("the get_jsapi_ticket answer holds no ticket", "get_jsapi_ticket")
        return str(data["ticket"]), int(data.get("expires_in") or 7200)

    # --- App messages to members (应用消息) -----------------------------------------------------

    @property
    def can_send_app_messages(self) -> bool:
        """Whether ``wechat.work.agent_secret`` is set: without it no app message is sent."""
        return self._agent_transport is not None

    def send_app_message(self, touser: Sequence[str], text: str) -> None:
        """``message/send``: a text from the self-built app (``agent_id``) to members, with the
        app's own token. WeCom allows each member 30 a minute and 1,000 an hour from one app."""
        if self._agent_transport is None:
            raise ValueError("wechat.work.agent_secret is not set: app messages cannot be sent")
        if not touser or not text:
            raise ValueError("an app message needs members and a text")
        self._agent_transport.call("POST", "message/send", body={
            "touser": "|".join(touser), "msgtype": "text", "agentid": self.agent_id, "text": {"content": text}})


def _join_way_body(*, chat_ids: Sequence[str], state: str, remark: str, auto_create_room: bool,
                   room_base_name: str, room_base_id: int) -> dict[str, Any]:
    if not 1 <= len(state) <= MAX_STATE_LENGTH:
        raise ValueError(f"state must be 1-{MAX_STATE_LENGTH} characters")
    if len(chat_ids) > MAX_JOIN_WAY_CHATS or (not chat_ids and not auto_create_room):
        raise ValueError(f"a join way takes 1-{MAX_JOIN_WAY_CHATS} chats (none only with auto_create_room)")
    if auto_create_room and not room_base_name:
        raise ValueError("auto_create_room needs room_base_name")
    body: dict[str, Any] = {"scene": JOIN_WAY_QR, "remark": remark, "auto_create_room": int(auto_create_room),
                            "chat_id_list": list(chat_ids), "state": state}
    if auto_create_room:
        body.update(room_base_name=room_base_name, room_base_id=room_base_id)
    return body


def _content(text: str, attachments: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``text`` and ``attachments`` as WeCom's message body; at least one of them."""
    if len(attachments) > MAX_ATTACHMENTS:
        raise ValueError(f"at most {MAX_ATTACHMENTS} attachments")
    for attachment in attachments:
        kind = attachment.get("msgtype")
        if kind not in ATTACHMENT_TYPES or not isinstance(attachment.get(kind), Mapping):
            raise ValueError(f"an attachment is {{'msgtype': one of {sorted(ATTACHMENT_TYPES)}, <msgtype>: {{…}}}}")
    if not text and not attachments:
        raise ValueError("a message needs text or attachments")
    content: dict[str, Any] = {}
    if text:
        content["text"] = {"content": text}
    if attachments:
        content["attachments"] = [
            {k: dict(v) if isinstance(v, Mapping) else v for k, v in a.items()} for a in attachments
        ]
    return content


def _welcome_content(text: str, image_media_id: str | None, link: Mapping[str, str] | None,
                     image_pic_url: str | None = None) -> dict[str, Any]:
    """A group welcome template's ``text``, ``image`` (``pic_url`` before ``media_id``) and
    ``link``; at least one of them."""
    if not text and not image_media_id and not image_pic_url and not link:
        raise ValueError("a group welcome template needs text, an image or a link")
    content: dict[str, Any] = {}
    if text:
        content["text"] = {"content": text}
    if image_pic_url:
        content["image"] = {"pic_url": image_pic_url}
    elif image_media_id:
        content["image"] = {"media_id": image_media_id}
    if link:
        content["link"] = {k: v for k, v in link.items() if v}
    return content


def _follow_user(data: Mapping[str, Any]) -> FollowUser:
    tags = tuple(
        PairTag(id=t.get("tag_id") or "", name=t.get("tag_name") or "", group_name=t.get("group_name") or "",
                type=int(t.get("type") or 1))
        for t in data.get("tags") or ()
    )
    created = data.get("createtime")
    return FollowUser(userid=data["userid"], createtime=int(created) if created else None,
                      state=data.get("state") or "", tags=tags)


def _tag_group(group: Mapping[str, Any]) -> CorpTagGroup:
    group_id, group_name = group.get("group_id", ""), group.get("group_name", "")
    tags = tuple(
        CorpTag(id=t["id"], name=t["name"], group_id=group_id, group_name=group_name) for t in group.get("tag") or ()
    )
    return CorpTagGroup(group_id=group_id, group_name=group_name, tags=tags)
