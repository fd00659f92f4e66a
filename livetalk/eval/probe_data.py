"""Training data for the probes, rendered straight from the world (no files).

Frames come from random identities in random face states (wider than any prompt uses), plus light
degradations (noise, blur, brightness) so probes tolerate generated video.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..data.identity import sample_identity
from ..data.render import FaceState, render_frames
from .probes import STATE_KEYS, prepare_frames


def random_states(rng: np.random.Generator, n: int) -> FaceState:
    """n independent random face states (float32 [n] fields)."""
    u = lambda lo, hi: rng.uniform(lo, hi, n).astype(np.float32)  # noqa: E731
    gate = lambda p: (rng.random(n) < p).astype(np.float32)  # noqa: E731
    return FaceState(
        yaw=u(-0.7, 0.7) * gate(0.8), pitch=u(-0.35, 0.35) * gate(0.8), roll=u(-0.32, 0.32) * gate(0.7),
        mouth_open=u(0, 1) * gate(0.7), mouth_width=u(0.7, 1.25), smile=u(0, 1) * gate(0.5),
        brow=u(0, 1) * gate(0.5), blink=np.clip(u(-0.2, 1.1), 0, 1) * gate(0.35),
        dx=u(-0.03, 0.03), dy=u(-0.03, 0.03),
    )


def render_batch(seeds: np.ndarray, per_identity: int, rng: np.random.Generator, size: int = 64):
    """Render `per_identity` random-state frames for each identity seed.

    Returns (frames uint8 [N, size, size, 3], states float32 [N, 7] (STATE_KEYS), identity index [N]).
    """
    frames, states, owner = [], [], []
    for i, seed in enumerate(seeds):
        st = random_states(rng, per_identity)
        frames.append(render_frames(sample_identity(int(seed)), st, size))
        states.append(np.stack([getattr(st, k) for k in STATE_KEYS], axis=1))
        owner.append(np.full(per_identity, i))
    return np.concatenate(frames), np.concatenate(states), np.concatenate(owner)


def chroma_420(x: torch.Tensor) -> torch.Tensor:
    """Simulate yuv420p video: keep luma, average chroma over 2×2 blocks. [B, 3, H, W] in [-1, 1]."""
    m = torch.tensor([[0.299, 0.587, 0.114], [-0.169, -0.331, 0.5], [0.5, -0.419, -0.081]])
    yuv = torch.einsum("ij,bjhw->bihw", m, x)
    c = F.interpolate(F.avg_pool2d(yuv[:, 1:], 2), scale_factor=2, mode="nearest")
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(m), torch.cat([yuv[:, :1], c], 1))


def degrade(x: torch.Tensor, gen: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Random light degradations of a batch [B, 3, H, W] in [-1, 1]: yuv420 chroma, blur, noise,
    brightness/contrast."""
    b = x.shape[0]
    pick = lambda: (torch.rand(b, 1, 1, 1, generator=gen) < p).float()  # noqa: E731
    x = x + pick() * (chroma_420(x) - x)
    blurred = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    x = x + pick() * (blurred - x)
    x = x * (1 + 0.15 * (torch.rand(b, 1, 1, 1, generator=gen) - 0.5)) + 0.1 * (torch.rand(b, 1, 1, 1, generator=gen) - 0.5)
    x = x + pick() * torch.randn(x.shape, generator=gen) * 0.04
    return x.clamp(-1, 1)


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    return prepare_frames(frames)
