"""Paired differences of per-clip metrics between two models scored on the same clips.

Distribution-level scores (Fréchet distances) have no per-clip value; everything `evaluate_clip` reports per clip
(PSNR, SSIM, identity similarity, flicker, collapse, lip sync) does. Differencing on the same clips removes the
spread between clips, which dominates the standard error of each model's mean (e.g. PSNR ±0.3 dB per model against
±0.1 dB paired over 40 held-out clips).
"""

from __future__ import annotations

import math

from .metrics.stats import mean_sem

PAIRED_METRICS = ("psnr", "ssim", "identity_sim", "identity_sim_min", "flicker", "psnr_drop", "sharpness_ratio",
                  "sync_corr", "sync_mae")


def paired_differences(clips_a: dict[str, dict], clips_b: dict[str, dict],
                       metrics: tuple[str, ...] = PAIRED_METRICS) -> dict[str, dict]:
    """Per-clip metrics `{clip id: {metric: value}}` of A and B → `{metric: {"diff", "sem", "clips"}}`: the mean of
    A − B over the clips both hold a finite value for, and its standard error (sample std / √n; 0 for one clip).

    Raises ValueError when the two share no clip: a paired statistic over nothing is a mistake, not a zero."""
    common = sorted(set(clips_a) & set(clips_b))
    if not common:
        raise ValueError("the two models share no scored clip")
    out = {}
    for m in metrics:
        d = [clips_a[c][m] - clips_b[c][m] for c in common
             if isinstance(clips_a[c].get(m), (int, float)) and isinstance(clips_b[c].get(m), (int, float))
             and math.isfinite(clips_a[c][m]) and math.isfinite(clips_b[c][m])]
        if not d:
            continue
        mean, sem = mean_sem(d, ddof=1)
        out[m] = {"diff": mean, "sem": sem, "clips": len(d)}
    return out
