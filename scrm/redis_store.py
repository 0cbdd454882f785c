"""The one Redis adapter: ``redis://`` for real, ``memory://`` for one process.

``memory://`` gives a fakeredis client; every client made for the same ``memory://`` URL in
a process shares one server, so the web app, the in-process worker and the scheduler see the
same keys. Clients are made on demand, never at import. Values are bytes (RQ needs that).
"""

from __future__ import annotations

import threading

import redis

_memory_servers: dict[str, object] = {}
_memory_lock = threading.Lock()


def is_memory_url(url: str) -> bool:
    return url.startswith("memory://")


def connect(url: str) -> redis.Redis:
    """A client for ``url``; connects lazily on its first command."""
    if is_memory_url(url):
        import fakeredis

        with _memory_lock:
            server = _memory_servers.setdefault(url, fakeredis.FakeServer())
        return fakeredis.FakeRedis(server=server)
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10, health_check_interval=30)


def ping(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
