"""Placeholder until the sandbox lands: the two blueprints the app registers."""

from flask import Blueprint

wechat_api = Blueprint("sandbox_wechat", __name__)
control_api = Blueprint("sandbox_control", __name__)
