"""WeChat client adapters (SPEC §1, §12): ``MPClient`` for the Official Account and
``WorkClient`` for WeCom, reached as ``runtime.mp`` and ``runtime.work``.

Every call goes to the configured base URL (the sandbox's by default), with an access token
shared through Redis and refreshed by one worker at a time, a per-API quota, and a bounded
retry. Errors: :class:`WeChatError` (with ``errcode`` and ``api``), :class:`WeChatUnavailable`
(network, after retries) and :class:`RateLimited` (a :class:`scrm.errors.RetryLater`).
The modules are imported on use; importing this package connects to nothing.
"""

from scrm.wechat.errors import RateLimited, WeChatError, WeChatUnavailable

__all__ = ["RateLimited", "WeChatError", "WeChatUnavailable"]
