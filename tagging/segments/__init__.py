"""Saved named segments (人群, SPEC §11): service.py the rules, routes.py the JSON API, pages.py
the console's forms (the audience page in tagging/pages.py shows them)."""
