"""Group welcome templates (入群欢迎语, SPEC §9): what a customer reads on joining a group through
a live code, kept in WeCom as a ``group_welcome_template`` and here under a name of ours.

Every write is validated first (pydantic, WeCom's limits: text at most 3000 bytes of UTF-8 with
``%NICKNAME%`` for the joiner's name; a link with a title of at most 128 bytes, an http(s) URL
and a description of at most 512 bytes; text, an image or a link at least; 100 templates a
corp), then sent to WeCom, then written: a refusal of either writes nothing. A template a live
code carries (:func:`templates_in_use`) is not deleted. Plain functions; the caller owns the
transaction.

The image is ``image_pic_url``: a URL from WeCom's ``media/uploadimg`` (:func:`upload_image`:
jpg or png of at most 2 MB, checked by its first bytes before WeCom is asked), which WeCom keeps
for good. An API caller may give WeCom's ``image_media_id`` instead (a temporary media, 3 days);
one or the other, and WeCom is sent ``image: {pic_url}`` or ``image: {media_id}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, StrictBool, StrictStr, model_validator
from sqlalchemy import func, select

from scrm.clock import as_utc
from scrm.errors import ConflictError, DomainError, InvalidInput, NotFoundError, RetryLater, validated
from scrm.groups.models import GroupCode, GroupWelcomeTemplate
from scrm.validators import described
from scrm.validators import text as bounded_text
from scrm.wechat.errors import WeChatError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.wechat.work import WorkClient

MAX_TEMPLATES = 100
NAME_MAX_CHARS = 40
TEXT_MAX_BYTES = 3000
LINK_TITLE_MAX_BYTES = 128
LINK_DESC_MAX_BYTES = 512
URL_MAX_CHARS = 1024
MEDIA_ID_MAX_CHARS = 255
IMAGE_FIELDS = ("image_media_id", "image_pic_url")
NICKNAME = "%NICKNAME%"
IMAGE_MAX_BYTES = 2 * 1024 * 1024  # media/uploadimg's limit
IMAGE_TYPES = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))


class InvalidWelcomeTemplate(InvalidInput):
    """Bad input for a group welcome template; ``field`` names the first bad field."""


class InvalidWelcomeImage(InvalidInput):
    """An image WeCom's ``media/uploadimg`` would refuse: none, not jpg or png, over 2 MB."""


class WelcomeTemplateNotFound(NotFoundError):
    """No (undeleted) template has that id."""


class TooManyWelcomeTemplates(ConflictError):
    code = "too_many_templates"


class WelcomeTemplateInUse(ConflictError):
    code = "template_in_use"


class WelcomeNotAccepted(DomainError):
    """WeCom refused the call or could not be reached: nothing was written. ``errcode`` is
    WeCom's (None: unreachable or throttled)."""

    code = "wechat_error"


def _bytes(most: int, *, required: bool = False) -> AfterValidator:
    def check(value: str) -> str:
        if required and not value.strip():
            raise ValueError("is required")
        size = len(value.encode("utf-8"))
        if size > most:
            raise ValueError(f"is {size} bytes of UTF-8; WeCom allows at most {most}")
        if any(ord(c) < 32 and c not in "\n\t" for c in value) or "\x7f" in value:
            raise ValueError("must not contain control characters")
        return value.strip() if required else value

    return AfterValidator(check)


def _http_url(value: str) -> str:
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() or ord(c) < 32 for c in value):
        raise ValueError("must be an http:// or https:// URL")
    if len(value) > URL_MAX_CHARS:
        raise ValueError(f"must be at most {URL_MAX_CHARS} characters")
    return value


def _pic_url(value: str | None) -> str | None:
    return _http_url(value) if value and value.strip() else None


def _media_id(value: str | None) -> str | None:
    value = (value or "").strip()
    if len(value) > MEDIA_ID_MAX_CHARS or any(c.isspace() or ord(c) < 32 for c in value):
        raise ValueError(f"must be WeChat's media_id: at most {MEDIA_ID_MAX_CHARS} characters, no spaces")
    return value or None


class WelcomeLinkIn(BaseModel):
    """A link card (链接): WeCom shows the title, the description and the cover beside it."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[StrictStr, _bytes(LINK_TITLE_MAX_BYTES, required=True), described(maxLength=LINK_TITLE_MAX_BYTES)]
    url: Annotated[StrictStr, AfterValidator(_http_url), described(maxLength=URL_MAX_CHARS, format="uri")]
    desc: Annotated[StrictStr, _bytes(LINK_DESC_MAX_BYTES), described(maxLength=LINK_DESC_MAX_BYTES)] = ""


class WelcomeTemplateIn(BaseModel):
    """A template as the API and the console write it; ``notify`` (on creation only): WeCom tells
    the members they may use it in their groups."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[StrictStr, bounded_text(NAME_MAX_CHARS)]
    text: Annotated[StrictStr, _bytes(TEXT_MAX_BYTES), described(maxLength=TEXT_MAX_BYTES)] = ""
    image_media_id: Annotated[StrictStr | None, AfterValidator(_media_id)] = None
    image_pic_url: Annotated[StrictStr | None, AfterValidator(_pic_url),
                             described(maxLength=URL_MAX_CHARS, format="uri",
                                       description="the URL POST /console/group-welcome/image "
                                                   "(WeCom's media/uploadimg) answered")] = None
    link: WelcomeLinkIn | None = None
    notify: StrictBool = True

    @model_validator(mode="after")
    def _some_content(self) -> WelcomeTemplateIn:
        if not self.text.strip():
            self.text = ""
        if not self.text and not self.image_media_id and not self.image_pic_url and self.link is None:
            raise ValueError("text: a welcome needs text, an image or a link")
        if self.image_media_id and self.image_pic_url:
            raise ValueError("image_pic_url: an image is image_pic_url or image_media_id, not both")
        return self


def parse_template(body: Mapping[str, Any]) -> WelcomeTemplateIn:
    return validated(WelcomeTemplateIn, body, error=InvalidWelcomeTemplate, what="a group welcome template")


def template_json(template: GroupWelcomeTemplate) -> dict[str, Any]:
    return {"id": template.id, "template_id": template.template_id, "name": template.name, "text": template.text,
            "image_media_id": template.image_media_id, "image_pic_url": template.image_pic_url,
            "link": _link_of(template),
            "created_at": as_utc(template.created_at).isoformat(), "updated_at": as_utc(template.updated_at).isoformat()}


def list_templates(*, db_session: Session) -> list[GroupWelcomeTemplate]:
    return list(db_session.scalars(select(GroupWelcomeTemplate).where(GroupWelcomeTemplate.deleted_at.is_(None))
                                   .order_by(GroupWelcomeTemplate.id)))


def get_template(*, db_session: Session, template_pk: int) -> GroupWelcomeTemplate:
    template = db_session.get(GroupWelcomeTemplate, template_pk)
    if template is None or template.deleted_at is not None:
        raise WelcomeTemplateNotFound(f"no group welcome template {template_pk}")
    return template


def templates_in_use(db_session: Session) -> set[int]:
    """The ids of the templates that active group live codes (群活码, ``group_codes.welcome_template_id``)
    carry: such a template is not deleted. A retired code holds none."""
    return set(db_session.scalars(select(GroupCode.welcome_template_id).where(
        GroupCode.status == "active", GroupCode.welcome_template_id.is_not(None)).distinct()))


def create_template(*, db_session: Session, work: WorkClient, template_in: WelcomeTemplateIn,
                    now: datetime) -> GroupWelcomeTemplate:
    """Checked, added in WeCom, then saved; the 101st is refused before WeCom is asked."""
    kept = db_session.scalar(select(func.count()).select_from(GroupWelcomeTemplate)
                             .where(GroupWelcomeTemplate.deleted_at.is_(None)))
    if kept >= MAX_TEMPLATES:
        raise TooManyWelcomeTemplates(f"a corp has at most {MAX_TEMPLATES} group welcome templates; delete one first")
    template_id = _wecom("add", lambda: work.add_group_welcome_template(
        text=template_in.text, image_media_id=template_in.image_media_id, image_pic_url=template_in.image_pic_url,
        link=_link(template_in), notify=template_in.notify))
    template = GroupWelcomeTemplate(template_id=template_id, created_at=now, updated_at=now)
    _fill(template, template_in)
    db_session.add(template)
    db_session.flush()
    return template


def edit_template(*, db_session: Session, work: WorkClient, template_pk: int, changes: Mapping[str, Any],
                  now: datetime) -> GroupWelcomeTemplate:
    """``changes`` (some of :class:`WelcomeTemplateIn`'s fields) over the template, checked whole;
    WeCom is sent the whole content again when the content changed (the name is ours alone).
    The image is one thing: changing either image field drops the other one unless given too."""
    template = get_template(db_session=db_session, template_pk=template_pk)
    current = {k: v for k, v in template_json(template).items() if k in ("name", "text", "link", *IMAGE_FIELDS)}
    if any(k in changes for k in IMAGE_FIELDS):
        current = {**current, **dict.fromkeys(IMAGE_FIELDS)}
    merged = parse_template({**current, **changes})
    if _content(merged.text, merged.image_media_id, merged.image_pic_url, _link(merged)) != _content(
            template.text, template.image_media_id, template.image_pic_url, _link_of(template)):
        _wecom("edit", lambda: work.edit_group_welcome_template(
            template.template_id, text=merged.text, image_media_id=merged.image_media_id,
            image_pic_url=merged.image_pic_url, link=_link(merged)))
    _fill(template, merged)
    template.updated_at = now
    return template


def delete_template(*, db_session: Session, work: WorkClient, template_pk: int, now: datetime) -> None:
    """Deleted in WeCom, then marked deleted here; refused while a live code carries it."""
    template = get_template(db_session=db_session, template_pk=template_pk)
    if template.id in templates_in_use(db_session):
        raise WelcomeTemplateInUse("a group live code uses this welcome template; take it off the code first")
    _wecom("del", lambda: work.del_group_welcome_template(template.template_id))
    template.deleted_at = now


def upload_image(*, work: WorkClient, data: bytes, filename: str) -> str:
    """An image for a template, checked (jpg or png by its first bytes, at most 2 MB) then sent to
    WeCom's ``media/uploadimg``: the permanent URL for ``image_pic_url``."""
    if not data:
        raise InvalidWelcomeImage("image", "choose an image")
    kind = next((kind for magic, kind in IMAGE_TYPES if data.startswith(magic)), None)
    if kind is None:
        raise InvalidWelcomeImage("image", "WeCom takes a jpg or png image")
    if len(data) > IMAGE_MAX_BYTES:
        raise InvalidWelcomeImage("image", "WeCom takes an image of at most 2 MB")
    return _wecom("upload", lambda: work.upload_image(filename or f"welcome.{kind[6:]}", data, kind), what="the image")


def _content(*parts: Any) -> tuple[Any, ...]:  # noqa: ANN401 - text, media id, URL, link as stored
    return tuple(part or None for part in parts)


def _wecom(action: str, call: Callable[[], Any], *, what: str = "the template") -> Any:  # noqa: ANN401
    """``call`` (one WeCom call), its refusal or throttling as :class:`WelcomeNotAccepted`."""
    try:
        return call()
    except WeChatError as exc:
        raise WelcomeNotAccepted(f"WeCom did not {action} {what}: errcode {exc.errcode} {exc.errmsg}".rstrip(),
                                 errcode=exc.errcode, errmsg=exc.errmsg) from exc
    except RetryLater as exc:  # throttled: our quota or WeCom's
        raise WelcomeNotAccepted(f"WeCom is busy; try again in {exc.retry_after:.0f} s", errcode=None,
                                 errmsg=str(exc)) from exc


def _link(template_in: WelcomeTemplateIn) -> dict[str, str] | None:
    link = template_in.link
    return None if link is None else {"title": link.title, "url": link.url, "desc": link.desc}


def _link_of(template: GroupWelcomeTemplate) -> dict[str, str] | None:
    return (None if not template.link_title else
            {"title": template.link_title, "url": template.link_url or "", "desc": template.link_desc or ""})


def _fill(template: GroupWelcomeTemplate, template_in: WelcomeTemplateIn) -> None:
    link = _link(template_in) or {}
    template.name, template.text = template_in.name, template_in.text
    template.image_media_id, template.image_pic_url = template_in.image_media_id, template_in.image_pic_url
    template.link_title, template.link_url, template.link_desc = link.get("title"), link.get("url"), link.get("desc")
