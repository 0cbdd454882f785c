"""Membership (会员体系, SPEC §13): joining, levels and growth, the points ledger, check-in and
the points mall. Sits above coupons (it issues them) and below outreach (its triggers)."""
