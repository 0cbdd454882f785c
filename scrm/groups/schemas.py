"""Customer groups (客户群) as the JSON API shows them (SPEC §9, §11)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from scrm.clock import as_utc

if TYPE_CHECKING:
    from datetime import datetime

    from scrm.groups.models import CustomerGroup, GroupMember


def group_json(group: CustomerGroup) -> dict[str, Any]:
    return {
        "chat_id": group.chat_id, "name": group.name, "owner_userid": group.owner_userid,
        "owner_guide_id": group.owner_guide_id, "status": group.status, "member_count": group.member_count,
        "external_count": group.external_count, "notice": group.notice, "created_at": _iso(group.created_at),
        "updated_at": _iso(group.updated_at), "dismissed_at": _iso(group.dismissed_at),
    }


def member_json(member: GroupMember) -> dict[str, Any]:
    return {
        "userid": member.userid, "kind": "member" if member.kind == 1 else "external", "name": member.name,
        "customer_id": member.customer_id, "join_time": _iso(member.join_time), "join_scene": member.join_scene,
        "left_at": _iso(member.left_at),
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else as_utc(moment).isoformat()


# ---- described in /api/openapi.json ---------------------------------------------------------


class GroupOut(BaseModel):
    chat_id: str
    name: str
    owner_userid: str
    owner_guide_id: int | None
    status: str = Field(description="normal or dismissed")
    member_count: int
    external_count: int
    notice: str
    created_at: str | None
    updated_at: str | None
    dismissed_at: str | None


class GroupListOut(BaseModel):
    groups: list[GroupOut]


class GroupMemberOut(BaseModel):
    userid: str
    kind: str = Field(description="member (WeCom staff) or external (a customer)")
    name: str
    customer_id: int | None
    join_time: str | None
    join_scene: int | None
    left_at: str | None


class GroupDayOut(BaseModel):
    day: str
    joined: int
    quit: int


class GroupDetailOut(GroupOut):
    members: list[GroupMemberOut]
    days: list[GroupDayOut]
    joined: int
    quit: int


class WelcomeLinkOut(BaseModel):
    title: str
    url: str
    desc: str


class WelcomeTemplateOut(BaseModel):
    id: int
    template_id: str = Field(description="WeCom's template_id")
    name: str
    text: str = Field(description="may hold %NICKNAME%, the joiner's name")
    image_media_id: str | None = Field(description="a WeCom media_id an API caller gave")
    image_pic_url: str | None = Field(description="the image's URL from WeCom's media/uploadimg")
    link: WelcomeLinkOut | None
    created_at: str
    updated_at: str


class WelcomeTemplateListOut(BaseModel):
    templates: list[WelcomeTemplateOut]
class GroupStatsTotalsOut(BaseModel):
    joined: int
    quit: int
    net: int = Field(description="joined - quit")
    members: int = Field(description="members of the groups at the end of the period")
    members_before: int = Field(description="members at the end of the day before the period")


class GroupStatsOut(BaseModel):
    from_: str = Field(alias="from")
    to: str
    by: str = Field(description="day, group, owner or code")
    totals: GroupStatsTotalsOut
    rows: list[dict[str, Any]] = Field(description=(
        "day: {day, joined, quit, net, members (at the day's end)}; group: {chat_id, name, owner, status, members, "
        "ours (customers of ours), joined, quit, net}; owner: {owner_userid, owner, groups, members, ours, joined, "
        "quit, net, sop_tasks (group SOP tasks due in the period), sop_on_time (of them, sent by their deadline)}; "
        "code: {code_id, name, joined (through the code's ways in the period), groups (on the code now)}, every "
        "active code and each retired one with joins in the period"))


class ChurnSeenIn(BaseModel):
    """知道了 on the guide's home: the newest alert the page showed (those up to it are seen)."""

    up_to: int = Field(ge=1, le=2**62)
