"""Structured logs (one JSON object a line) that never carry secrets or tokens.

Every record's message, arguments and extras pass through :class:`Redactor`: the configured
secrets are replaced wherever they appear, and so are access tokens in URLs, bearer tokens,
our own API tokens and any ``secret=``/``token=`` style pair.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scrm.config import Config

MASK = "***"
_KEYS = r"access_token|corpsecret|secret|appsecret|app_secret|password|token|signature|msg_signature|echostr"
# Group 1 is what stays (the name and its separator); group 2, the value, is masked.
_PATTERNS = [
    re.compile(rf"(?i)\b((?:{_KEYS})=)([^&\s\"']+)"),
    re.compile(rf'(?i)("(?:{_KEYS})"\s*:\s*")([^"]+)'),
    re.compile(r"(?i)\b(Bearer\s+)([A-Za-z0-9._~+/=-]+)"),
    re.compile(r"\b(scrm_)([A-Za-z0-9_-]{8,})"),
]
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class Redactor:
    def __init__(self, secrets: list[str]) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        for pattern in _PATTERNS:
            text = pattern.sub(rf"\g<1>{MASK}", text)
        return text

    @classmethod
    def from_config(cls, config: Config) -> Redactor:
        mp, work = config.wechat.mp, config.wechat.work
        return cls(
            [
                config.security.secret_key or "",
                mp.app_secret,
                mp.token,
                mp.encoding_aes_key,
                mp.previous_encoding_aes_key or "",
                work.secret,
                work.token,
                work.encoding_aes_key,
                work.previous_encoding_aes_key or "",
                *_url_passwords(config.database.url, config.redis.url),
            ]
        )


def _url_passwords(*urls: str) -> list[str]:
    from urllib.parse import urlsplit

    return [urlsplit(url).password or "" for url in urls]


class JsonFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": self.redact(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = json.loads(self.redact(json.dumps(value, default=str, ensure_ascii=False)))
        if record.exc_info:
            entry["exc"] = self.redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


class LineFormatter(logging.Formatter):
    """One readable line a record, for a person at a terminal: ``warning: message (logger)``;
    an exception adds its last line only (its trace is in the log file)."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname.lower()}: {record.getMessage()} ({record.name})"
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            text += f": {type(error).__name__}: {error}"
        return self.redact(" ".join(text.split()))


def configure_logging(config: Config, stream: Any = None) -> logging.Handler:
    """Route every logger through one redacting handler on stderr (or ``stream``)."""
    redact = Redactor.from_config(config)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(redact) if config.logging.format == "json" else TextFormatter(redact))
    _install(config, handler)
    return handler


def configure_demo_logging(config: Config, path: Path, stream: Any = None) -> Path:
    """``scrm demo``: a person reads the terminal for the URLs and the token, so every record
    goes to ``path`` (JSON lines, appended run after run) and only warnings and errors also
    to stderr (or ``stream``), one readable line each. Returns the log file's absolute path."""
    redact = Redactor.from_config(config)
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setFormatter(JsonFormatter(redact))
    on_terminal = logging.StreamHandler(stream or sys.stderr)
    on_terminal.setLevel(logging.WARNING)
    on_terminal.setFormatter(LineFormatter(redact))
    _install(config, to_file, on_terminal)
    return path


def _install(config: Config, *handlers: logging.Handler) -> None:
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_scrm", False):
            root.removeHandler(old)
            old.close()
    for handler in handlers:
        handler._scrm = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(config.logging.level)
    for noisy in ("urllib3", "werkzeug", "apscheduler.scheduler", "rq.worker"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
