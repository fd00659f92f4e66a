"""The linear mouth read-out recovers a mouth written into the latents at a known lag, and its follow score tells
latents that follow a track from latents that do not."""

import numpy as np
import torch

from livetalk.eval.mouth_readout import box_features, fit_mouth_readout, follow_scores, latent_frame_targets

BOX = (0.52, 0.75, 0.30, 0.70)


def _world(n: int, lag: int, seed: int, shared_start: bool = True):
    """n clips of 9 latent frames (33 pixel frames): the mouth box carries the lagged mouth along one direction."""
    g = np.random.default_rng(seed)
    mouth = np.clip(g.random((n, 33)) * 1.2 - 0.2, 0, 1)
    mouth = np.stack([np.convolve(m, np.ones(3) / 3, mode="same") for m in mouth])
    if shared_start:
        mouth[:, :8] *= 0.1  # every window starts quiet, as the world's do
    target = latent_frame_targets(mouth, 9, lag)
    z = torch.randn(n, 9, 16, 8, 8, generator=torch.Generator().manual_seed(seed))
    direction = torch.randn(16, 2, 4, generator=torch.Generator().manual_seed(7))
    z[..., 4:6, 2:6] += 2.0 * torch.from_numpy(target).float()[..., None, None, None] * direction
    return z, mouth, target


def test_box_features_take_the_box_cells():
    z = torch.zeros(2, 3, 16, 8, 8)
    z[..., 4:6, 2:6] = 1.0
    f = box_features(z, BOX)
    assert f.shape == (2, 3, 16 * 8) and np.all(f == 1.0)


def test_readout_finds_the_lag_and_follow_scores_separate_following_from_ignoring():
    z, mouth, _ = _world(300, lag=3, seed=0)
    ro = fit_mouth_readout(z, mouth, BOX)
    assert ro.lag == 3 and ro.train_corr > 0.9
    zt, mouth_t, _ = _world(60, lag=3, seed=1)
    track = latent_frame_targets(mouth_t, 9, ro.lag)
    other = np.roll(np.arange(60), 30)
    follows = follow_scores([ro(zt)], track, track[other])
    assert follows["corr_audio"] > 0.8 and abs(follows["corr_other"]) < 0.2 and follows["gain"] > 10 * follows["gain_sem"]
    # latents that carry another clip's mouth follow that clip's track, not their own
    swapped = follow_scores([ro(zt[other])], track[other], track)
    assert swapped["gain"] > 0.6
    # latents with no mouth signal: no gain (within noise), although every window starts quiet
    ignore = follow_scores([ro(torch.randn_like(zt))], track, track[other])
    assert abs(ignore["gain"]) < 3 * ignore["gain_sem"] + 0.05


def test_centring_removes_the_shared_time_course():
    """Read-outs that only follow the population's mean time course (every window starts quiet) gain nothing."""
    _, mouth, _ = _world(80, lag=0, seed=2)
    track = latent_frame_targets(mouth, 9, 0)
    mean_course = np.broadcast_to(track.mean(0), track.shape) + 0.01 * np.random.default_rng(3).standard_normal(track.shape)
    s = follow_scores([mean_course], track, track[np.roll(np.arange(80), 40)])
    assert abs(s["corr_audio"]) < 0.1 and abs(s["gain"]) < 0.1
