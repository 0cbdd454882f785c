"""The console's languages (scrm/web/i18n.py, SPEC §11): every word marked for translation has
its English in the catalogue, the compiled catalogue is the written one, and each request is
in the right language (the person's choice, else the browser's, else Chinese; customers'
pages in the brand's)."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from web_world import log_in, page_text

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "scrm" / "translations" / "en" / "LC_MESSAGES" / "messages"
SOURCES = ("scrm", "guides", "tagging", "handlers", "qrcodes")  # as `make translations` reads them
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "_l": None}  # pybabel's own, with -k _l (Makefile)
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]


def marked_words() -> dict[tuple[str | None, str], str]:
    """Every word marked in the code, by (context, msgid; a plural's singular), with its first
    place, as pybabel extract finds it."""
    found: dict[tuple[str | None, str], str] = {}
    for source in SOURCES:
        for filename, lineno, message, _comments, context in extract_from_dir(
                ROOT / source, METHODS, keywords=KEYWORDS, comment_tags=()):
            msgid = message[0] if isinstance(message, tuple) else message
            if msgid:
                found.setdefault((context, msgid), f"{source}/{filename}:{lineno}")
    return found


def read_catalogue(path: Path, reader):  # noqa: ANN001, ANN201
    with path.open("rb") as handle:
        return reader(handle, locale="en") if reader is read_po else reader(handle)


def test_every_marked_word_has_its_english_in_the_catalogue():
    catalogue = read_catalogue(CATALOGUE.with_suffix(".po"), read_po)
    words = marked_words()
    assert len(words) > 15  # the side bar's words at least: the extraction reads the templates
    missing = {}
    for (context, msgid), where in words.items():
        entry = catalogue.get(msgid, context=context)
        english = entry.string if entry else ""
        if not english or (isinstance(english, tuple) and not all(english)):
            missing[f"{context} | {msgid}" if context else msgid] = where
    assert missing == {}, f"no English for these (run `make translations`, write each msgstr): {missing}"
    fuzzy = [message.id for message in catalogue if message.id and message.fuzzy]
    assert fuzzy == [], f"fuzzy entries, to be checked and their #, fuzzy removed: {fuzzy}"


def _key(message):  # noqa: ANN001, ANN202
    """A message's context and id; a plural's id is a list in a read .mo, a tuple in a .po."""
    return message.context, _words(message.id)


def _words(value):  # noqa: ANN001, ANN202
    return tuple(value) if isinstance(value, (list, tuple)) else value


def test_the_compiled_catalogue_is_the_written_one():
    written = read_catalogue(CATALOGUE.with_suffix(".po"), read_po)
    assert CATALOGUE.with_suffix(".mo").exists(), "no compiled catalogue: run `make` (make test compiles it)"
    compiled = read_catalogue(CATALOGUE.with_suffix(".mo"), read_mo)
    expected = {_key(m): _words(m.string) for m in written if m.id and m.string}
    actual = {_key(m): _words(m.string) for m in compiled if m.id and m.string}
    assert actual == expected, "the .mo is older than the .po: run `make test` (or make scrm/translations/en/LC_MESSAGES/messages.mo) to compile it"


# ---- which language a request is in -------------------------------------------------------

def side_me(client) -> str:  # noqa: ANN001
    text = page_text(client.get("/console/dashboard"))
    return text[text.index('id="side-me"'):text.index("</aside>")]


def test_the_console_is_chinese_first(client, make_token):
    log_in(client, make_token, "manager")
    text = page_text(client.get("/console/dashboard"))
    assert '<html lang="zh-CN">' in text and "退出" in side_me(client) and "Log out" not in side_me(client)


def test_the_browser_language_is_used_when_the_person_has_not_chosen(client, make_token):
    log_in(client, make_token, "manager")
    english = page_text(client.get("/console/dashboard", headers={"Accept-Language": "en-US,en;q=0.9"}))
    assert '<html lang="en">' in english and ">Log out<" in english and ">Keyword replies<" in english
    for header in ("zh-CN,zh;q=0.9,en;q=0.8", "zh", "fr-FR,fr", "zh-TW"):  # Chinese, or unknown: Chinese
        text = page_text(client.get("/console/dashboard", headers={"Accept-Language": header}))
        assert '<html lang="zh-CN">' in text and ">退出<" in text, header


def test_the_switch_remembers_the_choice_over_the_browser_language(client, make_token):
    log_in(client, make_token, "manager")
    switched = client.post("/language", data={"lang": "en", "next": "/console/tags?page=2"})
    assert switched.status_code == 303 and switched.headers["Location"] == "/console/tags?page=2"
    chinese_browser = {"Accept-Language": "zh-CN,zh"}
    assert ">Log out<" in page_text(client.get("/console/dashboard", headers=chinese_browser))
    assert '<html lang="en">' in page_text(client.get("/login", headers=chinese_browser))  # the sign-in page too
    client.post("/language", data={"lang": "zh_CN", "next": "/console/dashboard"})
    assert ">退出<" in page_text(client.get("/console/dashboard", headers={"Accept-Language": "en"}))


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)", "",
                                    "/\\evil.example"])
def test_the_switch_goes_back_only_to_a_page_of_this_site(client, target):
    response = client.post("/language", data={"lang": "en", "next": target})
    assert response.status_code == 303 and response.headers["Location"] == "/"


def test_an_unknown_language_changes_nothing(client, make_token):
    log_in(client, make_token, "manager")
    response = client.post("/language", data={"lang": "fr", "next": "/console/dashboard"})
    assert response.status_code == 303 and "scrm_lang" not in response.headers.get("Set-Cookie", "")
    assert ">退出<" in page_text(client.get("/console/dashboard"))


def test_the_switch_needs_the_pages_csrf_token(client, make_token):
    log_in(client, make_token, "manager")
    refused = client.post("/language", data={"lang": "en", "next": "/"}, csrf=False)
    assert refused.status_code == 403 and "scrm_lang" not in refused.headers.get("Set-Cookie", "")


def test_customers_pages_are_in_the_brands_language_whatever_the_browser_says(client):
    client.set_cookie("scrm_lang", "en")
    text = page_text(client.get("/c/coupons", headers={"Accept-Language": "en"}))
    assert '<html lang="zh-CN">' in text and "我的优惠券" in text and "My coupons" not in text
