"""Webhook endpoints and the dispatch of MP and WeCom messages and events (SPEC §3)."""
