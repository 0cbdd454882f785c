"""The shopping guide's phone pages (导购手机端): sign in by link, my numbers this week (and
how many WeCom tasks wait for me), my codes, my customers and their timelines, my WeCom tasks;
and the public guide card (名片) a customer opens from the welcome message.

Server-rendered HTML with a little inline CSS and no framework: guides open these on cheap
phones over shop Wi-Fi. Every page works without JavaScript; only "share" needs it.
The /m/ pages are a guide's own: an admin or manager gets 403 (they have the console). A guide
signs in with a login link (guides/login_links.py) or, with ``guides.wecom_oauth`` on, through
WeCom's OAuth (guides/oauth.py).
"""

from __future__ import annotations

import hmac
import io
import secrets
from datetime import timedelta

import segno
from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pydantic import ValidationError

from guides import oauth, roster, service
from guides import phone_views as views
from guides import routes as guide_routes
from guides.login_links import LoginLinkRefused, LoginLinkUsed, use_link
from guides.models import Guide
from qrcodes.service import codes_of
from scrm.clock import as_utc, local_day
from scrm.customers import service as customers
from scrm.groups import code_stats, sop, sop_jobs
from scrm.groups import churn
from scrm.groups.schemas import ChurnSeenIn
from scrm.outreach import wecom_tasks
from scrm.queue import enqueue_after_commit
from scrm.texts import say
from scrm.web.api import current_runtime
from scrm.web.auth import Caller, current_caller, log_in, require_role
from scrm.web.errors import Forbidden, NotFound
from tagging.scores import carried_tags

guide_pages = Blueprint("guide_pages", __name__, template_folder="templates")
# The guide's own codes on /m/code, with the guide's session (/api/ takes Bearer tokens only).
guide_pages.add_url_rule("/m/guides/<code>/qrcode.png", "guide_qrcode", guide_routes.guide_qrcode)

PAGE = 30  # customers per page
MAX_PAGE = 100_000  # keeps OFFSET well inside a bigint
TIMELINE_PAGE = 30
QUERY_MAX_CHARS = 64
OAUTH_STATE = "guide_oauth_state"
SIGN_IN_ENDPOINTS = ("guide_pages.login", "guide_pages.oauth_start", "guide_pages.oauth_callback")
# Why a sign-in was refused, as the domain says it (guides/login_links.py, guides/oauth.py), in
# the guide's language; a reason not listed here is shown as the domain wrote it.
REFUSALS = {
    "this is not a valid login link": _l("这不是有效的登录链接"),
    "this login link has expired; ask for a new one": _l("登录链接已过期"),
    "this login link was used already; ask for a new one": _l("登录链接已经用过了"),
    "this guide no longer works here": _l("这位导购已离职"),
    "this sign-in was not started on this phone; open the page again": _l("这次登录不是在这部手机上开始的，请重新打开页面"),
    "WeCom did not sign you in": _l("企业微信没有让你登录"),
    "you are not a member of this company's WeCom": _l("你不是本企业微信的成员"),
    "WeCom is not answering; try again in a minute": _l("企业微信没有响应，请一分钟后再试"),
    "WeCom did not accept this sign-in; open the page again": _l("企业微信没有接受这次登录，请重新打开页面"),
    "your WeCom account is not a guide here; ask your manager": _l("你的企业微信账号不是这里的导购，请找店长"),
}


def house_rules(blueprint: Blueprint) -> None:
    """The rules every /m/ page keeps, for the blueprint of the guide's redeem pages: WeCom
    sign-in, no cache, and the guide's own 403 and 404 pages."""
    blueprint.before_request(_sign_in_through_wecom)
    blueprint.after_request(_private)
    blueprint.register_error_handler(Forbidden, _forbidden)
    blueprint.register_error_handler(NotFound, _not_found)


@guide_pages.errorhandler(Forbidden)
def _forbidden(exc: Forbidden):  # noqa: ANN202
    return _message(_("打不开"), _("这些页面是导购自己的。"), exc.message, 403)


@guide_pages.errorhandler(NotFound)
def _not_found(exc: NotFound):  # noqa: ANN202
    if request.path.startswith("/card/"):  # a customer's page: the brand's language only, no internals
        config = current_runtime().config
        return _message(say(config, "page.not_found"), say(config, "page.nothing_here"), "", 404)
    return _message(_("找不到"), _("没有这个页面。"), exc.message, 404)


@guide_pages.after_request
def _private(response):  # noqa: ANN001, ANN202
    """A shop phone is shared: no customer page stays in its cache, and the login link's
    token never leaves in a Referer."""
    if not request.path.startswith("/card/"):
        response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@guide_pages.before_request
def _sign_in_through_wecom():  # noqa: ANN202
    """Inside WeCom a guide without a session signs in by OAuth, not the console's token form."""
    if (request.path.startswith("/m/") and request.endpoint not in SIGN_IN_ENDPOINTS
            and current_runtime().config.guides.wecom_oauth and current_caller() is None):
        return redirect(url_for("guide_pages.oauth_start"))
    return None


@guide_pages.get("/m/login")
def login():  # noqa: ANN201
    runtime = current_runtime()
    try:
        with runtime.transaction() as db_session:
            caller = _caller_of(use_link(runtime=runtime, db_session=db_session, token=request.args.get("t", "")))
    except LoginLinkUsed as exc:
        signed_in = current_caller()
        if signed_in is not None and signed_in.guide_code == exc.guide_code:  # the guide opened it again
            return redirect(url_for("guide_pages.home"))
        return _message(_("登录链接无效"), _refusal(exc), _("请向店长要一个新的登录链接。"), 403)
    except LoginLinkRefused as exc:
        return _message(_("登录链接无效"), _refusal(exc), _("请向店长要一个新的登录链接。"), 403)
    log_in(caller)
    return redirect(url_for("guide_pages.home"))


@guide_pages.get("/m/oauth")
def oauth_start():  # noqa: ANN201
    runtime = _oauth_runtime()
    session[OAUTH_STATE] = state = secrets.token_urlsafe(16)  # this browser started it: no forged callback
    return redirect(oauth.authorize_url(runtime, state=state))


@guide_pages.get("/m/oauth/callback")
def oauth_callback():  # noqa: ANN201
    runtime = _oauth_runtime()
    expected, given = session.pop(OAUTH_STATE, None), request.args.get("state", "")
    try:
        if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
            raise oauth.OAuthRefused("this sign-in was not started on this phone; open the page again")
        if not request.args.get("code"):
            raise oauth.OAuthRefused("WeCom did not sign you in")
        userid = oauth.member_of(runtime, code=request.args["code"])
        with runtime.transaction() as db_session:
            caller = _caller_of(oauth.sign_in_member(db_session=db_session, userid=userid))
    except oauth.OAuthRefused as exc:
        return _message(_("企业微信登录失败"), _refusal(exc), "", 403)
    log_in(caller)
    return redirect(url_for("guide_pages.home"))


@guide_pages.get("/m/")
@require_role("guide")
def home():  # noqa: ANN201
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        guide = _my_guide(db_session)
        numbers = views.week_numbers(runtime=runtime, db_session=db_session, guide_id=guide.id)
        me = views.guide_card(guide)
        to_send = _to_send(db_session, guide.wecom_userid, runtime.clock.now()) if guide.wecom_userid else 0
        today = local_day(runtime.config, runtime.clock.now())  # joins through the guide's own live-code ways
        group_joins = sum(code_stats.joins_by_source(db_session=db_session, source="guide", source_id=guide.id,
                                                     first=today - timedelta(days=6), last=today).values())
        alerts, unseen = churn.unseen_alerts(db_session=db_session, config=runtime.config, guide_id=guide.id,
                                             now=runtime.clock.now())
    return render_template("guide/home.html", me=me, numbers=numbers, to_send=to_send, nav="home", alerts=alerts,
                           unseen=unseen, group_joins=group_joins, ago=views.ago, now=runtime.clock.now(), local=_local_time(runtime),
                           kind_words=lambda kind: views.kind_words(kind, str(get_locale())))


@guide_pages.post("/m/churn/seen")
@require_role("guide")
def churn_seen():  # noqa: ANN201
    """知道了: the churn alerts the home page showed are marked seen."""
    runtime = current_runtime()
    try:
        seen = ChurnSeenIn.model_validate(request.form.to_dict())
    except ValidationError:
        return _message(_("没有标记"), _("这个请求不完整，请回到首页再点一次。"), "", 400)
    with runtime.transaction() as db_session:
        guide = _my_guide(db_session)
        churn.mark_seen(db_session=db_session, guide_id=guide.id, up_to_id=seen.up_to, at=runtime.clock.now())
    return redirect(url_for("guide_pages.home"), code=303)


@guide_pages.get("/m/code")
@require_role("guide")
def my_code():  # noqa: ANN201
    with current_runtime().transaction() as db_session:
        guide = _my_guide(db_session)
        codes = views.code_views(guide.code, codes_of(db_session=db_session, guide_id=guide.id))
        me = views.guide_card(guide)
    return render_template("guide/code.html", me=me, codes=codes, nav="code")


@guide_pages.get("/m/customers")
@require_role("guide")
def my_customers():  # noqa: ANN201
    runtime = current_runtime()
    query = request.args.get("q", "").strip()[:QUERY_MAX_CHARS]
    page = _positive_int(request.args.get("page"), default=1, most=MAX_PAGE)
    now = runtime.clock.now()
    with runtime.transaction() as db_session:
        guide = _my_guide(db_session)
        entries, total = roster.customers_of(db_session=db_session, guide_id=guide.id, now=now, query=query or None,
                                             limit=PAGE, offset=(page - 1) * PAGE)
    rows = views.customer_rows(entries, now, str(get_locale()))
    pages = max(1, -(-total // PAGE))
    return render_template("guide/customers.html", rows=rows, total=total, query=query, page=page, pages=pages,
                           nav="customers")


@guide_pages.get("/m/customers/<int:customer_id>")
@require_role("guide")
def customer(customer_id: int):  # noqa: ANN201
    runtime = current_runtime()
    before = _positive_int(request.args.get("before"), default=None, most=2**62)
    with runtime.transaction() as db_session:
        _my_guide(db_session)
        shown = _profile(runtime, db_session, current_caller(), customer_id, before)
        member = views.member_badge(db_session=db_session, config=runtime.config, customer_id=shown.customer_id,
                                    at=runtime.clock.now())
    return render_template("guide/customer.html", profile=shown, member=member, nav="customers")


@guide_pages.get("/card/<guide_code>")
def card(guide_code: str):  # noqa: ANN201
    with current_runtime().transaction() as db_session:
        guide = _public_guide(db_session, guide_code)
        shown = views.guide_card(guide)
        ready = _mp_content(db_session, guide) is not None
    config = current_runtime().config
    return render_template("guide/card.html", card=shown, code_ready=ready,
                           say=lambda key, **values: say(config, key, **values))


@guide_pages.get("/card/<guide_code>/code.png")
def card_code(guide_code: str):  # noqa: ANN201
    """The guide's MP code, public: the card is opened by customers, who have no session, and
    WeChat's "识别图中二维码" (long press) needs a real image."""
    with current_runtime().transaction() as db_session:
        content = _mp_content(db_session, _public_guide(db_session, guide_code))
    if content is None:
        raise NotFound("this guide's code is not ready yet")
    buffer = io.BytesIO()
    # make_qr: segno.make may pick a Micro QR, which WeChat cannot scan.
    segno.make_qr(content, error="m").save(buffer, kind="png", scale=8, border=4)
    return buffer.getvalue(), 200, {"Content-Type": "image/png", "Cache-Control": "public, max-age=3600"}


# ---- WeCom tasks (群发任务) -------------------------------------------------------------------
# A ``work_single`` campaign reaches a customer through their guide: WeCom holds the message as a
# task until the guide sends it from 群发助手 (``work_group``: the group's owner). ``GET /m/tasks``
# lists the signed-in guide's pending tasks, oldest first, each with its campaign, what it says
# and the customers (or groups) it goes to, then the ones sent in the last two weeks. WeCom is
# asked every five minutes whether a task was sent (scrm/outreach/wecom_tasks.py); ``POST
# /m/tasks/check`` asks now, for this guide's pending tasks, and comes back to the list. The
# group SOP tasks (群SOP, scrm/groups/sop.py) of groups the guide owns are listed first.


@guide_pages.get("/m/tasks")
@require_role("guide")
def tasks():  # noqa: ANN201
    runtime = current_runtime()
    now = runtime.clock.now()
    with runtime.transaction() as db_session:
        guide = _my_guide(db_session)
        entries = (wecom_tasks.tasks_of(db_session=db_session, sender=guide.wecom_userid, now=now,
                                        locale=str(get_locale()))
                   if guide.wecom_userid else [])
        sop_tasks = (sop.tasks_of_owner(db_session=db_session, owner_userid=guide.wecom_userid,
                                        since=now - timedelta(days=wecom_tasks.SHOWN_SENT_DAYS))
                     if guide.wecom_userid else [])
    pending = [e for e in entries if e.status == "pending"]
    sent = [e for e in entries if e.status != "pending"]
    return render_template("guide/tasks.html", pending=pending, sent=sent, has_wecom=bool(guide.wecom_userid),
                           sop_waiting=[t for t in sop_tasks if t.status != "sent"],
                           sop_sent=[t for t in sop_tasks if t.status == "sent"],
                           checking=request.args.get("checking") == "1", now=now, ago=views.ago, nav="home",
                           local=_local_time(runtime))


@guide_pages.post("/m/tasks/check")
@require_role("guide")
def check_tasks():  # noqa: ANN201
    """Ask WeCom now about this guide's pending tasks (a job: the page does not wait for WeCom)."""
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        guide = _my_guide(db_session)
        ids = views.pending_task_ids(db_session=db_session, sender=guide.wecom_userid or "")
        for start in range(0, len(ids), wecom_tasks.CHECK_BATCH):
            enqueue_after_commit(db_session, wecom_tasks.check_tasks, ids[start:start + wecom_tasks.CHECK_BATCH])
        sop_ids = sop.waiting_task_ids(db_session=db_session, owner_userid=guide.wecom_userid or "",
                                       since=runtime.clock.now() - timedelta(days=sop_jobs.WATCH_DAYS))
        for start in range(0, len(sop_ids), sop_jobs.BATCH):
            enqueue_after_commit(db_session, sop_jobs.check_tasks, sop_ids[start:start + sop_jobs.BATCH])
        ids += sop_ids
    return redirect(url_for("guide_pages.tasks", checking="1" if ids else None), code=303)


# ---- helpers: look-ups the routes share ---------------------------------------------------


def _to_send(db_session, userid: str, now) -> int:  # noqa: ANN001
    """The member's campaign tasks and group SOP tasks not sent yet."""
    return (wecom_tasks.pending_count(db_session=db_session, sender=userid, now=now)
            + sop.pending_count(db_session=db_session, owner_userid=userid,
                                since=now - timedelta(days=sop_jobs.WATCH_DAYS)))


def _caller_of(api_token) -> Caller:  # noqa: ANN001
    user = api_token.user
    return Caller(user.id, user.name, user.role, user.guide_code, api_token.id)


def _oauth_runtime():  # noqa: ANN202
    runtime = current_runtime()
    if not runtime.config.guides.wecom_oauth:
        raise NotFound("WeCom sign-in is off (guides.wecom_oauth); use a login link")
    return runtime


def _my_guide(db_session) -> Guide:  # noqa: ANN001
    """The signed-in guide; a guide who has left opens nothing, even with a live session."""
    code = current_caller().guide_code
    try:
        guide = service.get_guide(db_session=db_session, code=code or "")
    except service.NotFoundError:
        raise Forbidden(_("你的账号没有关联导购")) from None
    if not guide.active:
        raise Forbidden(_("这位导购已离职"))
    return guide


def _public_guide(db_session, code: str) -> Guide:  # noqa: ANN001
    try:
        guide = service.get_guide(db_session=db_session, code=code)
    except service.NotFoundError:
        raise NotFound(f"no guide {code}") from None
    if not guide.active:
        raise NotFound(f"guide {code} no longer works here")
    return guide


def _mp_content(db_session, guide: Guide) -> str | None:  # noqa: ANN001
    code = codes_of(db_session=db_session, guide_id=guide.id).get("mp")
    return code.content if code is not None and code.status == "ready" and code.content else None


def _profile(runtime, db_session, caller: Caller, customer_id: int, before: int | None) -> views.Profile:  # noqa: ANN001
    """A customer's profile and a page of their timeline, if the caller may see them."""
    found = customers.resolve(db_session=db_session, customer_id=customer_id)
    if found is None:
        raise NotFound(_("没有编号为 %(id)s 的客户", id=customer_id))
    if not roster.may_see(db_session=db_session, caller=caller, customer_id=found.id):
        raise Forbidden(_("这不是你的客户"))
    page = customers.timeline(db_session=db_session, customer_id=found.id, before_id=before, limit=TIMELINE_PAGE)
    return views.profile(
        found,
        customers.identities_of(db_session=db_session, customer_id=found.id),
        carried_tags(db_session=db_session, customer_id=found.id, now=runtime.clock.now()),
        page.entries,
        page.next_before_id,
        runtime.config.brand.zone,
        str(get_locale()),
        views.claimed_coupon_names(db_session=db_session, entries=page.entries),
    )


def _local_time(runtime):  # noqa: ANN001, ANN202
    zone = runtime.config.brand.zone
    return lambda at: as_utc(at).astimezone(zone).strftime("%m-%d %H:%M")


def _positive_int(raw: str | None, *, default: int | None, most: int) -> int | None:
    """A hand-edited ?page= is a page that does not exist, never an error."""
    return int(raw) if raw and raw.isascii() and raw.isdigit() and 0 < int(raw) <= most else default


def _refusal(exc: Exception) -> str:
    return str(REFUSALS.get(str(exc), exc))


def _message(title: str, message: str, hint: str, status: int):  # noqa: ANN202
    return render_template("guide/message.html", title=title, message=message, hint=hint), status
