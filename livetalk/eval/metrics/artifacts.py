"""Artifact metrics on frames uint8 [T, H, W, 3]: black/blank frames, flicker, quality collapse."""

from __future__ import annotations

import numpy as np


def luminance(frames: np.ndarray) -> np.ndarray:
    """Rec.601 luma, float64 [T, H, W] in [0, 255]."""
    f = frames.astype(np.float64)
    return 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]


def bad_frames(frames: np.ndarray, black_level: float = 16.0, blank_std: float = 2.0) -> dict:
    """Black frames (mean luma < black_level) and blank frames (luma std < blank_std, any colour).

    Returns {'black_rate', 'blank_rate' (fractions of T, black ⊂ blank not assumed), 'black_frames',
    'blank_frames' (index lists)}.
    """
    y = luminance(frames)
    mean = y.reshape(len(y), -1).mean(axis=1)
    std = y.reshape(len(y), -1).std(axis=1)
    black = np.flatnonzero(mean < black_level)
    blank = np.flatnonzero(std < blank_std)
    return {"black_rate": len(black) / len(y), "blank_rate": len(blank) / len(y),
            "black_frames": black.tolist(), "blank_frames": blank.tolist()}


def flicker(frames: np.ndarray) -> float:
    """Temporal high-frequency energy: mean |y[t+1] − 2·y[t] + y[t−1]| of luma (0–255 units).
    Smooth motion scores low; frame-to-frame brightness jumps and temporal noise score high. 0 if T < 3."""
    if len(frames) < 3:
        return 0.0
    y = luminance(frames)
    return float(np.abs(y[2:] - 2 * y[1:-1] + y[:-2]).mean())


def sharpness(frames: np.ndarray) -> np.ndarray:
    """Per-frame detail: mean |Laplacian| of luma, float64 [T]."""
    y = luminance(frames)
    lap = (4 * y[:, 1:-1, 1:-1] - y[:, :-2, 1:-1] - y[:, 2:, 1:-1] - y[:, 1:-1, :-2] - y[:, 1:-1, 2:])
    return np.abs(lap).reshape(len(y), -1).mean(axis=1)


def edge_windows(n: int, frac: float = 0.1, min_frames: int = 4) -> tuple[slice, slice]:
    """First and last windows of a length-n sequence (10% each, at least `min_frames`, at most n//2)."""
    k = max(1, min(n // 2, max(min_frames, int(round(n * frac)))))
    return slice(0, k), slice(n - k, n)


def collapse(per_frame_quality: np.ndarray, frac: float = 0.1) -> float:
    """Quality drop over time: mean(first window) − mean(last window). Positive = worse at the end."""
    q = np.asarray(per_frame_quality, np.float64)
    if len(q) < 2:
        return 0.0
    a, b = edge_windows(len(q), frac)
    return float(q[a].mean() - q[b].mean())
