"""Probe-free metrics on controlled corruptions."""

import numpy as np
import pytest

from livetalk.eval.metrics.artifacts import bad_frames, collapse, flicker, sharpness
from livetalk.eval.metrics.fidelity import psnr, ssim
from livetalk.eval.metrics.frechet import frechet_distance
from livetalk.eval.metrics.lipsync import lip_sync


@pytest.fixture(scope="module")
def video():
    from livetalk.data.clip import ClipConfig, make_clip

    return make_clip(12, ClipConfig(duration_s=4.0))


def shift(x: np.ndarray, k: int) -> np.ndarray:
    """Delay a sequence by k frames (k < 0: advance), padding with the edge value."""
    idx = np.clip(np.arange(len(x)) - k, 0, len(x) - 1)
    return x[idx]


def test_psnr_ssim_identity_and_noise(video):
    f = video.frames[:16]
    assert np.all(psnr(f, f) == 60.0)
    assert np.allclose(ssim(f, f), 1.0)
    rng = np.random.default_rng(0)
    scores = []
    for sigma in (2, 8, 24):
        noisy = np.clip(f + rng.normal(0, sigma, f.shape), 0, 255).astype(np.uint8)
        scores.append((psnr(noisy, f).mean(), ssim(noisy, f).mean()))
    assert scores[0][0] > scores[1][0] > scores[2][0]
    assert scores[0][1] > scores[1][1] > scores[2][1]
    with pytest.raises(ValueError):
        psnr(f[:3], f[:4])


def test_black_frames_counted(video):
    f = video.frames.copy()
    assert bad_frames(f)["black_rate"] == 0
    f[[5, 17, 40]] = 0
    f[22] = 128  # blank grey, not black
    r = bad_frames(f)
    assert r["black_frames"] == [5, 17, 40] and r["black_rate"] == 3 / len(f)
    assert r["blank_frames"] == [5, 17, 22, 40]


def test_flicker_grows_with_brightness_jitter(video):
    f = video.frames
    rng = np.random.default_rng(1)
    jit = np.clip(f + rng.normal(0, 12, (len(f), 1, 1, 1)), 0, 255).astype(np.uint8)
    assert flicker(jit) > 3 * flicker(f)


def test_collapse_detects_late_degradation(video):
    f = video.frames.copy()
    late = f[-16:].astype(np.float64)
    blurred = (late + np.roll(late, 1, 1) + np.roll(late, -1, 1) + np.roll(late, 1, 2) + np.roll(late, -1, 2)) / 5
    f[-16:] = blurred.astype(np.uint8)
    p = psnr(f, video.frames)
    assert collapse(p) > 10
    s = sharpness(f)
    assert s[-5:].mean() < 0.8 * s[:5].mean()


def test_frechet_distance():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (500, 8))
    b = rng.normal(0, 1, (500, 8))
    c = b + 2.0
    assert frechet_distance(a, a) < 1e-6
    assert frechet_distance(a, b) < 0.5
    assert abs(frechet_distance(a, c) - 32.0) < 2.0
    with pytest.raises(ValueError):
        frechet_distance(a, rng.normal(size=(5, 3)))


@pytest.mark.parametrize("k", [-3, -1, 0, 2, 4])
def test_lip_sync_offset_on_ground_truth_tracks(video, k):
    gt = video.tracks["mouth_open"]
    r = lip_sync(shift(gt, k), gt)
    assert r["sync_offset"] == k
    if k == 0:
        assert r["sync_corr"] == pytest.approx(1.0)
    else:
        assert r["sync_corr"] < r["sync_best_corr"]


def test_mean_sem_conventions():
    from livetalk.eval.metrics.stats import mean_sem

    x = [1.0, 2.0, 4.0, 5.0]  # mean 3, deviations ±1, ±2: sum of squares 10
    assert mean_sem(x) == (3.0, pytest.approx(np.sqrt(10 / 4) / 2))
    assert mean_sem(x, ddof=1) == (3.0, pytest.approx(np.sqrt(10 / 3) / 2))
    assert mean_sem([7.0], ddof=1) == (7.0, 0.0)
    with pytest.raises(ValueError):
        mean_sem([])
