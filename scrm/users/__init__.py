"""Users of the console and API, their roles and API tokens (SPEC §11)."""
