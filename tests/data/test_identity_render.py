import numpy as np
import pytest

from livetalk.data.identity import TRAIT_CLASSES, sample_identity
from livetalk.data.render import FaceState, render_frames, render_reference


def test_identity_deterministic_and_distinct():
    assert sample_identity(5) == sample_identity(5)
    assert sample_identity(5) != sample_identity(6)
    combos = {tuple(sample_identity(s).labels().values()) for s in range(3000)}
    assert len(combos) > 2500  # thousands of distinct discrete trait combinations
    labels = sample_identity(1).labels()
    assert set(labels) == set(TRAIT_CLASSES)
    assert all(0 <= labels[k] < n for k, n in TRAIT_CLASSES.items())


def test_identity_rejects_negative_seed():
    with pytest.raises(ValueError):
        sample_identity(-1)


@pytest.mark.parametrize("size", [64, 128])
def test_render_shapes_and_determinism(size):
    idt = sample_identity(3)
    st = FaceState.neutral(5)
    st.yaw[:] = np.linspace(-0.5, 0.5, 5)
    a = render_frames(idt, st, size)
    assert a.shape == (5, size, size, 3) and a.dtype == np.uint8
    assert np.array_equal(a, render_frames(idt, st, size))
    assert not np.array_equal(a[0], a[-1])  # pose changes pixels
    assert render_reference(idt, size).shape == (size, size, 3)


def test_render_rejects_tiny_size():
    with pytest.raises(ValueError):
        render_frames(sample_identity(0), FaceState.neutral(1), 8)


def test_different_identities_render_differently():
    a = render_reference(sample_identity(10))
    b = render_reference(sample_identity(11))
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 10


def test_mouth_opening_darkens_mouth_region():
    """More openness → more dark cavity pixels in the lower face, monotonically."""
    idt = sample_identity(21)
    st = FaceState.neutral(6)
    st.mouth_open[:] = np.linspace(0, 1, 6)
    frames = render_frames(idt, st, 128).astype(int)
    diff = np.abs(frames - frames[0]).sum(-1)
    changed = (diff > 60).reshape(6, -1).sum(1)
    assert changed[0] == 0
    assert np.all(np.diff(changed) > 0)
    ys = np.nonzero(diff[-1] > 60)[0]
    assert ys.min() > 64  # change is in the lower half (the mouth)
