"""Scene codec, QR creation through WeChat, image rendering and scan stats (SPEC §6)."""
