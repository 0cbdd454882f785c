"""Live codes (群活码) as the API and the console show them: each code with its groups now
(member counts against the limit), whether it is full, joins today and in 7 days; one code
with the groups taken off (why, when), its joins per day and per way. Read-only; the caller
owns the transaction."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from guides.models import Guide
from scrm.clock import as_utc
from scrm.groups import code_stats
from scrm.groups.codes import get, list_codes, way_state
from scrm.groups.models import CustomerGroup, GroupCode, GroupCodeChat, GroupCodeWay, GroupWelcomeTemplate

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

WEEK = 7
CHOICES = 500  # groups offered in the form


def code_rows(*, db_session: Session, today: date, include_retired: bool = True) -> list[dict[str, Any]]:
    """Every code (active first) as ``GET /api/group-codes`` lists it."""
    codes = list_codes(db_session=db_session, include_retired=include_retired)
    ids = [c.id for c in codes]
    week = code_stats.joins_by_code(db_session=db_session, code_ids=ids, first=today - timedelta(days=WEEK - 1),
                                    last=today)
    days = code_stats.joins_by_code(db_session=db_session, code_ids=ids, first=today, last=today)
    chats = _chats(db_session, ids, current=True)
    return [_code_json(c, chats.get(c.id, []), days.get(c.id, 0), week.get(c.id, 0)) for c in codes]


def code_detail(*, db_session: Session, code_id: int, first: date, last: date, today: date,
                app_messages: bool = True) -> dict[str, Any]:
    """One code as ``GET /api/group-codes/<id>`` shows it; :class:`GroupCodeNotFound` if none.
    ``app_messages``: whether owners are asked by WeCom app message (``agent_secret`` set)."""
    code = get(db_session=db_session, code_id=code_id)
    week = code_stats.joins_by_code(db_session=db_session, code_ids=[code_id], first=today - timedelta(days=WEEK - 1),
                                    last=today).get(code_id, 0)
    day = code_stats.joins_by_code(db_session=db_session, code_ids=[code_id], first=today, last=today).get(code_id, 0)
    body = _code_json(code, _chats(db_session, [code_id], current=True).get(code_id, []), day, week)
    by_group = code_stats.joins_by_group(db_session=db_session, code_id=code_id, first=first, last=last)
    for group in body["groups"]:
        group["joined"] = by_group.get(group["group_id"], 0)
    removed = _chats(db_session, [code_id], current=False).get(code_id, [])
    for group in removed:
        group["joined"] = by_group.get(group["group_id"], 0)
    days = code_stats.joins_by_day(db_session=db_session, code_id=code_id, first=first, last=last)
    by_way = code_stats.joins_by_way(db_session=db_session, code_id=code_id, first=first, last=last)
    ways = list(db_session.scalars(select(GroupCodeWay).where(GroupCodeWay.code_id == code_id).order_by(GroupCodeWay.id)))
    guides = dict(db_session.execute(select(Guide.id, Guide.name).where(
        Guide.id.in_([w.source_id for w in ways if w.source == "guide"]))).all())
    template = db_session.get(GroupWelcomeTemplate, code.welcome_template_id) if code.welcome_template_id else None
    body["welcome_template"] = None if template is None else {
        "id": template.id, "name": template.name, "text": template.text, "deleted": template.deleted_at is not None}
    body["welcome_owners_by_hand"] = template is not None and not app_messages
    return {**body, "removed": sorted(removed, key=lambda g: g["removed_at"] or "", reverse=True),
            "ways": [_way_json(w, by_way.get(w.id, 0), guides.get(w.source_id)) for w in ways],
            "days": days, "joined": sum(d["joined"] for d in days)}


def _code_json(code: GroupCode, groups: list[dict[str, Any]], joined_today: int, joined_week: int) -> dict[str, Any]:
    with_room = [g for g in groups if g["member_count"] < code.member_limit]
    return {
        "id": code.id, "name": code.name, "status": code.status, "member_limit": code.member_limit,
        "auto_create": code.auto_create, "room_base_name": code.room_base_name, "room_base_id": code.room_base_id,
        "welcome_template_id": code.welcome_template_id, "state": way_state(code.id),
        "qrcode_url": f"/api/group-codes/{code.id}/qrcode.png",
        "full": code.status == "active" and not with_room and not code.auto_create,
        "groups": groups, "joined_today": joined_today, "joined_7_days": joined_week,
        "created_at": _iso(code.created_at), "retired_at": _iso(code.retired_at),
    }


def _chats(db_session: Session, code_ids: list[int], *, current: bool) -> dict[int, list[dict[str, Any]]]:
    """code id → its groups now (``current``, in order) or those taken off."""
    removed = GroupCodeChat.removed_at.is_(None) if current else GroupCodeChat.removed_at.is_not(None)
    rows = db_session.execute(
        select(GroupCodeChat, CustomerGroup, GroupCode.welcome_template_id)
        .join(CustomerGroup, CustomerGroup.id == GroupCodeChat.group_id).join(GroupCode, GroupCode.id == GroupCodeChat.code_id)
        .where(GroupCodeChat.code_id.in_(code_ids), removed).order_by(GroupCodeChat.position, GroupCodeChat.id))
    found: dict[int, list[dict[str, Any]]] = {}
    for row, group, template_pk in rows:
        asked = template_pk is not None and row.welcome_asked_template_id == template_pk
        found.setdefault(row.code_id, []).append({
            "group_id": group.id, "chat_id": group.chat_id, "name": group.name, "owner_userid": group.owner_userid,
            "owner_guide_id": group.owner_guide_id, "member_count": group.member_count, "status": group.status,
            "position": row.position, "added_at": _iso(row.added_at), "removed_at": _iso(row.removed_at),
            "removed_reason": row.removed_reason, "welcome_asked_at": _iso(row.welcome_asked_at) if asked else None,
        })
    return found


def _way_json(way: GroupCodeWay, joined: int, guide_name: str | None) -> dict[str, Any]:
    return {"id": way.id, "state": way.state, "source": way.source, "source_id": way.source_id,
            "source_name": guide_name, "config_id": way.config_id, "qr_code": way.qr_code,
            "deleted_at": _iso(way.deleted_at), "joined": joined}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else as_utc(moment).isoformat()


def chat_ids_on(*, db_session: Session, code_id: int) -> list[str]:
    """The chat ids of the groups on the code now, in order."""
    return [g["chat_id"] for g in _chats(db_session, [code_id], current=True).get(code_id, [])]


def group_choices(*, db_session: Session) -> list[dict[str, Any]]:
    """The groups a code may use (synced, not dismissed), by name, each with its owner's name
    (the guide's, else the WeCom userid) and member count."""
    owners = dict(db_session.execute(select(Guide.id, Guide.name)).all())
    groups = db_session.scalars(select(CustomerGroup).where(CustomerGroup.status != "dismissed")
                                .order_by(CustomerGroup.name, CustomerGroup.id).limit(CHOICES))
    return [{"chat_id": g.chat_id, "name": g.name or g.chat_id, "member_count": g.member_count, "status": g.status,
             "owner": owners.get(g.owner_guide_id) or g.owner_userid} for g in groups]


def welcome_choices(*, db_session: Session) -> list[dict[str, Any]]:
    """The welcome templates a code may carry (not deleted), by name, each with its text."""
    return [{"id": t.id, "name": t.name, "text": t.text, "image": bool(t.image_media_id or t.image_pic_url), "link": t.link_title}
            for t in db_session.scalars(select(GroupWelcomeTemplate).where(GroupWelcomeTemplate.deleted_at.is_(None))
                                        .order_by(GroupWelcomeTemplate.name, GroupWelcomeTemplate.id))]
