"""Console pages for customer groups (客户群, SPEC §9, §11), for admins and managers: every group
synced from WeCom with its owner, members and the joins and quits of the period; one group with
its members (customers linked to their page) and joins/quits per local day as a chart. Read
through scrm/groups/console_views.py, over the service the API reads them with."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, render_template, request
from flask_babel import lazy_gettext as _l

from scrm.clock import local_day
from scrm.groups import console_views, service
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime, day_range
from scrm.web.auth import current_caller, require_role
from scrm.web.errors import ApiError
from scrm.web.refusals import reader_message

group_console = Blueprint("group_console", __name__, template_folder="templates", url_prefix="/console")

DEFAULT_DAYS = 30
STATUS_WORDS = {"normal": _l("正常"), "handover": _l("群主离职，待继承"), "dismissed": _l("已解散")}


@group_console.get("/groups")
@require_role(*MANAGERS)
def groups():  # noqa: ANN201
    runtime = current_runtime()
    first, last, errors = console_period(runtime)
    dismissed = request.args.get("dismissed") == "1"
    with runtime.transaction() as db_session:
        rows = console_views.group_rows(db_session=db_session, first=first, last=last, include_dismissed=dismissed)
    return render_template("groups/groups.html", rows=rows, first=first, last=last, dismissed=dismissed,
                           errors=errors, status_words=STATUS_WORDS, caller=current_caller()), 422 if errors else 200


@group_console.get("/groups/<chat_id>")
@require_role(*MANAGERS)
def group(chat_id: str):  # noqa: ANN201
    runtime = current_runtime()
    first, last, errors = console_period(runtime)
    with runtime.transaction() as db_session:
        try:
            shown = console_views.group_page(db_session=db_session, chat_id=chat_id, first=first, last=last)
        except service.GroupNotFound:  # a page answers 404 as HTML
            abort(404)
    tallest = max([max(d["joined"], d["quit"]) for d in shown.group["days"]] + [1])
    return render_template("groups/group.html", group=shown.group, owner=shown.owner, first=first, last=last,
                           tallest=tallest, errors=errors, status_words=STATUS_WORDS, caller=current_caller()), 422 if errors else 200


def console_period(runtime):  # noqa: ANN001, ANN202
    """The asked period, or the last 30 days and the reason the asked one was refused."""
    try:
        first, last = day_range(runtime, default_days=DEFAULT_DAYS)
        return first, last, []
    except ApiError as exc:
        last = local_day(runtime.config, runtime.clock.now())
        return last - timedelta(days=DEFAULT_DAYS - 1), last, [{"field": "from", "message": reader_message(exc.message)}]
