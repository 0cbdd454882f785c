"""Tag API (SPEC §5, §8, §11): groups and tags, a manager's tags on customers, audiences.

Admins and managers write; a guide may read the tag list and the tags of their own customers
(those bound to them now).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from functools import wraps
from typing import Any

from flask import Blueprint, jsonify, request

from guides.roster import may_see
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime, json_object
from scrm.web.auth import current_caller, require_role
from scrm.web.errors import ApiError, Conflict, Forbidden, NotFound, Unprocessable
from tagging import service
from tagging.audience import AudienceError
from tagging.models import Tag, TagGroup
from tagging.schemas import GroupChanges, GroupIn, ManualTagIn, TagIn, parse

blueprint = Blueprint("tags", __name__)

SAMPLE_SIZE = 10


def _maps_domain_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except AudienceError as exc:
            raise Unprocessable(exc.message, code="bad_expression", position=exc.position) from exc
        except service.NotFoundError as exc:
            raise NotFound(str(exc)) from exc
        except service.ConflictError as exc:
            details = {} if exc.existing_id is None else {"existing_id": exc.existing_id}
            raise Conflict(str(exc), **details) from exc

    return wrapped


@blueprint.get("/api/tags")
@require_role(*MANAGERS, "guide")
def list_tags():  # noqa: ANN201
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        groups = service.list_groups(db_session=db_session, now=runtime.clock.now())
        return jsonify(groups=[_group_json(entry.group, entry.tags) for entry in groups])


@blueprint.post("/api/tag-groups")
@require_role(*MANAGERS)
@_maps_domain_errors
def create_group():  # noqa: ANN201
    group_in = parse(GroupIn, json_object())
    with current_runtime().transaction() as db_session:
        group = service.create_group(db_session=db_session, group_in=group_in)
        return jsonify(_group_json(group, ())), 201


@blueprint.patch("/api/tag-groups/<int:group_id>")
@require_role(*MANAGERS)
@_maps_domain_errors
def update_group(group_id: int):  # noqa: ANN201
    changes = parse(GroupChanges, json_object())
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        group = service.update_group(db_session=db_session, group_id=group_id, changes=changes, now=runtime.clock.now())
        return jsonify(_group_json(group, None))


@blueprint.post("/api/tags")
@require_role(*MANAGERS)
@_maps_domain_errors
def create_tag():  # noqa: ANN201
    tag_in = parse(TagIn, json_object())
    with current_runtime().transaction() as db_session:
        tag, group = service.create_tag(db_session=db_session, tag_in=tag_in)
        return jsonify({**_tag_json(tag, 0), "group": group.name}), 201


@blueprint.delete("/api/tags/<int:tag_id>")
@require_role(*MANAGERS)
@_maps_domain_errors
def delete_tag(tag_id: int):  # noqa: ANN201
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        service.delete_tag(db_session=db_session, redis=runtime.redis, tag_id=tag_id)
    return "", 204


@blueprint.get("/api/tags/audience")
@require_role(*MANAGERS)
@_maps_domain_errors
def audience():  # noqa: ANN201
    text = request.args.get("expr")
    if text is None:
        raise ApiError("give the audience expression as ?expr=", code="bad_query")
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        preview = service.preview_audience(db_session=db_session, text=text, now=runtime.clock.now(), limit=SAMPLE_SIZE)
    sample = [{"id": customer_id, "nickname": nickname} for customer_id, nickname in preview.sample]
    return jsonify(expr=text, count=preview.count, sample=sample)


@blueprint.get("/api/customers/<int:customer_id>/tags")
@require_role(*MANAGERS, "guide")
@_maps_domain_errors
def customer_tags(customer_id: int):  # noqa: ANN201

    runtime = current_runtime()
    with runtime.transaction() as db_session:
        holder, tags = service.customer_tags(db_session=db_session, customer_id=customer_id, now=runtime.clock.now())
        if not may_see(db_session=db_session, caller=current_caller(), customer_id=holder):
            raise Forbidden("this customer is not yours")
    return jsonify(customer_id=holder, tags=tags)


@blueprint.post("/api/customers/<int:customer_id>/tags")
@require_role(*MANAGERS)
@_maps_domain_errors
def add_customer_tag(customer_id: int):  # noqa: ANN201
    tag_in = parse(ManualTagIn, json_object())
    return _set_manual(customer_id, tag_in.tag_id, on=True)


@blueprint.delete("/api/customers/<int:customer_id>/tags/<int:tag_id>")
@require_role(*MANAGERS)
@_maps_domain_errors
def remove_customer_tag(customer_id: int, tag_id: int):  # noqa: ANN201
    return _set_manual(customer_id, tag_id, on=False)


def _set_manual(customer_id: int, tag_id: int, *, on: bool):  # noqa: ANN202
    runtime = current_runtime()
    now, manager = runtime.clock.now(), current_caller().name
    with runtime.transaction() as db_session:
        change = service.tag_customer(
            db_session=db_session, customer_id=customer_id, tag_id=tag_id, on=on, now=now, manager=manager
        )
    return jsonify(customer_id=change.customer_id, changed=change.changed, tags=change.tags)




def _group_json(group: TagGroup, tags: tuple[tuple[Tag, int], ...] | None) -> dict[str, Any]:
    body = {
        "id": group.id,
        "name": group.name,
        "half_life_days": group.half_life_days,
        "threshold": group.threshold,
        "computed": group.computed,
        "created_at": _iso(group.created_at),
    }
    if tags is not None:
        body["tags"] = [_tag_json(tag, carried) for tag, carried in tags]
    return body


def _tag_json(tag: Tag, carried: int) -> dict[str, Any]:
    # How the tag is mirrored to WeChat (tagging/mirror.py); mp_error: why WeChat refused it.
    wechat = {"mp_tag_id": tag.mp_tag_id, "work_tag_id": tag.work_tag_id, "mp_error": tag.mp_error}
    return {"id": tag.id, "group_id": tag.group_id, "name": tag.name, "customers": carried, "wechat": wechat}


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    # SQLite hands back CURRENT_TIMESTAMP (UTC) without a zone.
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).isoformat()
