"""Image-quality metrics for video reconstructions."""

from __future__ import annotations

import math

import torch


def psnr(x: torch.Tensor, y: torch.Tensor) -> float:
    """PSNR in dB between two pixel tensors in [-1, 1] (any equal shapes), computed on the [0, 1] scale
    over all elements: 10·log10(1 / MSE01)."""
    mse01 = ((x.float() - y.float()) ** 2).mean().item() / 4.0
    return float("inf") if mse01 == 0 else 10.0 * math.log10(1.0 / mse01)


def psnr_per_clip(x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean over the batch of per-clip PSNR (dB); `x`, `y`: `[B, T, 3, H, W]` in [-1, 1]."""
    return sum(psnr(a, b) for a, b in zip(x, y)) / x.shape[0]
