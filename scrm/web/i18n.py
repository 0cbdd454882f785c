"""The console's languages (SPEC §11): Chinese first, English available, from Flask-Babel's
gettext catalogues.

Templates and pages write their words in Chinese, marked for translation (``{{ _("启动") }}``,
``gettext("已启动")``, ``lazy_gettext`` for words defined at import time); the English for each
is in ``scrm/translations/en/LC_MESSAGES/messages.po``. ``make translations`` extracts every
marked word into that catalogue (new ones with an empty translation, to be written), and
``make demo`` / ``make test`` compile it to the ``.mo`` the app reads. tests/platform/test_translations.py fails
while a marked word has no English or the compiled catalogue is older than the written one.

Whose language a page is in:

- **Customers' pages** (``/c/``, ``/card/``, ``/t/``, ``/p/``): the brand's, ``brand.locale``.
  A customer never chooses, and never reads English in a Chinese brand's account.
- **Everyone else** (the console, guides' ``/m/``, the sign-in page): the language the person
  chose with the switch in the side bar (a cookie, :data:`COOKIE`), else the best match of the
  browser's ``Accept-Language``, else Chinese.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, redirect, request
from flask_babel import Babel

from scrm.web.api import current_runtime

LANGUAGES = ("zh_CN", "en")  # the first is the default
NAMES = {"zh_CN": "中文", "en": "English"}  # each in its own language: never translated
COOKIE = "scrm_lang"
COOKIE_AGE = 365 * 24 * 3600
CUSTOMER_PATHS = ("/c/", "/card/", "/t/", "/p/")  # pages customers open in WeChat: brand.locale

blueprint = Blueprint("language", __name__)


def select_locale() -> str:
    """The language of this request (see the module's docstring)."""
    if request.path.startswith(CUSTOMER_PATHS):
        return current_runtime().config.brand.locale
    chosen = request.cookies.get(COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES, default=LANGUAGES[0])


def select_timezone() -> str:
    """Times are shown in the brand's time zone, whoever reads them."""
    return current_runtime().config.brand.timezone


@blueprint.post("/language")
def choose_language() -> Response:
    """The side bar's 中文 | English switch: remember the choice and go back to the page."""
    chosen = request.form.get("lang", "")
    back = _local_path(request.form.get("next", ""))
    response = redirect(back, 303)
    if chosen in LANGUAGES:
        response.set_cookie(COOKIE, chosen, max_age=COOKIE_AGE, httponly=True, samesite="Lax",
                            secure=request.is_secure)
    return response


def _local_path(target: str) -> str:
    """``target`` when it is a path on this site, else the home page (never another site)."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def languages() -> list[dict[str, object]]:
    """The switch's choices: each language by its own name, and whether it is the current one."""
    current = select_locale()
    return [{"code": code, "name": NAMES[code], "current": code == current} for code in LANGUAGES]


def html_lang() -> str:
    """``<html lang>`` for this request: ``zh-CN`` or ``en``."""
    return select_locale().replace("_", "-")


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", LANGUAGES[0])
    Babel(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.register_blueprint(blueprint)
    app.jinja_env.globals.update(languages=languages, html_lang=html_lang)
