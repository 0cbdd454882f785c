"""The console's shell: home, log in with a token, log out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _

from scrm.web.api import current_runtime
from scrm.web.auth import authenticate_token, current_caller, log_in, log_out

blueprint = Blueprint("pages", __name__, template_folder="../templates")


@blueprint.get("/")
def home():  # noqa: ANN201
    runtime = current_runtime()
    return render_template("home.html", caller=current_caller(), sandbox=runtime.config.wechat.sandbox)


@blueprint.route("/login", methods=["GET", "POST"])
def login():  # noqa: ANN201
    error = None
    if request.method == "POST":
        caller = authenticate_token(request.form.get("token", "").strip())
        if caller is not None:
            log_in(caller)
            return redirect(local_path(request.args.get("next", "")) or url_for("pages.home"))
        error = _("这个令牌无效。请管理员给你一个（scrm users create NAME --role ROLE）。")
    return render_template("login.html", error=error), 401 if error else 200


@blueprint.post("/logout")
def logout():  # noqa: ANN201
    log_out()
    return redirect(url_for("pages.home"))


def local_path(target: str) -> str | None:
    """``target`` if it is a path on this site, else None: never an open redirect (SPEC §12).
    Browsers drop tabs and line breaks from a URL and read a backslash as a slash, so a path
    that starts with a slash, a tab and a slash leads off-site; a line break in the Location
    header would be a 500."""
    if not target.startswith("/") or "\\" in target or any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return None
    return target
