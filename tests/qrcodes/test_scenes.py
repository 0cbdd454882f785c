"""The scene codec: what our QR codes and contact ways carry (qrcodes/scenes.py)."""

from __future__ import annotations

import pytest

from qrcodes.scenes import MP_MAX, PREFIXES, WORK_MAX, Scene, SceneCodec
from scrm.config import load_config

codec = SceneCodec("a-test-key-of-enough-length")


@pytest.mark.parametrize("kind", sorted(PREFIXES))
@pytest.mark.parametrize("owner_id", [1, 35, 36, 123_456, 36**13 - 1])
def test_every_kind_round_trips_inside_wechats_limits(kind, owner_id):
    scene = codec.encode(kind, owner_id)
    assert codec.decode(scene) == Scene(kind, owner_id)
    assert len(scene) <= WORK_MAX <= MP_MAX
    assert scene.startswith(PREFIXES[kind])
    assert set(scene) <= set("abcdefghijklmnopqrstuvwxyz0123456789_")


def test_tampered_scenes_are_refused():
    scene = codec.encode("guide", 42)
    body, mac = scene.split("_")
    other_mac = mac[:-1] + ("a" if mac[-1] != "a" else "b")
    tampered = [
        f"{body}_{other_mac}",  # the MAC edited
        f"g{int(body[1:], 36) + 1:x}_{mac}",  # another owner, same MAC
        f"s{body[1:]}_{mac}",  # another kind, same MAC
        f"g0{body[1:]}_{mac}",  # a leading zero: same number, other text
        scene.upper(),
        scene + "x",
        scene[:-1],
    ]
    for candidate in tampered:
        assert codec.decode(candidate) is None, candidate


@pytest.mark.parametrize("foreign", [None, "", "spring_sale", "qrscene_123", "123", "g1_", "x1_abcdefghi", "g1_abcdefgh1"])
def test_foreign_scenes_are_not_ours(foreign):
    assert codec.decode(foreign) is None


def test_a_scene_made_with_another_key_is_refused():
    assert SceneCodec("another-key-entirely-0000").decode(codec.encode("store", 7)) is None


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown code kind"):
        codec.encode("coupon", 1)
    for owner_id in (0, -1, 36**13):
        with pytest.raises(ValueError):
            codec.encode("guide", owner_id)


def test_the_key_is_scene_key_when_set_else_derived_from_the_secret():
    derived = SceneCodec.from_config(load_config(environ={}, overrides={"security.secret_key": "s" * 40}))
    rotated = SceneCodec.from_config(load_config(environ={}, overrides={"security.secret_key": "t" * 40}))
    assert rotated.decode(derived.encode("guide", 5)) is None  # why qrcodes.scene_key exists
    pinned = {"qrcodes.scene_key": "pinned-scene-key-123"}
    before = SceneCodec.from_config(load_config(environ={}, overrides={"security.secret_key": "s" * 40, **pinned}))
    after = SceneCodec.from_config(load_config(environ={}, overrides={"security.secret_key": "t" * 40, **pinned}))
    assert after.decode(before.encode("guide", 5)) == Scene("guide", 5)
    # The derived key is not the secret itself: a scene signed with the raw secret is refused.
    assert derived.decode(SceneCodec("s" * 40).encode("guide", 5)) is None
