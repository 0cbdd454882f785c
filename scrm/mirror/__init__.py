"""Our tags mirrored to WeChat and WeChat's tag edits taken back (SPEC §5): see jobs.py."""
