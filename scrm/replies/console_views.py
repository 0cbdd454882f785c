"""What the reply-rule, follow-greeting and menu pages show, and their forms read back into the
domain's input: a rule's form as :func:`scrm.replies.schemas.parse_rule` takes it, the menu's
3 × (1 + 5) rows of fields as :class:`scrm.replies.menu.ButtonIn`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _, lazy_gettext as _l

from scrm.replies import menu as menu_service
from scrm.replies.schemas import InvalidRule, PRIORITY_LIMIT

if TYPE_CHECKING:
    from scrm.replies.models import ReplyRule

RULE_FIELDS = ("match", "keyword", "reply_kind", "text", "title", "description", "url", "picurl", "priority")
ARTICLE_FIELDS = ("title", "description", "url", "picurl")
# Lazy: put in the reader's language when a page is drawn (scrm/web/i18n.py).
MATCH_WORDS = {"exact": _l("全匹配"), "contains": _l("半匹配"), "follow": _l("关注回复"), "default": _l("默认回复")}
KIND_WORDS = {"text": _l("文字"), "news": _l("图文")}
MENU_STATUS_WORDS = {
    "saved": _l("已保存，未发布"),
    "publishing": _l("发布中…"),
    "published": _l("已发布"),
    "failed": _l("发布失败"),
    "superseded": _l("已被新版本取代"),
}
MENU_KIND_WORDS = {"click": _l("点击"), "view": _l("链接")}
TOP_SLOTS = range(1, menu_service.MAX_TOP + 1)
SUB_SLOTS = range(1, menu_service.MAX_SUB + 1)


# ---- reply rules ----------------------------------------------------------------------------

def read_rule_form(form: Mapping[str, str]) -> dict[str, Any]:
    """The fields as typed (re-shown on an error), ``enabled`` as a checkbox."""
    typed: dict[str, Any] = {name: form.get(name, "") for name in RULE_FIELDS}
    typed["keyword"] = typed["keyword"].strip()
    typed["priority"] = typed["priority"].strip()
    typed["enabled"] = form.get("enabled") == "on"
    return typed


def rule_input(typed: dict[str, Any], *, match: str | None = None) -> dict[str, Any]:
    """The rule as the API would be sent it; a bad priority is :class:`InvalidRule`."""
    priority = typed["priority"] or "0"
    try:
        number = int(priority)
    except ValueError:
        raise InvalidRule("priority", f"must be a whole number from {-PRIORITY_LIMIT} to {PRIORITY_LIMIT}") from None
    chosen = match or typed["match"]
    data: dict[str, Any] = {
        "match": chosen,
        "keyword": typed["keyword"] or None if chosen in ("exact", "contains") else None,
        "reply_kind": typed["reply_kind"] or "text",
        "priority": number,
        "enabled": typed["enabled"],
    }
    if data["reply_kind"] == "news":
        data["articles"] = [{name: typed[name].strip() if name != "description" else typed[name]
                             for name in ARTICLE_FIELDS}]
    else:
        data["text"] = typed["text"]
    return data


def rule_form(rule: ReplyRule | None, *, match: str = "exact") -> dict[str, Any]:
    """A rule's form, filled from ``rule`` (the first article only) or blank."""
    if rule is None:
        return {"match": match, "keyword": "", "reply_kind": "text", "text": "", "title": "", "description": "",
                "url": "", "picurl": "", "priority": "0", "enabled": True}
    article = (rule.articles or [{}])[0]
    return {"match": rule.match, "keyword": rule.keyword or "", "reply_kind": rule.reply_kind, "text": rule.text,
            **{name: article.get(name, "") for name in ARTICLE_FIELDS},
            "priority": str(rule.priority), "enabled": rule.enabled}


def reply_summary(rule: ReplyRule) -> str:
    if rule.reply_kind == "news":
        titles = " · ".join(a.get("title", "") for a in rule.articles)
        return f"[{_('图文')}] {titles}"
    return rule.text


# ---- the menu -------------------------------------------------------------------------------

def read_menu_form(form: Mapping[str, str]) -> dict[str, str]:
    """Every field of the 3 × (1 + 5) rows, as typed."""
    names = [f"b{i}_{f}" for i in TOP_SLOTS for f in ("name", "kind", "value")]
    names += [f"b{i}_s{j}_{f}" for i in TOP_SLOTS for j in SUB_SLOTS for f in ("name", "kind", "value")]
    return {name: form.get(name, "").strip() for name in names}


def menu_buttons(typed: dict[str, str]) -> tuple[menu_service.ButtonIn, ...]:
    """The buttons of the rows filled in; a row with only a name or only a value still counts
    (so the check can say what it lacks). A top row with sub-buttons opens them."""
    buttons = []
    for i in TOP_SLOTS:
        subs = tuple(
            menu_service.ButtonIn(typed[f"b{i}_s{j}_name"], typed[f"b{i}_s{j}_kind"], typed[f"b{i}_s{j}_value"])
            for j in SUB_SLOTS
            if typed[f"b{i}_s{j}_name"] or typed[f"b{i}_s{j}_value"]
        )
        if typed[f"b{i}_name"] or typed[f"b{i}_value"] or subs:
            buttons.append(menu_service.ButtonIn(typed[f"b{i}_name"], typed[f"b{i}_kind"], typed[f"b{i}_value"], subs))
    return tuple(buttons)


def menu_form(buttons: list[dict[str, Any]]) -> dict[str, str]:
    """The form's fields filled from WeChat's ``button`` list."""
    typed = dict.fromkeys(read_menu_form({}), "")
    for i, button in enumerate(menu_service.buttons_in(buttons), start=1):
        typed.update({f"b{i}_name": button.name, f"b{i}_kind": button.kind, f"b{i}_value": button.value})
        for j, sub in enumerate(button.sub, start=1):
            typed.update({f"b{i}_s{j}_name": sub.name, f"b{i}_s{j}_kind": sub.kind, f"b{i}_s{j}_value": sub.value})
    return typed
