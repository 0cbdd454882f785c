"""What ``scrm simulate`` knows of the server it loads: its guides with their codes' scenes and
WeCom members, its stores' codes, the words its reply and tag rules listen for, and its menu
(SPEC §10: "using the guides, codes, menus and rules that server really has").

:func:`discover` asks the server's API with a manager's token; :func:`builtin` is the imagined
brand of :mod:`scrm.simulator_corpus`, for plans made without a server (tests, benchmarks).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import requests

from scrm import simulator_corpus as corpus


@dataclass(frozen=True)
class GuideRef:
    code: str
    wecom_userid: str  # "" when the guide has no WeCom member: no contact events for them
    mp_scene: str  # "" when the guide has no MP code
    work_scene: str  # the contact way's state; "" when none


@dataclass(frozen=True)
class World:
    guides: tuple[GuideRef, ...]
    store_scenes: tuple[str, ...]  # MP scenes of store codes (they route to a guide on duty)
    texts: tuple[str, ...]  # what customers say: the corpus's chatter and the rules' keywords
    click_keys: tuple[str, ...]  # the menu's CLICK keys
    view_urls: tuple[str, ...]  # the menu's VIEW urls
    source: str  # where this came from, for the plan's description
    menu_source: str = "built-in"

    @property
    def mp_guides(self) -> tuple[GuideRef, ...]:
        return tuple(g for g in self.guides if g.mp_scene)

    @property
    def work_guides(self) -> tuple[GuideRef, ...]:
        return tuple(g for g in self.guides if g.wecom_userid and g.work_scene)

    def describe(self) -> str:
        guides = ", ".join(g.code for g in self.guides) or "none: nobody will be bound"
        return (f"world: {self.source}: guides {guides}; {len(self.store_scenes)} store code(s); "
                f"{len(self.texts)} texts; menu ({self.menu_source}): {len(self.click_keys)} click key(s), "
                f"{len(self.view_urls)} view url(s)")


def builtin() -> World:
    guides = tuple(GuideRef(code, member, f"g:{code}", f"g:{code}") for code, member in corpus.GUIDES)
    return World(guides, corpus.OTHER_SCENES, corpus.TEXTS, corpus.MENU_CLICK_KEYS, corpus.MENU_VIEW_URLS,
                 "the built-in corpus")


class DiscoveryFailed(Exception):
    """The server's API did not tell what the simulator needs (a refused token, an error)."""


def discover(url: str, token: str, *, coupons_menu_key: str, timeout: float = 10.0) -> World:
    """The world of the server at ``url``, read with a manager's (or admin's) ``token``.

    The menu is ``GET /api/menu`` (WeChat's ``button`` list) when the server has that route;
    without it, the keys the server is known to react to: ``coupons.menu_key`` (its "my
    coupons" button) and the keys and URLs of its ``click`` and ``view`` tag rules."""
    api = _Api(url.rstrip("/"), token, timeout)
    guides = []
    for listed in api.get("/api/guides")["guides"]:
        if listed.get("status", "active") != "active":
            continue
        guide = api.get(f"/api/guides/{listed['code']}")
        codes = guide.get("codes") or {}
        guides.append(GuideRef(guide["code"], guide.get("wecom_userid") or "", _scene(codes.get("mp")),
                               _scene(codes.get("work"))))
    store_scenes = []
    for listed in api.get("/api/stores")["stores"]:
        scene = _scene((api.get(f"/api/stores/{listed['code']}").get("codes") or {}).get("mp"))
        if scene:
            store_scenes.append(scene)
    tag_rules = api.get("/api/tag-rules")["rules"]
    keywords = [r.get("keyword") for r in api.get("/api/reply-rules")["rules"] if r.get("enabled", True)]
    for rule in tag_rules:
        if rule["kind"] == "keyword" and rule.get("enabled", True):
            keywords.extend([rule["pattern"], *rule.get("synonyms", ())])
    texts = _unique([*corpus.TEXTS, *(k for k in keywords if k)])
    menu = api.get("/api/menu", missing_ok=True)
    if menu is not None:
        buttons = list(_leaves(menu))
        clicks = _unique(b["key"] for b in buttons if b.get("type") == "click" and b.get("key"))
        views = _unique(b["url"] for b in buttons if b.get("type") == "view" and b.get("url"))
        menu_source = "GET /api/menu"
    else:
        live = [r for r in tag_rules if r.get("enabled", True)]
        clicks = _unique([coupons_menu_key, *(r["pattern"] for r in live if r["kind"] == "click")])
        views = _unique(r["pattern"] for r in live if r["kind"] == "view")
        menu_source = "coupons.menu_key and the click/view tag rules"
    return World(tuple(guides), tuple(store_scenes), texts, clicks, views, f"the server at {url}", menu_source)


class _Api:
    def __init__(self, url: str, token: str, timeout: float) -> None:
        self.url, self.timeout = url, timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, *, missing_ok: bool = False) -> Any:
        try:
            response = self.session.get(self.url + path, timeout=self.timeout)
        except requests.RequestException as exc:
            raise DiscoveryFailed(f"GET {path}: {type(exc).__name__}") from None
        if missing_ok and response.status_code in (404, 405):
            return None
        if response.status_code in (401, 403):
            raise DiscoveryFailed(f"GET {path} answered {response.status_code}: the token must be a live "
                                  "admin's or manager's (--token, or leave it out to have one made)")
        if not response.ok:
            raise DiscoveryFailed(f"GET {path} answered {response.status_code}: {response.text[:200]}")
        return response.json()


def _scene(code: dict[str, Any] | None) -> str:
    return "" if not code or code.get("status") == "retired" else code.get("scene") or ""


def _leaves(node: Any) -> Iterator[dict[str, Any]]:
    """Every button of a menu in WeChat's shape ({"button": [{…, "sub_button": […]}]}),
    whatever it is wrapped in."""
    if isinstance(node, dict):
        if "type" in node:
            yield node
        for value in node.values():
            yield from _leaves(value)
    elif isinstance(node, list):
        for item in node:
            yield from _leaves(item)


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
