"""Load what the webhook answers from (keyword replies, tag rules with jieba's dictionary)
before the first callback needs it: loading jieba takes 1-2 s, which a customer's first
message would otherwise wait for. Run by serving processes at start, in a thread."""

from __future__ import annotations

import logging
import threading

from scrm.replies import service as replies
from scrm.runtime import Runtime
from tagging.rules import rulebook

log = logging.getLogger(__name__)


def warm_up(runtime: Runtime) -> None:
    try:
        replies.default_reply(runtime)
        rulebook(runtime)
    except Exception:  # noqa: BLE001 - a cold cache is slower, not broken: the request loads it
        log.warning("warm-up failed; the first callback will load the rules", exc_info=True)


def warm_up_in_background(runtime: Runtime) -> threading.Thread:
    thread = threading.Thread(target=warm_up, args=(runtime,), name="scrm-warm-up", daemon=True)
    thread.start()
    return thread
