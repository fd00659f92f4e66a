"""3-D rotary position embedding of Wan2.1 (frame, height, width).

head_dim is split into (frame, height, width) parts of `d − 4·(d//6)`, `2·(d//6)`, `2·(d//6)` real dims
(44/42/42 for d = 128). Adjacent channel pairs (2i, 2i+1) are (real, imag) and rotated by
`pos · theta^(−2i/d_axis)`. Angles are computed in float64 as in the published code; the rotation itself is
applied in fp32 (or fp64 for fp64 inputs) with real arithmetic, which equals the published complex128
product up to fp32 rounding, far below the bf16 output precision.

Positions are plain numbers, not rows of a fixed table, so there is no hard end at 1024 latent frames;
`KVCache` keeps them bounded while streaming (see `kv_cache.py`).
"""

from __future__ import annotations

import torch


def axis_frequencies(split: tuple[int, int, int], theta: float = 10000.0) -> list[torch.Tensor]:
    """Per-axis angular frequencies `theta^(−2i/d_axis)`, float64, lengths d_axis/2 (22/21/21 for 128)."""
    return [1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d) for d in split]


def rope_angles(
    frame_pos: torch.Tensor,
    height: int,
    width: int,
    split: tuple[int, int, int],
    theta: float = 10000.0,
) -> torch.Tensor:
    """Rotation angles for a token grid, float64 `[F·height·width, head_dim/2]`.

    `frame_pos` is `[F]` (float or int, latent-frame positions); tokens are ordered (f, h, w).
    """
    ff, fh, fw = axis_frequencies(split, theta)
    frame_pos = frame_pos.to(torch.float64).cpu()
    n_f = frame_pos.numel()
    a_f = torch.outer(frame_pos, ff)  # [F, df/2]
    a_h = torch.outer(torch.arange(height, dtype=torch.float64), fh)  # [h, dh/2]
    a_w = torch.outer(torch.arange(width, dtype=torch.float64), fw)  # [w, dw/2]
    grid = torch.cat(
        [
            a_f[:, None, None, :].expand(n_f, height, width, -1),
            a_h[None, :, None, :].expand(n_f, height, width, -1),
            a_w[None, None, :, :].expand(n_f, height, width, -1),
        ],
        dim=-1,
    )
    return grid.reshape(n_f * height * width, -1)


class RopeTable:
    """cos/sin of `rope_angles` for a chunk, cached per (positions, grid, device).

    The cache is tiny (a few chunk shapes per session) and avoids recomputing float64 tables every pass.
    """

    def __init__(self, split: tuple[int, int, int], theta: float = 10000.0, max_entries: int = 16):
        self.split = split
        self.theta = theta
        self.max_entries = max_entries
        self._cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def get(
        self, frame_start: float, num_frames: int, height: int, width: int, device: torch.device, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """cos, sin of shape `[S, 1, head_dim/2]` (S = num_frames·height·width) for consecutive frames."""
        key = (float(frame_start), num_frames, height, width, str(device), dtype)
        hit = self._cache.get(key)
        if hit is None:
            pos = frame_start + torch.arange(num_frames, dtype=torch.float64)
            ang = rope_angles(pos, height, width, self.split, self.theta)
            hit = (ang.cos().to(device, dtype)[:, None, :], ang.sin().to(device, dtype)[:, None, :])
            if len(self._cache) >= self.max_entries:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = hit
        return hit


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved pairs of `x` `[B, S, H, D]` by angles whose cos/sin are `[S, 1, D/2]`.

    Computed in fp32 (fp64 if `x` is fp64) and cast back to `x.dtype`.
    """
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    xp = x.to(work).unflatten(-1, (-1, 2))
    re, im = xp[..., 0], xp[..., 1]
    cos = cos.to(work)
    sin = sin.to(work)
    out = torch.stack((re * cos - im * sin, re * sin + im * cos), dim=-1)
    return out.flatten(-2).to(x.dtype)


def frame_shift_cos_sin(
    delta_frames: float, split: tuple[int, int, int], theta: float, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin `[head_dim/2]` that move a key's frame position by `delta_frames` (height/width untouched)."""
    ff, fh, fw = axis_frequencies(split, theta)
    ang = torch.cat([ff * float(delta_frames), torch.zeros_like(fh), torch.zeros_like(fw)])
    return ang.cos().to(device, dtype), ang.sin().to(device, dtype)
