"""WeChat's error answers, as the sandbox gives them: ``{"errcode": N, "errmsg": "…"}`` with
HTTP 200, as WeChat does.

Codes come from WeChat's global error lists (MP 全局返回码, WeCom 全局错误码). Where the docs
leave a case open, the sandbox chooses, and says so here:

- An api the sandbox does not play: HTTP 404 and errcode 404 (not WeChat's -1 "system busy",
  which clients rightly retry; a missing api should fail at once). A ``showqrcode`` ticket that
  is unknown or expired gets the same HTTP 404 / errcode 404.
- A POST body that is empty, not JSON, or not a JSON object: 47001 on both channels.
- A GET to a POST-only api: 43002; a POST to a GET-only api: 43001.
- MP: an access_token past its 7200 s: 42001; a token never issued, or a superseded one after
  its 5-minute grace: 40001 ("… not latest").
- MP ``message/custom/send`` to an unsubscribed follower: 45015 (its message names both cases);
  a sixth message in one 48 h window: 45047. Missing ``<msgtype>`` object: 47001; a missing
  required field: 44004 (text content), 40007 (media ids), 40165 (mini-program pagepath),
  40073 (card id), 44003/45008 (no article / more than one).
- MP ``batchtagging`` with 0 openids: 40032, like more than 50.
- MP ``message/mass/sendall``: no ``filter``: 47001; an unknown ``tag_id``: 40003.
- MP ``qrcode/create``: bad ``action_name`` 40052; bad scene or ``expire_seconds`` 40053.
- WeCom: a member that does not exist: 60111 wherever a userid is named; no customer relation
  between a member and an ``external_userid``: 84061; parameters of the wrong shape: 40058
  with ``errmsg`` naming the field. ``add_contact_way``: missing/invalid ``type`` 41037/41039,
  ``scene`` 41038/41040 (WeCom's own codes). ``send_welcome_msg``: missing code 41049,
  unknown or expired code 41050, used code 41051. ``add_msg_template`` where no customer can
  be sent to: 41048; a ``chat_id_list``
  naming a group that is unknown or not the sender's: 40050. ``transfer_customer`` per customer: 40096 (unknown customer), 40131 (not
  the handover's customer), 40128 (twice in 90 days); same handover and takeover: 40130.
"""

from __future__ import annotations

MESSAGES: dict[int, str] = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40004: "invalid media type",
    40005: "invalid file type",
    40006: "invalid meida size",
    40007: "invalid media_id",
    40008: "invalid message type",
    40013: "invalid appid",
    40014: "invalid access_token",
    40032: "invalid openid list size",
    40037: "invalid template_id",
    40050: "chat_id not found",
    40052: "invalid action name",
    40053: "invalid action info, please check document",
    40056: "invalid agentid",
    40058: "invalid parameter",
    40068: "invalid tagid",
    40071: "invalid tag name: it already exists",
    40072: "invalid tag name length",
    40073: "invalid card id",
    40096: "invalid external userid",
    40125: "invalid appsecret",
    40128: "customer transferred too often (twice in 90 days at most)",
    40130: "handover and takeover are the same member",
    40165: "invalid weapp pagepath",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41005: "media data missing",
    41009: "missing userid",
    41035: "missing external_userid",
    41037: "missing contact way type",
    41038: "missing contact way scene",
    41039: "invalid contact way type",
    41040: "invalid contact way scene",
    41048: "no customer to send to",
    41049: "missing welcome_code",
    41050: "invalid welcome_code",
    41051: "customer and member have already started chatting",
    42001: "access_token expired",
    43001: "require GET method",
    43002: "require POST method",
    43004: "require subscribe",
    44003: "empty news data",
    44004: "empty content",
    45008: "article size out of limit",
    45009: "reach max api daily quota limit",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    45056: "too many tags now, no need to add new",
    45058: "can't modify sys tag",
    45059: "tag count of a user out of limit",
    45065: "clientmsgid exist",
    45157: "invalid tag name",
    45158: "tag name too long",
    45159: "invalid tag id",
    47001: "data format error",
    60111: "userid not found",
    84061: "not external contact",
    404: "api not in sandbox",
}


class WeChatError(Exception):
    """A refusal as WeChat words it (``errmsg`` overrides the usual wording); ``detail`` is
    appended as WeChat's ``hint: […]``; ``extra`` fields join the answer."""

    def __init__(
        self,
        errcode: int,
        detail: str | None = None,
        *,
        errmsg: str | None = None,
        http_status: int = 200,
        **extra: object,
    ) -> None:
        self.errcode = errcode
        self.extra = extra
        self.errmsg = errmsg or MESSAGES.get(errcode, "sandbox error")
        if detail:
            self.errmsg = f"{self.errmsg}, hint: [{detail}]"
        self.http_status = http_status
        super().__init__(f"{errcode} {self.errmsg}")

    def payload(self) -> dict[str, object]:
        return {"errcode": self.errcode, "errmsg": self.errmsg, **self.extra}


def invalid(field: str, why: str) -> WeChatError:
    """WeCom's 40058 naming the field at fault."""
    return WeChatError(40058, f"{field}: {why}")
