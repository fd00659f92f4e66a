import numpy as np
import pytest

from livetalk.data.clip import ClipConfig, make_clip
from livetalk.eval.corrupt import KINDS, corrupt_frames


@pytest.fixture(scope="module")
def clip():
    return make_clip(33, ClipConfig(duration_s=2.0))


@pytest.mark.parametrize("kind,amount", [("copy", 0), ("shift", 2), ("black", 0.25), ("noise", 10),
                                         ("flicker", 5), ("blur_late", 3), ("freeze", 0), ("swap_identity", 1)])
def test_kinds_keep_shape(clip, kind, amount):
    out = corrupt_frames(clip.frames, kind, amount, clip.reference, clip.tracks)
    assert out.shape == clip.frames.shape and out.dtype == np.uint8
    assert kind in KINDS
    if kind == "copy":
        assert np.array_equal(out, clip.frames)
    if kind == "shift":
        assert np.array_equal(out[2:], clip.frames[:-2])
    if kind == "black":
        assert (out.reshape(len(out), -1).max(1) == 0).sum() == 8
    if kind == "swap_identity":
        assert np.abs(out.astype(int) - clip.frames).mean() > 10


def test_unknown_kind(clip):
    with pytest.raises(ValueError):
        corrupt_frames(clip.frames, "melt", 1)
    with pytest.raises(ValueError):
        corrupt_frames(clip.frames, "swap_identity", 1, tracks=None)
