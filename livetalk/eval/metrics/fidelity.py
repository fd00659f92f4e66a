"""PSNR and SSIM between generated and ground-truth frames (uint8 [T, H, W, 3])."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"frame arrays differ in shape: {a.shape} vs {b.shape}")
    if a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"frames must be [T, H, W, 3], got {a.shape}")


def psnr(gen: np.ndarray, ref: np.ndarray, cap_db: float = 60.0) -> np.ndarray:
    """Per-frame PSNR in dB (peak 255), capped at `cap_db` for identical frames. Returns float64 [T]."""
    _check_pair(gen, ref)
    mse = ((gen.astype(np.float64) - ref.astype(np.float64)) ** 2).reshape(len(gen), -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        out = 10 * np.log10(255.0 ** 2 / np.maximum(mse, 1e-12))
    return np.minimum(out, cap_db)


def _gauss(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    return (g / g.sum()).float()


def ssim(gen: np.ndarray, ref: np.ndarray, window: int = 11, sigma: float = 1.5) -> np.ndarray:
    """Per-frame SSIM (Wang et al. 2004; Gaussian window 11, σ 1.5, mean over RGB channels and valid
    pixels; windows shrink for frames smaller than 11 px). Computed in float32 on [0, 1] values.
    Returns float64 [T] in [-1, 1]."""
    _check_pair(gen, ref)
    window = min(window, gen.shape[1], gen.shape[2])
    g = _gauss(window, sigma)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    x = torch.from_numpy(np.ascontiguousarray(gen)).permute(0, 3, 1, 2).float() / 255.0
    y = torch.from_numpy(np.ascontiguousarray(ref)).permute(0, 3, 1, 2).float() / 255.0
    kx = g.view(1, 1, 1, -1).repeat(3, 1, 1, 1)
    ky = g.view(1, 1, -1, 1).repeat(3, 1, 1, 1)

    def blur(z):
        return F.conv2d(F.conv2d(z, kx, groups=3), ky, groups=3)

    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return s.double().mean(dim=(1, 2, 3)).numpy()
