"""Keyword auto-replies (关键词自动回复), the follow greeting (关注回复) and the default reply
(收到消息回复): a rule table managed through the API, answered from process memory on the
webhook's hot path (see :mod:`scrm.versioned_cache`)."""
