"""Group live codes (群活码, SPEC §9) as the JSON API takes and shows them.

``POST /api/group-codes`` ``{name, chat_ids, member_limit, auto_create, room_base_name,
room_base_id, welcome_template_id}``: 1–5 groups (none only with ``auto_create``, which needs
``room_base_name``), a member limit of 1–500 (200 by default), a welcome template (入群欢迎语,
not deleted) whose use each group's owner is asked for. ``PATCH`` takes any of them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from scrm.errors import InvalidInput, validated
from scrm.groups.models import DEFAULT_MEMBER_LIMIT, MAX_CODE_CHATS, MAX_MEMBER_LIMIT
from scrm.validators import IntId
from scrm.validators import text as bounded_text

ChatId = Annotated[str, Field(min_length=1, max_length=64)]
MemberLimit = Annotated[int, Field(ge=1, le=MAX_MEMBER_LIMIT, strict=True)]
RoomBaseId = Annotated[int, Field(ge=1, le=10**6, strict=True)]


class InvalidGroupCode(InvalidInput):
    """Bad live-code input; ``field`` names the first offending field."""


class GroupCodeChange(BaseModel):
    """``PATCH /api/group-codes/<id>``: the fields to change (``chat_ids`` replaces the list)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, bounded_text(64)] | None = None
    chat_ids: list[ChatId] | None = Field(None, max_length=MAX_CODE_CHATS,
                                          description=f"the groups (chat_id), in order, at most {MAX_CODE_CHATS}")
    member_limit: MemberLimit | None = Field(None, description="a group with this many members is taken off the code")
    auto_create: bool | None = Field(None, description="WeCom creates a new group when every group is full")
    room_base_name: Annotated[str, bounded_text(40)] | None = None
    room_base_id: RoomBaseId | None = None
    welcome_template_id: IntId | None = Field(None, description="the group welcome template (入群欢迎语) the owners "
                                              "are asked to apply; null: none")

    @model_validator(mode="after")
    def _distinct(self) -> GroupCodeChange:
        if self.chat_ids is not None and len(set(self.chat_ids)) != len(self.chat_ids):
            raise ValueError("chat_ids: a group is named twice")
        return self


class GroupCodeIn(GroupCodeChange):
    """``POST /api/group-codes``."""

    name: Annotated[str, bounded_text(64)]
    chat_ids: list[ChatId] = Field(default_factory=list, max_length=MAX_CODE_CHATS,
                                   description=f"the groups (chat_id), in order, 1-{MAX_CODE_CHATS}")
    member_limit: MemberLimit = DEFAULT_MEMBER_LIMIT
    auto_create: bool = False
    room_base_name: Annotated[str, bounded_text(40)] | None = None
    room_base_id: RoomBaseId = 1

    @model_validator(mode="after")
    def _groups_or_auto_create(self) -> GroupCodeIn:
        if not self.chat_ids and not self.auto_create:
            raise ValueError("chat_ids: at least one group, or auto_create with room_base_name")
        if self.auto_create and not self.room_base_name:
            raise ValueError("room_base_name: needed when auto_create is on")
        return self


def parse(model: type[BaseModel], body: Any, *, what: str = "group code") -> Any:  # noqa: ANN401
    return validated(model, body, error=InvalidGroupCode, what=what)


# ---- described in /api/openapi.json ---------------------------------------------------------


class GroupCodeGroupOut(BaseModel):
    group_id: int
    chat_id: str
    name: str
    owner_userid: str
    owner_guide_id: int | None
    member_count: int
    status: str
    position: int
    added_at: str | None
    removed_at: str | None
    removed_reason: str | None = Field(description="full, dismissed or manual")
    joined: int | None = Field(None, description="joins through the code into this group in the period (one code)")
    welcome_asked_at: str | None = Field(None, description="when the owner was asked (WeCom app message) to apply "
                                         "the code's welcome template; null: not asked")


class GroupCodeWayOut(BaseModel):
    id: int
    state: str
    source: str = Field(description="code, guide or campaign")
    source_id: int | None
    source_name: str | None = Field(description="the guide's name for a guide's way")
    config_id: str
    qr_code: str = Field(description="WeCom's image URL of this way's code")
    deleted_at: str | None
    joined: int = Field(description="joins through this way in the period")


class GroupCodeDayOut(BaseModel):
    day: str
    joined: int


class GroupCodeOut(BaseModel):
    id: int
    name: str
    status: str = Field(description="active or retired")
    member_limit: int
    auto_create: bool
    room_base_name: str
    room_base_id: int
    welcome_template_id: int | None
    state: str
    qrcode_url: str = Field(description="our PNG of the code's join way")
    full: bool = Field(description="no group on the code has room (and WeCom creates none)")
    groups: list[GroupCodeGroupOut]
    joined_today: int
    joined_7_days: int
    created_at: str | None
    retired_at: str | None


class GroupCodeListOut(BaseModel):
    group_codes: list[GroupCodeOut]


class GroupCodeWelcomeOut(BaseModel):
    id: int
    name: str
    text: str
    deleted: bool


class GroupCodeDetailOut(GroupCodeOut):
    removed: list[GroupCodeGroupOut] = Field(description="groups taken off the code, newest first")
    welcome_template: GroupCodeWelcomeOut | None = Field(description="the welcome template the code carries")
    welcome_owners_by_hand: bool = Field(description="app messages are off (wechat.work.agent_secret unset): "
                                         "the owners must be told by hand to apply the welcome")
    ways: list[GroupCodeWayOut]
    days: list[GroupCodeDayOut]
    joined: int
