"""The WSGI entry point for production: ``gunicorn 'scrm.wsgi:app'``.

Building the app here, at import, is this module's whole purpose; nothing else imports it.
Each gunicorn worker imports it and warms its rule books in a thread. Do not use
``--preload``: the master would open database and Redis connections its forked workers
would then share.
"""

from scrm.app import create_app
from scrm.config import load_config
from scrm.logs import configure_logging
from scrm.redis_store import is_memory_url

_config = load_config()
configure_logging(_config)
if is_memory_url(_config.redis.url):
    raise SystemExit(
        "redis.url is memory://, which lives inside one process; under gunicorn use a redis:// URL "
        "(or run 'scrm serve' for a single-process setup)."
    )
app = create_app(_config)

from scrm.warmup import warm_up_in_background  # noqa: E402 - after the app, as its first user

warm_up_in_background(app.extensions["scrm"])
