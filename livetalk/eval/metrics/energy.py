"""Energy score: how well a model's *distribution* of samples matches the truth, from a few samples per condition.

For one condition (an evaluation unit: a clip's reference, audio and prompt) with ground truth y and S ≥ 2 samples
X_1..X_S drawn with different noise,

    ES = (1/S) Σ_s ‖X_s − y‖ − 1/(2 S (S − 1)) Σ_{s ≠ s'} ‖X_s − X_s'‖

(Gneiting & Raftery 2007). It is a strictly proper scoring rule: its expectation is lowest when the samples come from
the true conditional distribution of y. A model that always outputs one video (no spread) scores its error; one
that spreads its samples as the data does scores lower by half its own spread. So it tells apart "accurate because it
averages" from "samples the distribution", which per-sample errors (PSNR, RMS) and a Fréchet distance over 40 clips
cannot: PSNR rewards the conditional mean.

Norms here are RMS over all elements (‖a‖ = sqrt(mean(a²))), so values read in the data's own units; divide by the
data's spread to compare data sets.
"""

from __future__ import annotations

import torch


def rms(a: torch.Tensor) -> torch.Tensor:
    """RMS over all but the first dimension: `[N, ...]` → `[N]`."""
    return a.flatten(1).double().square().mean(1).sqrt()


def energy_score(samples: torch.Tensor, truth: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-unit energy score and its two parts.

    samples: `[S, N, ...]`, S ≥ 2 samples (different noise) for each of N units; truth: `[N, ...]`.
    Returns `[N]` float64 tensors: `score` (lower is better), `error` (mean RMS distance of a sample to the truth)
    and `spread` (mean RMS distance between two samples of one unit); score = error − spread / 2.
    """
    s = samples.shape[0]
    if s < 2 or samples.shape[1:] != truth.shape:
        raise ValueError(f"need samples [S >= 2, N, ...] matching truth [N, ...], got {tuple(samples.shape)} and "
                         f"{tuple(truth.shape)}")
    error = torch.stack([rms(x - truth) for x in samples]).mean(0)
    pairs = [rms(samples[i] - samples[j]) for i in range(s) for j in range(i + 1, s)]
    spread = torch.stack(pairs).mean(0)
    return {"score": error - spread / 2, "error": error, "spread": spread}
