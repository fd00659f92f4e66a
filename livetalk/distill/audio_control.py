"""A micro control world for the audio path: random still latents whose lower half moves with the audio.

Used to check that the DiT's audio injection can be learnt at all, and what keeps it from being learnt
(`tests/distill/test_audio_learnable.py`, `tests/distill/test_audio_norm.py`, `scripts/audio_offset_micro.py`).
Each clip is one random latent image `[C, size, size]` (scale 0.3) held for `frames` latent frames; the lower half
of latent frame k is shifted by 2 × s_k, where s_k is a summary of that frame's audio window:
- `signal="mean"`: the mean over the window of all channels (as loudness moves all log-mel bins together);
- `signal="diff"`: the first half of the channels minus the second half (orthogonal to "mean").
The audio given to the model is `offset + spread · ε` with ε standard normal: `offset` ≠ 0 puts a constant
along the "mean" direction, as the tiny log-mel features have (docs/results.md, session 7).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..diffusion.schedule import FlowMatchSchedule
from ..models.config import DiTConfig
from ..models.dit import WanDiT
from .batch import TrainBatch
from .diagnostics import condition_use
from .teacher import teacher_loss


def audio_driven_batch(cfg: DiTConfig, n: int, generator: torch.Generator, *, frames: int = 5, size: int = 4,
                       offset: float = 0.0, spread: float = 1.0, signal: str = "mean") -> TrainBatch:
    """`n` control clips: latents `[n, frames, C, size, size]`, audio `[n, frames, pack, D]` (see module doc)."""
    if signal not in ("mean", "diff"):
        raise ValueError(f"signal must be 'mean' or 'diff', got {signal!r}")
    eps = torch.randn(n, frames, cfg.audio_pack, cfg.audio_dim, generator=generator)
    half = cfg.audio_dim // 2
    amp = eps.mean((2, 3)) if signal == "mean" else eps[..., :half].mean((2, 3)) - eps[..., half:].mean((2, 3))
    lat = 0.3 * torch.randn(n, 1, cfg.latent_channels, size, size, generator=generator)
    lat = lat.expand(n, frames, -1, -1, -1).clone()
    lat[:, :, :, size // 2:, :] += 2.0 * amp[:, :, None, None, None]
    ctx = torch.randn(n, cfg.text_len, cfg.text_dim, generator=generator)
    return TrainBatch(lat, lat[:, 0].clone(), ctx, torch.zeros_like(ctx), offset + spread * eps)


def train_control(model: WanDiT, batches: Callable[[torch.Generator], TrainBatch], steps: int, lr: float,
                  generator: torch.Generator, *, held_out: TrainBatch | None = None, every: int = 0,
                  **loss_kwargs) -> list[dict]:
    """AdamW on `teacher_loss` for `steps` steps of `batches(generator)`; returns, every `every` steps (and at
    the end), `condition_use(model, held_out)["audio"]` with the step. `loss_kwargs` go to `teacher_loss`."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    schedule = FlowMatchSchedule(1000, 5.0)
    scores = []
    for step in range(1, steps + 1):
        model.train()
        loss = teacher_loss(model, batches(generator), schedule, generator=generator, **loss_kwargs)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if held_out is not None and (step == steps or (every and step % every == 0)):
            scores.append({"step": step, **condition_use(model.eval(), held_out)["audio"]})
    model.eval()
    return scores
