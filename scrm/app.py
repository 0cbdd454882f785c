"""The Flask app factory, made of named steps. It connects to nothing and migrates nothing."""

from __future__ import annotations

from flask import Flask, Request
from werkzeug.middleware.proxy_fix import ProxyFix

from guides import routes as guide_routes
from guides.pages import guide_console
from guides.phone_pages import guide_pages
from guides.code_pages import guide_code_pages
from guides.redeem_pages import redeem_pages
from handlers import routes as webhook_routes
from scrm.config import Config, load_config
from scrm.coupons import routes as coupon_routes
from scrm.coupons.customer_pages import customer_pages
from scrm.coupons.pages import coupon_console
from scrm.customers import routes as customer_routes
from scrm.customers.pages import customer_console
from scrm.dashboard import routes as dashboard_routes
from scrm.dashboard.pages import dashboard_console
from scrm.groups import routes as group_routes
from scrm.groups.code_pages import code_console as group_code_console
from scrm.groups.pages import group_console
from scrm.groups.welcome_pages import group_welcome_console
from scrm.groups.sop_pages import sop_console
from scrm.groups.stats_pages import group_stats_console
from scrm.members import routes as member_routes
from scrm.members.pages import member_console
from scrm.members.stats_pages import member_stats_console
from scrm.products.stats_pages import product_stats_console
from scrm.members.customer_pages import member_pages
from scrm.outreach import routes as campaign_routes
from scrm.products import routes as product_routes
from scrm.outreach.pages import campaign_console
from scrm.products.customer_pages import product_pages
from scrm.products.pages import product_console
from scrm.replies import routes as reply_routes
from scrm.replies.pages import reply_console
from scrm.runtime import Runtime, install
# phone_groups, phone_members, phone_products: their routes on the phone's blueprint
from scrm.sandbox import phone, phone_groups, phone_members, phone_products  # noqa: F401
from scrm.sandbox import routes as sandbox_routes
from scrm.users import routes as user_routes
from scrm.web import csrf, edge, errors, health, i18n, limits, nav, openapi, pages
from tagging import links as tracked_links
from tagging import routes as tag_routes
from tagging.pages import tag_console
from tagging.segments import routes as segment_routes
from tagging.segments.pages import segment_console

MAX_CONTENT_LENGTH = 1024 * 1024  # API bodies; the webhooks enforce their own 64 KiB
# Image uploads to WeChat's material (up to 10 MB, WECHAT-NOTES) and WeCom's uploadimg (2 MB): ours and the sandbox's.
UPLOAD_PATHS = ("/console/campaigns/media", "/sandbox/wechat/mp/cgi-bin/material/add_material",
                "/console/group-welcome/image", "/sandbox/wechat/work/cgi-bin/media/uploadimg")
MAX_UPLOAD_LENGTH = 12 * 1024 * 1024


class ScrmRequest(Request):
    """A request whose body limit is the app's, but larger for an image upload: read before the
    view runs (the CSRF check reads the form), so a view cannot raise it itself."""

    @property
    def max_content_length(self) -> int | None:
        if self.path in UPLOAD_PATHS:
            return MAX_UPLOAD_LENGTH
        return super().max_content_length

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value


def create_app(config: Config | None = None, *, runtime: Runtime | None = None) -> Flask:
    runtime = runtime or Runtime(config or load_config())
    install(runtime)
    app = Flask(__name__)
    app.request_class = ScrmRequest
    configure_app(app, runtime)
    configure_errors(app)
    configure_edge(app)
    configure_csrf(app)
    configure_languages(app)
    configure_request_log(app)
    configure_blueprints(app, runtime)
    limits.init_app(app, runtime)  # after the blueprints: it wraps their views
    return app


def configure_app(app: Flask, runtime: Runtime) -> None:
    app.config.update(
        SECRET_KEY=runtime.config.secret_key,
        MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=runtime.config.server.public_base_url.startswith("https://"),
        JSON_AS_ASCII=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["scrm"] = runtime
    proxies = runtime.config.server.trusted_proxies
    if proxies:  # the client's own address (per-IP rate limits, logs) and scheme, from the proxies' headers
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]


def configure_errors(app: Flask) -> None:
    errors.init_app(app)


def configure_edge(app: Flask) -> None:
    """Ids bounded to 64 bits, NUL refused, security headers (scrm/web/edge.py, SPEC §12)."""
    edge.init_app(app)


def configure_csrf(app: Flask) -> None:
    """CSRF tokens on cookie-authenticated writes; a Bearer-only, JSON-only /api/ (scrm/web/csrf.py, SPEC §12)."""
    csrf.init_app(app)


def configure_languages(app: Flask) -> None:
    """Chinese first, English by choice (Flask-Babel catalogues); customers' pages in brand.locale (scrm/web/i18n.py)."""
    i18n.init_app(app)


def configure_request_log(app: Flask) -> None:
    """One line per request: method, path (never the query: it carries signatures), status, ms."""
    import logging
    import time

    from flask import g, request

    log = logging.getLogger("scrm.request")

    @app.before_request
    def _start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _log_request(response):  # noqa: ANN001, ANN202
        elapsed = (time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000
        log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={"status": response.status_code, "ms": round(elapsed, 1)},
        )
        return response


def configure_blueprints(app: Flask, runtime: Runtime) -> None:
    app.register_blueprint(webhook_routes.blueprint)
    app.register_blueprint(customer_routes.blueprint)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(openapi.blueprint)
    app.register_blueprint(pages.blueprint)
    nav.init_app(app)  # the console's side bar (console_base.html)
    app.register_blueprint(user_routes.blueprint)
    app.register_blueprint(reply_routes.blueprint)
    app.register_blueprint(tracked_links.blueprint)
    app.register_blueprint(tag_routes.blueprint)
    app.register_blueprint(segment_routes.blueprint)
    app.register_blueprint(guide_routes.blueprint)
    app.register_blueprint(coupon_routes.blueprint)
    app.register_blueprint(dashboard_routes.blueprint)
    app.register_blueprint(group_routes.blueprint)
    app.register_blueprint(member_routes.blueprint)
    app.register_blueprint(product_routes.blueprint)
    app.register_blueprint(campaign_routes.blueprint)
    app.register_blueprint(campaign_console)
    app.register_blueprint(guide_pages)
    app.register_blueprint(customer_pages)
    app.register_blueprint(member_pages)
    app.register_blueprint(product_pages)
    app.register_blueprint(redeem_pages)
    app.register_blueprint(guide_code_pages)
    app.register_blueprint(guide_console)
    app.register_blueprint(tag_console)
    app.register_blueprint(segment_console)
    app.register_blueprint(coupon_console)
    app.register_blueprint(customer_console)
    app.register_blueprint(dashboard_console)
    app.register_blueprint(group_console)
    app.register_blueprint(group_code_console)
    app.register_blueprint(group_welcome_console)
    app.register_blueprint(sop_console)
    app.register_blueprint(group_stats_console)
    app.register_blueprint(member_console)
    app.register_blueprint(member_stats_console)
    app.register_blueprint(product_console)
    app.register_blueprint(product_stats_console)
    app.register_blueprint(reply_console)
    if runtime.config.wechat.sandbox:
        app.register_blueprint(sandbox_routes.wechat_api, url_prefix="/sandbox/wechat")
        app.register_blueprint(sandbox_routes.control_api, url_prefix="/api/sandbox")
        app.register_blueprint(phone.phone_pages, url_prefix="/sandbox/phone")
