"""Alembic migrations; `scrm migrate` runs them."""
