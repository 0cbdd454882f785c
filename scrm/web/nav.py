"""The console's navigation (SPEC §11): every console page has the same side bar (a menu on a
phone) to every area, the brand's name and the signed-in user. console_base.html draws it from
``console_nav()``, which pages' templates get from the context processor installed here.

The current area is the link whose URL is the longest prefix of the request's path (a rule's
edit page, ``/console/reply-rules/7``, is in 关键词回复); a path under none of them (a guide's
page, ``/console/guides/G001``; a journey's POST) is in its blueprint's first link."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, request, url_for
from flask_babel import lazy_gettext as _l

from scrm.web.api import current_runtime
from scrm.web.auth import current_caller

CONSOLE_ROLES = ("admin", "manager")


@dataclass(frozen=True)
class Link:
    endpoint: str
    label: str  # lazy_gettext: in the reader's language when the bar is drawn
    admin_sandbox_only: bool = False


@dataclass(frozen=True)
class Section:
    """A heading over its links, or (``label`` None) links that are areas of their own."""

    label: str | None
    links: tuple[Link, ...]


NAV = (
    Section(None, (
        Link("dashboard_console.dashboard", _l("概览")),
        Link("customer_console.customers", _l("顾客")),
    )),
    Section(_l("自动回复"), (
        Link("reply_console.rules", _l("关键词回复")),
        Link("reply_console.follow_greeting", _l("关注回复")),
        Link("reply_console.menu", _l("菜单")),
    )),
    Section(_l("标签"), (
        Link("tag_console.tags", _l("标签")),
        Link("tag_console.tag_rules", _l("标签规则")),
        Link("tag_console.audience", _l("人群")),
    )),
    Section(None, (
        Link("guide_console.stores", _l("门店与导购")),
        Link("coupon_console.coupon_templates", _l("优惠券")),
        Link("campaign_console.campaign_list", _l("活动")),
    )),
    Section(_l("社群运营"), (
        Link("group_console.groups", _l("客户群")),
        Link("group_code_console.code_list", _l("群活码")),
        Link("group_welcome_console.templates", _l("入群欢迎语")),
        Link("sop_console.sops", _l("群SOP")),
        Link("group_stats_console.stats_page", _l("社群数据")),
    )),
    Section(_l("会员"), (
        Link("member_console.members", _l("会员")),
        Link("member_console.levels", _l("会员等级")),
        Link("member_console.mall", _l("积分商城")),
        Link("member_stats_console.stats_page", _l("会员数据")),
    )),
    Section(_l("一物一码"), (
        Link("product_console.batches", _l("码批次")),
        Link("product_stats_console.stats", _l("扫码数据")),
    )),
    Section(None, (
        Link("phone_pages.page", _l("手机沙盒"), admin_sandbox_only=True),
    )),
)


# Blueprints whose pages live in another's area: a refused segment form (/console/segments) shows the audience page.
SHOWN_IN = {"segment_console": "tag_console.audience"}


def console_nav() -> dict[str, Any] | None:
    """The side bar for this request: the brand's name, the user and the sections with each
    link's URL and whether it is the current area; None for a visitor who is not a console user."""
    caller = current_caller()
    if caller is None or caller.role not in CONSOLE_ROLES:
        return None
    runtime = current_runtime()
    sandbox = runtime.config.wechat.sandbox and "phone_pages.page" in current_app.view_functions
    phone_sandbox = sandbox and caller.role == "admin"
    shown = [(section, [link for link in section.links if phone_sandbox or not link.admin_sandbox_only])
             for section in NAV]
    urls = {link.endpoint: url_for(link.endpoint) for _, links in shown for link in links}
    here = current_endpoint(urls)
    return {
        "brand": runtime.config.brand.name,
        "user": caller,
        "sections": [
            {"label": section.label,
             "links": [{"url": urls[link.endpoint], "label": link.label,
                        "current": _current(link.endpoint == here, urls[link.endpoint])} for link in links]}
            for section, links in shown if links
        ],
    }


def _current(here: bool, url: str) -> str | None:
    """``aria-current``: "page" on the area's own page, "true" on a page inside it."""
    if not here:
        return None
    return "page" if (request.path.rstrip("/") or "/") == url else "true"


def current_endpoint(urls: dict[str, str]) -> str | None:
    """The nav link (by endpoint) the request's page belongs to, or None (the home page)."""
    path = request.path.rstrip("/") or "/"
    under = [(len(url), endpoint) for endpoint, url in urls.items() if path == url or path.startswith(url + "/")]
    if under:
        return max(under)[1]
    blueprint = request.blueprint
    if SHOWN_IN.get(blueprint or "") in urls:
        return SHOWN_IN[blueprint]
    return next((endpoint for endpoint in urls if blueprint and endpoint.split(".")[0] == blueprint), None)


def init_app(app: Flask) -> None:
    @app.context_processor
    def _nav() -> dict[str, Any]:
        return {"console_nav": console_nav}  # called by console_base.html only: no cost elsewhere
