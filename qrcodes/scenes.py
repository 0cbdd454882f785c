"""The scene codec: what a QR code (MP ``scene_str``) or contact way (WeCom ``state``) carries.

A scene names what the code belongs to: ``<prefix><id>_<mac>``, e.g. ``g2s_k3m9d8a2q``.

- the prefix says the kind: ``g`` guide, ``s`` store, ``c`` campaign, ``q`` group (群);
- the id is the owner's id in base 36;
- the MAC is the first 9 base-32 characters of HMAC-SHA256 over prefix and id, so a scene
  typed in by hand, edited, or printed by another system is refused without a database hit.

At most 1 + 13 + 1 + 9 = 24 characters, inside both WeChat's limits (MP 64, WeCom 30), and only
``[a-z0-9_]``, which both accept. Scenes that are not ours (a campaign code another tool made,
a tag rule's scene) decode to ``None``; they still reach the scene tag rules.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

PREFIXES = {"guide": "g", "store": "s", "campaign": "c", "group": "q"}
KINDS = {prefix: kind for kind, prefix in PREFIXES.items()}
MAC_CHARS = 9
MP_MAX = 64
WORK_MAX = 30
_SHAPE = re.compile(r"^([a-z])([0-9a-z]{1,13})_([a-z2-7]{%d})$" % MAC_CHARS)


@dataclass(frozen=True)
class Scene:
    kind: str
    owner_id: int


class SceneCodec:
    def __init__(self, key: str) -> None:
        self._key = key.encode()

    @classmethod
    def from_config(cls, config) -> SceneCodec:  # noqa: ANN001
        """``qrcodes.scene_key``, else a key derived from ``security.secret_key`` (never the key
        itself: a scene is public, and the secret signs other things)."""
        if config.qrcodes.scene_key:
            return cls(config.qrcodes.scene_key)
        derived = hmac.new(config.secret_key.encode(), b"scrm qrcode scenes", hashlib.sha256).hexdigest()
        return cls(derived)

    def encode(self, kind: str, owner_id: int) -> str:
        if kind not in PREFIXES:
            raise ValueError(f"unknown code kind {kind!r}; kinds: {', '.join(PREFIXES)}")
        if not 0 < owner_id < 36**13:
            raise ValueError("owner id out of range")
        body = PREFIXES[kind] + _base36(owner_id)
        scene = f"{body}_{self._mac(body)}"
        assert len(scene) <= WORK_MAX
        return scene

    def decode(self, scene: str | None) -> Scene | None:
        """The kind and owner of one of our scenes; ``None`` for anything else."""
        match = _SHAPE.match(scene or "")
        if match is None:
            return None
        prefix, digits, mac = match.groups()
        body = prefix + digits
        if prefix not in KINDS or digits.startswith("0") or not hmac.compare_digest(mac, self._mac(body)):
            return None
        return Scene(KINDS[prefix], int(digits, 36))

    def _mac(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.b32encode(digest).decode().lower()[:MAC_CHARS]


def _base36(number: int) -> str:
    digits = ""
    while number:
        number, rest = divmod(number, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[rest] + digits
    return digits
