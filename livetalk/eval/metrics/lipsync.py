"""Lip sync from mouth-openness tracks (per video frame).

`sync_corr` (Sync-C analogue): Pearson correlation of generated vs ground-truth openness at lag 0.
`sync_offset` (Sync-D analogue): the lag k (frames) maximising corr(gen[t], gt[t − k]); k > 0 means the
video's mouth moves k frames *after* the audio. `sync_best_corr`: the correlation at that lag;
`sync_mae`: mean |gen − gt| at lag 0.
"""

from __future__ import annotations

import numpy as np


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 1e-12 else 0.0


def lagged_corr(gen: np.ndarray, gt: np.ndarray, lag: int) -> float:
    """corr(gen[t], gt[t − lag]) over the overlapping frames."""
    n = min(len(gen), len(gt))
    gen, gt = np.asarray(gen[:n], np.float64), np.asarray(gt[:n], np.float64)
    if lag >= 0:
        return _corr(gen[lag:], gt[: n - lag])
    return _corr(gen[: n + lag], gt[-lag:])


def lip_sync(gen_open: np.ndarray, gt_open: np.ndarray, max_lag: int = 8) -> dict:
    """Compare openness tracks gen [T] and gt [T'] (truncated to the shorter). Ties in the best lag
    go to the smallest |lag|. Requires at least 2·max_lag + 4 frames."""
    n = min(len(gen_open), len(gt_open))
    if n < 2 * max_lag + 4:
        raise ValueError(f"lip_sync needs >= {2 * max_lag + 4} frames, got {n}")
    lags = sorted(range(-max_lag, max_lag + 1), key=abs)
    corrs = {k: lagged_corr(gen_open, gt_open, k) for k in lags}
    best = max(lags, key=lambda k: (round(corrs[k], 9), -abs(k)))
    return {
        "sync_corr": corrs[0],
        "sync_best_corr": corrs[best],
        "sync_offset": int(best),
        "sync_mae": float(np.abs(np.asarray(gen_open[:n], np.float64) - np.asarray(gt_open[:n], np.float64)).mean()),
    }
