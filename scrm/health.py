"""The health report: each part says ok or why not; the whole is ok when the database and
Redis are. A stale scheduler beat is reported, not fatal (the web app still serves)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from scrm.redis_store import is_memory_url, ping
from scrm.runtime import Runtime
from scrm.scheduler import last_beat


def check(runtime: Runtime) -> dict[str, Any]:
    database = _database(runtime)
    redis_part = _redis(runtime)
    report: dict[str, Any] = {"database": database, "redis": redis_part}
    if redis_part["ok"]:
        report["queue"] = runtime.queue.stats()

        report["scheduler"] = last_beat(runtime)
    report["status"] = "ok" if database["ok"] and redis_part["ok"] else "unavailable"
    return report


def _database(runtime: Runtime) -> dict[str, Any]:
    try:
        with runtime.engine.connect() as conn:
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return {"ok": True, "backend": runtime.engine.dialect.name, "revision": revision}
    except Exception as exc:  # noqa: BLE001 - the report names whatever went wrong
        return {"ok": False, "error": type(exc).__name__}


def _redis(runtime: Runtime) -> dict[str, Any]:
    ok = ping(runtime.redis)
    part: dict[str, Any] = {"ok": ok, "mode": "memory" if is_memory_url(runtime.config.redis.url) else "redis"}
    if not ok:
        part["error"] = "no answer"
    return part
