"""Console pages for customer groups (客户群, SPEC §9, §11), for admins and managers: every group
synced from WeCom with its owner, members and the joins and quits of the period; one group with
its members (customers linked to their page) and joins/quits per local day as a chart. Read
through scrm/groups/service.py, as the API reads them."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, render_template, request
from sqlalchemy import func, select

from guides.models import Guide
from scrm.clock import local_day
from scrm.customers.models import Customer
from scrm.groups import service
from scrm.groups.models import CustomerGroup, GroupDayStats
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime, day_range
from scrm.web.auth import current_caller, require_role
from scrm.web.errors import ApiError

group_console = Blueprint("group_console", __name__, template_folder="templates", url_prefix="/console")

DEFAULT_DAYS = 30


@group_console.get("/groups")
@require_role(*MANAGERS)
def groups():  # noqa: ANN201
    runtime = current_runtime()
    first, last, errors = _period(runtime)
    dismissed = request.args.get("dismissed") == "1"
    with runtime.transaction() as db_session:
        listed = service.list_groups(db_session=db_session, include_dismissed=dismissed)
        owners = dict(db_session.execute(select(Guide.id, Guide.name)).all())
        moves = {row.chat_id: (int(row.joined or 0), int(row.quit or 0)) for row in db_session.execute(
            select(CustomerGroup.chat_id, func.sum(GroupDayStats.joined).label("joined"),
                   func.sum(GroupDayStats.quit).label("quit"))
            .join(GroupDayStats, GroupDayStats.group_id == CustomerGroup.id)
            .where(GroupDayStats.day.between(first, last)).group_by(CustomerGroup.chat_id))}
    rows = [{**g, "owner": owners.get(g["owner_guide_id"]) or g["owner_userid"],
             "joined": moves.get(g["chat_id"], (0, 0))[0], "quit": moves.get(g["chat_id"], (0, 0))[1]}
            for g in listed]
    return render_template("groups/groups.html", rows=rows, first=first, last=last, dismissed=dismissed,
                           errors=errors, caller=current_caller()), 422 if errors else 200


@group_console.get("/groups/<chat_id>")
@require_role(*MANAGERS)
def group(chat_id: str):  # noqa: ANN201
    runtime = current_runtime()
    first, last, errors = _period(runtime)
    with runtime.transaction() as db_session:
        try:
            detail = service.group_detail(db_session=db_session, chat_id=chat_id, owner_guide_id=None,
                                          first=first, last=last)
        except service.GroupNotFound:
            abort(404)
        owner = db_session.scalar(select(Guide).where(Guide.id == detail["owner_guide_id"])) \
            if detail["owner_guide_id"] else None
        owner_view = {"name": owner.name, "code": owner.code} if owner else None
        linked = [m["customer_id"] for m in detail["members"] if m["customer_id"]]
        nicknames = dict(db_session.execute(select(Customer.id, Customer.nickname).where(Customer.id.in_(linked))).all())
    for member in detail["members"]:  # a linked customer by the name we know them by
        member["shown"] = nicknames.get(member["customer_id"]) or member["name"] or member["userid"]
    tallest = max([max(d["joined"], d["quit"]) for d in detail["days"]] + [1])
    return render_template("groups/group.html", group=detail, owner=owner_view, first=first, last=last,
                           tallest=tallest, errors=errors, caller=current_caller()), 422 if errors else 200


def _period(runtime):  # noqa: ANN001, ANN202
    """The asked period, or the last 30 days and the reason the asked one was refused."""
    try:
        first, last = day_range(runtime, default_days=DEFAULT_DAYS)
        return first, last, []
    except ApiError as exc:
        last = local_day(runtime.config, runtime.clock.now())
        return last - timedelta(days=DEFAULT_DAYS - 1), last, [{"field": "from", "message": exc.message}]
