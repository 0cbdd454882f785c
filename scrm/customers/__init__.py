"""Customers: one record per person across channels, their identities and timeline (SPEC §4)."""
