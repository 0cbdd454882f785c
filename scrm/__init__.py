"""SCRM: a social CRM for a WeChat Official Account (公众号) and WeCom (企业微信).

Importing this package imports nothing else: the CLI stays fast and nothing connects.
"""

__version__ = "0.1.0"
