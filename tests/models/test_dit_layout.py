"""The presets reproduce the published checkpoint layouts exactly (names, shapes, count, key hash)."""

import json
from pathlib import Path

import pytest

from livetalk.models.checkpoint import expected_shapes, key_hash
from livetalk.models.config import get_preset

KEYS_JSON = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "dit-checkpoint-keys.json"

PUBLISHED = {
    "livetalk-1.3b": ("livetalk-1.3b (= omniavatar-1.3b merged)", 857, "2bf9513c7a3e908015f11a800fc9b820", 1_421_187_232),
    "omniavatar-14b": ("omniavatar-14b merged", 1137, "883a90b12576b9b8693a08cf690998dd", None),
    "wan2.1-t2v-1.3b": ("wan2.1-t2v-1.3b", 825, "9269f8db9040a9d860eaca435be61814", 1_418_996_800),
    "wan2.1-t2v-14b": ("wan2.1-t2v-14b", 1095, "aafcfd9672c3a2456dc46e1cb6e52c70", None),
}


@pytest.mark.parametrize("preset", sorted(PUBLISHED))
def test_preset_hash_and_count(preset):
    _, count, digest, params = PUBLISHED[preset]
    shapes = expected_shapes(get_preset(preset))
    assert len(shapes) == count
    assert key_hash(shapes) == digest
    if params is not None:
        total = 0
        for s in shapes.values():
            n = 1
            for d in s:
                n *= d
            total += n
        assert total == params


@pytest.mark.skipif(not KEYS_JSON.exists(), reason="shared/reference not present")
@pytest.mark.parametrize("preset", sorted(PUBLISHED))
def test_preset_matches_published_key_list(preset):
    entry = json.loads(KEYS_JSON.read_text())[PUBLISHED[preset][0]]
    published = {k: tuple(v) for k, v in entry["shapes"].items()}
    assert expected_shapes(get_preset(preset)) == published
    assert key_hash(published) == entry["key_hash_md5"]


def test_rope_split_and_audio_layers():
    cfg = get_preset("livetalk-1.3b")
    assert cfg.rope_split == (44, 42, 42)
    assert cfg.audio_layers == list(range(2, 16))
    assert get_preset("omniavatar-14b").audio_layers == list(range(2, 21))
    assert get_preset("wan2.1-t2v-1.3b").audio_layers == []
