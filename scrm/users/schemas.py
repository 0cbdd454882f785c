"""Users as the JSON API shows them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from scrm.users.models import User


def user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "name": user.name, "role": user.role, "guide_code": user.guide_code, "active": user.active}


class UserOut(BaseModel):
    """A user as ``GET /api/users`` lists them (described in /api/openapi.json)."""

    id: int
    name: str
    role: str = Field(description="admin, manager or guide")
    guide_code: str | None
    active: bool


class UserListOut(BaseModel):
    users: list[UserOut]


class MeOut(BaseModel):
    """Who the token belongs to (``GET /api/me``)."""

    id: int
    name: str
    role: str
    guide_code: str | None
