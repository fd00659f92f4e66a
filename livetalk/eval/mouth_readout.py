"""A linear mouth read-out for latents of any latent space, and the audio-following score it gives.

The shipped latent probes (`latent_probes`) only fit the latent space they were trained on. Experiments on other
latents (the ×5-mouth latents of `scripts/mouth_delta.py`, another VAE) need a read-out fitted on that space's own
ground truth. This one is ridge regression from the latents inside the mouth box of one latent frame
(`[16 · box cells]` features) to the mouth openness of that frame's pixel frames, shifted by a lag picked on the
training windows (the tiny VAE's latent frame k follows pixel frames a few frames back, `docs/results.md`).

Scoring (`follow_scores`): for each clip, the Pearson correlation over latent frames 1 … F − 1 (frame 0 is the
reference) between the read-out and the mouth track of the clip whose audio drove it, and the same against
another clip's track (the control, or the video's own track when the audio was swapped). A model that follows
its audio scores `corr_audio` above `corr_other`; one that ignores it scores both alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..distill.teacher import box_mask
from .metrics.lipsync import lagged_corr
from .metrics.stats import mean_sem


def latent_frame_targets(mouth: np.ndarray, frames: int, lag: int) -> np.ndarray:
    """Pixel-frame mouth openness `[N, T]` → per-latent-frame targets `[N, frames]`: frame k ≥ 1 is the mean of
    pixel frames 4k − 3 − lag … 4k − lag (clamped to the clip), frame 0 pixel frame 0."""
    n, t = mouth.shape
    out = np.empty((n, frames), dtype=np.float64)
    out[:, 0] = mouth[:, 0]
    for k in range(1, frames):
        lo, hi = max(0, 4 * k - 3 - lag), max(1, min(t, 4 * k + 1 - lag))
        out[:, k] = mouth[:, lo:hi].mean(1)
    return out


def box_features(latents: torch.Tensor, box: tuple[float, float, float, float]) -> np.ndarray:
    """Latents `[N, F, C, h, w]` → features `[N, F, C · cells]` of the cells inside `box` (fractions of the grid)."""
    mask = box_mask(tuple(latents.shape[-2:]), box).bool()
    z = latents.float()[..., mask]  # [N, F, C, cells]
    return z.reshape(*z.shape[:2], -1).numpy().astype(np.float64)


@dataclass
class MouthReadout:
    """Ridge weights `[D + 1]` (last = bias) mapping box features to mouth openness, with the lag they were fit at."""

    weights: np.ndarray
    lag: int
    box: tuple[float, float, float, float]
    train_corr: float

    def __call__(self, latents: torch.Tensor) -> np.ndarray:
        """Latents `[N, F, C, h, w]` → read-out mouth openness `[N, F]` (one value per latent frame)."""
        x = box_features(latents, self.box)
        return x @ self.weights[:-1] + self.weights[-1]


def _ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    mu, sd = x.mean(0), x.std(0) + 1e-8
    xs = (x - mu) / sd
    w = np.linalg.solve(xs.T @ xs + alpha * len(xs) * np.eye(xs.shape[1]), xs.T @ (y - y.mean()))
    w = w / sd
    return np.concatenate([w, [y.mean() - mu @ w]])


def fit_mouth_readout(latents: torch.Tensor, mouth: np.ndarray, box: tuple[float, float, float, float],
                      lags: tuple[int, ...] = tuple(range(7)), alpha: float = 1e-3) -> MouthReadout:
    """Fit on ground-truth latents `[N, F, C, h, w]` and pixel-frame mouth openness `[N, T]` (T ≥ 4(F − 1) + 1).

    Each lag (pixel frames) is fitted and scored on the latent frames whose target window lies inside the clip for
    every lag tried (clamped windows near the start are near-constant and would flatter long lags); the best wins.
    Lags stop at 6: the world's speech is roughly periodic, and a second, aliased peak sits near lag 9."""
    feats = box_features(latents, box)
    k0 = max(1, -(-(max(lags) + 3) // 4))
    x = feats[:, k0:].reshape(-1, feats.shape[-1])
    best = None
    for lag in lags:
        y = latent_frame_targets(mouth, latents.shape[1], lag)[:, k0:].reshape(-1)
        w = _ridge(x, y, alpha)
        corr = float(np.corrcoef(x @ w[:-1] + w[-1], y)[0, 1])
        if best is None or corr > best.train_corr:
            best = MouthReadout(w, lag, tuple(box), corr)
    return best


def clip_corrs(readout: np.ndarray, track: np.ndarray) -> np.ndarray:
    """Per-clip Pearson correlations `[N]` between read-outs and tracks `[N, F]` over latent frames 1 … F − 1."""
    return np.array([lagged_corr(r[1:], t[1:], 0) for r, t in zip(readout, track)])


def clip_gains(readouts: list[np.ndarray], audio_track: np.ndarray, other_track: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-clip correlations `[N]` with the driving audio's track and with the other track, and their difference,
    each averaged over the read-outs `[N, F]` of the noise seeds; everything centred per frame over the clips first:
    windows that all start at the same point of their clip share a time course (silence, then speech), which would
    otherwise correlate every read-out with every track (on the ×5 ground truth, 0.67 against another clip's track
    uncentred)."""
    centre = lambda a: a - a.mean(0, keepdims=True)  # noqa: E731
    audio_track, other_track = centre(audio_track), centre(other_track)
    ca = np.mean([clip_corrs(centre(r), audio_track) for r in readouts], axis=0)
    co = np.mean([clip_corrs(centre(r), other_track) for r in readouts], axis=0)
    return ca, co, ca - co


def summarise_gains(ca: np.ndarray, co: np.ndarray, gain: np.ndarray, seeds: int) -> dict:
    """`clip_gains`' per-clip arrays → mean correlations, the mean paired gain and its standard error over clips."""
    g, sem = mean_sem(gain)
    return {"clips": len(gain), "seeds": seeds, "corr_audio": round(float(ca.mean()), 4),
            "corr_other": round(float(co.mean()), 4), "gain": round(g, 4), "gain_sem": round(sem, 4)}


def follow_scores(readouts: list[np.ndarray], audio_track: np.ndarray, other_track: np.ndarray) -> dict:
    """Read-outs `[N, F]` (one array per noise seed) against the per-latent-frame tracks `[N, F]` of the audio that
    drove each clip and of another clip (`clip_gains`): mean per-clip correlations over frames 1 … F − 1, their
    paired gain and its standard error over clips (`summarise_gains`)."""
    return summarise_gains(*clip_gains(readouts, audio_track, other_track), seeds=len(readouts))
