"""Tag rules, keyword extraction and computed tags (SPEC §5)."""
