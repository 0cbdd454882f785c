"""What the sandbox's control API (``/api/sandbox``, scrm/sandbox/routes.py) answers and the
body a member's confirmation takes, as /api/openapi.json describes them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class CallOut(BaseModel):
    id: int
    channel: str
    api: str
    method: str
    query: dict[str, Any]
    body: Any = Field(description="as sent, secrets masked")
    errcode: int | None
    http_status: int | None = Field(description="null while the call is being answered")
    at: str


class CallListOut(BaseModel):
    calls: list[CallOut] = Field(description="oldest first")


class FaultOut(BaseModel):
    id: int
    channel: str
    api: str
    errcode: int | None
    times: int
    delay_ms: int
    http_status: int | None
    remaining: int


class FaultListOut(BaseModel):
    faults: list[FaultOut]


class MsgTaskConfirmIn(BaseModel):
    """Whose part of the task is sent: one member's, or (no body, no userid) every member's."""

    model_config = ConfigDict(extra="forbid")

    userid: str | None = None


class GroupWelcomeApplyIn(BaseModel):
    """The welcome template (WeCom's ``template_id``) the group's owner applies; null takes it off."""

    model_config = ConfigDict(extra="forbid")

    template_id: str | None = Field(min_length=1, max_length=64)


class GroupWelcomeApplyOut(BaseModel):
    chat_id: str
    welcome_template_id: str | None


class MsgTaskOut(BaseModel):
    msgid: str
    members: dict[str, dict[str, Any]] = Field(description="by member: status (0 waiting, 2 sent), send_time, "
                                                            "targets")
