"""The sandbox: a fake WeChat API served by the app when ``wechat.sandbox = true`` (SPEC §10)."""
