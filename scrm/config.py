"""Configuration: a TOML file plus ``SCRM_…`` environment overrides (SPEC §1).

``wechat.mp.token`` is overridden by ``SCRM_WECHAT__MP__TOKEN``. Every key is declared
below and documented in ``config.example.toml``; an unknown key, a value of the wrong type
or a missing secret outside sandbox mode stops start-up with a :class:`ConfigError` that
names the key and where it came from (the file, or the variable).
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import parse_many
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, field_validator, model_validator

ENV_PREFIX = "SCRM_"
CONFIG_FILE_VARIABLE = "SCRM_CONFIG"
DEFAULT_CONFIG_FILE = "config.toml"
SANDBOX_SECRET_KEY = "sandbox-only-secret-key-never-use-in-production"
SANDBOX_AGENT_SECRET = "sandbox-work-agent-secret"  # the sandbox WeCom's self-built app
REAL_WECHAT_HOSTS = ("weixin.qq.com", "qq.com")
# Keys that moved: an old configuration naming one is refused with the new name.
MOVED_KEYS = {"outreach.timezone": "brand.timezone"}


class ConfigError(Exception):
    """Start-up refused: names the key and where its value came from."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class DatabaseConfig(_Section):
    url: str = "sqlite:///var/scrm.db"
    echo: bool = False
    # Connections each process keeps (PostgreSQL), and how many more it may open at a peak.
    pool_size: int = Field(default=10, ge=1, le=500)
    max_overflow: int = Field(default=20, ge=0, le=500)


class RedisConfig(_Section):
    url: str = "memory://"

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://", "memory://")):
            raise ValueError("must start with redis://, rediss://, unix:// or memory://")
        return value


class ServerConfig(_Section):
    public_base_url: str = "http://127.0.0.1:5000"
    host: str = "127.0.0.1"
    port: int = Field(default=5000, ge=1, le=65535)
    # Reverse proxies in front of the app whose X-Forwarded-For and X-Forwarded-Proto are
    # trusted (werkzeug's ProxyFix): with 0, the client's address is the connection's.
    trusted_proxies: int = Field(default=0, ge=0, le=5)

    @field_validator("public_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")


class SessionHours(_Section):
    console: int = Field(default=12, ge=1, le=24 * 90)
    guide: int = Field(default=72, ge=1, le=24 * 90)


class RateLimits(_Section):
    """Flask-Limiter's notation: "20/minute", "100/hour;1000/day"."""

    sign_in_per_ip: str = "20/minute"
    redeem_per_user: str = "60/minute"
    redeem_per_ip: str = "300/minute"
    # SMS verification codes (members' joining): per phone number and per IP.
    sms_per_phone: str = "1/minute;10/day"
    sms_per_ip: str = "20/hour"
    # Product-code pages (/p/<code>, SPEC §14) opened and claimed from one IP address. A store's
    # customers may share one address (its Wi-Fi): generous per minute, bounded per hour.
    product_claims_per_ip: str = "60/minute;600/hour"

    @field_validator("sign_in_per_ip", "redeem_per_user", "redeem_per_ip", "sms_per_phone", "sms_per_ip",
                     "product_claims_per_ip")
    @classmethod
    def _parses(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError:
            raise ValueError('must read like "20/minute" or "100/hour;1000/day"') from None
        return value


class SecurityConfig(_Section):
    secret_key: str | None = None
    session_hours: SessionHours = SessionHours()
    rate_limits: RateLimits = RateLimits()


class MPConfig(_Section):
    app_id: str = "wxsandbox0000000001"
    app_secret: str = "sandbox-mp-app-secret"
    token: str = "sandboxtoken"
    encoding_aes_key: str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    previous_encoding_aes_key: str | None = None
    original_id: str = "gh_sandbox000001"
    api_base_url: str | None = None
    # Refuse plaintext callbacks (403): their signature does not cover the body. Unset: true
    # outside sandbox mode (see Config.mp_requires_safe_mode).
    require_safe_mode: bool | None = None


class WorkConfig(_Section):
    corp_id: str = "wwsandbox00000001"
    secret: str = "sandbox-work-contact-secret"
    agent_id: int = 1000001
    # The self-built app's own secret: app messages to members (message/send, SPEC §9's SOP
    # reminders, churn alerts, welcome asks) go with it. Unset: none are sent, except in sandbox
    # mode, where the sandbox's own secret is used (Config.work_agent_secret); "" turns them off.
    agent_secret: str | None = None
    token: str = "sandboxworktoken"
    encoding_aes_key: str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg"
    previous_encoding_aes_key: str | None = None
    api_base_url: str | None = None


class WeChatConfig(_Section):
    sandbox: bool = True
    timeout_seconds: float = Field(default=5.0, gt=0)
    # API name (e.g. "message/custom/send") → most calls a minute; merged over the
    # built-in quotas in scrm/wechat/quotas.py.
    rate_limits: dict[str, PositiveInt] = Field(default_factory=dict)
    mp: MPConfig = MPConfig()
    work: WorkConfig = WorkConfig()


# Placeholders: #nickname#, #guide#, #store# (guides/welcome.py).
DEFAULT_WELCOME = "#nickname#您好！我是#store#的导购#guide#，有任何问题随时找我。"


class BindingConfig(_Section):
    policy: Literal["first_touch", "last_touch"] = "first_touch"
    protect_days: int = Field(default=30, ge=0)
    welcome_text: str = Field(default=DEFAULT_WELCOME, min_length=1, max_length=600)


class GuidesConfig(_Section):
    login_link_hours: int = Field(default=72, ge=1, le=24 * 30)
    # WeCom OAuth sign-in on the guide pages (opened inside WeCom); off: login links only.
    wecom_oauth: bool = False
    # The redeem page inside WeCom scans with wx.scanQRCode (WeCom JS-SDK, signed with the corp's
    # jsapi_ticket); off: the browser's camera and jsQR, everywhere.
    jssdk: bool = False


class QRCodesConfig(_Section):
    # Signs the scenes printed in QR codes; empty: derived from security.secret_key. Set it
    # before rotating secret_key, or printed codes stop being recognised.
    scene_key: str | None = Field(default=None, min_length=16)


class CouponsConfig(_Section):
    """Coupons (scrm/coupons): code signing, the customer's coupon page, expiry reminders."""

    # Signs coupon codes; empty: derived from security.secret_key. Set it before rotating
    # secret_key, or issued coupons stop being recognised.
    code_key: str | None = Field(default=None, min_length=16)
    # Days before expiry a reminder is recorded for outreach; a template may say otherwise.
    remind_days_before: int = Field(default=3, ge=0, le=365)
    # How long the signed "my coupons" link in a reply works.
    link_days: int = Field(default=30, ge=1, le=365)
    # The MP menu CLICK key and the texts that answer with the "my coupons" link.
    menu_key: str = Field(default="MY_COUPONS", min_length=1, max_length=128)
    keywords: list[str] = Field(default_factory=lambda: ["优惠券", "我的优惠券", "我的券", "卡券"])
    # MP web OAuth (snsapi_base) on the coupon page opened inside WeChat; off: signed links only.
    mp_oauth: bool = False


class BrandConfig(_Section):
    """The brand (SPEC §1): its local time, its name, the language of customer-facing text."""

    # Quiet hours, schedules, duty hours, local days in statistics, times shown on pages.
    timezone: str = "Asia/Shanghai"
    name: str = Field(default="演示品牌", min_length=1, max_length=64)
    locale: Literal["zh_CN", "en"] = "zh_CN"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class LevelConfig(_Section):
    """One membership level (会员等级, SPEC §13) as the config seeds it; the console edits the
    stored levels afterwards (scrm/members/levels.py)."""

    name: str = Field(min_length=1, max_length=16)
    # Growth value (成长值) a member needs to reach the level; the lowest level has 0.
    threshold: int = Field(ge=0, le=100_000_000)
    # The price a member pays, as a share: 0.9 is 9折; 1 is none.
    discount: float = Field(default=1.0, gt=0, le=1, allow_inf_nan=False)
    # Points earned by orders are multiplied by this.
    points_multiplier: float = Field(default=1.0, ge=0.1, le=10, allow_inf_nan=False)
    # Other benefits, in the member's words (shown on the member card and to guides).
    benefits: list[str] = Field(default_factory=list, max_length=10)


def _default_levels() -> list[LevelConfig]:
    return [
        LevelConfig(name="普通", threshold=0),
        LevelConfig(name="银卡", threshold=1000, discount=0.9, points_multiplier=1.2, benefits=["生日礼券"]),
        LevelConfig(name="金卡", threshold=5000, discount=0.85, points_multiplier=1.5,
                    benefits=["生日礼券", "专属客服"]),
        LevelConfig(name="钻石", threshold=20000, discount=0.8, points_multiplier=2.0,
                    benefits=["生日礼券", "专属客服", "新品优先购"]),
    ]


class StreakTier(_Section):
    """Extra check-in points on the day a streak of consecutive days reaches ``days``."""

    days: int = Field(ge=2, le=366)
    points: int = Field(ge=1, le=100_000)


class SmsConfig(_Section):
    """The SMS adapter for verification codes (Tencent Cloud SMS's ``SendSms`` request shape;
    played by the sandbox in sandbox mode)."""

    secret_id: str | None = None
    secret_key: str | None = None
    sdk_app_id: str = "1400000000"
    sign_name: str = Field(default="演示品牌", min_length=1, max_length=32)
    template_id: str = "100000"
    region: str = "ap-guangzhou"
    # Unset: Tencent Cloud's endpoint, or the sandbox's in sandbox mode.
    api_base_url: str | None = None
    code_minutes: int = Field(default=5, ge=1, le=60)


class MembersConfig(_Section):
    """Membership (会员体系, SPEC §13, scrm/members)."""

    # The MP menu CLICK key and the texts answered with the member page's link.
    menu_key: str = Field(default="MEMBER_CENTER", min_length=1, max_length=128)
    keywords: list[str] = Field(default_factory=lambda: ["会员", "会员中心", "我的积分"])
    levels: list[LevelConfig] = Field(default_factory=_default_levels, min_length=1, max_length=20)
    # lifetime: all growth ever counts; rolling_12_months: growth of the last 12 months.
    level_basis: Literal["lifetime", "rolling_12_months"] = "lifetime"
    # Levels rise at once; they drop only at the yearly review, on the 1st of this month.
    review_month: int = Field(default=1, ge=1, le=12)
    points_per_yuan: float = Field(default=1.0, ge=0, le=1000, allow_inf_nan=False)
    growth_per_yuan: float = Field(default=1.0, ge=0, le=1000, allow_inf_nan=False)
    # Points from an order can be spent this many days after it (the return window).
    freeze_days: int = Field(default=7, ge=0, le=365)
    checkin_points: int = Field(default=5, ge=0, le=100_000)
    checkin_growth: int = Field(default=1, ge=0, le=100_000)
    checkin_streak: list[StreakTier] = Field(
        default_factory=lambda: [StreakTier(days=3, points=5), StreakTier(days=7, points=20)], max_length=20)
    # "rolling_months:N": a lot expires N months after it was earned; "year_end": points earned
    # in a year expire at the end of the next year (local time); "never".
    points_expiry: str = "year_end"
    # Members are reminded (outreach trigger points_expiring) this many days before.
    expiry_remind_days: int = Field(default=30, ge=1, le=365)
    # The level's birthday coupon is issued this many days before the birthday.
    birthday_days_ahead: int = Field(default=7, ge=0, le=60)
    # The dynamic member QR on the member card works this many minutes.
    qr_minutes: int = Field(default=5, ge=1, le=60)
    # How long the signed member-page link in a reply keeps working.
    link_days: int = Field(default=30, ge=1, le=365)
    sms: SmsConfig = SmsConfig()

    @field_validator("points_expiry")
    @classmethod
    def _expiry_rule(cls, value: str) -> str:
        if value in ("year_end", "never"):
            return value
        kind, _, months = value.partition(":")
        if kind != "rolling_months" or not months.isdigit() or not 1 <= int(months) <= 120:
            raise ValueError('must be "year_end", "never" or "rolling_months:N" with N 1-120')
        return value

    @model_validator(mode="after")
    def _levels_in_order(self) -> MembersConfig:
        thresholds = [level.threshold for level in self.levels]
        if thresholds[0] != 0 or thresholds != sorted(set(thresholds)):
            raise ValueError("members.levels must start at threshold 0 and rise strictly")
        if len({level.name for level in self.levels}) != len(self.levels):
            raise ValueError("members.levels must have distinct names")
        return self

    @property
    def expiry_months(self) -> int | None:
        """N of "rolling_months:N", else None."""
        kind, _, months = self.points_expiry.partition(":")
        return int(months) if kind == "rolling_months" else None


class ProductsConfig(_Section):
    """Product codes (一物一码, SPEC §14, scrm/products)."""

    # Signs the codes printed on packages; empty: derived from security.secret_key. Set it
    # before rotating secret_key, or every printed code stops being genuine.
    code_key: str | None = Field(default=None, min_length=16)
    # Codes one customer may claim in a local day (brand.timezone).
    daily_claims: int = Field(default=5, ge=1, le=10_000)
    # The follow QR shown to a customer who does not follow the account (a temporary MP code
    # whose scene carries the product code) works this many days (WeChat allows 30).
    follow_qr_days: int = Field(default=7, ge=1, le=30)


class OutreachConfig(_Section):
    weekly_cap: int = Field(default=2, ge=0)
    quiet_hours: str = "22-8"
    # A delivery 'sending' (or queued, unclaimed) this long was lost by its worker: the sweep
    # takes it back. At least queue.job_timeout_seconds: a job claims after it starts, and is
    # stopped that long after it started.
    stuck_after_seconds: int = Field(default=300, ge=1)
    # How often the scheduler starts due campaigns and queues due deliveries.
    sweep_seconds: int = Field(default=60, ge=1)

    @field_validator("quiet_hours")
    @classmethod
    def _hour_range(cls, value: str) -> str:
        parts = value.split("-")
        if value and (len(parts) != 2 or not all(p.isdigit() and 0 <= int(p) <= 23 for p in parts)):
            raise ValueError('must be "START-END" with hours 0-23, e.g. "22-8", or ""')
        return value


class TaggingConfig(_Section):
    """Computed tags (tagging/computed.py): RFM thresholds and lifecycle stages, in days; the
    recompute's parallelism."""

    rfm_recency_days: PositiveInt = 30
    rfm_frequency: PositiveInt = 2
    rfm_monetary: float = Field(default=500.0, gt=0, allow_inf_nan=False)
    rfm_window_days: PositiveInt = 365
    lifecycle_new_days: PositiveInt = 30
    lifecycle_active_days: PositiveInt = 90
    lifecycle_dormant_days: PositiveInt = 180
    # Connections that apply the recompute's batches at once (PostgreSQL; SQLite has one writer).
    recompute_workers: int = Field(default=2, ge=1, le=16)

    @model_validator(mode="after")
    def _stages_in_order(self) -> TaggingConfig:
        new, active, dormant = self.lifecycle_new_days, self.lifecycle_active_days, self.lifecycle_dormant_days
        if not new <= active <= dormant:
            raise ValueError(
                "tagging.lifecycle_new_days <= tagging.lifecycle_active_days <= tagging.lifecycle_dormant_days "
                f"must hold; they are {new}, {active}, {dormant}"
            )
        return self


class QueueConfig(_Section):
    max_retries: int = Field(default=5, ge=0)
    # Seconds before each retry; the last one repeats.
    backoff_seconds: list[int] = Field(default_factory=lambda: [10, 30, 120, 600, 1800])
    job_timeout_seconds: int = Field(default=300, gt=0)


class SchedulerConfig(_Section):
    lock_ttl_seconds: int = Field(default=30, ge=3)
    heartbeat_seconds: int = Field(default=10, ge=1)


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "text"] = "json"


class Config(_Section):
    brand: BrandConfig = BrandConfig()
    database: DatabaseConfig = DatabaseConfig()
    redis: RedisConfig = RedisConfig()
    server: ServerConfig = ServerConfig()
    security: SecurityConfig = SecurityConfig()
    wechat: WeChatConfig = WeChatConfig()
    binding: BindingConfig = BindingConfig()
    guides: GuidesConfig = GuidesConfig()
    qrcodes: QRCodesConfig = QRCodesConfig()
    coupons: CouponsConfig = CouponsConfig()
    members: MembersConfig = MembersConfig()
    products: ProductsConfig = ProductsConfig()
    outreach: OutreachConfig = OutreachConfig()
    tagging: TaggingConfig = TaggingConfig()
    queue: QueueConfig = QueueConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    logging: LoggingConfig = LoggingConfig()

    @model_validator(mode="after")
    def _stuck_outlives_a_job(self) -> Config:
        # Sooner, the sweep would take back deliveries a live (slow) job is still sending.
        if self.outreach.stuck_after_seconds < self.queue.job_timeout_seconds:
            raise ValueError(
                "outreach.stuck_after_seconds must be at least queue.job_timeout_seconds; they are "
                f"{self.outreach.stuck_after_seconds} and {self.queue.job_timeout_seconds}"
            )
        return self

    @property
    def mp_requires_safe_mode(self) -> bool:
        required = self.wechat.mp.require_safe_mode
        return (not self.wechat.sandbox) if required is None else required

    @property
    def work_agent_secret(self) -> str | None:
        """The secret app messages go with, or None: none are sent."""
        secret = self.wechat.work.agent_secret
        if secret is None and self.wechat.sandbox:
            return SANDBOX_AGENT_SECRET
        return secret or None

    @property
    def secret_key(self) -> str:
        return self.security.secret_key or SANDBOX_SECRET_KEY

    @property
    def mp_api_base_url(self) -> str:
        return self.wechat.mp.api_base_url or self._default_base("mp", "https://api.weixin.qq.com/cgi-bin/")

    @property
    def work_api_base_url(self) -> str:
        return self.wechat.work.api_base_url or self._default_base("work", "https://qyapi.weixin.qq.com/cgi-bin/")

    def _default_base(self, channel: str, real: str) -> str:
        if self.wechat.sandbox:
            return f"{self.server.public_base_url}/sandbox/wechat/{channel}/cgi-bin/"
        return real


def load_config(
    path: str | os.PathLike[str] | None = None,
    environ: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Config:
    """Read the file (``path``, else ``$SCRM_CONFIG``, else ``./config.toml`` if present),
    apply ``SCRM_…`` variables, then ``overrides`` (dotted keys, used by tests and the CLI)."""
    environ = dict(os.environ if environ is None else environ)
    sources: dict[str, str] = {}
    data: dict[str, Any] = {}

    file_path = _config_path(path, environ)
    if file_path is not None:
        try:
            with open(file_path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config file {file_path} not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {file_path} is not valid TOML: {exc}") from None
        for key in _dotted_keys(data):
            sources[key] = f"file {file_path}"

    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_FILE_VARIABLE:
            continue
        dotted = name[len(ENV_PREFIX):].lower().replace("__", ".")
        _check_known(dotted, f"variable {name}")
        _set_dotted(data, dotted, _env_value(dotted, raw))
        sources[dotted] = f"variable {name}"

    for dotted, value in (overrides or {}).items():
        _check_known(dotted, "override")
        _set_dotted(data, dotted, value)
        sources[dotted] = "override"

    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, sources)) from None
    _check_production_safety(config, sources)
    return config


def _config_path(path: str | os.PathLike[str] | None, environ: dict[str, str]) -> Path | None:
    if path is not None:
        return Path(path)
    if environ.get(CONFIG_FILE_VARIABLE):
        return Path(environ[CONFIG_FILE_VARIABLE])
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.exists() else None


def _dotted_keys(data: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and _is_section(dotted):
            keys.extend(_dotted_keys(value, dotted + "."))
        else:
            keys.append(dotted)
    return keys


def _model_at(dotted: str) -> type[BaseModel] | None:
    """The section model a dotted key names, or None when it names a leaf or nothing."""
    model: type[BaseModel] = Config
    for part in dotted.split("."):
        field = model.model_fields.get(part)
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return None
        model = field.annotation
    return model


def _is_section(dotted: str) -> bool:
    return _model_at(dotted) is not None


def _moved(dotted: str, source: str) -> str:
    new = MOVED_KEYS[dotted]
    section, _, leaf = new.partition(".")
    return f"{dotted} is now {new}: write it as {leaf} under [{section}] (from {source})"


def _check_known(dotted: str, source: str) -> None:
    if dotted in MOVED_KEYS:
        raise ConfigError(_moved(dotted, source))
    head, _, leaf = dotted.rpartition(".")
    model = _model_at(head) if head else Config
    if model is None or leaf not in model.model_fields or _is_section(dotted):
        raise ConfigError(f"unknown key {dotted!r} (from {source})")


def _env_value(dotted: str, raw: str) -> Any:
    """Variables are strings: lists and tables are written as TOML values."""
    head, _, leaf = dotted.rpartition(".")
    annotation = str(_model_at(head).model_fields[leaf].annotation)  # type: ignore[union-attr]
    if annotation.startswith(("list", "dict")):
        try:
            return tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            return raw  # let validation name the key
    return raw


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def _describe(exc: ValidationError, sources: dict[str, str]) -> str:
    lines = []
    for error in exc.errors():
        dotted = ".".join(str(p) for p in error["loc"])
        if error["type"] == "extra_forbidden" and dotted in MOVED_KEYS:
            lines.append(_moved(dotted, sources.get(dotted, "defaults")))
            continue
        if error["type"] == "extra_forbidden":
            lines.append(f"unknown key {dotted!r} (from {sources.get(dotted, _source_of_parent(dotted, sources))})")
            continue
        source = sources.get(dotted) or _source_of_parent(dotted, sources)
        lines.append(f"{dotted}: {str(error['msg']).removeprefix('Value error, ')} (from {source})")
    return "invalid configuration: " + "; ".join(lines)


def _source_of_parent(dotted: str, sources: dict[str, str]) -> str:
    for key, source in sources.items():
        if dotted.startswith(key + "."):
            return source
    # A section's own check (keys that must agree): where its keys came from.
    within = sorted({f"{key}: {source}" for key, source in sources.items() if key.startswith(dotted + ".")})
    return "; ".join(within) or "defaults"


def _check_sandbox_stays_local(config: Config, sources: dict[str, str]) -> None:
    """Sandbox mode is for a developer's machine (SPEC §12): without security.secret_key its
    built-in key signs sessions and links, so it must not be reachable from outside."""
    if config.security.secret_key and config.security.secret_key != SANDBOX_SECRET_KEY:
        return
    for key, host in (("server.public_base_url", urlsplit(config.server.public_base_url).hostname or ""),
                      ("server.host", config.server.host)):
        if not is_loopback(host):
            raise ConfigError(
                f"{key} is {host!r}, reachable from outside, while wechat.sandbox is true and "
                "security.secret_key is not set: the sandbox's built-in key would sign sessions and "
                f"sign-in links anyone could forge. Use 127.0.0.1, or set security.secret_key "
                f"(from {sources.get(key, 'defaults')})"
            )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_production_safety(config: Config, sources: dict[str, str]) -> None:
    if config.wechat.sandbox:
        for key in ("wechat.mp.api_base_url", "wechat.work.api_base_url"):
            channel = key.split(".")[1]
            url = getattr(getattr(config.wechat, channel), "api_base_url")
            host = urlsplit(url).hostname or "" if url else ""
            if host.endswith(REAL_WECHAT_HOSTS):
                raise ConfigError(
                    f"{key} points at a real WeChat host while wechat.sandbox is true "
                    f"(from {sources.get(key, 'defaults')})"
                )
        _check_sandbox_stays_local(config, sources)
        return
    secret = config.security.secret_key
    if not secret or secret in (SANDBOX_SECRET_KEY, "change-me"):
        where = sources.get("security.secret_key", "nowhere: it is not set")
        raise ConfigError(
            "security.secret_key is missing or a default value; it is required when "
            f"wechat.sandbox is false (from {where})"
        )
    if len(secret) < 32:
        raise ConfigError(
            f"security.secret_key must be at least 32 characters (from {sources['security.secret_key']})"
        )
