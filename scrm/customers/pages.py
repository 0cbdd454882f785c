"""Console pages for customers (客户), for admins and managers (SPEC §11): search them, open one
for their profile, channels, guide, tags and timeline, and set what WeChat does not tell us (the
birthday the birthday journey reads).

Server-rendered, usable on a phone, post/redirect/get like the other console pages. The
birthday form goes through the same check as ``PATCH /api/customers/<id>``
(scrm/customers/schemas.py): a refused one re-renders with the error and changes nothing (422).
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext as _, lazy_gettext as _l

from guides.binding import current_binding
from guides.models import Guide
from guides.phone_views import claimed_coupon_names, kind_words, profile
from scrm.clock import as_utc, local_day
from scrm.customers import console_views, service
from scrm.customers.schemas import InvalidCustomer, parse_change
from scrm.members.service import member_summary
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime
from scrm.web.auth import current_caller, require_role
from scrm.web.forms import form_errors
from tagging.scores import carried_tags

customer_console = Blueprint("customer_console", __name__, template_folder="templates", url_prefix="/console")

QUERY_MAX_CHARS = 64
MAX_PAGE = 100_000
TIMELINE_PAGE = 50
CHANNEL_WORDS = {"mp": _l("公众号"), "work": _l("企业微信")}


@customer_console.get("/customers")
@require_role(*MANAGERS)
def customers():  # noqa: ANN201
    runtime = current_runtime()
    query = request.args.get("q", "").strip()[:QUERY_MAX_CHARS]
    page = _page(request.args.get("page"))
    now = runtime.clock.now()
    with runtime.transaction() as db_session:
        entries, total = console_views.find(db_session=db_session, now=now, query=query or None,
                                        limit=console_views.PAGE, offset=(page - 1) * console_views.PAGE)
    pages = max(1, -(-total // console_views.PAGE))
    return render_template("customers/console/customers.html", entries=entries, total=total, query=query,
                           page=page, pages=pages, now=now, ago=ago,
                           kind_words=lambda kind: kind_words(kind, reader_locale()),
                           channel_words=CHANNEL_WORDS, caller=current_caller())


@customer_console.get("/customers/<int:customer_id>")
@require_role(*MANAGERS)
def customer(customer_id: int):  # noqa: ANN201
    return _render_customer(customer_id)


@customer_console.post("/customers/<int:customer_id>")
@require_role(*MANAGERS)
def change_customer(customer_id: int):  # noqa: ANN201
    runtime = current_runtime()
    typed = request.form.get("birthday", "").strip()
    today = local_day(runtime.config, runtime.clock.now())
    try:
        changed = parse_change({"birthday": typed or None}, today=today)
    except InvalidCustomer as exc:
        return _render_customer(customer_id, errors=form_errors(exc), typed=typed, status=422)
    with runtime.transaction() as db_session:
        found = service.set_birthday(db_session=db_session, customer_id=customer_id, birthday=changed.birthday)
        if found is None:
            abort(404)
        shown_id = found.id
    flash(_("生日已保存：%(day)s", day=changed.birthday.isoformat()) if changed.birthday else _("生日已清除"))
    return redirect(url_for("customer_console.customer", customer_id=shown_id), code=303)


def _render_customer(customer_id: int, *, errors: list | None = None, typed: str | None = None,
                     status: int = 200):  # noqa: ANN202

    runtime = current_runtime()
    now = runtime.clock.now()
    before = _page(request.args.get("before"), default=None, most=2**62)
    with runtime.transaction() as db_session:
        found = service.resolve(db_session=db_session, customer_id=customer_id)
        if found is None:
            abort(404)
        if found.id != customer_id:  # merged: the survivor holds the history
            return redirect(url_for("customer_console.customer", customer_id=found.id))
        identities = service.identities_of(db_session=db_session, customer_id=found.id)
        tags = carried_tags(db_session=db_session, customer_id=found.id, now=now)
        page = service.timeline(db_session=db_session, customer_id=found.id, before_id=before, limit=TIMELINE_PAGE)
        shown = profile(found, identities, tags, page.entries, page.next_before_id,
                        runtime.config.brand.zone, reader_locale(),
                        claimed_coupon_names(db_session=db_session, entries=page.entries))
        member = member_summary(db_session=db_session, config=runtime.config, customer_id=found.id, at=now)
        binding = current_binding(db_session=db_session, customer_id=found.id)
        guide = db_session.get(Guide, binding.guide_id) if binding is not None else None
        zone = runtime.config.brand.zone  # every time on the page in the brand's zone, one format
        facts = {
            "phone": found.phone, "unionid": found.unionid, "birthday": found.birthday,
            "created_at": as_utc(found.created_at).astimezone(zone),
            "guide": f"{guide.name} ({guide.code})" if guide else None,
            "guide_code": guide.code if guide else None,
            "bound_at": as_utc(binding.bound_at).astimezone(zone) if binding is not None else None,
        }
    return render_template("customers/console/customer.html", profile=shown, facts=facts, tags=tags,
                           identities=identities, errors=errors or [], channel_words=CHANNEL_WORDS, member=member,
                           typed=typed if typed is not None else (facts["birthday"].isoformat()
                                                                   if facts["birthday"] else ""),
                           now=now, ago=ago, caller=current_caller()), status


def reader_locale() -> str:
    """The console reader's language (scrm/web/i18n.py), for the words shared with guides' pages
    (scrm/texts.py: a timeline kind's name, "顾客 #3"), which are the brand's there."""
    return str(get_locale() or "zh_CN")


def ago(at: datetime | None, now: datetime) -> str | None:
    """How long ago, at a glance: 刚刚, 5 分钟前, 3 小时前, 2 天前."""
    if at is None:
        return None
    seconds = max(0, int((as_utc(now) - as_utc(at)).total_seconds()))
    if seconds >= 86400:
        return _("%(n)s 天前", n=seconds // 86400)
    if seconds >= 3600:
        return _("%(n)s 小时前", n=seconds // 3600)
    if seconds >= 60:
        return _("%(n)s 分钟前", n=seconds // 60)
    return _("刚刚")


def _page(raw: str | None, *, default: int | None = 1, most: int = MAX_PAGE) -> int | None:
    """A hand-edited ?page= is a page that does not exist, never an error."""
    return int(raw) if raw and raw.isascii() and raw.isdigit() and 0 < int(raw) <= most else default
