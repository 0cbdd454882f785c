"""Stores, guides, binding and the guide mobile pages (SPEC §6)."""
