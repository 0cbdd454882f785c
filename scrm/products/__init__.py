"""Product codes (一物一码, SPEC §14): signed codes printed on packages, claimed once for points
or a gift coupon, credited to the store and the guide. Sits above membership (points) and
coupons (gifts) and guides (attribution), below outreach."""
