"""The sandbox's two blueprints (SPEC §10), registered only when ``wechat.sandbox = true``.

``wechat_api`` (at ``/sandbox/wechat``) is the fake WeChat: ``<mp|work>/cgi-bin/<api>`` (see
:mod:`scrm.sandbox.dispatch`), and ``work/contact_way/<config_id>.png``, the image a
``add_contact_way`` ``qr_code`` points at, ``work/join_way/<config_id>.png`` (a join way's),
``work/uploadimg/<name>`` (an image ``media/uploadimg`` kept), ``work/connect/oauth2/authorize``, WeCom's
sign-in page for the guide pages' OAuth, and ``mp/connect/oauth2/authorize`` with
``mp/sns/<api>``, the Official Account's web sign-in for the customer's coupon page; and
``sms/``, Tencent Cloud SMS's ``SendSms`` for members' verification codes (sms_api.py).

``control_api`` (at ``/api/sandbox``, admin or manager) drives it: ``GET|DELETE /calls``
(``?channel=mp|work&api=…``), ``GET|POST|DELETE /faults``, ``POST
/work/msg_tasks/<msgid>/send`` (a member confirms a WeCom mass message) and ``POST
/work/groups/<chat_id>/welcome`` ``{template_id}`` (the group's owner applies a welcome template
in WeCom's client; null takes it off).
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, redirect, render_template, request, session
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from scrm.sandbox import apis, dispatch, material_api, mp_oauth, phone, sms_api, state, work_api, world
from scrm.sandbox.schemas import GroupWelcomeApplyIn
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime
from scrm.web.auth import require_role
from scrm.web.errors import ApiError, NotFound

wechat_api = Blueprint("sandbox_wechat", __name__)
control_api = Blueprint("sandbox_control", __name__)

MAX_LISTED_FOLLOWERS = 50


def _redis():  # noqa: ANN202
    return current_runtime().redis


@wechat_api.route("/<channel>/cgi-bin/<path:name>", methods=["GET", "POST"])
def wechat_call(channel: str, name: str):  # noqa: ANN201
    if channel not in ("mp", "work"):
        return jsonify(errcode=404, errmsg=f"no channel {channel!r} in sandbox; use mp or work"), 404
    return dispatch.serve(
        runtime=current_runtime(),
        channel=channel,
        name=name,
        method=request.method,
        query=request.args.to_dict(),
        raw_body=request.get_data(),
        upload=_upload(),
    )


def _upload() -> tuple[str, bytes, str] | None:
    """The first file of a multipart post (``material/add_material``'s ``media``), if any."""
    if not request.files:
        return None
    file = next(iter(request.files.values()))
    return file.filename or "", file.read(), file.mimetype or ""


@wechat_api.route("/mp/sns/<path:name>", methods=["GET", "POST"])
def mp_sns_call(name: str):  # noqa: ANN201
    """MP's web sign-in api, which WeChat serves beside cgi-bin/ (api.weixin.qq.com/sns/)."""
    return dispatch.serve(
        runtime=current_runtime(),
        channel="mp",
        name=f"sns/{name}",
        method=request.method,
        query=request.args.to_dict(),
        raw_body=request.get_data(),
    )


@wechat_api.post("/sms/")
def tencent_sms_call():  # noqa: ANN201
    """Tencent Cloud SMS's ``SendSms`` (sms.tencentcloudapi.com), which members' verification
    codes go through (scrm/members/sms.py; the sandbox's side: scrm/sandbox/sms_api.py)."""
    return jsonify(sms_api.serve(current_runtime(), headers=request.headers, raw_body=request.get_data()))


@wechat_api.get("/work/contact_way/<config_id>.png")
def contact_way_image(config_id: str):  # noqa: ANN201
    return _way_image(world.find_contact_way(_redis(), config_id), "contact way")


@wechat_api.get("/work/join_way/<config_id>.png")
def join_way_image(config_id: str):  # noqa: ANN201
    return _way_image(world.get_join_way(_redis(), config_id), "join way")


def _way_image(way: dict | None, what: str):  # noqa: ANN202
    """A way's QR image, whose content is its ``qr_code`` URL without ``.png``."""
    if way is None or "qr_code" not in way:
        return jsonify(errcode=404, errmsg=f"unknown {what}"), 404
    return apis.png(way["qr_code"].removesuffix(".png"))


@wechat_api.get("/work/uploadimg/<name>")
def uploaded_image(name: str):  # noqa: ANN201
    """The image WeCom's ``media/uploadimg`` answered this URL for (a welcome's ``pic_url``)."""
    found = material_api.uploaded_image(_redis(), name)
    if found is None:
        return jsonify(errcode=404, errmsg="unknown image"), 404
    return Response(found[0], mimetype=found[1])


@wechat_api.route("/work/connect/oauth2/authorize", methods=["GET", "POST"])
def work_oauth_authorize():  # noqa: ANN201
    """WeCom's authorize page (open.weixin.qq.com/connect/oauth2/authorize) as the sandbox
    plays it: say which member you are, and go back to ``redirect_uri`` with a code and the
    ``state``. Like WeCom, it only sends codes to this site (WeCom: the app's trusted domain)."""

    runtime = current_runtime()
    args = request.args
    site = runtime.config.server.public_base_url + "/"
    if args.get("appid") != runtime.config.wechat.work.corp_id or not args.get("redirect_uri", "").startswith(site):
        return jsonify(errcode=40029, errmsg="appid is not this corp, or redirect_uri is not on this site"), 400
    error = None
    if request.method == "POST":
        userid = request.form.get("userid", "").strip()
        if world.get_member(_redis(), userid) is not None:
            code = work_api.issue_oauth_code(_redis(), userid=userid, now=runtime.clock.now())
            target = args["redirect_uri"]
            query = urlencode({"code": code, "state": args.get("state", "")})
            return redirect(f"{target}{'&' if '?' in target else '?'}{query}")
        error = f"no member {userid!r} in the sandbox's WeCom"
    members = [userid for userid, _ in world.DEFAULT_MEMBERS]
    return render_template("sandbox_authorize.html", error=error, members=members), 400 if error else 200


@wechat_api.route("/mp/connect/oauth2/authorize", methods=["GET", "POST"])
def mp_oauth_authorize():  # noqa: ANN201
    """The Official Account's authorize page (snsapi_base) as the sandbox plays it: go back to
    ``redirect_uri`` with a code and the ``state``. WeChat asks nothing (it knows who holds the
    phone): a page the phone sandbox opened (:mod:`scrm.sandbox.phone_products`) comes back at
    once as the phone's customer; any other browser says which WeChat user it is. Any WeChat user
    may sign in, follower or not, as in WeChat. Like WeChat, it only sends codes to this site
    (WeChat: the account's web sign-in domain)."""

    runtime = current_runtime()
    args = request.args
    site = runtime.config.server.public_base_url + "/"
    if args.get("appid") != runtime.config.wechat.mp.app_id or not args.get("redirect_uri", "").startswith(site):
        return jsonify(errcode=10003, errmsg="appid is not this account, or redirect_uri is not on this site"), 400
    if args.get("scope") not in ("snsapi_base", "snsapi_userinfo"):
        return jsonify(errcode=10005, errmsg="scope must be snsapi_base or snsapi_userinfo"), 400
    error = None
    held = session.get(mp_oauth.BROWSER_USER)
    if request.method == "GET" and isinstance(held, str) and phone.is_wechat_user(_redis(), held):
        return _signed_in_as(runtime, held)
    if request.method == "POST":
        openid = request.form.get("openid", "").strip()
        if phone.is_wechat_user(_redis(), openid):
            return _signed_in_as(runtime, openid)
        error = f"no WeChat user {openid!r} in the sandbox"
    users = phone.list_customers(_redis())[:MAX_LISTED_FOLLOWERS]
    return render_template("sandbox_mp_authorize.html", error=error, users=users), 400 if error else 200


def _signed_in_as(runtime, openid: str):  # noqa: ANN001, ANN202
    """Back to ``redirect_uri`` with a code for ``openid`` and the ``state``."""
    code = mp_oauth.issue_oauth_code(_redis(), openid=openid, now=runtime.clock.now())
    target = request.args["redirect_uri"]
    query = urlencode({"code": code, "state": request.args.get("state", "")})
    return redirect(f"{target}{'&' if '?' in target else '?'}{query}")


class FaultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Literal["mp", "work"]
    api: str = Field(min_length=1, max_length=200)
    errcode: int | None = Field(default=None, strict=True)
    times: int = Field(default=1, ge=1, le=100_000, strict=True)
    delay_ms: int = Field(default=0, ge=0, le=60_000, strict=True)
    http_status: int | None = Field(default=None, ge=400, le=599, strict=True)

    @model_validator(mode="after")
    def _meaningful(self) -> FaultIn:
        if self.errcode == 0:
            raise ValueError("errcode 0 is success; leave errcode out for a delay-only fault")
        if self.errcode is not None and self.http_status is not None:
            raise ValueError("give errcode or http_status, not both")
        if self.errcode is None and self.http_status is None and self.delay_ms == 0:
            raise ValueError("a fault needs errcode, http_status or delay_ms")
        if self.api != "*" and self.api not in dispatch.known_apis(self.channel):
            raise ValueError(f"the sandbox does not play {self.channel} api {self.api!r}; use one it plays or '*'")
        return self


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


@control_api.get("/calls")
@require_role(*MANAGERS)
def list_calls():  # noqa: ANN201
    channel = request.args.get("channel")
    if channel not in (None, "mp", "work"):
        raise ApiError("channel must be mp or work", code="invalid_channel")
    return jsonify(calls=state.list_calls(_redis(), channel=channel, api=request.args.get("api")))


@control_api.delete("/calls")
@require_role(*MANAGERS)
def clear_calls():  # noqa: ANN201
    state.clear_calls(_redis())
    return "", 204


@control_api.post("/faults")
@require_role(*MANAGERS)
def add_fault():  # noqa: ANN201
    body: Any = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError("the body must be a JSON object", code="invalid_fault")
    try:
        fault = FaultIn.model_validate(body)
    except ValidationError as exc:
        raise ApiError(_describe(exc), code="invalid_fault") from None
    return jsonify(state.add_fault(_redis(), **fault.model_dump())), 201


@control_api.get("/faults")
@require_role(*MANAGERS)
def list_faults():  # noqa: ANN201
    return jsonify(faults=state.list_faults(_redis()))


@control_api.delete("/faults")
@require_role(*MANAGERS)
def clear_faults():  # noqa: ANN201
    state.clear_faults(_redis())
    return "", 204


@control_api.post("/work/msg_tasks/<msgid>/send")
@require_role(*MANAGERS)
def confirm_msg_task(msgid: str):  # noqa: ANN201
    """The member (``{"userid": …}``, else every member) confirms a WeCom mass message, as they
    would in WeCom's 群发助手: their targets receive it and ``get_groupmsg_task`` says sent."""
    body: Any = request.get_json(silent=True) or {}
    userid = body.get("userid") if isinstance(body, dict) else None
    if userid is not None and not isinstance(userid, str):
        raise ApiError("userid must be a string", code="invalid_userid")
    if world.get_msg_task(_redis(), msgid) is None:
        raise NotFound(f"no mass-message task {msgid}")
    try:
        task = world.send_msg_task(_redis(), msgid, userid=userid)
    except KeyError as exc:
        raise ApiError(exc.args[0], code="not_a_member") from None
    return jsonify(task)


@control_api.post("/work/groups/<chat_id>/welcome")
@require_role(*MANAGERS)
def apply_group_welcome(chat_id: str):  # noqa: ANN201
    """The group's owner applies a welcome template (入群欢迎语) to the group, as in WeCom's client:
    whoever joins it then reads the template (the phone sandbox shows it)."""
    body: Any = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError("the body must be a JSON object", code="invalid_welcome")
    try:
        template_id = GroupWelcomeApplyIn.model_validate(body).template_id
    except ValidationError as exc:
        raise ApiError(_describe(exc), code="invalid_welcome") from None
    try:
        world.apply_group_welcome(_redis(), chat_id, template_id)
    except KeyError as exc:
        raise NotFound(exc.args[0]) from None
    return jsonify(chat_id=chat_id, welcome_template_id=template_id)
